"""Enhance a folder tree on a Ray cluster: the local engine's outputs and report, from a pool of actors.

``enhance_folder_ray(model, SRC, DST)`` lists the inputs, holds ``DST``'s lock and writes
``DST/enhance_report.tsv`` exactly as :func:`.folder.enhance_folder` does (the same frame,
:func:`.folder.folder_run`); the files are enhanced by a pool of Ray actors, each of which loads the model
once and runs :func:`.folder.enhance_one` (so the outputs, the skip-finished resume, the atomic writes and
the report rows are the local engine's, bit for bit). An actor takes a GPU when the cluster has GPUs.

Every node reads ``SRC`` and writes ``DST`` at the same paths: on a cluster of several machines both live
on a shared file system (NFS, a mounted bucket), as torchrun's checkpoints do. The model folder too, unless
it is a shipped model (every node's audiogan has those).

Ray is the optional extra ``audiogan[ray]``: ``ray.init(address)`` joins a running cluster (``auto``: the
one this machine belongs to) or, with no address, starts a local one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from ...errors import ConfigError, ToolError
from .folder import FolderReport, enhance_one, folder_run

log = logging.getLogger(__name__)


def import_ray():
    try:
        import ray
    except ImportError:
        raise ToolError("--engine ray needs Ray: pip install 'audiogan[ray]'") from None
    return ray


class _Worker:
    """One actor: a model loaded once, then files. Made a Ray actor class in :func:`enhance_folder_ray`."""

    def __init__(self, model: str | None, device: str, threads: int):
        import torch

        from .enhancer import Enhancer

        torch.set_num_threads(threads)
        self.enhancer = Enhancer.from_pretrained(model, device=device)

    def enhance(self, source: str, dest: str, rel: str, batch_size: int) -> tuple[str, str, str, str | None]:
        return (rel, *enhance_one(self.enhancer, Path(source), Path(dest), Path(rel), batch_size))


def enhance_folder_ray(model: str | Path | None, source: str | Path, dest: str | Path, batch_size: int = 4,
                       actors: int = 0, threads: int = 1, address: str | None = None,
                       progress: Callable[[str, str], None] | None = None) -> FolderReport:
    """Enhance every audio file under ``source`` into ``dest`` on Ray; returns (and writes) the report.

    ``actors``: how many model copies run at once (0: one per GPU when the cluster has GPUs, else one per
    ``threads`` CPUs). Interrupted, the report of the files finished so far is written, and the next run
    skips them.
    """
    for key, value in (("batch_size", batch_size), ("threads", threads)):
        if value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    if actors < 0:
        raise ConfigError(f"actors must be >= 0, got {actors}")
    ray = import_ray()
    model = None if model is None else (str(Path(model).resolve()) if Path(model).exists() else str(model))
    with folder_run(source, dest, progress) as run:
        if not run.files:
            return run.report
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False, configure_logging=False)
        try:
            from ray.util import ActorPool

            resources = ray.cluster_resources()
            gpus = int(resources.get("GPU", 0))
            if actors == 0:
                actors = gpus if gpus else max(1, int(resources.get("CPU", 1)) // threads)
            actors = min(actors, len(run.files))
            options = {"num_gpus": 1, "num_cpus": threads} if gpus else {"num_cpus": threads}
            worker = ray.remote(**options)(_Worker)
            device = "cuda" if gpus else "cpu"
            pool = ActorPool([worker.remote(model, device, threads) for _ in range(actors)])
            jobs = ((str(run.source.resolve()), str(run.dest.resolve()), str(rel), batch_size) for rel in run.files)
            for rel, status, detail, kind in pool.map_unordered(lambda a, job: a.enhance.remote(*job), jobs):
                run.record(Path(rel), status, detail, kind)
        finally:
            if started_here:
                ray.shutdown()
    return run.report

