"""Enhance a folder tree: mirrored outputs, resumable, a report of every input, bad files survived.

``enhance_folder(enhancer, SRC, DST)`` enhances every audio file under ``SRC`` into ``DST`` at the same
relative path (same name, format and subtype). An output that already exists is a finished file and is
skipped, so a stopped run resumes where it was. Every input gets a line in ``DST/enhance_report.tsv``
(``path, status, detail``; status ``ok``, ``skipped`` or ``failed``) and a failure never stops the run.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...checkpoint import atomic_write_text
from ...errors import AudioError, UserError
from ..data.files import list_audio
from .enhancer import Enhancer
from .stream import enhance_file

REPORT_NAME = "enhance_report.tsv"


@dataclass
class FolderReport:
    rows: dict[str, tuple[str, str]] = field(default_factory=dict)  # relative path -> (status, detail)

    def count(self, status: str) -> int:
        return sum(1 for s, _ in self.rows.values() if s == status)

    def tsv(self) -> str:
        lines = ["path\tstatus\tdetail"] + [f"{p}\t{s}\t{d}" for p, (s, d) in sorted(self.rows.items())]
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        return f"{self.count('ok')} enhanced, {self.count('skipped')} already done, {self.count('failed')} failed"


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def enhance_folder(enhancer: Enhancer, source: str | Path, dest: str | Path, batch_size: int = 4,
                   workers: int = 1, progress: Callable[[str, str], None] | None = None) -> FolderReport:
    """Enhance every audio file under ``source`` into ``dest``; returns (and writes) the report.

    ``workers`` files are processed at once (threads: decoding, resampling and encoding overlap with
    the model, which releases the GIL).
    """
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise AudioError(f"{source}: not a folder")
    if dest.resolve() == source.resolve() or source.resolve() in dest.resolve().parents:
        raise AudioError(f"{dest}: output folder must not be the input folder or inside it")
    files = list_audio([str(source)])
    dest.mkdir(parents=True, exist_ok=True)
    report = FolderReport()
    lock = threading.Lock()

    def one(path: Path) -> None:
        rel = path.relative_to(source)
        out = dest / rel
        if out.exists():
            status, detail = "skipped", "output exists"
        else:
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                enhance_file(enhancer, path, out, batch_size=batch_size)
                status, detail = "ok", ""
            except (UserError, OSError) as err:
                status, detail = "failed", _first_line(err)
            except Exception as err:  # a bug: reported as one, and the other files still run
                status, detail = "failed", f"internal error, please report it ({type(err).__name__}: {_first_line(err)})"
        with lock:
            report.rows[str(rel)] = (status, detail.replace("\t", " "))
        if progress:
            progress(str(rel), status)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, files))
    atomic_write_text(dest / REPORT_NAME, report.tsv())
    return report
