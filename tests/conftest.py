"""Fixtures shared by the whole suite: seeds, a synthetic utterance, tiny networks and model folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiogan.audio.data.synthetic import synth_utterance
from audiogan.audio.models import SpectralGainConfig, SpectralPhaseConfig, WaveGeneratorConfig

SR = 16000
TINY_GENERATORS = {
    "waveform": WaveGeneratorConfig(channels=8, strides=[2, 2], blocks=3),
    "spectral_gain": SpectralGainConfig(n_fft=128, channels=8, blocks=3),
    "spectral_phase": SpectralPhaseConfig(n_fft=128, hop=32, channels=8, blocks=3),
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def weights_only_roundtrip():
    """``f(obj)``: ``obj`` saved with ``torch.save`` and loaded back with ``weights_only=True`` (as a
    checkpoint's training state is), through bytes in memory."""
    import io

    def roundtrip(obj):
        buf = io.BytesIO()
        torch.save(obj, buf)
        buf.seek(0)
        return torch.load(buf, weights_only=True)

    return roundtrip


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    """One second of speech-like signal at 16 kHz (float32, peak 0.9), the same in every test."""
    return synth_utterance(1.0, SR, np.random.default_rng(0))


def write_model(folder, generator, chunk_seconds: float = 0.05, seed: int = 0, boost: float = 3.0):
    """A model folder (config.yaml + model.safetensors) holding a randomly initialised ``generator``, its
    weights scaled by ``boost`` so that its change to a signal is clearly visible."""
    from audiogan.audio.enhance.enhancer import EnhancerConfig
    from audiogan.audio.models import make_generator
    from audiogan.checkpoint import atomic_write_text, save_weights
    from audiogan.config import dump_yaml

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "config.yaml", dump_yaml(EnhancerConfig(name="tiny", generator=generator,
                                                                       chunk_seconds=chunk_seconds)))
    gen = make_generator(generator)
    with torch.no_grad():
        for p in gen.parameters():
            p.mul_(boost)
    save_weights(folder / "model.safetensors", gen.state_dict())
    (folder / "README.md").write_text("# tiny\n")
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny waveform-generator model folder (short chunks, so chunking is exercised)."""
    return write_model(tmp_path_factory.mktemp("model"), TINY_GENERATORS["waveform"])


@pytest.fixture(scope="session")
def tiny_phase_model_dir(tmp_path_factory):
    """A tiny phase-aware model folder (weights boosted less: its residual head grows with the 3.3rd power)."""
    return write_model(tmp_path_factory.mktemp("phase"), TINY_GENERATORS["spectral_phase"], 0.1, boost=1.5)


@pytest.fixture(scope="session")
def tiny_spectral_model_dir(tmp_path_factory):
    """A tiny STFT-gain model folder (the shipped kind)."""
    return write_model(tmp_path_factory.mktemp("spectral"), TINY_GENERATORS["spectral_gain"], 0.1)


class _InlineExecutor:
    """A process pool's interface that runs each job at once, in this process (ablations in tests)."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future = Future()
        future.set_result(fn(*args))
        return future


@pytest.fixture()
def inline_executor():
    """Stands in for ``ProcessPoolExecutor``: jobs run inline, so an ablation test needs no processes."""
    return _InlineExecutor
