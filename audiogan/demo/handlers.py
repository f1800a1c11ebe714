"""What the demo page does, as plain functions: no Gradio here, so the tests call them directly.

Enhancing an upload (:meth:`Demo.enhance`):

1. The upload is checked against the demo's limits (:class:`Limits`: megabytes and seconds, both set on
   the command line) and refused with one line when over either, or when it is not audio.
2. Optionally a degradation of the simulator (:mod:`audiogan.audio.degrade.registry`) is applied at a
   chosen strength and seed, to hear what the model fixes (to the upload mixed to mono, as the simulator
   works on mono signals); the upload before it is then the clean reference of the scores.
3. The input goes through :func:`~audiogan.audio.enhance.stream.enhance_file`, the segment-streamed path
   of ``audiogan enhance``: constant memory for a long upload, output in the input's rate, channels and
   format.
4. Scores (:mod:`audiogan.audio.evaluate.metrics`): DNSMOS of input and output when the ``eval`` extra
   is installed (it needs no reference), and PESQ-WB, STOI and SI-SDR against a clean reference when one
   was uploaded or the degradation was applied here. A spectrogram comparison on one colour scale
   (:func:`~audiogan.audio.evaluate.plots.spectrogram_figure`) shows the reference, the input and the
   output.

Training a 2-D benchmark recipe live (:meth:`Demo.toy`) is :mod:`audiogan.demo.live`.

Errors are the library's: :func:`error_message` turns any exception into the one line the CLI prints for
it (a :class:`~audiogan.errors.UserError`'s message, a system error with its path and cause, or "internal
error: a bug ..."), and never a traceback. Paths on the server (Gradio's upload cache, the demo's work
folder) are shown by their file name only.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

import numpy as np

from .. import __version__
from ..errors import AudioError, ConfigError, UserError, first_line

if TYPE_CHECKING:
    from .live import ToyFrame

log = logging.getLogger(__name__)

NO_DEGRADATION = "none"
DEFAULT_MAX_MB = 50.0
DEFAULT_MAX_SECONDS = 600.0
JOB_TTL_SECONDS = 3600.0  # a request's files are removed by a later request after this long


@dataclass(frozen=True)
class Limits:
    """The largest upload the demo takes: its file size in megabytes (10^6 bytes) and its length."""

    max_mb: float = DEFAULT_MAX_MB
    max_seconds: float = DEFAULT_MAX_SECONDS

    def __post_init__(self) -> None:
        if not self.max_mb > 0:
            raise ConfigError(f"--max-mb must be > 0, got {self.max_mb}")
        if not self.max_seconds > 0:
            raise ConfigError(f"--max-seconds must be > 0, got {self.max_seconds}")


def error_message(err: BaseException) -> str:
    """The one line ``audiogan`` prints for ``err`` (see :func:`audiogan.cli.common.user_errors`), without the
    ``error:`` prefix: what the page shows instead of a traceback."""
    from ..cli.common import one_line, system_error_message

    if isinstance(err, UserError):
        return one_line(first_line(err))
    if isinstance(err, OSError):
        return one_line(system_error_message(err))
    return one_line(f"internal error: a bug in audiogan {__version__}, please report it ({type(err).__name__}: "
                    f"{first_line(err)})")


def _hide(message: str, paths: Mapping[str, str]) -> str:
    for full, short in sorted(paths.items(), key=lambda kv: -len(kv[0])):
        message = message.replace(full, short)
    return message


def model_choices(extra: Sequence[str | Path] = ()) -> dict[str, Path]:
    """The models the page offers: every shipped model folder by name, then each of ``extra`` (exported
    model folders, ``--model``) by the path as given. A name that is neither is refused."""
    from ..resources import models_dir

    root = models_dir()
    choices = {p.name: p for p in sorted(root.iterdir()) if (p / "config.yaml").is_file()
               and (p / "model.safetensors").is_file()} if root.is_dir() else {}
    for item in extra:
        path = Path(item)
        if not path.exists() and (root / str(item)).is_dir():
            path = root / str(item)  # a shipped model by name, as `enhance --model NAME` takes it
        if not (path / "config.yaml").is_file() or not (path / "model.safetensors").is_file():
            raise ConfigError(f"--model {item}: not a model folder (needs config.yaml and model.safetensors)")
        choices[str(item)] = path
    return choices


def degradation_choices() -> list[str]:
    """``none``, then every degradation of the simulator whose tools are installed (those that need other
    talkers, babble, are left out: the demo has one upload)."""
    from ..audio.degrade.registry import DEGRADATIONS, available

    with warnings.catch_warnings():  # a missing tool leaves its codec out of the list; the CLI warns about it
        warnings.simplefilter("ignore")
        names = available()
    return [NO_DEGRADATION] + [n for n in names if not DEGRADATIONS[n].needs_pool]


def _check_size(path: Path, limits: Limits) -> None:
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    size = path.stat().st_size
    if size > limits.max_mb * 1e6:
        raise AudioError(f"{path}: {size / 1e6:.3g} MB is over the demo's limit of {limits.max_mb:g} MB "
                         f"(audiogan demo --max-mb)")


def _check_length(path: Path, frames: int, sample_rate: int, limits: Limits) -> float:
    seconds = frames / sample_rate
    if seconds > limits.max_seconds:
        raise AudioError(f"{path}: {seconds:.1f} s is over the demo's limit of {limits.max_seconds:g} s "
                         f"(audiogan demo --max-seconds)")
    return seconds


def check_upload(path: str | Path, limits: Limits) -> float:
    """The upload's length in seconds, after checking it against ``limits``; raises :class:`AudioError`
    (one line, naming the file) when it is over either limit or is not audio that libsndfile streams."""
    import soundfile as sf

    from ..audio.data.io import read_audio_info

    path = Path(path)
    _check_size(path, limits)
    read_audio_info(path)
    info = sf.info(str(path))
    return _check_length(path, info.frames, info.samplerate, limits)


def _streamable(path: Path, limits: Limits, job: Path, name: str) -> tuple[Path, float]:
    """``(file, seconds)``: the upload itself when libsndfile streams it (as ``audiogan enhance`` needs), else
    (a browser recording in a format only ffmpeg reads) its audio decoded into a WAV file in ``job``; checked
    against ``limits`` either way."""
    from ..audio.data.io import read_audio, read_audio_info, write_audio

    _check_size(path, limits)
    try:
        read_audio_info(path)
    except AudioError as err:
        try:
            data, info = read_audio(path)  # ffmpeg, where installed, for what libsndfile does not read
        except AudioError:
            raise err from None
        _check_length(path, len(data), info.sample_rate, limits)
        wav = job / f"{name}.wav"
        write_audio(wav, data, info.sample_rate, "WAV", "PCM_16")
        return wav, len(data) / info.sample_rate
    return path, check_upload(path, limits)


@dataclass
class EnhanceResult:
    """What one enhancement gives the page: files it plays and shows, and the scores."""

    input_audio: Path  # what was enhanced: the upload, or the upload degraded here
    output_audio: Path
    spectrogram: Path
    scores: dict = field(default_factory=dict)


def _measure(name: str, fn, notes: list[str]):
    """``fn()`` rounded, or ``None`` with a note when its package is missing or it fails on this signal."""
    try:
        value = fn()
    except ImportError as err:
        notes.append(f"{name}: needs the eval extra (pip install 'audiogan[eval]'): {first_line(err)}")
        return None
    except Exception as err:  # a score that cannot be taken (PESQ finds no speech) leaves the others
        notes.append(f"{name}: not scored ({first_line(err)})")
        return None
    return None if value is None else round(float(value), 4)


def score_signals(signals: Mapping[str, np.ndarray], reference: np.ndarray | None) -> tuple[dict, list[str]]:
    """Per signal (mono, 16 kHz), DNSMOS (when ``speechmos`` is installed) and, with a ``reference`` (mono,
    16 kHz), PESQ-WB, STOI and SI-SDR against it; ``(scores, notes)``, a measure that is not available left
    out and noted once."""
    from ..audio.evaluate import metrics

    notes: list[str] = []
    scores: dict[str, dict[str, float]] = {}
    for name, x in signals.items():
        row: dict[str, float] = {}
        noted = len(notes)
        mos = _measure("dnsmos", lambda: metrics.dnsmos(x), notes)
        if mos is not None:
            row["dnsmos"] = mos
        elif len(notes) == noted:  # speechmos is not installed: metrics.dnsmos says so with None
            notes.append("dnsmos: needs the eval extra (pip install 'audiogan[eval]')")
        if reference is not None:
            n = min(len(x), len(reference))
            est, ref = x[:n].astype(np.float64), reference[:n].astype(np.float64)
            for key, fn in (("pesq", metrics.pesq_wb), ("stoi", metrics.stoi), ("si_sdr", metrics.si_sdr)):
                value = _measure(key, lambda fn=fn: fn(est, ref), notes)
                if value is not None:
                    row[key] = value
        scores[name] = row
    return scores, list(dict.fromkeys(notes))


def _note(row: Mapping[str, float]) -> str:
    names = {"dnsmos": "DNSMOS {:.2f}", "pesq": "PESQ {:.2f}", "stoi": "STOI {:.3f}", "si_sdr": "SI-SDR {:.1f} dB"}
    return ", ".join(names[k].format(v) for k, v in row.items() if k in names)


class Demo:
    """The demo's state: the models it offers (loaded once each), its limits, and a work folder for the
    files of each request (removed with :meth:`close`; a request's files are removed by a later request
    after :data:`JOB_TTL_SECONDS`)."""

    def __init__(self, models: Mapping[str, Path] | None = None, limits: Limits | None = None, device: str = "cpu",
                 workdir: str | Path | None = None, batch_size: int = 4, default: str | None = None):
        self.models = dict(models) if models is not None else model_choices()
        if not self.models:
            raise ConfigError("no model to offer: no shipped model found and no --model given")
        if default is not None and default not in self.models:
            raise ConfigError(f"unknown model {default!r}; valid: {', '.join(self.models)}")
        self._default = default
        self.limits = limits or Limits()
        self.device = device
        self.batch_size = batch_size
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="audiogan-demo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._enhancers: dict[str, object] = {}
        self._lock = threading.Lock()

    @property
    def default_model(self) -> str:
        from ..audio.enhance.enhancer import DEFAULT_MODEL

        if self._default is not None:
            return self._default
        return DEFAULT_MODEL if DEFAULT_MODEL in self.models else next(iter(self.models))

    def enhancer(self, model: str | None = None):
        """The :class:`~audiogan.audio.enhance.enhancer.Enhancer` of a model the page offers (loaded once)."""
        from ..audio.enhance.enhancer import Enhancer
        from ..runtime import resolve_device

        label = model or self.default_model
        if label not in self.models:
            raise ConfigError(f"unknown model {label!r}; valid: {', '.join(self.models)}")
        with self._lock:
            if label not in self._enhancers:
                self._enhancers[label] = Enhancer.from_pretrained(self.models[label],
                                                                  device=resolve_device(self.device))
            return self._enhancers[label]

    def warm_up(self) -> None:
        """Load the default model and run it and DNSMOS once on a second of synthetic speech, so that the first
        request does not pay for loading them (DNSMOS's ONNX sessions: seconds). A model that does not load
        raises here, before the page starts."""
        from ..audio.data.synthetic import synth_utterance
        from ..audio.evaluate import metrics

        x = synth_utterance(1.0, metrics.EVAL_RATE, np.random.default_rng(0))
        self.enhancer()(x, metrics.EVAL_RATE)
        _measure("dnsmos", lambda: metrics.dnsmos(x), [])

    def new_job(self) -> Path:
        """A new folder for one request's files; folders older than :data:`JOB_TTL_SECONDS` are removed."""
        now = time.time()
        for old in self.workdir.iterdir():
            try:
                if old.is_dir() and now - old.stat().st_mtime > JOB_TTL_SECONDS:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:  # removed by another request meanwhile
                pass
        job = self.workdir / uuid.uuid4().hex[:12]
        job.mkdir()
        return job

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def enhance(self, audio: str | Path | None, model: str | None = None, degradation: str = NO_DEGRADATION,
                strength: float = 0.5, seed: int = 1, reference: str | Path | None = None) -> EnhanceResult:
        """Enhance the upload ``audio`` (see the module docstring); errors name files by their name only."""
        if audio is None or str(audio) == "":
            raise AudioError("no audio: upload a file or record one first")
        audio = Path(audio)
        paths = {str(audio): audio.name, str(self.workdir) + "/": ""}
        if reference:
            reference = Path(reference)
            paths[str(reference)] = reference.name
        try:
            strength, seed = float(strength), int(1 if seed is None else seed)  # an emptied Seed box: the default
        except (TypeError, ValueError):
            raise ConfigError(f"strength and seed must be numbers, got {strength!r} and {seed!r}") from None
        try:
            return self._enhance(audio, model, degradation, strength, seed, reference)
        except (UserError, OSError) as err:
            message = _hide(error_message(err), paths)
            raise (AudioError(message) if isinstance(err, UserError) else OSError(message)) from None

    def _enhance(self, audio: Path, model: str | None, degradation: str, strength: float, seed: int,
                 reference: Path | None) -> EnhanceResult:
        if degradation not in degradation_choices():
            raise ConfigError(f"unknown degradation {degradation!r}; valid: {', '.join(degradation_choices())}")
        if not 0.0 <= strength <= 1.0:
            raise ConfigError(f"strength must be in [0, 1], got {strength}")
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        enhancer = self.enhancer(model)
        job = self.new_job()
        try:
            return self._enhance_in(job, enhancer, audio, model or self.default_model, degradation, strength, seed,
                                    reference)
        except BaseException:
            shutil.rmtree(job, ignore_errors=True)
            raise

    def _enhance_in(self, job: Path, enhancer, audio: Path, model: str, degradation: str, strength: float,
                    seed: int, reference: Path | None) -> EnhanceResult:
        import torch

        from ..audio.data.io import load_mono, read_audio, read_audio_info, resample, write_audio
        from ..audio.enhance.stream import enhance_file
        from ..audio.evaluate.metrics import EVAL_RATE
        from ..audio.evaluate.plots import spectrogram_figure
        from ..plotting import save_figure
        from ..runtime import choose_threads

        source, seconds = _streamable(audio, self.limits, job, "input")
        ref_file = _streamable(reference, self.limits, job, "reference")[0] if reference is not None else None
        clean = None  # the reference, mono at the input's rate
        if degradation != NO_DEGRADATION:
            from ..audio.degrade.registry import DegradeConfig, degrade

            data, info = read_audio(source)
            clean = data.mean(axis=1)
            config = DegradeConfig(names=[degradation], max_chain=1, min_strength=strength, max_strength=strength)
            degraded, _ = degrade(clean, info.sample_rate, np.random.default_rng(seed), config, names=[degradation])
            source = job / f"{audio.stem}-{degradation}.wav"
            write_audio(source, degraded, info.sample_rate, "WAV", "PCM_16")
        output = job / f"{audio.stem}-enhanced{source.suffix}"
        torch.set_num_threads(choose_threads(0, seconds))  # as `audiogan enhance` does for one file
        started = time.perf_counter()
        enhance_file(enhancer, source, output, batch_size=self.batch_size)
        enhance_s = time.perf_counter() - started

        sr = read_audio_info(source).sample_rate
        x_in, x_out = load_mono(source, sr), load_mono(output, sr)
        if ref_file is not None:
            clean = load_mono(ref_file, sr)
        ref16 = resample(clean, sr, EVAL_RATE) if clean is not None else None
        signals = {"input": x_in, "enhanced": x_out}
        scores, notes = score_signals({k: resample(x, sr, EVAL_RATE) for k, x in signals.items()}, ref16)
        rows = ([("clean reference", clean)] if clean is not None else []) + list(signals.items())
        figure = spectrogram_figure(rows, sr, title=f"{audio.name}, {model}",
                                    notes={k: _note(scores[k]) for k in signals})
        picture = job / "spectrograms.png"
        save_figure(figure, picture, dpi=80)
        result = {"model": model, "seconds": round(seconds, 3),
                  "enhance_seconds": round(enhance_s, 3), **scores,
                  "reference": ("uploaded" if ref_file is not None else
                                "the upload before the degradation" if clean is not None else None),
                  "degradation": ({"name": degradation, "strength": strength, "seed": seed}
                                  if degradation != NO_DEGRADATION else None),
                  "notes": notes}
        return EnhanceResult(source, output, picture, result)

    def toy(self, data: str, recipe: str, iterations: int | None = None, seed: int = 1,
            stop: threading.Event | None = None) -> Iterator["ToyFrame"]:
        """Train ``recipe`` on ``data`` live (:func:`audiogan.demo.live.train_live`), its files in a new job folder."""
        from .live import train_live

        return train_live(data, recipe, iterations, seed, self.new_job, stop)
