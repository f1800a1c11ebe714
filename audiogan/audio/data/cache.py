"""A cache of pre-degraded training segments, made once and reused by every run and session.

Degrading on the fly runs codecs as subprocesses (tens of milliseconds a segment) and starves a trainer
on two cores. ``build_cache`` renders ``segments`` examples of a :class:`DataConfig` (the same pure
function of ``(seed, index)`` that on-the-fly training uses) into shards on disk::

    CACHE/cache.json            sample rate, segment length, counts, the data config it was made from
    CACHE/train_00000.npy ...   int16 (n, 2, L): [degraded, clean] per segment, shard_size segments a shard
    CACHE/valid.npy             int16 (V, 2, L): a validation split, same corpus, other crops and damage

Shards are written atomically and a stopped build resumes (finished shards are kept; a cache made from
another data config is refused). :class:`CachedDataset` serves them to training: item ``i`` is segment
``perm_e[i mod N]`` of epoch ``e = i div N``, with ``perm_e`` a permutation seeded by ``(seed, e)``, so
items stay a pure function of the index and resume stays exact. ``data.identity_fraction`` of the items
serve their clean segment as the input too (chosen at training time: the cache does not change). Shards are memory-mapped, so a cache
larger than memory works and loader workers share the pages.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import replace
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ...checkpoint import atomic_write, atomic_write_text
from ...config import to_dict
from ...errors import DataError
from .dataset import AS_RECORDED, VALID_SEED_OFFSET, EnhancementDataset, is_identity

META = "cache.json"
# Data options added after caches were made whose default changes the examples: an old cache.json without
# them was made as these values make them.
LEGACY = {"speed_band": False}
SCALE = 32767.0


def _shard_name(k: int) -> str:
    return f"train_{k:05d}.npy"


def _render(args: tuple) -> tuple[str, int]:
    """Worker: render items ``[start, stop)`` of the dataset for ``seed`` into ``path`` (int16)."""
    data, sample_rate, seed, start, stop, path = args
    dataset = _dataset(data, sample_rate, seed)
    items = [dataset[i] for i in range(start, stop)]
    block = np.stack([np.stack([d[0].numpy(), c[0].numpy()]) for d, c in items])
    block = np.clip(np.round(block * SCALE), -32768, 32767).astype(np.int16)
    atomic_write(path, lambda tmp: _save_npy(tmp, block))
    return str(path), stop - start


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, array)


_DATASETS: dict[str, object] = {}  # per process: the corpus is loaded once, not once per shard


def _dataset(data, sample_rate: int, seed: int):
    key = json.dumps(to_dict(data), sort_keys=True) + f"/{sample_rate}/{seed}"
    if key not in _DATASETS:
        _DATASETS.clear()
        _DATASETS[key] = EnhancementDataset(data, sample_rate, seed)
    return _DATASETS[key]


def build_cache(data, sample_rate: int, seed: int, out: str | Path, segments: int, validation: int = 64,
                shard_size: int = 256, workers: int = 1,
                progress: Callable[[int, int], None] | None = None) -> dict:
    """Render ``segments`` training and ``validation`` validation segments of ``data`` into ``out``.

    ``data`` is an on-the-fly :class:`~audiogan.audio.data.dataset.DataConfig` (mode synthetic, clean,
    paired or unpaired). Returns the cache's metadata. ``workers`` processes render shards in parallel.
    """
    if data.mode == "cached":
        raise DataError("a cache is made from an on-the-fly data config (mode clean, paired, ...), not a cached one")
    if data.identity_fraction:
        raise DataError("a cache holds damaged inputs only: set data.identity_fraction in the training config")
    if segments < 1 or validation < 0 or shard_size < 1 or workers < 1:
        raise DataError("segments, shard_size and workers must be >= 1 and validation >= 0")
    out = Path(out)
    meta = {"sample_rate": sample_rate, "segment_samples": int(round(data.segment_seconds * sample_rate)),
            "seed": seed, "segments": segments, "validation": validation, "shard_size": shard_size,
            "data": {k: v for k, v in to_dict(data).items() if k != "identity_fraction"}}
    existing = out / META
    if existing.exists():
        old = json.loads(existing.read_text())
        # fields added to the data config since the cache was made count at their defaults, or at the value
        # that gives the examples the cache holds (LEGACY)
        old["data"] = {k: v for k, v in {**to_dict(type(data)()), **LEGACY, **old.get("data", {})}.items()
                       if k != "identity_fraction"}
        if {k: v for k, v in old.items() if k not in ("segments", "complete")} != \
                {k: v for k, v in meta.items() if k != "segments"}:
            raise DataError(f"{out}: holds a cache made from another data config or seed; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(existing, json.dumps({**meta, "complete": False}, indent=1))
    _dataset(data, sample_rate, seed)  # load (and check) the corpus once here, before any worker starts
    jobs = [(data, sample_rate, seed, k * shard_size, min(segments, (k + 1) * shard_size), out / _shard_name(k))
            for k in range(-(-segments // shard_size))]
    if validation:  # validation speech as recorded: no speed perturbation or shaping
        jobs.append((replace(data, **AS_RECORDED), sample_rate, seed + VALID_SEED_OFFSET, 0, validation,
                     out / "valid.npy"))
    todo = [job for job in jobs if not job[-1].exists()]
    done = sum(job[4] - job[3] for job in jobs if job[-1].exists())
    total = segments + validation
    if progress:
        progress(done, total)
    if workers == 1 or len(todo) <= 1:
        results = map(_render, todo)
        for _, n in results:
            done += n
            if progress:
                progress(done, total)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _, n in pool.map(_render, todo):
                done += n
                if progress:
                    progress(done, total)
    meta["complete"] = True
    atomic_write_text(existing, json.dumps(meta, indent=1))
    return meta


def read_meta(cache: str | Path) -> dict:
    path = Path(cache) / META
    if not path.exists():
        raise DataError(f"{cache}: not a segment cache (no {META}); make one with `audiogan corpus cache`")
    meta = json.loads(path.read_text())
    if not meta.get("complete"):
        raise DataError(f"{cache}: the cache is incomplete; run `audiogan corpus cache` again to finish it")
    return meta


class CachedDataset(Dataset):
    """``(degraded (1, L), clean (1, L))`` float32 segments from a cache; see the module docstring."""

    def __init__(self, cfg, sample_rate: int, seed: int):
        self.cfg, self.seed = cfg, seed
        self.meta = read_meta(cfg.cache)
        if self.meta["sample_rate"] != sample_rate:
            raise DataError(f"{cfg.cache}: made at {self.meta['sample_rate']} Hz, the config trains at {sample_rate} Hz")
        root = Path(cfg.cache)
        self.shards = [np.load(root / _shard_name(k), mmap_mode="r")
                       for k in range(-(-self.meta["segments"] // self.meta["shard_size"]))]
        self.count = sum(len(s) for s in self.shards)
        self.valid = np.load(root / "valid.npy", mmap_mode="r") if self.meta["validation"] else None
        self.length = self.meta["segment_samples"]

    def __len__(self) -> int:  # effectively endless: indices come from the sampler
        return 2 ** 62

    @functools.lru_cache(maxsize=2)
    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch, 0xCAC4E]).permutation(self.count)

    @staticmethod
    def _tensors(pair: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.asarray(pair, dtype=np.float32) / SCALE)
        return x[0:1], x[1:2]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        j = int(self._permutation(index // self.count)[index % self.count])
        size = self.meta["shard_size"]
        degraded, clean = self._tensors(self.shards[j // size][j % size])
        return (clean, clean) if is_identity(self.seed, index, self.cfg.identity_fraction) else (degraded, clean)

    def validation(self, n: int | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The first ``n`` (default all) validation segments."""
        if self.valid is None:
            return []
        return [self._tensors(p) for p in self.valid[: len(self.valid) if n is None else n]]

    def fixed_example(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A segment never drawn for training (the first validation one, else the first training one)."""
        return self._tensors(self.valid[0]) if self.valid is not None else self[0]

    @property
    def report(self):
        from .files import CorpusReport

        return CorpusReport(loaded=self.count)


def make_dataset(cfg, sample_rate: int, seed: int) -> Dataset:
    """The dataset a data config describes: segments from a cache (mode ``cached``), or made on the fly."""
    if cfg.mode == "cached":
        return CachedDataset(cfg, sample_rate, seed)
    return EnhancementDataset(cfg, sample_rate, seed)


def cache_bytes(cache: str | Path) -> int:
    """Bytes the cache's shards take on disk."""
    return sum(os.path.getsize(p) for p in Path(cache).glob("*.npy"))
