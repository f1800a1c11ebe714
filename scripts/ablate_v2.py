"""Pilot runs of equal length that say what each piece of Enhancer v2 buys, on the validation split.

Each variant is configs/v2.yaml with one piece taken out (or the old generator put back); every run trains
the same number of iterations on the same cached segments and is scored at every checkpoint by
``valid/pesq`` and ``valid/recon`` (the validation split of the cache: training voices, other crops and
damage). Finished runs are reused, so a stopped ablation resumes; the table goes to OUT/table.md.

    python scripts/ablate_v2.py --out runs/ablate-v2 [--steps 1000] [--variants full,no-phase-losses,...]
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import yaml

VARIANTS: dict[str, dict[tuple[str, ...], object]] = {
    "full": {},
    "no-phase-losses": {("adversarial", "weights", "loss/complex"): 0.0, ("adversarial", "weights", "loss/phase"): 0.0},
    "no-period-critics": {("critic", "periods"): []},
    "no-residual-head": {("generator", "residual"): False},
    "gain-generator": {("generator",): {"kind": "spectral_gain", "n_fft": 512, "max_gain": 2.0, "channels": 128,
                                        "blocks": 16, "kernel_size": 3, "dilation_cycle": 4}},
    "reconstruction-only": {("adversarial", "weights", "loss/adv"): 0.0},
    "with-metric-critic": {("metric",): {"channels": 16}, ("adversarial", "weights", "loss/metric"): 1.0},
    # Negative SI-SDR at 0.5 a dB: a 1 dB change weighs about what a fifth of the recon term does.
    "with-sisdr": {("adversarial", "weights", "loss/sisdr"): 0.5},
}


def _set(config: dict, keys: tuple[str, ...], value) -> None:
    node = config
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def variant_config(base: dict, name: str, steps: int) -> dict:
    cfg = copy.deepcopy(base)
    for key, value in VARIANTS[name].items():
        _set(cfg, key, value)
    # A pilot is shorter than the recipe: its learning-rate decay and growth schedules shrink with it, so it
    # reaches full depth and the end of its schedule as the full run does.
    scale = steps / base["steps"]
    cfg["steps"] = steps
    for opt in ("generator_opt", "critic_opt"):
        cfg[opt]["total_steps"] = steps
    for growth in ("generator_growth", "critic_growth"):
        if cfg.get(growth):
            for key in ("stable_steps", "fade_steps"):
                cfg[growth][key] = max(1, round(cfg[growth][key] * scale))
    cfg["checkpoint_every"] = max(50, steps // 4)
    cfg["sample_every"] = steps
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--base", default="configs/v2.yaml", type=Path)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    from audiogan.audio.train import AudioTrainConfig, train
    from audiogan.config import parse_config

    base = yaml.safe_load(args.base.read_text())
    rows = []
    for name in args.variants.split(","):
        run = args.out / name
        cfg = parse_config(variant_config(base, name, args.steps), AudioTrainConfig, f"{args.base} ({name})")
        done = (run / "metrics.jsonl").exists() and any(
            json.loads(line).get("step") == args.steps and "valid/recon" in json.loads(line)
            for line in (run / "metrics.jsonl").read_text().splitlines())
        if not done:
            train(cfg, run, resume=(run / "config.yaml").exists())
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        valid = [m for m in metrics if "valid/recon" in m]
        timing = [m for m in metrics if "time/iter_s" in m]
        last, best = valid[-1], max(valid, key=lambda m: m.get("valid/pesq", -m["valid/recon"]))
        rows.append((name, last, best, timing[-1]["time/iter_s"] if timing else float("nan")))
    lines = [f"Pilots of {args.steps} iterations on the v2 cache; validation split ({len(valid)} checkpoints "
             "each). PESQ of the unprocessed validation input: "
             f"{rows[0][1].get('valid/pesq_input', float('nan')):.3f}", "",
             "| variant | valid PESQ (last) | valid PESQ (best, step) | valid recon (last) | s / iteration |",
             "|---|---|---|---|---|"]
    for name, last, best, it in rows:
        lines.append(f"| {name} | {last.get('valid/pesq', float('nan')):.3f} | {best.get('valid/pesq', float('nan')):.3f} "
                     f"({best['step']}) | {last['valid/recon']:.4f} | {it:.2f} |")
    text = "\n".join(lines) + "\n"
    (args.out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    from audiogan.cli.common import run_script

    run_script(main)
