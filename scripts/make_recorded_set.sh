#!/usr/bin/env bash
# A held-out family of real recorded noise: clean held-out speech with sound recordings that Debian packages
# ship (city and machine ambience from lincity-ng-data, outdoor textures from extremetuxracer-data: wind
# through leaves, snow, gravel, mud) mixed in at 0 to 10 dB SNR. Training never uses these sounds (it
# synthesises its noise), so this scores what the stationary `noise` family only approximates.
#
#   scripts/make_recorded_set.sh OUT [CLEAN] [SNR]      default CLEAN: data/eval/heldout/set/clean, SNR 0,10
#
# The packages are fetched with `apt-get download` into OUT/debs and unpacked there (nothing is installed);
# their sound effects of 1 s or longer go to OUT/noise (music and interface clicks are left out).
# Needs audiogan on PATH (or AUDIOGAN=...) and a python3 with soundfile (put the venv first on PATH).
set -euo pipefail
out="${1:-data/eval/recorded}"
clean="${2:-data/eval/heldout/set/clean}"
snr="${3:-0,10}"
audiogan="${AUDIOGAN:-audiogan}"
mkdir -p "$out"/debs "$out"/noise
out="$(cd "$out" && pwd)"
(cd "$out/debs" && apt-get download lincity-ng-data extremetuxracer-data >/dev/null 2>&1)
for deb in "$out"/debs/*.deb; do dpkg-deb -x "$deb" "$out/debs/root"; done
python3 - "$out/debs/root/usr/share/games" "$out/noise" <<'PY'
import shutil, sys
from pathlib import Path
import soundfile as sf
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
kept = 0
for f in sorted([*src.glob("lincity-ng/sounds/*.wav"), *src.glob("etr/sounds/*.wav")]):
    if sf.info(str(f)).duration >= 1.0:
        shutil.copy(f, dst / f"{f.parts[-3]}-{f.name}")
        kept += 1
print(f"{dst}: {kept} recordings of 1 s or longer")
PY
"$audiogan" corpus eval-set "$clean" --out "$out/set" --families recorded --noise "$out/noise" --snr "$snr"
echo "recorded-noise set: $out/set/clean and $out/set/degraded/recorded/"
