"""Training throughput from the segment cache against degrading on the fly: audio-seconds trained per second.

Trains the recipe (default configs/v2.yaml, which reads the cache data/cache/v2) for a few iterations as it
is, then with its data block replaced by the on-the-fly data the cache was rendered from (default
configs/v2-data.yaml: codec subprocesses, Griffin-Lim, noise mixing in the data workers), the same
networks, batch, threads and data workers otherwise. The first ``--warmup`` iterations (worker start-up,
first allocations) are not timed. Prints a table; nothing is kept.

    python scripts/bench_train_data.py [--recipe configs/v2.yaml] [--data configs/v2-data.yaml] [--steps 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml


def _throughput(cfg, steps: int, warmup: int) -> tuple[float, float]:
    """(audio-seconds per wall-second, seconds per iteration) over iterations ``warmup + 1 .. steps - 1`` (the
    last one also writes the run's checkpoint and example)."""
    from audiogan.audio.train import train

    marks: dict[int, float] = {}

    def progress(step: int, total: int, stats: dict) -> None:
        marks[step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, Path(tmp) / "run", progress=progress, stop_after=steps)
    timed = steps - 1 - warmup
    seconds = marks[steps - 1] - marks[warmup]
    audio = timed * cfg.adversarial.n_gen * cfg.data.batch_size * cfg.data.segment_seconds
    return audio / seconds, seconds / timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", type=Path, default=Path("configs/v2.yaml"))
    ap.add_argument("--data", type=Path, default=Path("configs/v2-data.yaml"), help="the on-the-fly data config")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the recipe's)")
    args = ap.parse_args()

    from audiogan.audio.train import AudioTrainConfig
    from audiogan.config import parse_config

    base = yaml.safe_load(args.recipe.read_text())
    fly = yaml.safe_load(args.data.read_text())["data"]
    rows = []
    for name, data in (("cache", base["data"]),
                       ("on the fly", {**fly, "batch_size": base["data"]["batch_size"],
                                       "num_workers": base["data"].get("num_workers", 0)})):
        raw = {**base, "data": data, "validation_segments": 0, "checkpoint_every": 10**6,
               "sample_every": 10**6, "log_every": 10**6}
        if args.threads is not None:
            raw["threads"] = args.threads
        cfg = parse_config(raw, AudioTrainConfig)
        rate, per_iter = _throughput(cfg, args.steps, args.warmup)
        rows.append((name, rate, per_iter, cfg.threads, cfg.data.num_workers))
    ref = rows[1][1]
    print(f"\n{args.recipe}: {args.steps - 1 - args.warmup} timed iterations of batch "
          f"{base['data']['batch_size']} x {base['data']['segment_seconds']} s\n")
    print("| data | audio s / s | s / iteration | torch threads | data workers | vs on the fly |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rate, per_iter, threads, workers in rows:
        print(f"| {name} | {rate:.2f} | {per_iter:.2f} | {threads} | {workers} | {rate / ref:.2f}x |")


if __name__ == "__main__":
    from audiogan.cli.common import run_script

    run_script(main)
