"""What a corpus command made: files, seconds of audio, and every problem (path -> reason)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CorpusResult:
    files: int = 0
    seconds: float = 0.0
    problems: dict[str, str] = field(default_factory=dict)
