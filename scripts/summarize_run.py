"""Summarise a training run's health from its metrics.jsonl: non-finite steps, critic score gap,
per-layer-group gradient norms at the end, and the loss trend.

    python scripts/summarize_run.py runs/base
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def main(run: str) -> None:
    rows = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"{run}: no logged steps")
    last = rows[-1]
    print(f"run {run}: {last['step']} iterations logged every {rows[1]['step'] - rows[0]['step'] if len(rows) > 1 else 1}")
    print(f"non-finite steps skipped by the guard: {int(last.get('guard/skipped', 0))}")
    gaps = [r["critic/gap"] for r in rows if "critic/gap" in r and math.isfinite(r["critic/gap"])]
    if gaps:
        print(f"critic score gap: min {min(gaps):.3f}, max {max(gaps):.3f}, last {gaps[-1]:.3f} "
              f"(over {len(gaps)} logged steps)")
    for key in ("loss/recon", "loss/adv", "loss/critic", "loss/drift", "loss/l2"):
        vals = [r[key] for r in rows if key in r]
        if vals:
            k = max(1, len(vals) // 10)
            print(f"{key}: first tenth mean {sum(vals[:k]) / k:.4f}, last tenth mean {sum(vals[-k:]) / k:.4f}")
    for prefix in ("grad/generator/", "grad/critic/"):
        groups = {k[len(prefix):]: v for k, v in last.items() if k.startswith(prefix)}
        if groups:
            zero = [g for g, v in groups.items() if not v > 0]
            lo = min(groups, key=groups.get)
            print(f"{prefix[:-1]}: {len(groups)} layer groups at the last step, smallest norm {groups[lo]:.3g} "
                  f"({lo}), largest {max(groups.values()):.3g}; zero-gradient groups: {zero or 'none'}")
    depth = [k for k in last if k.startswith("growth/")]
    print("growth at the end: " + ", ".join(f"{k.split('/')[1]}={last[k]:g}" for k in depth))


if __name__ == "__main__":
    from audiogan.cli.common import run_script

    run_script(lambda: main(sys.argv[1] if len(sys.argv) > 1 else "runs/base"))
