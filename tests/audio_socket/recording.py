"""A CallControl that records what a handler did, for handler tests with no sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from os import PathLike
from typing import Any

from audio_socket.errors import CloseCode, Outcome
from audio_socket.framing import AudioBytes, Reframer
from audio_socket import CallEnd
from audio_socket.prompts import PromptSource
from audio_socket.protocol import CallStart

START = CallStart("audio/l16;rate=16000", 16000, 640, {"call_uuid": "call-1", "attempt": 1})
END = CallEnd(1000, "", Outcome.COMPLETED)


def _settled(value: bool) -> asyncio.Future[bool]:
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    done.set_result(value)
    return done


class RecordingCall:
    """A CallControl test double: records what a handler sends, with timestamps."""

    def __init__(self, start: CallStart = START) -> None:
        self._start = start
        self._reframer = Reframer(start.frame_bytes)
        self.sent: list[tuple[float, bytes]] = []
        self.controls: list[Any] = []

    @property
    def start(self) -> CallStart:
        return self._start

    @property
    def frames(self) -> list[bytes]:
        return [frame for _, frame in self.sent]

    def send_audio(self, audio: AudioBytes) -> None:
        now = asyncio.get_running_loop().time()
        self.sent.extend((now, frame) for frame in self._reframer.push(audio))

    def flush_audio(self) -> None:
        self.controls.append("flush")

    def clear(self) -> None:
        self.controls.append("clear")

    def notify(self, payload: Mapping[str, Any]) -> None:
        self.controls.append(("notify", dict(payload)))

    def play(self, audio: PromptSource, rate: int | None = None) -> Awaitable[bool]:
        assert not isinstance(audio, (str, PathLike)), "the double plays PCM only"
        self.send_audio(audio)  # unpaced: a handler test checks what, not when
        self.controls.append(("play", len(audio)))
        return _settled(True)

    def played(self) -> Awaitable[bool]:
        self.controls.append("played")
        return _settled(True)

    def close(self, code: CloseCode = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        self.controls.append(("close", code, reason))

    async def drain(self) -> None:
        return None

    async def hangup(self) -> None:
        self.controls.append("hangup")

    async def transfer(self, ncco: Sequence[Any]) -> None:
        self.controls.append(("transfer", list(ncco)))

    async def say(self, text: str, language: str | None = None) -> None:
        self.controls.append(("say", text, language))

    async def send_dtmf(self, digits: str) -> None:
        self.controls.append(("send_dtmf", digits))
