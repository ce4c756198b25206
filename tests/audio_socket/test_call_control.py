"""A handler's call control against the simulator's Voice REST API, in process: real
sockets, the real SDK over TLS, the order a deliberate end keeps (call_control.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

import pytest
from websockets.protocol import State

from audio_socket import Call, CallEvent, CallHandler, Dtmf, call_control
from audio_socket.errors import CallControlError, CallControlUnavailable
from audio_socket.loading import LoadedHandler
from audio_socket.server import AudioServer
from tests.audio_socket.helpers import close_of, eventually, loaded, make_settings, open_call
from tests.simulator.rest_api.helpers import (
    APP_ID,
    KEY,
    OTHER_KEY,
    Api,
    Target,
)

DTMF_HANGUP = json.dumps({"event": "websocket:dtmf", "digit": "1", "duration": 100})
FRAME = bytes(range(256)) * 2 + bytes(128)


@dataclass
class Outcomes:
    """What the handlers' requests came to."""

    done: list[str] = field(default_factory=list)
    errors: list[CallControlError] = field(default_factory=list)


class HangupOnDtmf(CallHandler):
    """Echo; a key press hangs up, from a task of the call as a handler should."""

    def __init__(self, call: Call, outcomes: Outcomes) -> None:
        self.call = call
        self.outcomes = outcomes

    def on_audio(self, frame: bytes) -> None:
        self.call.send_audio(frame)

    def on_event(self, event: CallEvent) -> None:
        if isinstance(event, Dtmf):
            self.call.spawn(self._hangup())

    async def _hangup(self) -> None:
        try:
            await self.call.hangup()
        except CallControlError as exc:
            self.outcomes.errors.append(exc)
        else:
            self.outcomes.done.append("hangup")


def _hanging_up(outcomes: Outcomes) -> LoadedHandler:
    return loaded(lambda call: HangupOnDtmf(call, outcomes))


def _audio(api: Api, outcomes: Outcomes, key: str = KEY) -> AudioServer:
    settings = make_settings(
        vonage_application_id=APP_ID, vonage_private_key=key, vonage_api_host=api.host
    )
    return AudioServer(settings, _hanging_up(outcomes))


def _requests(audio: AudioServer, outcome: str) -> float | None:
    labels = {"request": "hangup", "outcome": outcome}
    return audio.metrics.registry.get_sample_value("audio_voice_api_requests_total", labels)


async def _echoes(ws: object) -> None:
    await ws.send(FRAME)  # type: ignore[attr-defined]
    async with asyncio.timeout(5):
        assert await ws.recv() == FRAME  # type: ignore[attr-defined]


async def test_hangup_waits_for_vonage_to_close(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """The REST hangup reaches Vonage with the socket open; Vonage then closes it. Even
    at DEBUG, the SDK never logs the request's JWT."""
    caplog.set_level(logging.DEBUG)
    call_uuid, target, outcomes = str(uuid.uuid4()), Target(), Outcomes()
    await api.link.register(call_uuid, target)
    async with _audio(api, outcomes) as audio, open_call(audio.port, call_uuid) as ws:
        await _echoes(ws)
        await ws.send(DTMF_HANGUP)
        await eventually(lambda: outcomes.done == ["hangup"])
        assert [c.action for c in target.commands] == ["hangup"]
        assert ws.state is State.OPEN  # never closed before Vonage does it
        assert _requests(audio, "ok") == 1
        await ws.close()  # Vonage ends the leg
    assert outcomes.errors == []
    # The test's own websockets client logs its credential: only the service's logs count.
    ours = [r for r in caplog.records if not r.name.startswith("websockets")]
    assert not [r for r in ours if r.name.startswith("vonage") and r.levelno < logging.INFO]
    assert not [r for r in ours if "eyJ" in r.getMessage()]  # no JWT, whatever its header


async def test_without_vonage_closing_the_service_closes_with_a_warning(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bounded wait for Vonage, then the service closes the socket itself (1000)."""
    monkeypatch.setattr(call_control, "VONAGE_CLOSE_WAIT", 0.3)
    call_uuid, outcomes = str(uuid.uuid4()), Outcomes()
    await api.link.register(call_uuid, Target())
    async with _audio(api, outcomes) as audio, open_call(audio.port, call_uuid) as ws:
        await ws.send(DTMF_HANGUP)
        code, reason = await close_of(ws)
    assert (code, reason) == (1000, "call ended by hangup")
    assert "Vonage did not close the socket" in caplog.text


@pytest.mark.parametrize("problem", ["wrong key", "expired JWT"])
async def test_refused_request_is_the_documented_error_and_the_socket_stays_open(
    api: Api, problem: str
) -> None:
    """401 from the simulator: CallControlError(401) in the handler; the call goes on."""
    call_uuid, target, outcomes = str(uuid.uuid4()), Target(), Outcomes()
    await api.link.register(call_uuid, target)
    if problem == "expired JWT":
        api.clock[0] = 1000.0  # the SDK's JWT lives 900 s
    key = OTHER_KEY if problem == "wrong key" else KEY
    async with _audio(api, outcomes, key) as audio, open_call(audio.port, call_uuid) as ws:
        await ws.send(DTMF_HANGUP)
        await eventually(lambda: bool(outcomes.errors))
        (error,) = outcomes.errors
        assert error.status == 401
        assert "401" in str(error)
        assert "Bearer" not in str(error)
        await _echoes(ws)  # still open, still echoing
        assert ws.state is State.OPEN
        assert _requests(audio, "http_4xx") == 1
    assert target.commands == []
    assert api.server.requests[-1].status == 401


async def test_without_credentials_the_error_names_the_variable() -> None:
    """No VONAGE_APPLICATION_ID: CallControlUnavailable, the socket untouched."""
    outcomes = Outcomes()
    async with (
        AudioServer(make_settings(), _hanging_up(outcomes)) as audio,
        open_call(audio.port) as ws,
    ):
        await ws.send(DTMF_HANGUP)
        await eventually(lambda: bool(outcomes.errors))
        await _echoes(ws)
    (error,) = outcomes.errors
    assert isinstance(error, CallControlUnavailable)
    assert "VONAGE_APPLICATION_ID" in str(error)


async def test_a_drain_leaves_a_call_that_is_hanging_up_to_vonage(api: Api) -> None:
    """close_calls (the drain's 1001) skips a call whose hangup is in flight; others get
    1001 and reconnect."""
    call_uuid, target, outcomes = str(uuid.uuid4()), Target(), Outcomes()
    await api.link.register(call_uuid, target)
    api.link.delay = 1.0  # the hangup is in flight for a second
    async with (
        _audio(api, outcomes) as audio,
        open_call(audio.port, call_uuid) as ending,
        open_call(audio.port, "other-call") as other,
    ):
        await ending.send(DTMF_HANGUP)
        await eventually(lambda: audio.live_calls == 2 and bool(api.server.requests))
        closing = asyncio.create_task(audio.close_calls())
        assert await close_of(other) == (1001, "server draining")
        await eventually(lambda: outcomes.done == ["hangup"])
        await _echoes(ending)  # never sent 1001: still open after the drain's closes
        await ending.close()  # Vonage ends the leg after the hangup
        await closing


async def test_requests_in_flight_are_bounded() -> None:
    """A Vonage that never answers holds the pool's workers; past MAX_PENDING a request
    fails at once instead of queueing, and the event loop is never blocked."""
    from app_credentials import Application  # noqa: PLC0415
    from audio_socket.voice_api import MAX_PENDING, VoiceApi  # noqa: PLC0415

    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # TLS never completes: the request hangs to its timeout

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    client = VoiceApi(Application(APP_ID, KEY, f"127.0.0.1:{port}"), timeout=1.0, workers=2)
    try:
        hanging = [asyncio.create_task(client.hangup(f"c{i}", None)) for i in range(MAX_PENDING)]
        await asyncio.sleep(0)  # every task has submitted its request
        started = time.monotonic()
        with pytest.raises(CallControlError, match="already pending"):
            await client.hangup("one-more", None)
        assert time.monotonic() - started < 0.5
        results = await asyncio.gather(*hanging, return_exceptions=True)
        assert all(isinstance(r, CallControlError) and r.timeout for r in results)
    finally:
        client.close()
        listener.close()
        for writer in accepted:
            writer.close()
        await listener.wait_closed()
