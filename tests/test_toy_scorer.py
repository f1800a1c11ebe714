import math

import numpy as np
import pytest
import torch

from audiogan.toy.mixtures import get_mixture, grid, ring, score


@pytest.mark.parametrize("mixture", [ring(), grid()])
def test_all_samples_at_centres(mixture):
    samples = np.repeat(mixture.centers, 100, axis=0)
    s = score(samples, mixture)
    assert s == {"modes": mixture.n_modes, "hq": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}


@pytest.mark.parametrize("mixture", [ring(), grid()])
def test_all_in_one_mode(mixture):
    samples = np.repeat(mixture.centers[:1], 2500, axis=0)
    s = score(samples, mixture)
    assert s["modes"] == 1 and s["hq"] == 1.0
    assert s["reverse_kl"] == pytest.approx(math.log(mixture.n_modes))


def test_far_from_all_modes():
    s = score(np.full((2500, 2), 50.0), grid())
    assert s["hq"] == 0.0 and s["modes"] == 0 and s["reverse_kl"] == math.inf
    # Between two ring modes: no sample is HQ.
    assert score(np.array([[np.cos(np.pi / 8), np.sin(np.pi / 8)]] * 10), ring())["hq"] == 0.0


def test_hq_threshold_is_three_std():
    m = ring()
    inside = m.centers[0] + np.array([[2.99 * m.std, 0.0]])
    outside = m.centers[0] + np.array([[3.01 * m.std, 0.0]])
    assert score(inside, m)["hq"] == 1.0 and score(outside, m)["hq"] == 0.0


def test_half_and_half_kl():
    m = ring()
    samples = np.concatenate([np.repeat(m.centers[:1], 50, 0), np.repeat(m.centers[1:2], 50, 0)])
    assert score(samples, m)["reverse_kl"] == pytest.approx(math.log(8 / 2))


def test_true_samples_score_well():
    for m in (ring(), grid()):
        s = score(m.sample(2500, torch.Generator().manual_seed(0)).numpy(), m)
        # A 2-D Gaussian puts 1 - exp(-4.5) = 98.9 % of its mass within 3 std.
        assert s["modes"] == m.n_modes and abs(s["hq"] - (1 - math.exp(-4.5))) < 0.01
        assert s["reverse_kl"] < 0.01


def test_unknown_data_lists_valid():
    with pytest.raises(ValueError, match="valid: ring, grid"):
        get_mixture("spiral")
