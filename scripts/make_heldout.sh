#!/usr/bin/env bash
# Build the held-out evaluation set: 40 clean utterances the models never train on, each degraded once per
# degradation family (7 classic families: 280 files; add ambient with FAMILIES=...,ambient).
#
#   scripts/make_heldout.sh OUT [N_TTS] [N_HUMAN]          default: data/eval/heldout, 20 and 20
#
# - N_TTS utterances rendered with the eval split's voices and sentences (flite slt, espeak-ng variants; flite
#   kal renders at 8 kHz and is left out: its clean speech is band-limited);
# - N_HUMAN real recordings of a voice and languages never trained on: Debian's asterisk-core-sounds-en-g722
#   and -es-g722 (fetched with `apt-get download` into OUT/debs and unpacked there: nothing is installed),
#   the first N_HUMAN / 2 files of each language, in name order, between 3 and 8 seconds long.
# Needs: apt-get install flite espeak-ng codec2 opus-tools lame ffmpeg; audiogan on PATH (or AUDIOGAN=...) and a
# python3 with numpy and soundfile (put the venv first on PATH: PATH=.venv/bin:$PATH).
set -euo pipefail
out="${1:-data/eval/heldout}"
n_tts="${2:-20}"
n_human="${3:-20}"
audiogan="${AUDIOGAN:-audiogan}"
mkdir -p "$out"/debs "$out"/pool
out="$(cd "$out" && pwd)"

# 1. TTS of the eval split: render a little more than needed, then take N_TTS files round-robin over the voices
#    whose clean speech is full-band. A voice that renders below 16 kHz (flite's kal, at 8 kHz) is no clean
#    reference: its top band is empty, so a model that restores a cut band is scored down for it.
"$audiogan" corpus make --out "$out/tts" --minutes "$(python3 -c "print(max(1.0, $n_tts * 0.12))")" --split eval
python3 - "$out/tts" "$out/pool/tts" "$n_tts" <<'EOF'
import shutil, sys
from pathlib import Path
import numpy as np, soundfile as sf
src, dst, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
voices = {}
for voice in sorted(d for d in src.iterdir() if d.is_dir()):
    files = sorted(voice.glob("*.wav"))
    x, sr = sf.read(files[0])
    power = np.abs(np.fft.rfft(x)) ** 2
    top = power[np.fft.rfftfreq(len(x), 1 / sr) > 4500].sum() / power.sum()
    if top < 1e-5:
        print(f"{voice.name}: left out, nothing above 4.5 kHz (band-limited clean speech)")
        continue
    voices[voice.name] = files
picked = [f for group in zip(*voices.values()) for f in group][:n]
for f in picked:
    (dst / f.parent.name).mkdir(parents=True, exist_ok=True)
    shutil.copy(f, dst / f.parent.name / f.name)
print(f"{dst}: {len(picked)} files of {len(voices)} voices")
if len(picked) < n:
    sys.exit(f"only {len(picked)} full-band TTS files rendered; raise the minutes")
EOF

# 2. Human recordings in English and Spanish (never trained on: training uses the it/ru packages).
(cd "$out/debs" && apt-get download asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 >/dev/null)
for deb in "$out"/debs/*.deb; do dpkg-deb -x "$deb" "$out/debs/root"; done
for lang in en es; do
    src="$(find "$out/debs/root/usr/share/asterisk/sounds" -maxdepth 1 -type d -name "${lang}_*" | sort | head -n 1)"
    "$audiogan" corpus import "$src" --out "$out/human/$lang" >/dev/null
    mkdir -p "$out/pool/human/$lang"
    python3 - "$out/human/$lang" "$out/pool/human/$lang" "$((n_human / 2))" <<'EOF'
import shutil, sys, wave
from pathlib import Path
src, dst, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
picked = 0
for f in sorted(src.rglob("*.wav")):
    with wave.open(str(f)) as w:
        seconds = w.getnframes() / w.getframerate()
    if 3.0 <= seconds <= 8.0 and picked < n:
        shutil.copy(f, dst / f.name)
        picked += 1
print(f"{dst}: {picked} files")
EOF
done

# 3. Degrade every clean file once per family.
families=()
[ -n "${FAMILIES:-}" ] && families=(--families "$FAMILIES")
"$audiogan" corpus eval-set "$out/pool" --out "$out/set" "${families[@]}"
echo "held-out set: $out/set/clean and $out/set/degraded/<family>/"
