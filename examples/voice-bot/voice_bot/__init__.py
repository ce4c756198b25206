"""A reference voice bot on the audio service's handler API, offline from pinned wheels.

It listens (Silero VAD), understands (Whisper tiny.en), answers (hibari) and stops
talking when the caller speaks. ``AUDIO_HANDLER=voice_bot:voice_bot``; ``make run-bot``
runs it on the local stack. What it answers is ``replies.reply``: replace it with
``make_voice_bot(your_reply)``. README.md beside this package is the guide.
"""

from __future__ import annotations

from voice_bot.handler import make_voice_bot, voice_bot
from voice_bot.replies import Conversation, HangUp, Say, Transfer, reply
from voice_bot.settings import BotSettings

__all__ = [
    "BotSettings",
    "Conversation",
    "HangUp",
    "Say",
    "Transfer",
    "make_voice_bot",
    "reply",
    "voice_bot",
]
