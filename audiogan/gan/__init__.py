"""The shared, modality-agnostic GAN core: torch and the standard library only.

Losses, Lipschitz constraints, layers, unrolled GAN, FARGAN batching, growth schedules, update
schedules, the adversarial training step used by every application (audio, image, 2-D) and the live
detectors of its failures.
"""

from .config import AdversarialConfig, LossWeights
from .constraints import apply_spectral_norm, clip_weights_, drift_penalty, gradient_penalty, l2_penalty, r1_penalty
from .detectors import DiagnosticsConfig
from .diagnostics import Event, Monitor
from .ema import EMA, swap_state
from .fargan import FakeAsRealBuffer
from .grads import grad_norms_by_group
from .growth import GrowthSchedule
from .layers import (GrowingResidualStack, MinibatchDiscrimination, MinibatchStdDev, conv, fade_in, linear,
                     pack)
from .losses import (ADVERSARIAL_LOSSES, adversarial_loss, diversity_loss, feature_matching_loss,
                     mmd_loss)
from .schedule import OptimizerConfig, UpdateSchedule, make_optimizer, make_scheduler, preset, ttur
from .trainer import AdversarialTrainer
from .unrolled import unrolled_generator_loss

__all__ = [
    "ADVERSARIAL_LOSSES", "AdversarialConfig", "AdversarialTrainer", "DiagnosticsConfig", "EMA", "Event",
    "FakeAsRealBuffer", "LossWeights",
    "GrowingResidualStack", "GrowthSchedule", "MinibatchDiscrimination", "MinibatchStdDev", "Monitor",
    "OptimizerConfig", "UpdateSchedule", "adversarial_loss", "apply_spectral_norm", "clip_weights_",
    "conv", "diversity_loss", "drift_penalty", "fade_in", "feature_matching_loss", "grad_norms_by_group",
    "gradient_penalty", "l2_penalty", "linear", "make_optimizer", "make_scheduler", "mmd_loss", "pack",
    "preset", "r1_penalty",
    "swap_state", "ttur", "unrolled_generator_loss",
]
