"""GPU paths: training with bf16 autocast and fused Adam, batched enhancement in fp32 and bf16 against the
CPU, a streamed file and the CLI on CUDA, the image DCGANs and the 2-D benchmark for a few steps, and the
GPU benchmark's quick run. Run with: pytest -m gpu (skipped without a CUDA device).

Tolerances of CUDA against CPU float32, on outputs peaking near 0.5 (the input is speech at peak 0.45):

- fp32: max |difference| < 1e-3 and SNR >= 50 dB. cuDNN may run float32 convolutions in TF32 (torch's
  default), whose 10-bit mantissa puts the error about 20 dB under bf16's.
- bf16: max |difference| < 1e-2 and SNR >= 35 dB. CPU bf16 autocast, as a stand-in, gave 45 to 63 dB and
  at most 1.8e-3 on these models (the shipped one: 61 dB, 5.8e-4): about 10 dB and 5x of margin.
"""

import numpy as np
import pytest
import soundfile as sf
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TOLERANCE = {"fp32": (1e-3, 50.0), "bf16": (1e-2, 35.0)}  # (max abs difference, min SNR in dB)


def _close(y: np.ndarray, ref: np.ndarray, precision: str) -> None:
    worst, min_snr = TOLERANCE[precision]
    err = np.abs(y - ref).max()
    snr = 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(np.sum((y - ref).astype(np.float64) ** 2), 1e-30))
    assert err < worst and snr >= min_snr, f"{precision}: max difference {err:.2e}, SNR {snr:.1f} dB"


@pytest.fixture(scope="module")
def long_speech():
    from audiogan.audio.data.synthetic import synth_utterance

    return np.concatenate([synth_utterance(1.0, 16000, np.random.default_rng(s)) for s in range(3)]) * 0.5


def test_training_iteration_on_cuda_with_bf16(tmp_path):
    from audiogan.audio.train import train
    from tests.test_audio_train import tiny

    stats = train(tiny().model_copy(update={"steps": 3}), tmp_path / "run", device="cuda")
    assert np.isfinite(stats["loss/recon"]) and stats["guard/skipped"] == 0


def test_adam_is_fused_on_cuda():
    from audiogan.audio.train import build_trainer
    from tests.test_audio_train import tiny

    trainer, _, _ = build_trainer(tiny(), torch.device("cuda"))
    assert trainer.config.bf16_autocast and trainer.device.type == "cuda"
    for opt in (trainer.generator_opt, trainer.critic_opt):
        assert opt.defaults.get("fused") is True


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("model", ["audiogan-base", "tiny_model_dir", "tiny_spectral_model_dir",
                                   "tiny_phase_model_dir"])
def test_batched_enhancement_matches_cpu(request, long_speech, model, precision):
    from audiogan.audio.enhance.enhancer import Enhancer

    folder = model if model == "audiogan-base" else request.getfixturevalue(model)
    ref = Enhancer.from_pretrained(folder).enhance_mono(long_speech)
    assert np.abs(ref - long_speech).max() > 1e-3  # the model changes the signal: the comparison means something
    gpu = Enhancer.from_pretrained(folder, device="cuda", precision=precision)
    y = gpu.enhance_mono(long_speech, batch_size=16)
    _close(y, ref, precision)
    np.testing.assert_array_equal(gpu.enhance_mono(long_speech, batch_size=16), y)  # in-flight batches: no race
    if precision == "bf16":  # autocast did take effect
        assert np.abs(y - Enhancer.from_pretrained(folder, device="cuda").enhance_mono(long_speech, 16)).max() > 0


def test_streamed_file_on_cuda_matches_cpu(tmp_path, tiny_spectral_model_dir, long_speech):
    """A segment holds a whole batch on CUDA (longer segments than on CPU); the output is the same."""
    from audiogan.audio.enhance.enhancer import Enhancer
    from audiogan.audio.enhance.stream import enhance_file

    sf.write(tmp_path / "in.wav", np.tile(long_speech, 4), 16000, subtype="FLOAT")  # 12 s
    for device in ("cpu", "cuda"):
        enhance_file(Enhancer.from_pretrained(tiny_spectral_model_dir, device=device), tmp_path / "in.wav",
                     tmp_path / f"{device}.wav", batch_size=64, segment_seconds=2.0)
    _close(sf.read(tmp_path / "cuda.wav", dtype="float32")[0], sf.read(tmp_path / "cpu.wav", dtype="float32")[0],
           "fp32")


def test_cli_enhances_on_cuda_in_bf16(tmp_path, long_speech):
    from typer.testing import CliRunner

    from audiogan.cli import app

    sf.write(tmp_path / "in.wav", long_speech, 16000)
    res = CliRunner().invoke(app, ["enhance", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav"),
                                   "--device", "cuda", "--precision", "bf16", "--batch-size", "32"])
    assert res.exit_code == 0, res.output
    assert sf.info(str(tmp_path / "out.wav")).frames == len(long_speech)


@pytest.mark.parametrize("recipe", ["dcgan", "wgan-gp"])  # batch norm; the gradient penalty's double backward
def test_image_dcgan_few_steps_on_cuda(tmp_path, monkeypatch, recipe):
    from audiogan.image.scorer import DigitScorer
    from audiogan.image.train import load_generator, train_image
    from tests.test_image import TINY, TINY_CLASSIFIER

    monkeypatch.setenv("AUDIOGAN_CACHE", str(tmp_path / "cache"))
    scorer = DigitScorer.load_or_train(TINY_CLASSIFIER, tmp_path / "classifier")
    metrics = train_image("digits", recipe, 1, tmp_path / "run", overrides={**TINY, "iterations": 3}, n_samples=16,
                          scorer=scorer, device="cuda")
    samples = np.load(tmp_path / "run/samples.npy")
    assert samples.shape == (16, 1, 32, 32) and np.isfinite(samples).all() and metrics["skipped_steps"] == 0
    load_generator(tmp_path / "run/generator")  # exported from the GPU, loads on the CPU


@pytest.mark.parametrize("recipe", ["wgan-gp", "best"])
def test_toy_few_steps_on_cuda(tmp_path, recipe):
    from audiogan.toy.train import train_toy

    metrics = train_toy("ring", recipe, 1, tmp_path, iterations=3, device="cuda")
    samples = np.load(tmp_path / "samples.npy")
    assert samples.shape == (2500, 2) and np.isfinite(samples).all() and metrics["skipped_steps"] == 0


def test_bench_gpu_quick_on_cuda(tmp_path):
    from tests.test_scripts import _load

    result = _load("bench_gpu").main(["--quick", "--device", "cuda"])
    assert [r["precision"] for r in result["reference"]] == ["bf16", "fp32"]
    assert {r["precision"] for r in result["enhancement"]} == {"fp32", "bf16"}
    assert all(r["peak_gpu_mib"] > 0 and r["model_x_realtime"] > 0 for r in result["enhancement"])
    assert [r["precision"] for r in result["training"]] == ["fp32", "bf16"]
    assert all(r["it_per_s"] > 0 and r["flops_per_iter"] > 0 for r in result["training"])
