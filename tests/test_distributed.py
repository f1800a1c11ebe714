"""Training under torchrun: a 2-process gloo run on CPU keeps every parameter and buffer equal on both
ranks, writes one run folder, and resumes in one process (the data position is global) and exports."""

from __future__ import annotations

import json
import os
import socket
from itertools import islice

import pytest
import torch
import torch.multiprocessing as mp

from audiogan.audio.data.dataset import ShardedBatches
from audiogan.audio.train import AudioTrainConfig
from audiogan.checkpoint import step_folder
from tests.test_audio_train import tiny

WORLD = 2


def test_shards_partition_the_stream_and_resume_at_a_global_position():
    one = list(islice(iter(ShardedBatches(5, 3)), 6))
    assert one[0] == [15, 16, 17] and one[1] == [18, 19, 20]
    ranks = [list(islice(iter(ShardedBatches(5, 3, r, 2)), 3)) for r in range(2)]
    # Iteration k of a world of 2 takes stream batches 2k and 2k + 1: together, the single stream.
    assert [b for pair in zip(*ranks) for b in pair] == one
    with pytest.raises(ValueError):
        ShardedBatches(0, 3, rank=2, world=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, cfg_json: str, run: str, out: str, steps: int) -> None:
    """One torchrun-like process: the environment torchrun sets, then the library's train()."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    from audiogan.audio import train as audio_train

    made = {}
    build = audio_train.build_trainer

    def keep(*args, **kwargs):
        made["trainer"], *rest = build(*args, **kwargs)
        return (made["trainer"], *rest)

    audio_train.build_trainer = keep
    audio_train.train(AudioTrainConfig.model_validate_json(cfg_json), run, stop_after=steps)
    trainer = made["trainer"]
    state = {f"{name}/{key}": t for name, tensors in trainer.model_state().items() for key, t in tensors.items()}
    state["batches_drawn"] = torch.tensor(trainer.batches_drawn)
    torch.save(state, os.path.join(out, f"rank{rank}.pt"))


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    cfg = tiny({"weights": {"loss/gp": 10.0}, "gp_every": 1})  # growth, spectral norm, GP, L2, drift, EMA, FARGAN
    mp.spawn(_rank, args=(_free_port(), cfg.model_dump_json(), str(tmp / "run"), str(tmp), 4), nprocs=WORLD)
    return cfg, tmp


def test_two_ranks_hold_the_same_parameters_and_buffers(two_rank_run):
    cfg, tmp = two_rank_run
    a, b = (torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(WORLD))
    assert a.keys() == b.keys()
    assert any("parametrizations" in k and "_u" in k for k in a)  # spectral norm's power-iteration vectors
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different
    # Four iterations of a world of two: 2 batches per iteration per rank (critic, generator), 16 in all.
    assert int(a["batches_drawn"]) == 4 * 2 * WORLD


def test_rank_zero_writes_the_run_and_counts_both_ranks_audio(two_rank_run):
    cfg, tmp = two_rank_run
    rows = [json.loads(line) for line in (tmp / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # one writer
    per_iter = WORLD * cfg.data.batch_size * cfg.data.segment_seconds / 3600
    assert rows[-1]["data/hours_seen"] == pytest.approx(4 * per_iter, abs=1e-6)  # logged to 6 decimals
    ckpt = step_folder(tmp / "run", 4)
    state = torch.load(ckpt / "training_state.pt", weights_only=True)
    assert len(state["rng_ranks"]) == WORLD and state["batches_drawn"] == 16


def test_resume_in_one_process_then_export(two_rank_run, tmp_path):
    from typer.testing import CliRunner

    from audiogan.audio.enhance.enhancer import Enhancer
    from audiogan.audio.train import train
    from audiogan.cli import app

    cfg, tmp = two_rank_run
    run = tmp / "run"
    trained = torch.load(tmp / "rank0.pt", weights_only=True)
    stats = train(cfg, run, resume=True)  # the config's 6 steps, in a world of one
    assert stats["guard/skipped"] == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    state = torch.load(step_folder(run, 6) / "training_state.pt", weights_only=True)
    assert state["batches_drawn"] == 16 + 2 * 2  # the global position went on from where both ranks were
    res = CliRunner().invoke(app, ["export", str(run), str(tmp_path / "model")])
    assert res.exit_code == 0, res.output
    enhancer = Enhancer.from_pretrained(tmp_path / "model")
    exported = enhancer.generator.state_dict()
    assert any(not torch.equal(exported[k], trained[f"generator_ema/{k}"]) for k in exported)  # trained on
