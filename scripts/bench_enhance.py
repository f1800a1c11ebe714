"""Benchmark file enhancement: x real time and peak RSS by input length and thread count.

Every row runs in its own process (so its peak RSS is its own) and is set beside a reference measured
in the same run and the same process: the machine's throughput on a plain Conv1d (64 -> 64 channels,
kernel 3), in GFLOP/s. The model's cost in GFLOP per second of audio is counted from its layers, so
"efficiency" is the share of that reference throughput the enhancer achieves.

Each file is enhanced twice in its process: "x real time" is the second call (the steady state of a
folder run, and what DEMUCS, warmed up the same way, is compared with); "cold x RT" is the first, which
also pays the process's one-time set-up (imports of scipy's filters and the resampler, oneDNN kernels for
new shapes: about 1 s on a 2-core machine), as one file enhanced from a fresh process does.

    python scripts/bench_enhance.py [--model DIR] [--lengths 10,60,3600] [--threads 1,2] [--device cpu] [--demucs]

With ``--demucs``, each input is also run through DEMUCS dns48 (Defossez et al. 2020, the ``denoiser``
package's ``Demucs(hidden=48)``, its pretrained configuration, here with random weights: the speed does not
depend on them) in the same process setting, and a column gives audiogan's speed as a multiple of it.
Install its code without its dependencies (it asks for torchaudio, which does not import beside every
torch): ``pip install --no-deps denoiser``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time, torch
threads, path, out, model, device, batch = sys.argv[1:7]
torch.set_num_threads(int(threads))
from torch import nn
from audiogan.audio.enhance.enhancer import Enhancer
from audiogan.audio.enhance.stream import enhance_file
# reference: a plain conv, same process and threads
conv = nn.Conv1d(64, 64, 3, padding=1).eval()
h = torch.randn(1, 64, 160000)
with torch.inference_mode():
    conv(h)
    t = time.perf_counter(); reps = 5
    for _ in range(reps):
        conv(h)
    ref = 2 * 64 * 64 * 3 * 160000 * reps / (time.perf_counter() - t) / 1e9
enh = Enhancer.from_pretrained(model if model != "-" else None, device=device)
times = []
for _ in range(2):  # the first call in a process (cold: imports, kernel set-up), then the steady state
    t = time.perf_counter()
    enhance_file(enh, path, out, batch_size=int(batch))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    times.append(time.perf_counter() - t)
    import os; os.unlink(out)
import resource
print(json.dumps({"elapsed": times[1], "elapsed_cold": times[0], "ref_gflops": ref,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

DEMUCS = r"""
import json, sys, time, torch
import soundfile as sf
threads, path = sys.argv[1:3]
torch.set_num_threads(int(threads))
from denoiser.demucs import Demucs
model = Demucs(hidden=48, sample_rate=16000).eval()  # dns48's configuration
x, sr = sf.read(path, dtype="float32")
chunk = 16000 * 60  # a minute at a time: DEMUCS holds its whole input in memory
with torch.inference_mode():
    model(torch.zeros(1, 1, 16000))
    t = time.perf_counter()
    for i in range(0, len(x), chunk):
        model(torch.from_numpy(x[i:i + chunk])[None, None])
print(json.dumps({"elapsed": time.perf_counter() - t}))
"""


def model_gflop_per_second(model: str | None) -> float:
    """Multiply-adds of the generator per second of audio at its rate, x2, in GFLOP."""
    import torch
    from torch import nn

    from audiogan.audio.enhance.enhancer import Enhancer

    enh = Enhancer.from_pretrained(model)
    sr = enh.sample_rate
    flops = 0

    def hook(mod, inp, out):
        nonlocal flops
        k = mod.kernel_size[0]
        if isinstance(mod, nn.ConvTranspose1d):
            flops += 2 * inp[0].shape[1] * mod.out_channels // mod.groups * k * inp[0].shape[-1]
        else:
            flops += 2 * mod.in_channels // mod.groups * mod.out_channels * k * out.shape[-1]

    for m in enh.generator.modules():
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
            m.register_forward_hook(hook)
    with torch.inference_mode():
        enh.generator(torch.zeros(1, 1, sr))
    return flops / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder (default: the shipped default model)")
    ap.add_argument("--lengths", default="10,60,3600", help="input lengths in seconds")
    ap.add_argument("--threads", default="1,2", help="torch thread counts")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument("--demucs", action="store_true", help="time DEMUCS dns48 on the same inputs (see above)")
    args = ap.parse_args()
    import soundfile as sf

    gflop = model_gflop_per_second(args.model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in [float(s) for s in args.lengths.split(",")]:
            src = Path(tmp) / f"in_{int(seconds)}.wav"
            rng = np.random.default_rng(0)
            with sf.SoundFile(str(src), "w", 16000, 1, "PCM_16") as f:  # written in blocks: constant memory
                left = int(seconds * 16000)
                while left > 0:
                    n = min(left, 16000 * 60)
                    f.write((0.1 * rng.standard_normal(n)).astype(np.float32))
                    left -= n
            for threads in [int(t) for t in args.threads.split(",")]:
                out = Path(tmp) / "out.wav"
                proc = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(src), str(out),
                                       args.model or "-", args.device, str(args.batch_size)],
                                      stdout=subprocess.PIPE, text=True)
                if proc.returncode != 0:
                    raise SystemExit(f"benchmark child failed for {seconds} s / {threads} threads")
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                xrt = seconds / res["elapsed"]
                row = {"seconds": seconds, "threads": threads, "device": args.device, "x_realtime": xrt,
                       "x_realtime_cold": seconds / res["elapsed_cold"],
                       "peak_rss_mb": res["rss_kb"] / 1024, "ref_gflops": res["ref_gflops"],
                       "efficiency": xrt * gflop / res["ref_gflops"]}
                if args.demucs:
                    peer = subprocess.run([sys.executable, "-c", DEMUCS, str(threads), str(src)],
                                          stdout=subprocess.PIPE, text=True)
                    if peer.returncode != 0:
                        raise SystemExit("DEMUCS timing failed: pip install --no-deps denoiser")
                    row["demucs_x_realtime"] = seconds / json.loads(peer.stdout.strip().splitlines()[-1])["elapsed"]
                rows.append(row)
                out.unlink(missing_ok=True)
    print(f"model: {gflop:.2f} GFLOP per second of audio; reference: Conv1d 64->64 k3 throughput, same process")
    peer_head = f" {'DEMUCS x RT':>11} {'vs DEMUCS':>9}" if args.demucs else ""
    print(f"{'input':>8} {'threads':>7} {'device':>6} {'x real time':>11} {'cold x RT':>9} {'peak RSS MB':>11} "
          f"{'ref GFLOP/s':>11} {'efficiency':>10} {'vs SEGAN+ 25x':>13}" + peer_head)
    for r in rows:
        peer = (f" {r['demucs_x_realtime']:>11.1f} {r['x_realtime'] / r['demucs_x_realtime']:>8.2f}x"
                if args.demucs else "")
        print(f"{r['seconds']:>7.0f}s {r['threads']:>7d} {r['device']:>6} {r['x_realtime']:>11.1f} "
              f"{r['x_realtime_cold']:>9.1f} "
              f"{r['peak_rss_mb']:>11.0f} {r['ref_gflops']:>11.1f} {r['efficiency']:>10.2f} "
              f"{r['x_realtime'] / 25:>12.2f}x" + peer)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    from audiogan.cli.common import run_script

    run_script(main)
