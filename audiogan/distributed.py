"""Training under ``torchrun``: the process group, this process's place in it, and rank-0 side effects.

``torchrun --nproc_per_node N -m audiogan train CONFIG --out RUN`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment; :func:`init_from_env`
joins them into a process group (NCCL on GPUs, one GPU per process by ``LOCAL_RANK``; gloo on CPU) and
the trainer wraps its networks in :class:`torch.nn.parallel.DistributedDataParallel`
(:meth:`audiogan.gan.AdversarialTrainer.distribute`). A plain ``audiogan train`` is a world of one and
never touches ``torch.distributed``.

How each piece of the adversarial step stays the same on every rank:

- Parameters: DDP broadcasts rank 0's at wrapping and averages the gradients in every backward; each
  optimizer step, the gradient-norm clip and the non-finite guard then see the same numbers. The guard's
  finite-loss check is agreed by all ranks first (an all-reduce), so no rank skips a backward another runs.
- Growth: blocks beyond the current depth take no gradient (``find_unused_parameters``).
- Buffers (spectral norm's power-iteration vectors) are not broadcast at every forward: an in-place
  broadcast between the critic's real, fake and penalty forwards would break their graphs. Each rank
  updates them from the same weights with the same arithmetic, so they stay equal (the tests check it).
- The gradient penalty's double backward: its input gradient comes from ``autograd.grad`` (no parameter
  hook fires) and the one ``backward`` of the critic's total fires each parameter's hook once. L2 on the
  weights is added to the averaged gradients directly (the same on every rank).
- In the generator step the critic is called unwrapped: it is frozen there and takes no update.
- EMA: updated on every rank from the same weights, so the averages agree; saved from rank 0.
- FARGAN: each rank keeps its own best fakes for its own next real batch; a checkpoint keeps rank 0's.
- Data: each rank reads its own batches of one global stream (``ShardedBatches``); the checkpoint holds
  the global position, so a run resumes with any number of processes. Batch size is per process.
- RNG: every rank saves its state; a resume with the same world size restores each, another size
  restores rank 0's and seeds the others. The metric critic (``metric:``) is refused under torchrun.
- Rank 0 alone writes the run folder (config, logs, TensorBoard, checkpoints, validation, best model).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class World:
    """This process's rank among ``size`` training processes (``rank`` 0 writes the run folder)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group that ``torchrun`` set up (a no-op for a single process); returns this
    process's :class:`World` and its device (``cuda:LOCAL_RANK`` when training on GPUs)."""
    if not launched_by_torchrun():
        return World(), device
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), local_rank), device


def gather(obj: Any, world: World) -> list[Any]:
    """``obj`` of every rank, in rank order (a collective: every rank calls it)."""
    if not world.distributed:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def all_true(flag: bool, world: World) -> bool:
    """Whether ``flag`` holds on every rank (a collective)."""
    if not world.distributed:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def leave(world: World) -> None:
    """Leave the process group at the end of a run."""
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
