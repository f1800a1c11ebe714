"""The mode-coverage scorer: a small CNN digit classifier trained on the real digits, applied per channel.

Each channel of a generated sample is classified as a digit; the sample's mode is the tuple of its
channel classes (10 modes for ``digits``, 1,000 for ``stacked``). Reported, as in PacGAN (Lin et al.
2018, section 5.2) and VEEGAN (Srivastava et al. 2017): the number of modes with at least one sample,
and ``KL(p || uniform) = sum_k p_k log(K p_k)`` of the histogram ``p`` of generated modes against the
uniform distribution over all ``K`` (empty modes contribute 0). Also the mean confidence of the
classifier (its largest softmax probability, averaged over channels and samples), a rough measure of how
digit-like the samples are.

The classifier is trained here, deterministically from a seed, on the fixed 80 % split of the real digits
(:func:`audiogan.image.data.split`), with random shifts of up to ``shift`` pixels; its accuracy on the
other 20 % is reported with every score. It is cached (safetensors + JSON) in ``$AUDIOGAN_CACHE``, else
``$XDG_CACHE_HOME/audiogan``, else ``~/.cache/audiogan``; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import atomic_write_text, load_weights, save_weights
from .data import mode_ids, split


@dataclass(frozen=True)
class ClassifierConfig:
    widths: tuple[int, ...] = (16, 32, 64)  # channels of the 3x3 conv + 2x2 max-pool stages: 16 -> 8 -> 4 -> 2
    steps: int = 400  # Adam steps of batch_size (about 18 passes over the 1,438 training digits)
    batch_size: int = 64
    lr: float = 2e-3
    shift: int = 3  # random translation, pixels (the generator's digits are not all centred)
    seed: int = 0

    def tag(self) -> str:
        """A short name of this configuration for the cache file (a changed config trains anew)."""
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


class DigitClassifier(nn.Module):
    """``x (B, 1, 32, 32) in [-1, 1] -> logits (B, 10)``.

    The image is first averaged down to 16x16 (the digits are 8x8 scans upsampled, so nothing of their
    class is lost) and the three stages run at 16, 8 and 4 pixels: a quarter of the cost at 32x32, which
    matters when 78,000 channels are scored after every stacked run.
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for cout in widths:
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        side = 16 // 2 ** len(widths)
        self.head = nn.Linear(cin * side * side, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(F.avg_pool2d(x, 2)).flatten(1))


def _shifted(x: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Each image moved by a random whole-pixel offset in ``[-shift, shift]^2`` (background -1 fills in)."""
    if shift == 0:
        return x
    padded = F.pad(x, (shift,) * 4, value=-1.0)
    offsets = torch.randint(0, 2 * shift + 1, (len(x), 2), generator=gen)
    h, w = x.shape[-2:]
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    return float((model(images).argmax(1) == labels).float().mean())


def train_classifier(cfg: ClassifierConfig = ClassifierConfig()) -> tuple[DigitClassifier, float]:
    """Train on the 80 % split; return the model (eval mode) and its held-out accuracy (0..1).

    Deterministic for a given ``cfg`` and thread count; the global RNG is left as it was.
    """
    (x_train, y_train), (x_held, y_held) = split()
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = DigitClassifier(cfg.widths)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / max(1, cfg.steps))
    model.train()
    for _ in range(cfg.steps):
        idx = torch.randint(len(x_train), (cfg.batch_size,), generator=gen)
        loss = F.cross_entropy(model(_shifted(x_train[idx], cfg.shift, gen)), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval(), accuracy(model, x_held, y_held)


def cache_dir() -> Path:
    """Where the trained classifier is kept: ``$AUDIOGAN_CACHE``, ``$XDG_CACHE_HOME/audiogan`` or ``~/.cache/audiogan``."""
    if os.environ.get("AUDIOGAN_CACHE"):
        return Path(os.environ["AUDIOGAN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "audiogan"


def kl_to_uniform(counts: np.ndarray) -> float:
    """``KL(p || uniform)`` of the histogram ``counts`` over all its bins; ``inf`` when it is empty."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        return math.inf
    p = counts / counts.sum()
    nz = p > 0
    return float(np.sum(p[nz] * np.log(len(p) * p[nz])))


class DigitScorer:
    """A trained classifier and its held-out accuracy; scores generated samples for mode coverage."""

    def __init__(self, model: DigitClassifier, held_out_accuracy: float):
        self.model, self.accuracy = model.eval(), held_out_accuracy

    @classmethod
    def load_or_train(cls, cfg: ClassifierConfig = ClassifierConfig(), folder: Path | None = None) -> "DigitScorer":
        """The classifier of ``cfg`` from ``folder`` (default :func:`cache_dir`), trained and saved there first
        when it is not there yet."""
        folder = Path(folder) if folder is not None else cache_dir()
        weights, info = folder / f"digit-classifier-{cfg.tag()}.safetensors", folder / f"digit-classifier-{cfg.tag()}.json"
        if weights.is_file() and info.is_file():
            model = DigitClassifier(cfg.widths)
            model.load_state_dict(load_weights(weights), strict=True)
            return cls(model, json.loads(info.read_text())["held_out_accuracy"])
        model, acc = train_classifier(cfg)
        folder.mkdir(parents=True, exist_ok=True)
        save_weights(weights, model.state_dict())
        atomic_write_text(info, json.dumps({"held_out_accuracy": acc, "config": asdict(cfg)}, indent=2))
        return cls(model, acc)

    @torch.no_grad()
    def classify(self, images: torch.Tensor, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel classes and confidences of ``images (N, C, 32, 32)``: two arrays ``(N, C)``."""
        n, c = images.shape[:2]
        flat = images.reshape(n * c, 1, *images.shape[2:]).float()
        probs = torch.cat([F.softmax(self.model(flat[i:i + batch]), dim=1) for i in range(0, len(flat), batch)])
        conf, classes = probs.max(dim=1)
        return classes.view(n, c).numpy(), conf.view(n, c).numpy()

    def score(self, samples: np.ndarray | torch.Tensor) -> dict[str, float]:
        """Modes covered, KL to uniform and mean confidence of ``samples (N, C, 32, 32)`` in [-1, 1]."""
        samples = torch.as_tensor(np.asarray(samples, dtype=np.float32))
        if samples.dim() != 4 or samples.shape[0] == 0:
            raise ValueError(f"samples must have shape (N, C, H, W), got {tuple(samples.shape)}")
        classes, conf = self.classify(samples)
        counts = np.bincount(mode_ids(classes), minlength=10 ** samples.shape[1])
        return {"modes": int((counts > 0).sum()), "kl": kl_to_uniform(counts),
                "confidence": float(conf.mean()), "classifier_accuracy": self.accuracy}
