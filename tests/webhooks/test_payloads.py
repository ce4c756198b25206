"""Tests for webhooks.payloads: the bounded body read and parameter parsing."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from webhooks.errors import BadRequest, BodyTooLarge
from webhooks.payloads import MAX_BODY_BYTES, parse_params, read_body, require_uuid

CHUNK = 16 * 1024


class EndlessBody:
    """An ASGI receive() that streams 16 KiB chunks forever, counting what was pulled."""

    def __init__(self) -> None:
        self.pulled = 0

    async def __call__(self) -> Message:
        self.pulled += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}


def _request(
    receive: EndlessBody | None = None, method: str = "POST", headers: dict[str, str] | None = None
) -> Request:
    scope = {
        "type": "http",
        "method": method,
        "path": "/webhooks/events",
        "query_string": b"uuid=abc&to=447700900000",
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    return Request(scope) if receive is None else Request(scope, receive)


async def test_body_read_stops_at_the_limit() -> None:
    """A chunked body with no length is refused once past 64 KiB, not read to its end."""
    receive = EndlessBody()
    with pytest.raises(BodyTooLarge):
        await read_body(_request(receive))
    assert receive.pulled == MAX_BODY_BYTES // CHUNK + 1


async def test_declared_length_over_limit_reads_nothing() -> None:
    """A Content-Length over 64 KiB is refused before any body is read."""
    receive = EndlessBody()
    with pytest.raises(BodyTooLarge):
        await read_body(_request(receive, headers={"content-length": str(MAX_BODY_BYTES + 1)}))
    assert receive.pulled == 0


@pytest.mark.parametrize("length", ["\u00b2", "-1", "1e9", " 7"])
async def test_malformed_content_length_is_ignored(length: str) -> None:
    """A Content-Length that is not plain digits is ignored; the streamed count still holds."""
    receive = EndlessBody()
    with pytest.raises(BodyTooLarge):
        await read_body(_request(receive, headers={"content-length": length}))


def test_get_parameters_come_from_the_query_string() -> None:
    """A GET's parameters are its query string; its body is not parsed."""
    assert parse_params(_request(method="GET"), b"ignored") == {
        "uuid": "abc",
        "to": "447700900000",
    }


def test_post_parameters_come_from_the_json_body() -> None:
    """A POST's parameters are its JSON object, whatever its query string says."""
    request = _request(headers={"content-type": "Application/JSON; charset=utf-8"})
    assert parse_params(request, b'{"uuid": "from-body"}') == {"uuid": "from-body"}


@pytest.mark.parametrize(
    "uuid",
    [
        "63f61863-4a51-4f6b-86e1-46edebcf9356",  # an app or outbound leg
        "aaaaaaaabbbbccccdddd0123456789ab",  # an inbound phone leg: 32 hex, no dashes
        "CON-a.b:c_d",
        "x",
    ],
)
def test_uuid_accepted(uuid: str) -> None:
    """Vonage-like uuids, in both of Vonage's forms, are accepted as they are."""
    assert require_uuid({"uuid": uuid}) == uuid


@pytest.mark.parametrize("uuid", [None, "", 7, ["a"], "a/b", "x" * 129, "caf\u00e9", "a\nb"])
def test_uuid_refused(uuid: object) -> None:
    """A missing, empty, non-string, over-long or oddly charactered uuid is refused."""
    with pytest.raises(BadRequest, match="uuid"):
        require_uuid({"uuid": uuid})
