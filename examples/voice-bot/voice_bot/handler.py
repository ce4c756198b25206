"""The voice bot as an audio-service handler: ``AUDIO_HANDLER=voice_bot:voice_bot``.

A coroutine handler on the public API (docs/handlers.md). The models are the
process's (models.py), loaded and warmed by its ``on_startup`` hook before the audio
service listens, so no call finds them loading (one that does, in a process that never
ran the hook, such as a test's, waits for them). ``make_voice_bot(reply)`` makes
the same handler with a reply function of your own.
"""

from __future__ import annotations

from audio_socket import Call, CallCoroutine, on_startup, with_settings
from voice_bot.models import load_runtime
from voice_bot.pipeline import Bot
from voice_bot.replies import Reply, reply
from voice_bot.settings import BotSettings
from voice_bot.turns import vad_rate

__all__ = ["load_models", "make_voice_bot", "voice_bot"]


def make_voice_bot(answer: Reply = reply) -> CallCoroutine:
    """The voice bot handler, answering with ``answer`` (replies.py has the contract)."""

    @on_startup(load_models)
    @with_settings(BotSettings)
    async def voice_bot(call: Call) -> None:
        settings: BotSettings = call.settings
        runtime = await load_runtime(settings.workers)
        async with runtime.models.vad(vad_rate(call.sample_rate)) as vad:
            await Bot(call, runtime, vad, settings, answer).run()

    return voice_bot


async def load_models(settings: BotSettings) -> None:
    """Load and warm the models before the service takes its first call."""
    await load_runtime(settings.workers)


#: The bot with the default replies (replies.py).
voice_bot = make_voice_bot()
