"""Real handwritten digits that ship offline, at 32x32 in [-1, 1], and their stacked 3-channel form.

- ``digits``: scikit-learn's ``load_digits`` (1,797 real 8x8 images of 0..9, grey levels 0..16, from the
  UCI optical-recognition set) rescaled to [-1, 1] and resized to 32x32 by bilinear interpolation;
  1 channel, 10 modes.
- ``stacked``: three digits drawn independently at random, one per channel (the Stacked MNIST protocol
  of Metz et al. 2017, used by VEEGAN and PacGAN); 3 channels, 10^3 = 1,000 modes. Mode of a sample:
  ``100 * class(channel 0) + 10 * class(channel 1) + class(channel 2)``.

The GAN trains on all 1,797 digits; the classifier of :mod:`.scorer` trains on a fixed 80 % of them and
reports its accuracy on the other 20 % (:func:`split`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError

SIZE = 32  # image side, pixels
HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 0  # the train / held-out split of the classifier is the same on every machine


@lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits  # ships the data; nothing is downloaded

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0 * 2.0 - 1.0  # (N, 1, 8, 8)
    images = F.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False).clamp_(-1.0, 1.0)
    return images, torch.as_tensor(bunch.target, dtype=torch.long)


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits: images ``(N, 1, 32, 32)`` float32 in [-1, 1] and labels ``(N,)`` in 0..9."""
    images, labels = _digits()
    return images.clone(), labels.clone()


def split() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``((train images, labels), (held-out images, labels))``: a fixed random 80 / 20 split."""
    images, labels = _digits()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_held = round(HELD_OUT_FRACTION * len(labels))
    held, train = order[:n_held], order[n_held:]
    return (images[train], labels[train]), (images[held], labels[held])


@dataclass(frozen=True)
class ImageData:
    """A data set the GAN trains on: ``channels`` digits stacked per sample."""

    name: str
    channels: int  # 1 (digits) or 3 (stacked)
    n_eval: int  # samples scored after training (PacGAN's Stacked MNIST protocol: 26,000)

    @property
    def n_modes(self) -> int:
        return 10 ** self.channels

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` real samples ``(n, channels, 32, 32)`` in [-1, 1]: each channel an independent random digit."""
        images, _ = _digits()
        idx = torch.randint(len(images), (n, self.channels), generator=generator)
        return images[idx].squeeze(2)  # (n, C, 1, H, W) -> (n, C, H, W)

    def labelled(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` real samples and their per-channel labels ``(n, channels)``."""
        images, labels = _digits()
        idx = torch.randint(len(images), (n, self.channels), generator=generator)
        return images[idx].squeeze(2), labels[idx]


DATA = {"digits": ImageData("digits", 1, 10_000), "stacked": ImageData("stacked", 3, 26_000)}


def get_data(name: str) -> ImageData:
    if name not in DATA:
        raise ConfigError(f"unknown data {name!r}; valid: {', '.join(DATA)}")
    return DATA[name]


def mode_ids(classes: np.ndarray) -> np.ndarray:
    """Per-channel classes ``(N, C)`` -> mode index ``(N,)`` in ``[0, 10^C)`` (channel 0 most significant)."""
    classes = np.asarray(classes, dtype=np.int64)
    weights = 10 ** np.arange(classes.shape[1] - 1, -1, -1, dtype=np.int64)
    return classes @ weights
