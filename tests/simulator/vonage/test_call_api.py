"""What a simulated call answers to the REST requests about it (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.rest_api.link import ApiCommand
from simulator.vonage.call_api import CallApi
from simulator.vonage.ncco import Talk


def _command(action: str, body: Any = None) -> ApiCommand:
    return ApiCommand(action, body, {"method": "PUT", "path": "/v1/calls/c", "action": action})


async def test_hangup_sets_the_end_before_answering() -> None:
    """204, and the end is set by then: a close after it is the end asked for."""
    api = CallApi("c")
    api.start()
    assert api.api_command(_command("hangup", {"action": "hangup"})) == (204, None)
    assert api.ended is not None
    assert api.ended.done()
    assert api.ended.result().action == "hangup"
    assert api.requests[-1]["status"] == 204


async def test_a_second_end_is_404() -> None:
    """The call is already ending."""
    api = CallApi("c")
    api.start()
    api.api_command(_command("hangup"))
    status, _ = api.api_command(_command("hangup"))
    assert status == 404


async def test_transfer_runs_the_ncco() -> None:
    """The NCCO is parsed as Vonage would run it."""
    api = CallApi("c")
    api.start()
    body = {"action": "transfer", "destination": {"type": "ncco", "ncco": [
        {"action": "talk", "text": "bye"}
    ]}}  # fmt: skip
    assert api.api_command(_command("transfer", body)) == (204, None)
    assert api.ended is not None
    assert api.ended.result().ncco == [Talk("bye")]


@pytest.mark.parametrize(
    "body",
    [
        {"action": "transfer"},
        {"action": "transfer", "destination": {"type": "ncco", "ncco": []}},
        {"action": "transfer", "destination": {"type": "ncco", "ncco": [{}]}},
        {"action": "transfer", "destination": {"type": "ncco", "url": ["https://x"]}},
    ],
)
async def test_bad_transfer_is_400_and_ends_nothing(body: dict[str, Any]) -> None:
    """A transfer Vonage could not run is refused; the call goes on."""
    api = CallApi("c")
    api.start()
    status, error = api.api_command(_command("transfer", body))
    assert status == 400
    assert error["title"] == "Bad Request"
    assert api.ended is not None
    assert not api.ended.done()


async def test_talk_dtmf_stream_are_200_and_recorded() -> None:
    """Shown in the report: what was spoken, played and streamed into the call."""
    api = CallApi("c")
    api.start()
    assert api.api_command(_command("talk", {"text": "hi"}))[0] == 200
    assert api.api_command(_command("dtmf", {"digits": "12"}))[0] == 200
    assert api.api_command(_command("stream", {"stream_url": ["https://a/b.mp3"]}))[0] == 200
    assert (api.talks, api.dtmf, api.streams) == (["hi"], ["12"], ["https://a/b.mp3"])
    assert api.api_command(_command("talk", {}))[0] == 400


async def test_an_ended_call_is_404() -> None:
    """Once over, every request is 404, as Vonage's for a completed call."""
    api = CallApi("c")
    api.start()
    api.over = True
    assert api.api_command(_command("talk", {"text": "hi"}))[0] == 404
