"""Fixtures of the end-to-end tests: the local stack, started by the same launcher as
``make run``, with real Caddy and TLS verified against the stack's own local CA."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import Stack, StackConfig

#: Variables of docs/contract.md and caddy/Caddyfile: a developer's values must not
#: change what these tests see.
CONFIGURATION = {
    "PUBLIC_HOST", "VONAGE_SIGNATURE_SECRET", "VONAGE_VERIFY_SIGNATURES", "SIGNATURE_MAX_AGE",
    "SOCKET_TOKEN_SECRET", "SOCKET_TOKEN_TTL", "AUDIO_SAMPLE_RATE", "RECONNECT_ATTEMPTS",
    "GREETING_TEXT", "GREETING_LANGUAGE", "APOLOGY_TEXT", "ECHO_DELAY_MS", "AUDIO_HANDLER",
    "MAX_CALLS", "MAX_MESSAGE_BYTES", "DRAIN_TIMEOUT", "WEBHOOKS_HOST", "WEBHOOKS_PORT",
    "AUDIO_HOST", "AUDIO_PORT", "LOG_LEVEL", "STACK_STATE_DIR", "WEBHOOKS_UPSTREAM",
    "AUDIO_RESOLVERS", "AUDIO_UPSTREAM_NAME", "AUDIO_UPSTREAM_PORT", "CADDY_ADMIN",
    "CADDY_BIND", "CADDY_HTTP_PORT", "CADDY_HTTPS_PORT", "VONAGE_APPLICATION_ID",
    "VONAGE_PRIVATE_KEY", "VONAGE_PRIVATE_KEY_PATH", "VONAGE_API_HOST", "VONAGE_API_TIMEOUT",
    "REQUESTS_CA_BUNDLE", "ANSWER_METADATA",
}  # fmt: skip
#: Short, so that stopping a stack with a call still open takes seconds, not 30.
DRAIN_TIMEOUT = "3"


def e2e_environ(**overrides: str) -> dict[str, str]:
    """This process's environment without the project's configuration, plus ``overrides``."""
    environ = {k: v for k, v in os.environ.items() if k not in CONFIGURATION}
    environ["DRAIN_TIMEOUT"] = DRAIN_TIMEOUT
    environ.update(overrides)
    return environ


def start_stack(state_dir: Path, audio_replicas: int, **environ: str) -> Stack:
    """A started stack on ports the OS picked."""
    config = StackConfig(
        state_dir=state_dir,
        audio_replicas=audio_replicas,
        https_port=0,
        environ=e2e_environ(**environ),
    )
    stack = Stack(config)
    stack.start()
    return stack


@pytest.fixture(scope="session")
def stack3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack with three audio replicas, shared by the tests that leave it as found."""
    stack = start_stack(tmp_path_factory.mktemp("stack3"), audio_replicas=3)
    try:
        yield stack
    finally:
        stack.stop()
