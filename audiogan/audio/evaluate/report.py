"""A folder-level evaluation: every system's files scored against the clean references, tabulated per
degradation family (the first folder level) and overall, with deltas against the input.

Scoring is the slow part (DNSMOS, PESQ: about 2 s a file on one busy core), and the same inputs and
baselines are scored again each time a new system joins a comparison. A :class:`ScoreCache` keeps every
file's scores under the content of the scored file and of its reference, so only new files are scored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import AudioError, DataError, first_line
from ...plotting import save_figure
from ..data.io import load_mono
from .metrics import EVAL_RATE, measure

HIGHER_IS_BETTER = {"pesq": True, "stoi": True, "si_sdr": True, "lsd": False, "dnsmos": True}


@dataclass
class Evaluation:
    """Mean measures per system (``input``, ``enhanced``, ...) and group (first folder level or ``all``)."""

    table: dict[str, dict[str, dict[str, float]]]  # group -> system -> measure -> mean
    counts: dict[str, int]
    failures: dict[str, str]

    def to_json(self) -> str:
        return json.dumps({"table": self.table, "counts": self.counts, "failures": self.failures}, indent=2)


class ScoreCache:
    """Scores of earlier evaluations in a JSON-lines file, keyed by the SHA-256 of the scored file's bytes,
    of its reference's bytes and the names of the measures this install computes (DNSMOS needs speechmos),
    so a changed file, reference or install is scored again. New scores are appended as they come; a line
    cut short by an interrupted run is ignored."""

    def __init__(self, path: Path):
        self.path, self.scores = Path(path), {}
        for line in self.path.read_text().splitlines() if self.path.is_file() else []:
            try:
                row = json.loads(line)
                self.scores[row["key"]] = row["scores"]
            except (ValueError, KeyError, TypeError):
                continue

    @staticmethod
    def digest(path: Path) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    def get(self, key: str) -> dict[str, float] | None:
        return self.scores.get(key)

    def put(self, key: str, scores: dict[str, float]) -> None:
        self.scores[key] = scores
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps({"key": key, "scores": scores}) + "\n")


def _measures() -> str:
    """The measures this install computes, for a cache key."""
    try:
        import speechmos  # noqa: F401
        return "pesq,stoi,si_sdr,lsd,dnsmos"
    except ImportError:
        return "pesq,stoi,si_sdr,lsd"


def evaluate_folders(clean: Path, systems: dict[str, Path], by_group: bool = True,
                     plot_dir: Path | None = None, progress: Callable[[int, int], None] | None = None,
                     cache: Path | None = None) -> Evaluation:
    """Score every file of each system folder against the clean file of the same name.

    A system folder may hold group sub-folders (``noise/x.wav``) whose files match ``clean/x.wav``;
    results are then reported per group and for ``all``. Only files that every system scored count, so
    the systems are compared on the same files; the others are listed in ``failures`` with the reason.

    ``cache``: a :class:`ScoreCache` file; files scored before (same bytes, same reference) are not
    scored again.

    Raises:
        DataError: no file was scored by every system (an empty or wrong ``--enhanced`` folder).
    """
    store, measures = (ScoreCache(cache), _measures()) if cache is not None else (None, "")
    first = next(iter(systems.values()))
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.suffix.lower() in (".wav", ".flac"))
    if not files:
        raise AudioError(f"{first}: no wav or flac files to evaluate")
    scores: dict[str, dict[str, list[dict[str, float]]]] = {}
    failures: dict[str, str] = {}
    for i, rel in enumerate(files):
        group = rel.parts[0] if by_group and len(rel.parts) > 1 else "all"
        ref_rel = Path(*rel.parts[1:]) if group != "all" else rel
        try:  # every system's score, or none: a file one system fails on is left out for all
            ref = load_mono(clean / ref_rel, EVAL_RATE)
            signals = {name: load_mono(folder / rel, EVAL_RATE) for name, folder in systems.items()}
            measured = {}
            ref_key = f"{measures}:{{}}:{store.digest(clean / ref_rel)}" if store else ""  # once per file
            for name, x in signals.items():
                key = ref_key.format(store.digest(systems[name] / rel)) if store else ""
                if store and (known := store.get(key)) is not None:
                    measured[name] = known
                    continue
                try:
                    measured[name] = measure(x, ref)
                except Exception as err:
                    raise RuntimeError(f"{name}: {first_line(err)}") from None
                if store:
                    store.put(key, measured[name])
        except Exception as err:  # one bad file must not end the evaluation
            failures[str(rel)] = first_line(err)
            measured = {}
        for name, m in measured.items():
            scores.setdefault(group, {}).setdefault(name, []).append(m)
            if group != "all":
                scores.setdefault("all", {}).setdefault(name, []).append(m)
        if measured and plot_dir is not None:
            from .plots import spectrogram_figure

            family = f", family {group}" if group != "all" else ""
            fig = spectrogram_figure([("clean", ref)] + list(signals.items()), EVAL_RATE, title=f"{rel}{family}",
                                     notes={name: _scores_line(m) for name, m in measured.items()})
            save_figure(fig, _plot_path(plot_dir, rel))
        if progress:
            progress(i + 1, len(files))
    if not scores:
        example = next(iter(failures.items()))
        raise DataError(f"no file was scored by every system ({len(failures)} left out, e.g. {example[0]}: "
                        f"{example[1]})")
    table = {g: {s: {k: float(np.mean([m[k] for m in ms])) for k in ms[0]} for s, ms in by_sys.items()}
             for g, by_sys in scores.items()}
    counts = {g: len(next(iter(by_sys.values()))) for g, by_sys in scores.items()}
    return Evaluation(table, counts, failures)


def _scores_line(m: dict[str, float]) -> str:
    names = {"pesq": "PESQ {:.2f}", "stoi": "STOI {:.3f}", "si_sdr": "SI-SDR {:.1f} dB", "lsd": "LSD {:.1f} dB",
             "dnsmos": "DNSMOS {:.2f}"}
    return ", ".join(fmt.format(m[k]) for k, fmt in names.items() if k in m)


def _plot_path(plot_dir: Path, rel: Path) -> Path:
    path = plot_dir / rel.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def format_evaluation(ev: Evaluation) -> str:
    """A markdown table: one row per group and system, with deltas against ``input``."""
    measures = [m for m in ("pesq", "stoi", "si_sdr", "lsd", "dnsmos")
                if any(m in s for g in ev.table.values() for s in g.values())]
    head = "| group | n | system | " + " | ".join(measures) + " |"
    lines = [head, "|" + "---|" * (3 + len(measures))]
    groups = sorted(g for g in ev.table if g != "all") + (["all"] if "all" in ev.table else [])
    for g in groups:
        base = ev.table[g].get("input")
        for system, vals in ev.table[g].items():
            cells = []
            for m in measures:
                v = vals.get(m)
                if v is None:
                    cells.append("-")
                elif base is not None and system != "input" and m in base:
                    cells.append(f"{v:.3f} ({v - base[m]:+.3f})")
                else:
                    cells.append(f"{v:.3f}")
            lines.append(f"| {g} | {ev.counts[g]} | {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
