"""The call's fields in the endpoint headers: what they hold, and that they fit 512 bytes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from webhooks.answer_metadata import call_metadata_hook, load_metadata_hook
from webhooks.call_fields import (
    MAX_ADDRESS_CHARS,
    MAX_HEADERS_BYTES,
    MAX_UUID_CHARS,
    METADATA_BYTES,
    CallFields,
    compact_json,
    region_host,
)

TYPICAL = {
    "uuid": "63f61863-4a51-4f6b-86e1-46edebcf9356",
    "conversation_uuid": "CON-f972836a-550f-45fa-956c-12a2ab5b7d22",
    "from": "447700900001",
    "to": "447700900000",
    "region_url": "https://api-eu-1.vonage.com",
}


def _size(headers: Mapping[str, Any]) -> int:
    return len(compact_json(headers).encode())


def test_worst_case_fits_vonage_limit() -> None:
    """Every field at its maximum length, the largest attempt and region: still <= 511."""
    fields = CallFields(
        call_uuid="u" * MAX_UUID_CHARS,
        conversation_uuid="c" * MAX_UUID_CHARS,
        caller="sip:" + "f" * (MAX_ADDRESS_CHARS - 4),
        called="sip:" + "t" * (MAX_ADDRESS_CHARS - 4),
        direction="outbound",
        region="api-xx-99.vonage.com",
        metadata={"k": "v" * (METADATA_BYTES - 10)},
    )
    headers = fields.headers(1000)
    assert _size(headers) <= MAX_HEADERS_BYTES
    assert headers["from"] == fields.caller  # the call's own fields all made it


def test_typical_call_keeps_full_metadata() -> None:
    """Vonage's own uuid and number lengths leave the whole metadata budget."""
    metadata = {"crm": "x" * (METADATA_BYTES - 12)}
    assert len(compact_json(metadata)) <= METADATA_BYTES
    fields = CallFields.from_answer(TYPICAL)
    full = dataclasses.replace(fields, metadata=metadata).headers(3)
    assert full["metadata"] == metadata
    assert _size(full) <= MAX_HEADERS_BYTES


def test_answer_fields() -> None:
    """from, to, conversation_uuid, direction and the region's host."""
    fields = CallFields.from_answer(TYPICAL, "inbound")
    assert fields.headers(1) == {
        "call_uuid": TYPICAL["uuid"],
        "attempt": 1,
        "conversation_uuid": TYPICAL["conversation_uuid"],
        "from": "447700900001",
        "to": "447700900000",
        "direction": "inbound",
        "region": "api-eu-1.vonage.com",
    }


@pytest.mark.parametrize(
    "value",
    ["x" * (MAX_ADDRESS_CHARS + 1), 'sip:"quoted"@example.com', "caf\u00e9", 447700900001, None],
)
def test_unfit_address_is_left_out(value: object) -> None:
    """Too long, or something JSON must escape: the handler sees None, the call goes on."""
    fields = CallFields.from_answer({**TYPICAL, "from": value})
    assert fields.caller is None
    assert "from" not in fields.headers(1)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://api-eu-1.vonage.com", "api-eu-1.vonage.com"),
        ("https://api-us.nexmo.com/", "api-us.nexmo.com"),
        ("http://api-eu-1.vonage.com", None),
        ("https://api-eu-1.vonage.com:8443", None),
        ("https://127.0.0.1:9", None),
        ("https://user@api.nexmo.com", None),
        ("https://api.nexmo.com.attacker.example", None),
        ("https://api.nexmo.com/v1/calls", None),
        ("not a url", None),
        (42, None),
    ],
)
def test_region_url_only_names_vonage(url: object, host: str | None) -> None:
    """The application-wide JWT only ever goes to Vonage's hosts."""
    assert region_host(url) == host


def test_echoed_headers_round_trip() -> None:
    """A reconnect reads the fields back from the event's headers, unchanged."""
    fields = CallFields.from_answer(TYPICAL, "outbound")
    fields = dataclasses.replace(fields, metadata={"a": 1})
    assert CallFields.from_headers(fields.headers(2)) == fields


def test_echoed_headers_are_checked_again() -> None:
    """A region or metadata that is not ours is dropped on the way back."""
    back = CallFields.from_headers(
        {"call_uuid": "c", "attempt": 2, "region": "127.0.0.1:9", "metadata": "x" * 300}
    )
    assert back is not None
    assert back.region is None
    assert back.metadata is None


def good_hook(params: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata from the answer: the caller's account."""
    return {"account": params.get("from")}


async def slow_hook(params: Mapping[str, Any]) -> dict[str, Any]:
    """Too slow for the answer webhook."""
    await asyncio.sleep(5)
    return {}


def big_hook(params: Mapping[str, Any]) -> dict[str, Any]:
    """Over the budget."""
    return {"blob": "x" * METADATA_BYTES}


def broken_hook(params: Mapping[str, Any]) -> dict[str, Any]:
    """Raises."""
    raise RuntimeError("boom")


async def test_metadata_hook() -> None:
    """The hook's object, when it behaves."""
    hook = load_metadata_hook("tests.webhooks.test_call_fields:good_hook")
    assert await call_metadata_hook(hook, TYPICAL, "c") == {"account": "447700900001"}


@pytest.mark.parametrize("name", ["slow_hook", "big_hook", "broken_hook"])
async def test_misbehaving_hook_is_left_out(name: str, caplog: pytest.LogCaptureFixture) -> None:
    """Late, too big or raising: no metadata, a warning, and the call is answered."""
    hook = load_metadata_hook(f"tests.webhooks.test_call_fields:{name}")
    assert await call_metadata_hook(hook, TYPICAL, "c") is None
    assert "answer metadata left out" in caplog.text


@pytest.mark.parametrize("spec", ["nomodule", "no.such.module:f", "tests.webhooks:nothing"])
def test_bad_hook_spec(spec: str) -> None:
    """A start-up error, not a failure at the first call."""
    with pytest.raises(ValueError, match=r"module:function|cannot import|not a callable"):
        load_metadata_hook(spec)
