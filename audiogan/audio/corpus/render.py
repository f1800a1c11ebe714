"""Speech rendered offline with flite and espeak-ng: a seeded sentence grammar and every installed voice.

``make_corpus`` renders varied sentences (a seeded grammar, so no text file is needed) with every
installed flite voice and espeak-ng voice variants at varied pitch and rate, resampled to the model's
rate. Voices and sentences are split: the ``train`` split never uses the voices or sentence seeds of the
``eval`` split, so evaluation is on voices and sentences the model never saw.

Some voices render below the output rate (flite's ``kal`` at 8 kHz; every flite voice at 16 kHz and
espeak-ng at 22.05 kHz against a 44.1 kHz corpus): resampled up, their "clean" speech holds nothing
above half their rate, and a model trained on it learns that clean speech is band-limited. Each such
voice is reported once with a warning.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import AudioError, ConfigError, ToolError
from ..data.io import load_mono, read_audio_info, write_audio
from ..data.signal import peak_normalize
from .result import CorpusResult

log = logging.getLogger(__name__)
APT_LINE = ("apt-get install flite espeak-ng codec2 opus-tools lame ffmpeg "
            "asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722")

# Voices by split. flite's awb_time is a limited-domain (clock) voice and is never used.
FLITE_VOICES = {"train": ["kal16", "awb", "rms"], "eval": ["slt", "kal"]}
ESPEAK_VOICES = {
    "train": ["en-us+m1", "en-us+f2", "en-gb+m3", "en-gb+f1", "en-gb-scotland+m2", "en-029+f4", "en+m4"],
    "eval": ["en-gb-x-rp+m5", "en-us+f5", "en-gb-x-gbcwmd+m7"],
}
SENTENCE_SEED = {"train": 1000, "eval": 2000_000}

_SUBJECTS = ["the old sailor", "my neighbour", "a quiet child", "the engineer", "our teacher", "the tall woman",
             "a young doctor", "the farmer", "his brother", "the driver", "every student", "the baker",
             "a tired pilot", "the musician", "her friend", "the shopkeeper", "a careful painter", "the guard"]
_VERBS = ["carried", "painted", "found", "remembered", "lifted", "described", "repaired", "ordered", "opened",
          "measured", "borrowed", "sold", "watched", "cleaned", "followed", "answered", "counted", "tested"]
_OBJECTS = ["a heavy wooden box", "the broken clock", "three green apples", "the letter from Paris",
            "a map of the river", "the red bicycle", "seven silver coins", "the kitchen window",
            "a bright yellow kite", "the long report", "two cups of coffee", "the garden gate",
            "a basket of bread", "the blue notebook", "an empty bottle", "the narrow bridge"]
_TAILS = ["before the storm arrived", "on a cold morning in March", "while the radio was playing",
          "without saying a word", "near the station", "after lunch on Sunday", "as quickly as possible",
          "in the middle of the night", "for the second time", "under the old oak tree", "at half past four",
          "because nobody else would", "during the long summer", "with great care", "next to the harbour"]
_QUESTIONS = ["Did you see where {s} put {o}?", "Why would {s} leave {o} {t}?", "Is it true that {s} {v} {o}?"]
_NUMBERS = ["Please call me back at {n1} {n2} {n3}.", "The train leaves at {h} {m} from platform {p}.",
            "It costs {n1} dollars and {n2} cents.", "Room {n1}{n2} is on the {ord} floor."]
_ORD = ["first", "second", "third", "fourth", "fifth", "sixth"]


def sentence(rng: np.random.Generator) -> str:
    """One varied English sentence (statements, questions, numbers) from a seeded grammar."""
    s, v, o, t = (rng.choice(x) for x in (_SUBJECTS, _VERBS, _OBJECTS, _TAILS))
    kind = rng.random()
    if kind < 0.6:
        text = f"{s} {v} {o} {t}."
    elif kind < 0.8:
        text = str(rng.choice(_QUESTIONS)).format(s=s, v=v, o=o, t=t)
    else:
        text = str(rng.choice(_NUMBERS)).format(
            n1=rng.integers(1, 99), n2=rng.integers(10, 99), n3=rng.integers(100, 999), h=rng.integers(1, 12),
            m=rng.integers(10, 59), p=rng.integers(1, 12), ord=rng.choice(_ORD))
    return text[0].upper() + text[1:]


@dataclass
class Renderer:
    name: str  # e.g. "flite:awb" or "espeak:en-us+m1"
    render: Callable[[str, Path, np.random.Generator], None]


def _flite(voice: str) -> Renderer:
    def render(text: str, out: Path, rng: np.random.Generator) -> None:
        stretch = rng.uniform(0.85, 1.2)
        subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.2f}", "-t", text,
                        "-o", str(out)], check=True, capture_output=True)
    return Renderer(f"flite:{voice}", render)


def _espeak(voice: str) -> Renderer:
    def render(text: str, out: Path, rng: np.random.Generator) -> None:
        pitch, speed = rng.integers(25, 75), rng.integers(130, 190)
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(out), text],
                       check=True, capture_output=True)
    return Renderer(f"espeak:{voice}", render)


def renderers(split: str) -> list[Renderer]:
    """The installed voices of ``split`` (``train`` or ``eval``)."""
    if split not in FLITE_VOICES:
        raise ConfigError(f"unknown split {split!r}; valid: train, eval")
    found: list[Renderer] = []
    if shutil.which("flite"):
        found += [_flite(v) for v in FLITE_VOICES[split]]
    if shutil.which("espeak-ng"):
        found += [_espeak(v) for v in ESPEAK_VOICES[split]]
    if not found:
        raise ToolError(f"no speech synthesiser found: {APT_LINE}")
    return found


def make_corpus(out: str | Path, minutes: float, sample_rate: int = 16000, split: str = "train",
                seed: int = 0, progress: Callable[[float, float], None] | None = None) -> CorpusResult:
    """Render about ``minutes`` of speech into ``out/<voice>/<n>.wav`` (mono, ``sample_rate``)."""
    out = Path(out)
    voices = renderers(split)
    rng = np.random.default_rng([SENTENCE_SEED[split], seed])
    result = CorpusResult()
    target = minutes * 60
    n = 0
    band_limited: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        while result.seconds < target:
            voice = voices[n % len(voices)]
            text = sentence(rng)
            raw = Path(tmp) / "raw.wav"
            dest = out / voice.name.replace(":", "_").replace("+", "_") / f"{n:05d}.wav"
            n += 1
            try:
                voice.render(text, raw, rng)
                rendered_rate = read_audio_info(raw).sample_rate
                x = load_mono(raw, sample_rate)
            except (subprocess.CalledProcessError, AudioError) as err:
                result.problems[voice.name] = str(err)
                if n > 20 and result.files == 0:
                    raise ToolError(f"every synthesiser call fails, e.g. {voice.name}: {err}") from None
                continue
            if rendered_rate < sample_rate and voice.name not in band_limited:
                band_limited.add(voice.name)
                log.warning(f"{voice.name} renders at {rendered_rate} Hz: its clean speech in {dest.parent} holds "
                            f"nothing above {rendered_rate / 2000:g} kHz: band-limited clean speech, no reference for a "
                            f"full-band model ({split} split)")
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_audio(dest, peak_normalize(x), sample_rate, subtype="PCM_16")
            (dest.with_suffix(".txt")).write_text(text + "\n")
            result.files += 1
            result.seconds += len(x) / sample_rate
            if progress:
                progress(min(result.seconds, target), target)
    return result
