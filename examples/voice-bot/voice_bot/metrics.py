"""The bot's metrics, on the audio service's own ``/metrics``.

The service renders its own registry and then ``audio_socket.handler_metrics``, the
registry for handlers, where these are made once at import.
Per turn, in seconds: the wait the caller hears (end of speech to the first frame
of the answer sent), the recognition, the synthesis of the first sentence, and the
wait for a thread of the pool.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from audio_socket import handler_metrics

__all__ = [
    "ASR",
    "ASR_RETRIES",
    "BARGE_INS",
    "MODELS_LOADED",
    "POOL_WAIT",
    "POOL_WAITS",
    "REGISTRY_USED",
    "RESPONSE",
    "SPECULATIONS",
    "TTS_FIRST_AUDIO",
    "TURNS",
]


#: Where the bot's metrics are: the audio service serves it on /metrics.
REGISTRY_USED: Final = handler_metrics
_FAST: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_TURN: Final = (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)

RESPONSE: Final = Histogram(
    "bot_turn_response_seconds",
    "End of the caller's speech to the first frame of the answer sent (the silence that"
    " ends a turn included).",
    buckets=_TURN,
    registry=REGISTRY_USED,
)
ASR: Final = Histogram(
    "bot_turn_asr_seconds",
    "Recognising one turn, in a thread of the pool.",
    buckets=_TURN,
    registry=REGISTRY_USED,
)
TTS_FIRST_AUDIO: Final = Histogram(
    "bot_turn_tts_first_audio_seconds",
    "Synthesising the first sentence of an answer.",
    buckets=_FAST,
    registry=REGISTRY_USED,
)
POOL_WAIT: Final = Histogram(
    "bot_turn_pool_wait_seconds",
    "Waiting for a thread of the speech pool, per job (recognition or a sentence).",
    buckets=_FAST,
    registry=REGISTRY_USED,
)
POOL_WAITS: Final = Counter(
    "bot_pool_waits",
    "Jobs that found every thread of the speech pool busy and waited.",
    registry=REGISTRY_USED,
)
BARGE_INS: Final = Counter(
    "bot_barge_ins",
    "Answers the caller interrupted: cleared at the onset of their speech.",
    registry=REGISTRY_USED,
)
TURNS: Final = Counter(
    "bot_turns",
    "Caller turns by what became of them: answered, silent (the reply said nothing),"
    " interrupted (the caller spoke again first).",
    ["outcome"],
    registry=REGISTRY_USED,
)
MODELS_LOADED: Final = Gauge(
    "bot_models_load_seconds",
    "Seconds the speech models took to load and warm at start-up; 0 until they have.",
    registry=REGISTRY_USED,
)
SPECULATIONS: Final = Counter(
    "bot_asr_speculations",
    "Recognitions started at a pause in the caller's speech, by what became of them: used"
    " (the turn ended there), dropped (the caller went on speaking).",
    ["outcome"],
    registry=REGISTRY_USED,
)
ASR_RETRIES: Final = Counter(
    "bot_asr_full_window_retries",
    "Recognitions redone over Whisper's full 30 s window, the short one's result unsure.",
    registry=REGISTRY_USED,
)
