"""The NCCO actions a handler's ``transfer()`` sends, as Vonage's own SDK models them.

Re-exported from ``vonage-voice`` (pinned with the audio image): that package ships
no type information, so importing its models here, once, spares every handler a
``type: ignore``. Each model checks its fields the way Vonage's reference describes
them (docs/vonage-protocol.md §7); a plain list of dicts works as well.
"""

from __future__ import annotations

from vonage_voice.models.connect_endpoints import (  # type: ignore[import-untyped]
    AppEndpoint,
    PhoneEndpoint,
    SipEndpoint,
    VbcEndpoint,
    WebsocketEndpoint,
)
from vonage_voice.models.ncco import (  # type: ignore[import-untyped]
    Connect,
    Conversation,
    Input,
    Notify,
    Record,
    Stream,
    Talk,
    Wait,
)

__all__ = [
    "AppEndpoint",
    "Connect",
    "Conversation",
    "Input",
    "Notify",
    "PhoneEndpoint",
    "Record",
    "SipEndpoint",
    "Stream",
    "Talk",
    "VbcEndpoint",
    "Wait",
    "WebsocketEndpoint",
]
