"""Speech corpora that install offline: rendered with flite and espeak-ng, or imported from a folder.

``make_corpus`` renders varied sentences (a seeded grammar, so no text file is needed) with every
installed flite voice and espeak-ng voice variants at varied pitch and rate, resampled to the model's
rate. Voices and sentences are split: the ``train`` split never uses the voices or sentence seeds of the
``eval`` split, so evaluation is on voices and sentences the model never saw.

``import_folder`` decodes any folder of recordings (wav, flac, mp3, G.722 via ffmpeg, ...) into mono
wav files at the model's rate, mirroring relative paths; unreadable or silent files are reported.
Debian's ``asterisk-core-sounds-it-g722`` and ``asterisk-core-sounds-ru-g722`` (two professional human
voices, about 50 minutes) are the real speech used for training; other system sound files are kept for
evaluation only.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .io import AudioError, load_mono, write_audio

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
        raise ValueError(f"unknown split {split!r}; valid: train, eval")
    found: list[Renderer] = []
    if shutil.which("flite"):
        found += [_flite(v) for v in FLITE_VOICES[split]]
    if shutil.which("espeak-ng"):
        found += [_espeak(v) for v in ESPEAK_VOICES[split]]
    if not found:
        raise RuntimeError(f"no speech synthesiser found: {APT_LINE}")
    return found


@dataclass
class CorpusResult:
    files: int = 0
    seconds: float = 0.0
    problems: dict[str, str] = field(default_factory=dict)


def make_corpus(out: str | Path, minutes: float, sample_rate: int = 16000, split: str = "train",
                seed: int = 0, progress: Callable[[float, float], None] | None = None) -> CorpusResult:
    """Render about ``minutes`` of speech into ``out/<voice>/<n>.wav`` (mono, ``sample_rate``)."""
    out = Path(out)
    voices = renderers(split)
    rng = np.random.default_rng([SENTENCE_SEED[split], seed])
    result = CorpusResult()
    target = minutes * 60
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        while result.seconds < target:
            voice = voices[n % len(voices)]
            text = sentence(rng)
            raw = Path(tmp) / "raw.wav"
            dest = out / voice.name.replace(":", "_").replace("+", "_") / f"{n:05d}.wav"
            n += 1
            try:
                voice.render(text, raw, rng)
                x = load_mono(raw, sample_rate)
            except (subprocess.CalledProcessError, AudioError) as err:
                result.problems[voice.name] = str(err)
                if n > 20 and result.files == 0:
                    raise RuntimeError(f"every synthesiser call fails, e.g. {voice.name}: {err}") from None
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_audio(dest, 0.9 * x / max(float(np.abs(x).max()), 1e-4), sample_rate, subtype="PCM_16")
            (dest.with_suffix(".txt")).write_text(text + "\n")
            result.files += 1
            result.seconds += len(x) / sample_rate
            if progress:
                progress(min(result.seconds, target), target)
    return result


def import_folder(source: str | Path, out: str | Path, sample_rate: int = 16000,
                  progress: Callable[[int, int], None] | None = None) -> CorpusResult:
    """Decode every recording under ``source`` to mono wav at ``sample_rate`` under ``out`` (same tree)."""
    from .data import list_audio

    source, out = Path(source), Path(out)
    files = list_audio([str(source)])
    result = CorpusResult()
    for i, f in enumerate(files):
        dest = out / f.relative_to(source).with_suffix(".wav")
        if dest.exists():
            result.files += 1
            continue
        try:
            x = load_mono(f, sample_rate)
        except AudioError as err:
            result.problems[str(f)] = str(err)
            continue
        if float(np.sqrt(np.mean(x ** 2))) < 1e-3:
            result.problems[str(f)] = "silent"
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_audio(dest, x, sample_rate, subtype="PCM_16")
        result.files += 1
        result.seconds += len(x) / sample_rate
        if progress:
            progress(i + 1, len(files))
    return result


def make_eval_set(clean: str | Path, out: str | Path, sample_rate: int = 16000, seed: int = 0,
                  families: list[str] | None = None, max_files: int | None = None) -> CorpusResult:
    """A held-out test set: ``out/clean/<rel>.wav`` and ``out/degraded/<family>/<rel>.wav``.

    Each clean file is degraded once per family (one degradation of that family, picked at random,
    at a random strength in [0.3, 0.9]), so results can be tabulated per degradation family.
    """
    from .data import list_audio
    from .degrade import DEGRADATIONS, available

    clean, out = Path(clean), Path(out)
    pool = available()
    by_family: dict[str, list[str]] = {}
    for name in pool:
        by_family.setdefault(DEGRADATIONS[name].family, []).append(name)
    if families:
        unknown = sorted(set(families) - set(by_family))
        if unknown:
            raise ValueError(f"unknown or unavailable family {unknown[0]!r}; valid: {', '.join(sorted(by_family))}")
        by_family = {f: by_family[f] for f in families}
    files = list_audio([str(clean)])[:max_files]
    result = CorpusResult()
    for i, f in enumerate(files):
        rel = f.relative_to(clean).with_suffix(".wav")
        try:
            x = load_mono(f, sample_rate)
        except AudioError as err:
            result.problems[str(f)] = str(err)
            continue
        x = 0.9 * x / max(float(np.abs(x).max()), 1e-4)
        (out / "clean" / rel).parent.mkdir(parents=True, exist_ok=True)
        write_audio(out / "clean" / rel, x, sample_rate, subtype="PCM_16")
        for family, names in sorted(by_family.items()):
            rng = np.random.default_rng([seed, i, len(family), sum(map(ord, family))])
            name = str(rng.choice(names))
            y = DEGRADATIONS[name].fn(x, sample_rate, rng, float(rng.uniform(0.3, 0.9)))
            y = np.clip(np.nan_to_num(y) * (np.abs(x).max() / max(float(np.abs(y).max()), 1e-4)), -1, 1)
            dest = out / "degraded" / family / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            write_audio(dest, y, sample_rate, subtype="PCM_16")
        result.files += 1
        result.seconds += len(x) / sample_rate
    return result
