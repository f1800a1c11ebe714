"""Enhance a folder tree: mirrored outputs, resumable, a report of every input, bad files survived.

``enhance_folder(enhancer, SRC, DST)`` (threads on this machine; :mod:`.ray_engine` for a Ray cluster) enhances every audio file under ``SRC`` into ``DST`` at the same
relative path (same name, format and subtype). An output that already exists is a finished file and is
skipped, so a stopped run resumes where it was. Every input gets a row in ``DST/enhance_report.tsv``
(tab-separated, written with the csv module, so a name holding a tab or a newline is quoted; columns
``path, status, detail``; status ``ok``, ``skipped`` or ``failed``, or ``pending`` for an input a stopped
run did not reach) and a failure never stops the run.

One run at a time writes into ``DST``: it holds ``DST/.audiogan.lock`` (a second run is refused, naming
the process that holds it). Temporary files left by a killed run (``.NAME.tmp-PID`` of a process that
is gone) are removed when the next run starts.
"""

from __future__ import annotations

import csv
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ...checkpoint import FolderLock, atomic_write_text, make_folder, remove_stale_temporaries
from ...errors import AudioError, ConfigError, UserError, first_line
from ..data.files import list_audio
from .enhancer import Enhancer
from .stream import enhance_file

REPORT_NAME = "enhance_report.tsv"
PENDING = "not reached: the run ended before it; run it again to resume"
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
        noted = sum(1 for s, d in self.rows.values() if s == "ok" and d)
        drift = f" ({noted} with a DC offset or drift removed: see the report)" if noted else ""
        pending = f", {self.count('pending')} not reached" if self.count("pending") else ""
        return (f"{self.count('ok')} enhanced{drift}, {self.count('skipped')} already done, "
                f"{self.count('failed')} failed{pending}")


def _system_detail(err: OSError) -> str:
    return f"{err.filename}: {err.strerror}" if err.filename and err.strerror else first_line(err)


def enhance_one(enhancer: Enhancer, source: Path, dest: Path, rel: Path,
                batch_size: int) -> tuple[str, str, str | None]:
    """Enhance ``source/rel`` into ``dest/rel``: ``(status, detail, failure kind or None)``; never raises.

    The unit of work of every engine (the local threads here, Ray actors in :mod:`.ray_engine`), so each
    gives the same outputs and the same report rows."""
    out = dest / rel
    if out.exists():
        return "skipped", "output exists", None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        notes: list[str] = []
        enhance_file(enhancer, source / rel, out, batch_size=batch_size, notes=notes)
        return "ok", "; ".join(notes), None
    except UserError as err:
        return "failed", first_line(err), "input"
    except OSError as err:
        return "failed", _system_detail(err), "system"
    except Exception as err:  # a bug: reported as one, and the other files still run
        return "failed", f"internal error, please report it ({type(err).__name__}: {first_line(err)})", "bug"


@dataclass
class FolderRun:
    """The inputs of one folder run and its report, which ``record`` fills (thread-safe)."""

    source: Path
    dest: Path
    files: list[Path]  # relative to source
    report: FolderReport = field(default_factory=FolderReport)
    progress: Callable[[str, str], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, rel: Path, status: str, detail: str, kind: str | None) -> None:
        with self._lock:
            self.report.rows[str(rel)] = (status, detail)
            if kind:
                self.report.failures[str(rel)] = kind
        if self.progress:
            self.progress(str(rel), status)

    def write_report(self) -> None:
        """Write the report; an input not recorded yet (a stopped run did not reach it) is listed as pending."""
        with self._lock:
            for rel in self.files:
                self.report.rows.setdefault(str(rel), ("pending", PENDING))
            atomic_write_text(self.dest / REPORT_NAME, self.report.tsv())


@contextmanager
def folder_run(source: str | Path, dest: str | Path,
               progress: Callable[[str, str], None] | None = None) -> Iterator[FolderRun]:
    """Check ``source`` and ``dest``, list the inputs, hold ``dest``'s lock, clear a killed run's temporary
    files, and write the report on the way out, however the run ends (an engine's shared frame)."""
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise AudioError(f"{source}: not a folder")
    if dest.resolve() == source.resolve() or source.resolve() in dest.resolve().parents:
        raise AudioError(f"{dest}: output folder must not be the input folder or inside it")
    files = [path.relative_to(source) for path in list_audio([str(source)])]
    make_folder(dest)
    run = FolderRun(source, dest, files, progress=progress)
    with FolderLock(dest):
        remove_stale_temporaries(dest)
        try:
            yield run
        finally:
            run.write_report()


def enhance_folder(enhancer: Enhancer, source: str | Path, dest: str | Path, batch_size: int = 4,
                   workers: int = 1, progress: Callable[[str, str], None] | None = None) -> FolderReport:
    """Enhance every audio file under ``source`` into ``dest``; returns (and writes) the report.

    ``workers`` files are processed at once (threads: decoding, resampling and encoding overlap with
    the model, which releases the GIL). Interrupted (Ctrl-C, SIGTERM), the files being enhanced are
    finished, no other is started, and the report of what was done is written.
    """
    for key, value in (("batch_size", batch_size), ("workers", workers)):
        if value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    stop = threading.Event()
    with folder_run(source, dest, progress) as run:

        def one(rel: Path) -> None:
            if not stop.is_set():
                run.record(rel, *enhance_one(enhancer, run.source, run.dest, rel, batch_size))

        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            list(pool.map(one, run.files))
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
    return run.report
