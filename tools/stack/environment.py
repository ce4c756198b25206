"""The environment each process of the local stack gets: pure functions, no I/O.

Each service sees the user's configuration (``.env`` under the process
environment), minus what the launcher decides for the run (listen addresses, the
Vonage application, the secrets), plus those decisions; and of the run's two
secrets only the ones it uses (docs/security.md). Caddy's environment is built
apart, from almost nothing (``stack.caddy.caddy_environment``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from stack.caddy import LOOPBACK
from stack.paths import REPO_ROOT
from stack.run_secrets import SECRET_NAMES, SIGNATURE_SECRET, SOCKET_SECRET, StackSecrets

__all__ = [
    "LISTEN_VARIABLES",
    "RunEnvironment",
    "VoiceApiTarget",
    "replica_env",
    "service_env",
    "voice_api_env",
    "webhooks_env",
]

#: Variables the launcher sets for every run; the caller's values are replaced. The
#: Vonage application of a local run is the simulator's (tools/stack/local_application.py).
LISTEN_VARIABLES: Final = (
    "WEBHOOKS_HOST",
    "WEBHOOKS_PORT",
    "AUDIO_HOST",
    "AUDIO_PORT",
    "VONAGE_APPLICATION_ID",
    "VONAGE_PRIVATE_KEY",
    "VONAGE_PRIVATE_KEY_PATH",
    "VONAGE_API_HOST",
    "REQUESTS_CA_BUNDLE",
)
#: The webhooks check signed webhooks and mint socket credentials.
WEBHOOKS_SECRETS: Final = (SIGNATURE_SECRET, SOCKET_SECRET)
#: A replica checks socket credentials only: the signature secret never reaches it.
REPLICA_SECRETS: Final = (SOCKET_SECRET,)


@dataclass(frozen=True)
class VoiceApiTarget:
    """Where the services send Voice REST requests, what they sign them with and trust."""

    host: str
    application_id: str
    private_key: Path
    ca: Path


@dataclass(frozen=True)
class RunEnvironment:
    """What every service of one run shares."""

    #: The user's configuration (``StackConfig.environ``).
    environ: Mapping[str, str]
    secrets: StackSecrets
    #: ``localhost:PORT``, Caddy's site address.
    public_host: str
    #: None until the simulator's Voice REST API runs.
    voice_api: VoiceApiTarget | None = None


def _with_checkout_on_path(env: dict[str, str]) -> dict[str, str]:
    # The services and the simulator import from the checkout, wherever the
    # launcher runs from; unbuffered, so their logs are whole when they die.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def voice_api_env(environ: Mapping[str, str], link_token: str) -> dict[str, str]:
    """The simulator's Voice REST API: the user's configuration and its link token."""
    env = {k: v for k, v in environ.items() if k not in LISTEN_VARIABLES}
    env["SIMULATOR_API_TOKEN"] = link_token
    return _with_checkout_on_path(env)


def service_env(run: RunEnvironment, secrets: Sequence[str]) -> dict[str, str]:
    """A service's environment, with only the run's ``secrets`` it uses."""
    dropped = {*LISTEN_VARIABLES, *SECRET_NAMES}
    env = {k: v for k, v in run.environ.items() if k not in dropped}
    given = run.secrets.as_env()
    env.update({name: given[name] for name in secrets})
    env["PUBLIC_HOST"] = run.public_host
    api = run.voice_api
    if api is not None:
        # Call control and outbound calls go to the simulator's REST API, signed
        # with the local application's key, over TLS the SDK is made to trust.
        env["VONAGE_APPLICATION_ID"] = api.application_id
        env["VONAGE_PRIVATE_KEY_PATH"] = str(api.private_key)
        env["VONAGE_API_HOST"] = api.host
        env["REQUESTS_CA_BUNDLE"] = str(api.ca)
    return _with_checkout_on_path(env)


def webhooks_env(run: RunEnvironment, port: int) -> dict[str, str]:
    """The webhooks service, on loopback at ``port``."""
    env = service_env(run, WEBHOOKS_SECRETS)
    env["WEBHOOKS_HOST"] = LOOPBACK
    env["WEBHOOKS_PORT"] = str(port)
    return env


def replica_env(run: RunEnvironment, address: str, port: int) -> dict[str, str]:
    """One audio replica, on its own loopback ``address`` and the shared ``port``."""
    env = service_env(run, REPLICA_SECRETS)
    env["AUDIO_HOST"] = address
    env["AUDIO_PORT"] = str(port)
    return env
