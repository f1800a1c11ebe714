"""Held-out learning curve of a training run: its checkpoints' EMA generators scored on an evaluation set.

Validation (``valid/*`` in ``metrics.jsonl``) scores the training voices; whether more training still helps
speech the model never heard shows only on a held-out set. This script enhances SET/degraded with every
checkpoint of RUN whose step is a multiple of ``--every`` and evaluates it as ``audiogan evaluate`` does,
appending a row per step to RUN/heldout.jsonl: ``heldout/<measure>`` and ``heldout/<measure>_input`` over
all files, the same per family (``heldout/<family>/<measure>``), and the hours of audio seen at that step.
It reads the run and never writes to its checkpoints; nothing here feeds training or model selection, so
the set stays a fair report. ``--follow`` keeps watching a run that is still training (a run keeps only its
newest checkpoints) until it reaches its last step. ``plot_learning_curves.py --keys heldout/pesq`` draws
the rows beside the validation curves.

    python scripts/heldout_curve.py RUN --set data/eval/heldout/set [--every 1000] [--follow] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

CURVE = "heldout.jsonl"


def scored_steps(run: Path) -> set[int]:
    """The steps RUN/heldout.jsonl holds (a line cut short by an interrupted call is ignored)."""
    steps = set()
    for line in (run / CURVE).read_text().splitlines() if (run / CURVE).exists() else []:
        try:
            steps.add(json.loads(line)["step"])
        except (ValueError, KeyError):
            continue
    return steps


def enhancer_at(checkpoint: Path):
    """The checkpoint's EMA generator (its generator when it kept no EMA) as an :class:`Enhancer`."""
    from audiogan.audio.enhance.enhancer import Enhancer, EnhancerConfig
    from audiogan.audio.export import read_checkpoint
    from audiogan.audio.models import make_generator

    _, models, _, cfg = read_checkpoint(checkpoint)
    generator = make_generator(cfg.generator)
    generator.load_state_dict(models.get("generator_ema", models["generator"]), strict=True)
    return Enhancer(generator, EnhancerConfig(name=checkpoint.name, sample_rate=cfg.sample_rate,
                                              generator=cfg.generator))


def score(run: Path, checkpoint: Path, step: int, eval_set: Path) -> dict:
    """Enhance the set with ``checkpoint`` and evaluate it; the row for RUN/heldout.jsonl."""
    import soundfile as sf

    from audiogan.audio.data.files import list_audio
    from audiogan.audio.evaluate.report import evaluate_folders
    from audiogan.audio.run_log import seen_at

    enhancer = enhancer_at(checkpoint)
    degraded = eval_set / "degraded"
    out = run / ".heldout" / checkpoint.name
    for f in list_audio([str(degraded)]):
        x, sr = sf.read(f, dtype="float32")
        dest = out / f.relative_to(degraded)
        dest.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dest, np.clip(enhancer(x, sr), -1, 1), sr, subtype="PCM_16")
    ev = evaluate_folders(eval_set / "clean", {"input": degraded, "enhanced": out}, cache=run / "heldout_scores.jsonl")
    shutil.rmtree(out)
    if not any(out.parent.iterdir()):
        out.parent.rmdir()
    row: dict = {"step": step, "data/hours_seen": seen_at(run, step)["hours_seen"], "heldout/files": ev.counts["all"]}
    for group, systems in ev.table.items():
        prefix = "heldout/" if group == "all" else f"heldout/{group}/"
        for measure, value in systems["enhanced"].items():
            row[f"{prefix}{measure}"] = value
            row[f"{prefix}{measure}_input"] = systems["input"][measure]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--set", required=True, type=Path, help="an evaluation set: clean/ and degraded/<family>/")
    ap.add_argument("--every", type=int, default=1000, help="score the checkpoints at multiples of this step")
    ap.add_argument("--follow", action="store_true", help="wait for new checkpoints until the run's last step")
    ap.add_argument("--poll", type=float, default=60.0, help="seconds between looks at a followed run")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch
    import yaml

    from audiogan.checkpoint import checkpoint_step, checkpoints
    from audiogan.errors import ConfigError

    if not (args.set / "clean").is_dir() or not (args.set / "degraded").is_dir():
        raise SystemExit(f"{args.set}: not an evaluation set (needs clean/ and degraded/)")
    if not (args.run / "config.yaml").is_file():
        raise SystemExit(f"{args.run}: not a training run (no config.yaml)")
    if args.every < 1:
        raise SystemExit("--every must be at least 1")
    torch.set_num_threads(args.threads)
    logging.getLogger("audiogan").setLevel(logging.ERROR)  # the enhancer's notes on each file's DC offset
    last = int(yaml.safe_load((args.run / "config.yaml").read_text())["steps"])
    while True:
        done = scored_steps(args.run)
        found = sorted((checkpoint_step(c), c) for c in checkpoints(args.run))
        for step, ckpt in [(s, c) for s, c in found if s % args.every == 0 and s not in done]:
            try:
                row = score(args.run, ckpt, step, args.set)
            except ConfigError:
                if ckpt.exists():
                    raise
                continue  # pruned by the training run while being read
            with open(args.run / CURVE, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"step {step}: held-out PESQ {row['heldout/pesq']:.3f} (input {row['heldout/pesq_input']:.3f}), "
                  f"DNSMOS {row.get('heldout/dnsmos', float('nan')):.3f}", flush=True)
        if not args.follow or (found and found[-1][0] >= last):
            break
        time.sleep(args.poll)


if __name__ == "__main__":
    from audiogan.cli.common import run_script

    run_script(main)
