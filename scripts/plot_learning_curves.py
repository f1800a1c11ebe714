"""Learning curves of several runs on one figure, and the same numbers as a table.

Each run's ``metrics.jsonl`` gives the checkpoints where the validation split was scored; the curves are
drawn against the hours of audio the generator had seen (``data/hours_seen``, counting a warm start's
hours), so runs of different batch sizes or warm starts line up. Rows of ``RUN/heldout.jsonl``
(``scripts/heldout_curve.py``: checkpoints scored on a held-out set) join them under ``heldout/*`` keys.
The table prints every key at every scored step of every run.

    python scripts/plot_learning_curves.py runs/v2-l1 runs/v2-l1-wide -o curves.png \
        [--keys valid/pesq,valid/dnsmos,heldout/pesq,heldout/dnsmos] [--x step]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def scored_rows(run: Path, keys: list[str]) -> list[dict]:
    """The rows of ``run/metrics.jsonl`` that hold any of ``keys``, each with the step's hours seen (the
    last logged value at or before it)."""
    rows, hours = [], 0.0
    for line in (run / "metrics.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        hours = row.get("data/hours_seen", hours)
        if any(k in row for k in keys):
            rows.append({**row, "data/hours_seen": hours})
    held_out = run / "heldout.jsonl"  # scripts/heldout_curve.py: rows that carry their own hours seen
    for line in held_out.read_text().splitlines() if held_out.exists() else []:
        row = json.loads(line) if line.strip() else {}
        if any(k in row for k in keys):
            rows.append(row)
    return sorted(rows, key=lambda r: r["step"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True, help="PNG to write")
    ap.add_argument("--keys", default="valid/pesq,valid/dnsmos,valid/sisdr,valid/pesq_clean")
    ap.add_argument("--x", default="data/hours_seen", help="data/hours_seen (default) or step")
    args = ap.parse_args()
    from audiogan.plotting import new_figure, save_figure

    keys = args.keys.split(",")
    curves = {run: scored_rows(run, keys) for run in args.runs}
    for run, rows in curves.items():
        if not rows:
            raise SystemExit(f"{run}: no step logged any of {', '.join(keys)}")
    fig, axes = new_figure(1, len(keys), (4.2 * len(keys), 3.4))
    for ax, key in zip(axes.flat, keys):
        for run, rows in curves.items():
            points = [(r[args.x], r[key]) for r in rows if key in r]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, lw=1, label=run.name)
        inputs = [r[f"{key}_input"] for rows in curves.values() for r in rows if f"{key}_input" in r]
        if inputs:
            ax.axhline(inputs[-1], color="grey", ls="--", lw=1, label="input")
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("hours of audio seen" if args.x == "data/hours_seen" else args.x, fontsize=9)
        ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.16, top=0.9, wspace=0.3)
    save_figure(fig, args.out)

    print("| run | step | hours seen | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for run, rows in curves.items():
        for r in rows:
            cells = " | ".join(f"{r[k]:.3f}" if k in r else "" for k in keys)
            print(f"| {run.name} | {r['step']} | {r['data/hours_seen']:.2f} | {cells} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from audiogan.cli.common import run_script

    run_script(main)
