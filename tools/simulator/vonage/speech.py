"""How long a ``talk`` action speaks (docs/vonage-protocol.md, "What the simulator models").

The NCCO reference lists ``talk`` as synchronous "unless bargeIn=true": the next
action starts only when the speech has played, ``loop`` times over. Vonage does
not publish how fast its voices speak, so the simulator assumes
:data:`WORDS_PER_MINUTE`, a common figure for conversational English and for
text-to-speech voices at their default rate. SSML markup is not spoken: tags are
dropped before the words are counted, and a ``<break time="...">`` adds its pause.
"""

from __future__ import annotations

import re

#: Assumed speaking rate: nothing public gives Vonage's.
WORDS_PER_MINUTE = 150.0
#: Assumed: the pause before the first word of every talk (synthesis and start of playout).
LEAD_SECONDS = 0.2

_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"""<break\b[^>]*\btime\s*=\s*["']?(\d+(?:\.\d+)?)\s*(ms|s)["']?""", re.I)
_WORD = re.compile(r"\w+")


def speech_seconds(text: str) -> float:
    """Seconds one playing of ``text`` lasts at :data:`WORDS_PER_MINUTE`."""
    pauses = sum(
        float(amount) / (1000 if unit.lower() == "ms" else 1)
        for amount, unit in _BREAK.findall(text)
    )
    words = len(_WORD.findall(_TAG.sub(" ", text)))
    return LEAD_SECONDS + words * 60.0 / WORDS_PER_MINUTE + pauses


def talk_seconds(text: str, loop: int = 1) -> float:
    """Seconds a ``talk`` holds the call flow: ``loop`` playings (``loop`` >= 1)."""
    return speech_seconds(text) * loop
