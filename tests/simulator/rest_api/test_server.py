"""The simulator's Voice REST API, driven by the official SDK through the audio
service's own client: TLS with a trusted local CA, RS256 JWT checks, forwarding."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from vonage_voice.models.ncco import Talk  # type: ignore[import-untyped]

from audio_socket.errors import CallControlError
from simulator.errors import SimulatorError
from simulator.net import client_ssl_context
from simulator.rest_api.link import ApiLink
from tests.simulator.rest_api.helpers import APP_ID, OTHER_KEY, Api, Target


async def _registered(api: Api) -> tuple[str, Target]:
    target, call_uuid = Target(), str(uuid.uuid4())
    await api.link.register(call_uuid, target)
    return call_uuid, target


async def _wait(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline
        await _sleep()


async def _sleep() -> None:
    import asyncio  # noqa: PLC0415

    await asyncio.sleep(0.01)


async def test_hangup_reaches_the_call_with_a_valid_jwt(api: Api) -> None:
    """PUT /v1/calls/{uuid} hangup: 204, forwarded with the verified claims."""
    call_uuid, target = await _registered(api)
    client = api.client()
    try:
        await client.hangup(call_uuid, None)
    finally:
        client.close()
    (command,) = target.commands
    assert command.action == "hangup"
    claims = command.request["claims"]
    assert claims["application_id"] == APP_ID
    assert claims["exp"] - claims["iat"] == 900
    assert command.request["path"] == f"/v1/calls/{call_uuid}"


async def test_transfer_talk_and_dtmf(api: Api) -> None:
    """transfer carries the NCCO as Vonage's models serialise it; talk and dtmf 200."""
    call_uuid, target = await _registered(api)
    client = api.client()
    try:
        await client.talk(call_uuid, None, "hello there", "en-GB")
        await client.dtmf(call_uuid, None, "12#")
        await client.transfer(call_uuid, None, [Talk(text="goodbye")])
    finally:
        client.close()
    talk, dtmf, transfer = target.commands
    assert talk.body == {"text": "hello there", "language": "en-GB"}
    assert dtmf.body == {"digits": "12#"}
    assert transfer.body["destination"]["ncco"] == [{"action": "talk", "text": "goodbye"}]


async def test_plain_dicts_are_refused_before_sending(api: Api) -> None:
    """The SDK would send a plain dict as {}: the client says so instead."""
    call_uuid, target = await _registered(api)
    client = api.client()
    try:
        with pytest.raises(CallControlError, match=r"vonage_voice\.models\.ncco"):
            await client.transfer(call_uuid, None, [{"action": "talk", "text": "x"}])
    finally:
        client.close()
    assert target.commands == []


async def test_wrong_key_is_401_and_the_call_hears_of_it(api: Api) -> None:
    """A JWT signed by another key: 401, never forwarded, listed in the call's requests."""
    call_uuid, target = await _registered(api)
    client = api.client(OTHER_KEY)
    try:
        with pytest.raises(CallControlError) as caught:
            await client.hangup(call_uuid, None)
    finally:
        client.close()
    assert caught.value.status == 401
    assert "401" in str(caught.value)
    assert target.commands == []
    await _wait(lambda: len(target.refused) == 1)
    assert "signature" in target.refused[0]["error"]


async def test_expired_jwt_is_401(api: Api) -> None:
    """The SDK's JWT lives 900 s: a server clock 1000 s ahead sees it expired."""
    call_uuid, _ = await _registered(api)
    api.clock[0] = 1000.0
    client = api.client()
    try:
        with pytest.raises(CallControlError) as caught:
            await client.talk(call_uuid, None, "hello", None)
    finally:
        client.close()
    assert caught.value.status == 401
    assert api.server.requests[-1].error == "the JWT has expired"


async def test_unknown_call_is_404(api: Api) -> None:
    """No simulator process runs that call."""
    client = api.client()
    try:
        with pytest.raises(CallControlError) as caught:
            await client.dtmf(str(uuid.uuid4()), None, "1")
    finally:
        client.close()
    assert caught.value.status == 404
    assert not caught.value.retryable


async def test_slow_answer_times_out_as_the_documented_error(api: Api) -> None:
    """A Vonage that does not answer within VONAGE_API_TIMEOUT: CallControlError(timeout)."""
    call_uuid, _ = await _registered(api)
    api.link.delay = 3.0
    client = api.client(timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(CallControlError) as caught:
            await client.hangup(call_uuid, None)
    finally:
        client.close()
    assert caught.value.timeout
    assert caught.value.retryable
    assert time.monotonic() - started < 2.9


async def test_link_needs_the_token(api: Api, tmp_path: Path) -> None:
    """A process without the link token cannot take calls over."""
    link = ApiLink(f"https://{api.host}", "wrong" * 5, client_ssl_context(tmp_path / "ca.pem"))
    with pytest.raises(SimulatorError, match="403"):
        await link.open()
