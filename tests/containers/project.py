"""compose.yaml driven through the real Compose v2 binary, as the tier's own project.

The project name (``-p``) is the tier's, never the user's (``vonage-voice-websocket``),
and its variables come from a temporary env file, so the tier can never touch a
user's stack or its certificate volume. Ports are published on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from stack.paths import COMPOSE_FILE, compose_binary
from tests.containers.engine import Engine, compose_env

#: The tier's project: its images are ``vvw-tier-<service>``.
PROJECT: Final = "vvw-tier"
LOOPBACK: Final = "127.0.0.1"
#: Loose bounds (a loaded 2-core machine).
COMMAND_TIMEOUT: Final = 300.0
READY_TIMEOUT: Final = 60.0
#: Short, so that a scale-down under live calls cuts them within the test.
DRAIN_TIMEOUT: Final = 3


def free_port() -> int:
    """A TCP port free on loopback now (the engine binds it next)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def tier_variables(**overrides: str) -> dict[str, str]:
    """The env file of a tier run: fresh secrets, loopback ports, a short drain."""
    https_port = str(free_port())
    variables = {
        # A public port other than 443: the site address, Caddy's port and the
        # published port carry it (docs/deploy.md, "Try it on one machine").
        "PUBLIC_HOST": f"localhost:{https_port}",
        "CADDY_HTTPS_PORT": https_port,
        "PUBLISH_ADDRESS": LOOPBACK,
        "PUBLISH_HTTPS_PORT": https_port,
        "PUBLISH_HTTP_PORT": str(free_port()),
        "VONAGE_SIGNATURE_SECRET": secrets.token_urlsafe(32),
        "SOCKET_TOKEN_SECRET": secrets.token_urlsafe(32),
        "DRAIN_TIMEOUT": str(DRAIN_TIMEOUT),
    }
    return variables | overrides


def container_number(container: Any) -> str:
    """Compose's replica number of a container (``--index`` of ``exec``)."""
    number: str = container["Labels"]["com.docker.compose.container-number"]
    return number


class ComposeError(RuntimeError):
    """A Compose command failed; its output is the message."""


@dataclass
class Project:
    """One compose project of the tier: ``compose -p NAME -f ... --env-file ...``."""

    engine: Engine
    scratch: Path
    variables: dict[str, str]
    name: str = PROJECT
    files: Sequence[Path] = (COMPOSE_FILE,)
    base_env: Mapping[str, str] = field(default_factory=dict)
    #: How long the last ``up`` took to healthy, seconds.
    up_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.env_file = self.scratch / f"{self.name}.env"
        self.env_file.touch(mode=0o600)
        lines = (f"{key}={value}" for key, value in self.variables.items())
        self.env_file.write_text("\n".join(lines) + "\n")
        (self.scratch / "docker-config").mkdir(exist_ok=True)
        self.env = compose_env(self.base_env, self.engine, self.scratch)

    @property
    def base_url(self) -> str:
        """``https://PUBLIC_HOST``: the stack as Vonage (and the simulator) sees it."""
        return f"https://{self.variables['PUBLIC_HOST']}"

    def argv(self, *args: str) -> list[str]:
        """The Compose command line for ``args`` (no secret in it: they are in the file)."""
        argv = [str(compose_binary()), "-p", self.name, "--env-file", str(self.env_file)]
        for path in self.files:
            argv += ["-f", str(path)]
        return [*argv, *args]

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run ``compose args``; its stdout, or ComposeError with everything it said."""
        completed = subprocess.run(
            self.argv(*args),
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if completed.returncode != 0:
            output = (completed.stdout + completed.stderr).strip()
            raise ComposeError(f"compose {' '.join(args)}: exit {completed.returncode}\n{output}")
        return completed.stdout

    def up(self, *args: str) -> float:
        """``up -d --wait`` (healthy, or running where there is no healthcheck); seconds.

        ``--no-recreate``: podman reports a network's name as its id, so Compose would
        otherwise recreate every container (and drop every call) on each ``up``.
        """
        started = time.monotonic()
        self.run("up", "--detach", "--wait", "--no-build", "--no-recreate", *args)
        self.up_seconds = time.monotonic() - started
        return self.up_seconds

    def down(self) -> None:
        """``down -v``: containers, network and volumes."""
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "20")

    def exec(self, service: str, *command: str, index: int = 1) -> str:
        """``exec -T`` in one container of ``service``; its stdout."""
        return self.run("exec", "-T", "--index", str(index), service, *command, timeout=60)

    def containers(self, service: str | None = None, *, every: bool = False) -> list[Any]:
        """The project's containers (running, or ``every``), as the engine's API lists them."""
        labels = [f"com.docker.compose.project={self.name}"]
        if service is not None:
            labels.append(f"com.docker.compose.service={service}")
        params = {"filters": json.dumps({"label": labels}), "all": "true" if every else "false"}
        with self.engine.api() as api:
            response = api.get("/containers/json", params=params)
            response.raise_for_status()
            found: list[Any] = response.json() or []
        return sorted(
            found, key=lambda c: int(c["Labels"].get("com.docker.compose.container-number", 0))
        )

    def inspect(self, container_id: str) -> Any:
        """``GET /containers/ID/json``."""
        with self.engine.api() as api:
            response = api.get(f"/containers/{container_id}/json")
            response.raise_for_status()
            return response.json()

    def kill(self, container_id: str) -> None:
        """SIGKILL to one container."""
        with self.engine.api() as api:
            api.post(
                f"/containers/{container_id}/kill", params={"signal": "KILL"}
            ).raise_for_status()

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes of this project the engine still has."""
        label = json.dumps({"label": [f"com.docker.compose.project={self.name}"]})
        found: dict[str, list[str]] = {}
        with self.engine.api() as api:
            containers = api.get("/containers/json", params={"all": "true", "filters": label})
            found["containers"] = [c["Names"][0] for c in containers.json() or []]
            networks = api.get("/networks").json() or []
            found["networks"] = [
                n["Name"] for n in networks if n["Name"].startswith(f"{self.name}_")
            ]
            volumes = (api.get("/volumes").json() or {}).get("Volumes") or []
            found["volumes"] = [v["Name"] for v in volumes if v["Name"].startswith(f"{self.name}_")]
        return {kind: names for kind, names in found.items() if names}

    def cafile(self) -> Path:
        """Caddy's local CA root, from its data volume, once Caddy has made it."""
        path = self.scratch / "caddy-root.crt"
        root = "/data/caddy/pki/authorities/local/root.crt"
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            with contextlib.suppress(ComposeError):
                text = self.exec("caddy", "cat", root)
                if "BEGIN CERTIFICATE" in text:
                    path.write_text(text)
                    return path
            if time.monotonic() > deadline:
                raise AssertionError(f"no {root} in the caddy container")
            time.sleep(0.2)


@contextlib.contextmanager
def running(project: Project, *up_args: str) -> Iterator[float]:
    """The project up (healthy) for the body, then ``down -v`` even on failure;
    yields the seconds ``up --wait`` took."""
    try:
        yield project.up(*up_args)
    finally:
        project.down()
