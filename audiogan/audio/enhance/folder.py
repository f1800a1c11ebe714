"""Enhance a folder tree: mirrored outputs, resumable, a report of every input, bad files survived.

``enhance_folder(enhancer, SRC, DST)`` enhances every audio file under ``SRC`` into ``DST`` at the same
relative path (same name, format and subtype). An output that already exists is a finished file and is
skipped, so a stopped run resumes where it was. Every input gets a row in ``DST/enhance_report.tsv``
(tab-separated, written with the csv module, so a name holding a tab or a newline is quoted; columns
``path, status, detail``; status ``ok``, ``skipped`` or ``failed``) and a failure never stops the run.

One run at a time writes into ``DST``: it holds ``DST/.audiogan.lock`` (a second run is refused, naming
the process that holds it). Temporary files left by a killed run (``.NAME.tmp-PID`` of a process that
is gone) are removed when the next run starts.
"""

from __future__ import annotations

import csv
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...checkpoint import FolderLock, atomic_write_text, remove_stale_temporaries
from ...errors import AudioError, ConfigError, UserError, first_line
from ..data.files import list_audio
from .enhancer import Enhancer
from .stream import enhance_file

REPORT_NAME = "enhance_report.tsv"
FAILURE_KINDS = ("input", "system", "bug")  # a bad input, the system failed us (OSError), a bug in audiogan


@dataclass
class FolderReport:
    rows: dict[str, tuple[str, str]] = field(default_factory=dict)  # relative path -> (status, detail)
    failures: dict[str, str] = field(default_factory=dict)  # relative path -> kind (FAILURE_KINDS)

    def count(self, status: str) -> int:
        return sum(1 for s, _ in self.rows.values() if s == status)

    def worst_failure(self) -> str | None:
        """``bug`` if any file failed by a bug, else ``system`` if any by a system error, else ``input`` if
        any failed, else ``None``."""
        kinds = set(self.failures.values())
        return next((k for k in ("bug", "system", "input") if k in kinds), None)

    def tsv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "status", "detail"])
        writer.writerows([p, s, d] for p, (s, d) in sorted(self.rows.items()))
        return buf.getvalue()

    def summary(self) -> str:
        return f"{self.count('ok')} enhanced, {self.count('skipped')} already done, {self.count('failed')} failed"


def _system_detail(err: OSError) -> str:
    return f"{err.filename}: {err.strerror}" if err.filename and err.strerror else first_line(err)


def enhance_folder(enhancer: Enhancer, source: str | Path, dest: str | Path, batch_size: int = 4,
                   workers: int = 1, progress: Callable[[str, str], None] | None = None) -> FolderReport:
    """Enhance every audio file under ``source`` into ``dest``; returns (and writes) the report.

    ``workers`` files are processed at once (threads: decoding, resampling and encoding overlap with
    the model, which releases the GIL). Interrupted (Ctrl-C, SIGTERM), the files being enhanced are
    finished, no other is started, and the report of what was done is written.
    """
    source, dest = Path(source), Path(dest)
    for key, value in (("batch_size", batch_size), ("workers", workers)):
        if value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    if not source.is_dir():
        raise AudioError(f"{source}: not a folder")
    if dest.resolve() == source.resolve() or source.resolve() in dest.resolve().parents:
        raise AudioError(f"{dest}: output folder must not be the input folder or inside it")
    files = list_audio([str(source)])
    dest.mkdir(parents=True, exist_ok=True)
    report = FolderReport()
    lock, stop = threading.Lock(), threading.Event()

    def one(path: Path) -> None:
        if stop.is_set():
            return
        rel = path.relative_to(source)
        out = dest / rel
        kind = None
        if out.exists():
            status, detail = "skipped", "output exists"
        else:
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                enhance_file(enhancer, path, out, batch_size=batch_size)
                status, detail = "ok", ""
            except UserError as err:
                status, detail, kind = "failed", first_line(err), "input"
            except OSError as err:
                status, detail, kind = "failed", _system_detail(err), "system"
            except Exception as err:  # a bug: reported as one, and the other files still run
                status, detail, kind = "failed", f"internal error, please report it ({type(err).__name__}: " \
                                                 f"{first_line(err)})", "bug"
        with lock:
            report.rows[str(rel)] = (status, detail)
            if kind:
                report.failures[str(rel)] = kind
        if progress:
            progress(str(rel), status)

    with FolderLock(dest):
        remove_stale_temporaries(dest)
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            list(pool.map(one, files))
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            with lock:
                atomic_write_text(dest / REPORT_NAME, report.tsv())
    return report
