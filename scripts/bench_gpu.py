"""Benchmark the GPU path: batch enhancement in x real time by batch size and precision, and training
iterations per second, each set beside a convolution throughput measured in the same run.

    python scripts/bench_gpu.py [--device cuda|cpu] [--minutes 10] [--batch-sizes 1,8,32,128]
                                [--precisions fp32,bf16] [--iterations 20] [--quick] [--json FILE]

Reference: a plain ``Conv1d`` (128 -> 128 channels, kernel 3: the width and kernel of the enhancers'
residual bodies) on a large input, with its weights and input in bfloat16 on CUDA and in float32 on
CPU, under the torch settings the models run with (cuDNN's defaults: no benchmark mode; float32
convolutions may use TF32, as torch allows by default). Its FLOPs, like the models', are counted by
``torch.utils.flop_counter.FlopCounterMode``, which counts convolutions and matrix products (forward and
backward) and leaves out FFTs and element-wise work. A row's "fraction" is its counted FLOP/s over the
reference's: the share of the device's measured conv throughput that the models' convolutions reach, with
all their other work (STFTs, transfers, host-side slicing) counted as time.

Enhancement: the first default model (``models/audiogan-base``) and the v2 architecture of today's default
(``configs/v2.yaml``'s generator block, random weights: the speed does not depend on them) on
``--minutes`` of 16 kHz noise (peak about 0.55, inside the level range: nothing is rescaled), through
:class:`Enhancer` (chunks with context, ``batch size`` chunks per forward; pinned memory and one batch in
flight on CUDA). Two times per row:

- model: ``Enhancer.enhance_mono``: windows, transfers, generator, overlap-save (the median of
  ``--repeats`` runs after a warm-up run, which lets cuDNN pick its kernels for the batch's shape);
- end to end: ``Enhancer.__call__``, which adds the drift filter (on the GPU for CUDA) and level (one run).

Peak GPU memory is ``torch.cuda.max_memory_allocated`` over a model run.

Training: the v2 recipe's generator and critics at full depth (growth off: the cost at the end of growth),
built by ``audiogan.audio.train.build_trainer``, trained by ``AdversarialTrainer.train_iteration`` on random
(degraded, clean) batches of the recipe's size (8 x 1 s) held in pinned host memory, in fp32
(``adversarial.bf16_autocast`` off) and under bf16 autocast. Iterations are timed over whole cycles of
``gp_every`` iterations, so the lazy gradient penalty is in the average, and their FLOPs are counted on one
iteration with the penalty and one without, weighted as in a cycle.

bf16 rows are left out on CPU: the enhancer refuses bf16 there and the trainer ignores it (both run bf16 on
CUDA only). ``--quick`` (4 s of audio in 1 s chunks, batch sizes 1 and 2, training batches of 1 x 0.5 s,
long enough for the STOI term's 30-frame segments; two iterations, no warm-up) runs in seconds on a CPU,
to check the script (``tests/test_scripts.py``); its figures mean little.

Every figure is a ratio against a reference measured in the same run: x real time is seconds of audio per
second of wall time; a fraction is a counted FLOP rate over the reference conv's. Enhancement is timed on
one device (one GPU), so its x real time is per GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

SR = 16000
REF_CHANNELS = 128  # the enhancers' body width (configs/v2.yaml, models/audiogan-base)
TARGET_X_REALTIME = 1000.0  # the target for batch enhancement on one H100/H200-class GPU


class _NoModules:
    """Stands in for FlopCounterMode's per-module tracker, whose backward hooks refuse
    ``torch.autograd.grad`` on leaf tensors (the trainer's gradient penalty and L2 use it); only the
    total is read here."""

    parents = {"Global"}

    def __enter__(self) -> "_NoModules":
        return self

    def __exit__(self, *args) -> None:
        return None


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the convolutions and matrix products ``fn()`` runs, by ``FlopCounterMode``."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModules()
    with counter:
        fn()
    return counter.get_total_flops()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def wall(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds ``fn()`` takes, the device's queued work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def peak_memory(fn: Callable[[], object], device: torch.device) -> float | None:
    """Peak GPU memory allocated while ``fn()`` runs, in MiB (``None`` off CUDA)."""
    if device.type != "cuda":
        fn()
        return None
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    sync(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def rate(flops_per_s: float) -> str:
    return f"{flops_per_s / 1e12:.1f} TFLOP/s" if flops_per_s >= 1e12 else f"{flops_per_s / 1e9:.1f} GFLOP/s"


def reference(device: torch.device, precision: str, quick: bool) -> dict:
    """Throughput of a plain Conv1d (see the module docstring) in ``precision``."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    batch, length, reps = (1, 16000, 3) if quick else ((64, 16384, 20) if device.type == "cuda" else (4, 16000, 5))
    conv = torch.nn.Conv1d(REF_CHANNELS, REF_CHANNELS, 3, padding=1).to(device, dtype).eval()
    h = torch.randn(batch, REF_CHANNELS, length, device=device, dtype=dtype)
    with torch.inference_mode():
        flops = count_flops(lambda: conv(h))
        for _ in range(2):  # warm-up: cuDNN picks its kernel
            conv(h)
        seconds = wall(lambda: [conv(h) for _ in range(reps)], device)
    return {"precision": precision, "shape": [batch, REF_CHANNELS, length], "flops": flops,
            "flops_per_s": flops * reps / seconds}


def models(chunk_seconds: float | None) -> list[tuple[str, object, object]]:
    """``(name, generator, EnhancerConfig)`` of the shipped default model and the v2 architecture."""
    import yaml

    from audiogan.audio.enhance.enhancer import Enhancer, EnhancerConfig
    from audiogan.audio.models import make_generator
    from audiogan.resources import configs_dir

    base = Enhancer.from_pretrained("audiogan-base")  # the real-gain architecture; the default is v2's
    torch.manual_seed(0)
    v2 = EnhancerConfig(name="v2 (random weights)",
                        generator=yaml.safe_load((configs_dir() / "v2.yaml").read_text())["generator"])
    out = [(base.config.name, base.generator, base.config), (v2.name, make_generator(v2.generator), v2)]
    if chunk_seconds is not None:
        out = [(n, g, c.model_copy(update={"chunk_seconds": chunk_seconds})) for n, g, c in out]
    return out


def enhancement_rows(device: torch.device, precisions: list[str], batch_sizes: list[int], seconds: float,
                     repeats: int, warm_up: bool, chunk_seconds: float | None) -> tuple[list[dict], float]:
    """One row per (model, precision, batch size); also the drift filter's seconds on the input, where the
    enhancer runs it (on the GPU for a CUDA device, else on the host)."""
    from audiogan.audio.enhance.enhancer import Enhancer, split_drift

    x = (0.1 * np.random.default_rng(0).standard_normal(int(seconds * SR))).astype(np.float32)
    where = device if device.type == "cuda" else None
    split_drift(x, SR, where)  # warm-up: imports scipy.signal (or the FFT plans); the first call took 6x longer
    drift_s = wall(lambda: split_drift(x, SR, where), device)
    rows = []
    for name, generator, cfg in models(chunk_seconds):
        enh = Enhancer(generator, cfg, device)
        chunks = -(-len(x) // enh.chunk)
        flops = count_flops(lambda: enh.enhance_mono(x, batch_size=max(batch_sizes)))  # batching leaves them be
        for precision in precisions:
            enh = Enhancer(generator, cfg, device, precision)
            for b in batch_sizes:
                run = lambda: enh.enhance_mono(x, batch_size=b)  # noqa: E731
                if warm_up:
                    run()
                model_s = statistics.median(wall(run, device) for _ in range(repeats))
                memory = peak_memory(run, device) if device.type == "cuda" else None
                e2e_s = wall(lambda: enh(x, SR, batch_size=b), device)
                rows.append({"model": name, "precision": precision, "batch_size": b, "chunks": chunks,
                             "chunk_seconds": cfg.chunk_seconds, "context_seconds": enh.context / SR,
                             "model_s": model_s, "model_x_realtime": seconds / model_s,
                             "end_to_end_s": e2e_s, "end_to_end_x_realtime": seconds / e2e_s,
                             "peak_gpu_mib": memory, "flops": flops, "flops_per_s": flops / model_s})
    return rows, drift_s


def training_rows(device: torch.device, precisions: list[str], iterations: int, quick: bool) -> list[dict]:
    """Iterations per second of the v2 recipe's networks (see the module docstring), per precision."""
    from audiogan.audio.train import AudioTrainConfig, build_trainer
    from audiogan.config import load_config
    from audiogan.resources import configs_dir

    cfg = load_config(configs_dir() / "v2.yaml", AudioTrainConfig)
    cfg = cfg.model_copy(update={"generator_growth": None, "critic_growth": None})
    batch, seconds = (1, 0.5) if quick else (cfg.data.batch_size, cfg.data.segment_seconds)
    cycle = cfg.adversarial.gp_every
    timed = max(cycle, -(-iterations // cycle) * cycle)
    gen = torch.Generator().manual_seed(0)
    pool = [tuple(0.1 * torch.randn(batch, 1, int(seconds * SR), generator=gen) for _ in range(2)) for _ in range(4)]
    if device.type == "cuda":
        pool = [tuple(t.pin_memory() for t in pair) for pair in pool]
    rows = []
    for precision in precisions:
        adversarial = dataclasses.replace(cfg.adversarial, bf16_autocast=precision == "bf16")
        trainer, _, _ = build_trainer(cfg.model_copy(update={"adversarial": adversarial}), device)
        batches = itertools.cycle(pool)
        steps = lambda n: [trainer.train_iteration(batches) for _ in range(n)]  # noqa: E731
        if not quick:
            steps(cycle)  # warm-up: both kinds of iteration (with and without the penalty)
        # Counted: the next iteration (step % gp_every == 0: with the penalty) and one without, weighted as in
        # a cycle (counting slows an iteration several times over; a whole cycle would cost gp_every of them).
        start = time.perf_counter()
        counted = [count_flops(lambda: steps(1)) for _ in range(min(cycle, 2))]
        counted_s = time.perf_counter() - start
        flops = (counted[0] + (cycle - 1) * counted[-1]) / cycle
        memory = peak_memory(lambda: steps(cycle), device) if device.type == "cuda" else None
        # --quick times the counted iterations themselves (the counter's overhead included): a check, not a figure
        seconds_per_iter = counted_s / len(counted) if quick else wall(lambda: steps(timed), device) / timed
        rows.append({"precision": precision, "batch": batch, "segment_seconds": seconds,
                     "iterations": min(cycle, 2) if quick else timed,
                     "it_per_s": 1 / seconds_per_iter, "audio_x_realtime": batch * seconds / seconds_per_iter,
                     "peak_gpu_mib": memory, "flops_per_iter": flops, "flops_per_s": flops / seconds_per_iter})
    return rows


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return (f"{torch.cuda.get_device_name(device)} ({device}), torch {torch.__version__}, cuDNN "
                f"{torch.backends.cudnn.version()}, TF32 for fp32 convolutions: "
                f"{'on' if torch.backends.cudnn.allow_tf32 else 'off'}")
    return f"CPU, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}"


def report(result: dict) -> None:
    """Print the tables (figures as ratios against the references measured in the run)."""
    ref = result["reference"]
    peak = ref[0]  # bf16 on CUDA, fp32 on CPU: what every fraction is of
    print(f"device: {result['device_name']}")
    print("reference: Conv1d 128->128 k3 " + "; ".join(f"{r['precision']} {rate(r['flops_per_s'])}" for r in ref)
          + f" (fractions below are of the {peak['precision']} one)")
    mem = lambda v: f"{v:>8.0f}" if v is not None else f"{'-':>8}"  # noqa: E731
    rows = result["enhancement"]
    if rows:
        r0 = rows[0]
        print(f"\nenhancement: {result['seconds'] / 60:.2f} min of 16 kHz audio, {r0['chunk_seconds']:g} s chunks "
              f"(+{r0['context_seconds']:.2f} s context each side)")
        print(f"{'model':<22} {'prec':>4} {'batch':>5} {'chunks':>6} {'model xRT':>10} {'e2e xRT':>9} "
              f"{'GPU MiB':>8} {'conv rate':>14} {'fraction':>8}")
        for r in rows:
            print(f"{r['model']:<22} {r['precision']:>4} {r['batch_size']:>5} {r['chunks']:>6} "
                  f"{r['model_x_realtime']:>10.1f} {r['end_to_end_x_realtime']:>9.1f} {mem(r['peak_gpu_mib'])} "
                  f"{rate(r['flops_per_s']):>14} {r['flops_per_s'] / peak['flops_per_s']:>8.3f}")
        best = max(rows, key=lambda r: r["end_to_end_x_realtime"])
        drift = result["drift_s"]
        print(f"drift filter alone: {drift:.3g} s ({result['seconds'] / drift:.0f}x real time), "
              f"part of every end-to-end time")
        verdict = "met" if best["end_to_end_x_realtime"] >= TARGET_X_REALTIME else "not met"
        print(f"target >= {TARGET_X_REALTIME:,.0f}x real time for batch enhancement: {verdict} on this device "
              f"(best end to end {best['end_to_end_x_realtime']:,.0f}x: {best['model']}, {best['precision']}, "
              f"batch {best['batch_size']}; model alone {best['model_x_realtime']:,.0f}x)")
    rows = result["training"]
    if rows:
        r0 = rows[0]
        print(f"\ntraining: v2 recipe at full depth, batches of {r0['batch']} x {r0['segment_seconds']:g} s, "
              f"{r0['iterations']} iterations timed")
        print(f"{'prec':>4} {'it/s':>8} {'audio xRT':>9} {'GPU MiB':>8} {'GFLOP/iter':>10} {'conv rate':>14} "
              f"{'fraction':>8} {'vs fp32':>7}")
        fp32 = next((r for r in rows if r["precision"] == "fp32"), None)
        for r in rows:
            speedup = f"{r['it_per_s'] / fp32['it_per_s']:>6.2f}x" if fp32 else f"{'-':>7}"
            print(f"{r['precision']:>4} {r['it_per_s']:>8.2f} {r['audio_x_realtime']:>9.1f} {mem(r['peak_gpu_mib'])} "
                  f"{r['flops_per_iter'] / 1e9:>10.1f} {rate(r['flops_per_s']):>14} "
                  f"{r['flops_per_s'] / peak['flops_per_s']:>8.3f} {speedup}")
    if result["skipped"]:
        print(f"\nleft out: {result['skipped']}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda | cuda:N | cpu")
    ap.add_argument("--minutes", type=float, default=10.0, help="audio enhanced per row")
    ap.add_argument("--batch-sizes", default="1,8,32,128", help="chunks per forward pass")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--chunk-seconds", type=float, default=None, help="chunk length (default: each model's own)")
    ap.add_argument("--repeats", type=int, default=3, help="model runs per row (the median is reported)")
    ap.add_argument("--iterations", type=int, default=20, help="training iterations timed per precision")
    ap.add_argument("--skip", default="", help="leave out: enhancement, training (comma-separated)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the script (see above)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    from audiogan.audio.enhance.enhancer import check_precision
    from audiogan.errors import ConfigError
    from audiogan.runtime import resolve_device

    try:
        device = resolve_device(args.device)
    except ConfigError as err:
        raise SystemExit(str(err)) from None
    precisions = [p for p in args.precisions.split(",") if p]
    if unknown := sorted(set(precisions) - {"fp32", "bf16"}):
        raise SystemExit(f"--precisions: unknown {', '.join(unknown)}; valid: fp32, bf16")
    seconds, repeats, chunk = args.minutes * 60, args.repeats, args.chunk_seconds
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.quick:
        seconds, batch_sizes, repeats, chunk = 4.0, [1, 2], 1, 1.0
    try:  # the enhancer's own rule: CUDA with native bf16 (the trainer uses bf16 on CUDA only)
        check_precision("bf16", device)
        bf16, skipped = True, ""
    except ConfigError as err:
        bf16, skipped = False, f"bf16 rows ({err})" if "bf16" in precisions else ""
        precisions = [p for p in precisions if p != "bf16"]
    result = {"device": str(device), "device_name": describe(device), "quick": args.quick, "seconds": seconds,
              "reference": [reference(device, p, args.quick) for p in (["bf16", "fp32"] if bf16 else ["fp32"])],
              "enhancement": [], "drift_s": None, "training": [], "skipped": skipped}
    skip = set(args.skip.split(","))
    if "enhancement" not in skip:
        result["enhancement"], result["drift_s"] = enhancement_rows(
            device, precisions, batch_sizes, seconds, repeats, warm_up=not args.quick, chunk_seconds=chunk)
    if "training" not in skip:
        result["training"] = training_rows(device, precisions, 1 if args.quick else args.iterations, args.quick)
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    from audiogan.cli.common import run_script

    run_script(main)
