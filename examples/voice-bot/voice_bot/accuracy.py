"""Word accuracy of what the bot understands: 1 - WER, lower case, punctuation stripped.

"Understands" is the bot's own path: the caller's audio at the call's rate, cut into a
turn by the turn detector (VAD, pre-roll, end of turn), then recognised; not the raw
recording handed to Whisper. ``measure_accuracy.py`` beside this package prints it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from voice_bot.models import Models
from voice_bot.speech import transcribe
from voice_bot.turns import TurnDetector, TurnEnded

__all__ = ["edit_distance", "measure", "understand", "word_accuracy", "words"]

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FRAME_MS = 20


def words(text: str) -> list[str]:
    """Lower case, punctuation gone, digits spelled ("4567" is four five six seven:
    Whisper writes numbers as digits)."""
    spelled: list[str] = []
    for word in re.sub(r"[^a-z0-9']+", " ", text.lower().replace("-", " ")).split():
        spelled.extend(_DIGITS[int(d)] for d in word) if word.isdigit() else spelled.append(word)
    return spelled


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Word insertions, deletions and substitutions from one to the other."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        diagonal, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref != hyp))
    return row[-1]


def word_accuracy(pairs: Sequence[tuple[str, str]]) -> float:
    """1 - WER over ``(reference, hypothesis)`` pairs, errors pooled over all words."""
    errors = sum(edit_distance(words(ref), words(hyp)) for ref, hyp in pairs)
    total = sum(len(words(ref)) for ref, _ in pairs)
    return 1.0 - errors / total


def understand(models: Models, vad: object, pcm: bytes, rate: int, **turns: float) -> list[str]:
    """What the bot hears in ``pcm`` (16-bit at ``rate``, followed by a second of quiet),
    turn by turn: a line heard as two turns was split by a pause in it."""
    detector = TurnDetector(vad, rate, **turns)  # type: ignore[arg-type]
    frame = rate * FRAME_MS // 1000 * 2
    audio = pcm + bytes(rate * 2)
    heard: list[str] = []
    for start in range(0, len(audio) - frame + 1, frame):
        for event in detector.feed(audio[start : start + frame], start / (2 * rate)):
            if isinstance(event, TurnEnded):
                heard.append(transcribe(models, event.audio, event.rate)[0])
    if hasattr(vad, "reset"):
        vad.reset()
    return heard


def measure(
    models: Models,
    vad: object,
    recordings: Sequence[tuple[str, bytes]],
    rate: int,
    **turns: float,
) -> tuple[float, list[tuple[str, str]], int]:
    """Word accuracy over ``(text, pcm at rate)`` recordings, each (said, understood), and
    how many lines were heard as more than one turn."""
    heard = [(text, understand(models, vad, pcm, rate, **turns)) for text, pcm in recordings]
    pairs = [(text, " ".join(parts)) for text, parts in heard]
    return word_accuracy(pairs), pairs, sum(len(parts) > 1 for _, parts in heard)
