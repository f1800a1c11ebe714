"""GPU paths (bf16 autocast training step, batched enhancement). Run with: pytest -m gpu"""

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_training_iteration_on_cuda_with_bf16(tmp_path):
    from audiogan.audio.train import train
    from tests.test_audio_train import tiny

    stats = train(tiny().model_copy(update={"steps": 3}), tmp_path / "run", device="cuda")
    assert np.isfinite(stats["loss/recon"]) and stats["guard/skipped"] == 0


@pytest.mark.parametrize("kind", ["waveform", "spectral_gain"])
def test_batched_enhancement_matches_cpu(kind):
    from audiogan.audio.data.synthetic import synth_utterance
    from audiogan.audio.enhance.enhancer import Enhancer, EnhancerConfig
    from audiogan.audio.models import SpectralGainConfig, WaveGeneratorConfig, make_generator

    cfg = EnhancerConfig(generator=(WaveGeneratorConfig if kind == "waveform" else SpectralGainConfig)(channels=16, blocks=4), chunk_seconds=0.25)
    gen = make_generator(cfg.generator)
    cpu = Enhancer(gen, cfg, "cpu")
    x = synth_utterance(2.0, 16000, np.random.default_rng(0)) * 0.5
    ref = cpu.enhance_mono(x)
    gpu = Enhancer(make_generator(cfg.generator), cfg, "cuda")
    gpu.generator.load_state_dict(gen.state_dict())
    assert np.abs(gpu.enhance_mono(x, batch_size=16) - ref).max() < 1e-3
