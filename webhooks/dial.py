"""``python -m webhooks dial TO [--from NUMBER]``: place an outbound call through Vonage.

The call is created with the Voice REST API (``POST /v1/calls``, docs/vonage-protocol.md
§8) through the official SDK, with ``answer_url`` pointing at our own answer webhook
(``/webhooks/answer/outbound``) rather than an NCCO: the socket credential is then
minted when the callee answers, not when the phone starts ringing, and the call
reaches the audio service exactly as an inbound one does (credential, headers, the
reconnect chain). The route tells the answer webhook that the call is ours (the
answer request names no direction, §1), so the connect's caller id is our ``from``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

import requests
from vonage_http_client import HttpClient, HttpClientOptions  # type: ignore[import-untyped]
from vonage_http_client.errors import HttpRequestError  # type: ignore[import-untyped]
from vonage_voice import Voice  # type: ignore[import-untyped]
from vonage_voice.models import CreateCallRequest, Phone, Sip, ToPhone  # type: ignore[import-untyped]

from app_credentials import Application, sdk_auth
from webhooks.errors import WebhooksError
from webhooks.settings import Settings

__all__ = ["DialError", "Dialled", "dial"]

OUTBOUND_ANSWER_PATH: Final = "/webhooks/answer/outbound"
_E164: Final = re.compile(r"\+?[1-9][0-9]{6,14}")


class DialError(WebhooksError):
    """The call could not be placed; the message says why (never the JWT)."""


@dataclass(frozen=True, slots=True)
class Dialled:
    """What Vonage answered to ``POST /v1/calls`` (201)."""

    uuid: str
    status: str
    direction: str
    conversation_uuid: str


def dial(settings: Settings, to: str, caller: str | None = None) -> Dialled:
    """Place a call to ``to`` (E.164 digits, or a ``sip:`` URI) from ``caller`` (E.164;
    None: a random number of the application's). Raises DialError."""
    application = settings.application()
    if application is None:
        raise DialError(
            "dialling needs the Vonage application's credentials: set VONAGE_APPLICATION_ID"
            " and VONAGE_PRIVATE_KEY (or VONAGE_PRIVATE_KEY_PATH)"
        )
    request = _request(settings, to, caller)
    voice = _voice(application, settings.vonage_api_timeout)
    try:
        response = voice.create_call(request)
    except HttpRequestError as exc:
        status = exc.response.status_code
        exc.response.close()
        raise DialError(f"Vonage answered HTTP {status} to POST /v1/calls") from None
    except requests.RequestException as exc:
        raise DialError(f"cannot reach {application.host_for(None)}: {exc}") from None
    finally:
        voice.http_client._session.close()  # the SDK has no close of its own
    return Dialled(response.uuid, response.status, response.direction, response.conversation_uuid)


def _request(settings: Settings, to: str, caller: str | None) -> CreateCallRequest:
    if to.startswith(("sip:", "sips:")):
        callee: ToPhone | Sip = Sip(uri=to)
    elif _E164.fullmatch(to):
        callee = ToPhone(number=to.removeprefix("+"))
    else:
        raise DialError("TO must be an E.164 number (digits, e.g. 447700900001) or a sip: URI")
    if caller is not None and not _E164.fullmatch(caller):
        raise DialError("--from must be an E.164 number of yours (digits)")
    answer_url = f"https://{settings.public_host}{OUTBOUND_ANSWER_PATH}"
    return CreateCallRequest(
        to=[callee],
        from_=Phone(number=caller.removeprefix("+")) if caller else None,
        random_from_number=None if caller else True,
        answer_url=[answer_url],
        answer_method="POST",
        event_url=[settings.events_url],
        event_method="POST",
    )


def _voice(application: Application, timeout: float) -> Voice:
    options = HttpClientOptions(
        api_host=application.host_for(None),
        timeout=max(1, math.ceil(timeout)),
        max_retries=0,  # a POST is not retried: it could place the call twice
    )
    return Voice(HttpClient(sdk_auth(application), options))
