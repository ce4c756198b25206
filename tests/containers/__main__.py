"""``python -m tests.containers [PYTEST ARGS]``: the container tier (``make containers``).

Picks an engine (a Docker engine that answers, else rootful podman), builds what the
tests need before they start (podman's stand-in base images, then the project's
images, each timed), runs ``pytest tests/containers`` against it, and stops what it
started. With no engine it prints one line saying why the tier was skipped; with
``CI=true`` that skip is a failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

from stack.paths import REPO_ROOT, compose_binary
from tests.containers.engine import (
    Engine,
    HealthcheckDriver,
    docker_engine,
    podman_env,
    podman_service,
    podman_unusable,
)
from tests.containers.project import ComposeError, Project, tier_variables
from tests.containers.standins import ensure_prometheus_standin, ensure_standins

#: The tests find the engine here (tests/containers/conftest.py).
ENGINE_VARIABLE: Final = "CONTAINER_TIER_ENGINE"
LOCK: Final = Path(tempfile.gettempdir()) / "vonage-voice-websocket-container-tier.lock"
BUILD_TIMEOUT: Final = 900.0


def skip_or_fail(reason: str, environ: Mapping[str, str]) -> int:
    """One line; exit 0, or 1 under CI=true where the tier must run."""
    if environ.get("CI", "").lower() == "true":
        print(f"container tier FAILED to start: {reason} (CI=true: it must run)")
        return 1
    print(f"container tier skipped: {reason}")
    return 0


@contextlib.contextmanager
def tier_lock() -> Iterator[None]:
    """One tier run at a time on this machine: they share the project name."""
    with LOCK.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"container tier: waiting for another run to finish ({LOCK})", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def prepare(engine: Engine, environ: Mapping[str, str], scratch: Path) -> None:
    """Stand-ins (podman), then the images, before any test's timeout starts."""
    if engine.is_podman:
        started = time.monotonic()
        built = ensure_standins(podman_env(environ))
        verb = "built" if built else "reused (recipe unchanged)"
        print(f"container tier: stand-in base images {verb} in {time.monotonic() - started:.0f} s")
        if built:
            prune_images(environ)
        started = time.monotonic()
        verb = "built" if ensure_prometheus_standin(podman_env(environ)) else "reused"
        print(f"container tier: Prometheus stand-in {verb} in {time.monotonic() - started:.0f} s")
    project = Project(engine, scratch / "build", tier_variables(), base_env=environ)
    project.down()  # whatever an interrupted run of the tier's own project left
    started = time.monotonic()
    project.run("build", timeout=BUILD_TIMEOUT)
    print(f"container tier: built caddy, webhooks, audio in {time.monotonic() - started:.0f} s")


def prune_images(environ: Mapping[str, str]) -> None:
    """Drop the images nothing refers to any more (those built on the stand-ins just
    replaced), in the tier's own storage root only: it would grow by gigabytes a
    recipe otherwise. Not on every run: the build cache is made of such images too."""
    subprocess.run(
        ["podman", "image", "prune", "--force"],
        env=podman_env(environ),
        stdout=subprocess.DEVNULL,
        timeout=BUILD_TIMEOUT,
        check=True,
    )


def run_tests(engine: Engine, environ: Mapping[str, str], pytest_args: Sequence[str]) -> int:
    """``pytest tests/containers`` with the engine in its environment."""
    described = json.dumps({"name": engine.name, "version": engine.version, "env": engine.env})
    argv = [sys.executable, "-m", "pytest", "tests/containers", *pytest_args]
    env = dict(environ) | {ENGINE_VARIABLE: described}
    return subprocess.run(argv, env=env, cwd=REPO_ROOT, check=False).returncode


def run(engine: Engine, environ: Mapping[str, str], pytest_args: Sequence[str]) -> int:
    """Prepare, then test, on an engine that answers."""
    compose = subprocess.run(
        [str(compose_binary()), "version", "--short"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    print(f"container tier: {engine.name} {engine.version}, Compose {compose}", flush=True)
    with tempfile.TemporaryDirectory(prefix="container-tier-") as folder:
        prepare(engine, environ, Path(folder))
    sys.stdout.flush()
    return run_tests(engine, environ, pytest_args)


def main(argv: Sequence[str]) -> int:
    """The tier, or one line saying why it was skipped."""
    environ = dict(os.environ)
    docker = docker_engine(environ)
    if docker is None and (reason := podman_unusable(environ)):
        return skip_or_fail(reason, environ)
    try:
        with tier_lock():
            if docker is not None:
                return run(docker, environ, argv)
            with podman_service(environ) as podman, HealthcheckDriver(podman):
                return run(podman, environ, argv)
    except (ComposeError, subprocess.SubprocessError, RuntimeError) as exc:
        print(f"container tier FAILED: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
