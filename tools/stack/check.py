"""``python -m stack check-config``: the deployment files, checked without Docker.

- ``caddy validate`` on caddy/Caddyfile, once with compose's defaults and once with
  the placeholders the local stack sets;
- ``caddy fmt --diff``: the Caddyfile is formatted as Caddy formats it;
- the Compose v2 binary's ``config -q`` on compose.yaml, with placeholder secrets;
- ``hadolint`` on both Dockerfiles.

Every check runs in a clean environment and a temporary folder, so neither the
user's variables nor a ``.env`` file changes the verdict.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

from stack.caddy import CaddyPlaceholders, caddy_argv, caddy_environment
from stack.errors import ToolMissing
from stack.paths import (
    CADDYFILE,
    COMPOSE_FILE,
    DOCKERFILES,
    REPO_ROOT,
    StatePaths,
    compose_binary,
    find_tool,
)

__all__ = ["CheckResult", "run_checks"]

#: What compose.yaml requires, as placeholders: only their presence is checked.
COMPOSE_PLACEHOLDERS: Final = {
    "PUBLIC_HOST": "calls.example.com",
    "VONAGE_SIGNATURE_SECRET": "placeholder-signature-secret",
    "SOCKET_TOKEN_SECRET": "placeholder-socket-token-secret-of-32-bytes-or-more",
}
#: Stand-ins for the ports and resolver the launcher picks at run time.
LOCAL_PLACEHOLDERS: Final = CaddyPlaceholders(
    https_port=8443,
    http_port=8080,
    admin_socket=Path("/run/caddy/admin.sock"),
    webhooks_port=8000,
    replica_name="audio.stack.internal",
    audio_port=8765,
    resolver="127.0.0.1:5353",
)
TIMEOUT: Final = 120.0


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, and what the tool said."""

    name: str
    passed: bool
    output: str = ""


def _run(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    completed = subprocess.run(
        argv,
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return completed.returncode, (completed.stdout + completed.stderr).strip()


def _base_env(scratch: Path) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(scratch)}


def check_caddy_validate(scratch: Path, local: bool, caddyfile: Path = CADDYFILE) -> CheckResult:
    """``caddy validate`` with compose's defaults, or with the local stack's values."""
    paths = StatePaths(scratch / ("local" if local else "compose"))
    paths.create()
    if local:
        env = caddy_environment(LOCAL_PLACEHOLDERS, paths, _base_env(scratch))
        name = "caddy validate (local stack placeholders)"
    else:
        env = _base_env(scratch) | {
            "PUBLIC_HOST": COMPOSE_PLACEHOLDERS["PUBLIC_HOST"],
            "XDG_DATA_HOME": str(paths.caddy_data),
            "XDG_CONFIG_HOME": str(paths.caddy_config),
        }
        name = "caddy validate (compose defaults)"
    status, output = _run(caddy_argv(find_tool("caddy"), "validate", caddyfile), env, scratch)
    return CheckResult(name, status == 0, "" if status == 0 else output)


def check_caddy_fmt(scratch: Path, caddyfile: Path = CADDYFILE) -> CheckResult:
    """``caddy fmt --diff``: only the lines that differ are shown."""
    argv = [str(find_tool("caddy")), "fmt", "--diff", str(caddyfile)]
    status, output = _run(argv, _base_env(scratch), scratch)
    changed = [line for line in output.splitlines() if line.startswith(("-", "+"))]
    detail = "\n".join(changed) or output
    return CheckResult(
        "caddy fmt --diff caddy/Caddyfile", status == 0, "" if status == 0 else detail
    )


def check_compose(
    scratch: Path, variables: Mapping[str, str] = COMPOSE_PLACEHOLDERS
) -> CheckResult:
    """``docker compose config -q`` with placeholder secrets and no ``.env``."""
    env_file = scratch / "compose.env"
    env_file.write_text("")
    argv = [str(compose_binary()), "--file", str(COMPOSE_FILE), "--env-file", str(env_file)]
    env = _base_env(scratch) | dict(variables) | {"DOCKER_CONFIG": str(scratch)}
    status, output = _run([*argv, "config", "--quiet"], env, REPO_ROOT)
    return CheckResult("docker compose config (compose.yaml)", status == 0, output)


def check_hadolint(scratch: Path) -> CheckResult:
    """``hadolint`` on both Dockerfiles."""
    argv = [str(find_tool("hadolint")), "--no-color", *map(str, DOCKERFILES)]
    status, output = _run(argv, _base_env(scratch), REPO_ROOT)
    names = " ".join(str(path.relative_to(REPO_ROOT)) for path in DOCKERFILES)
    return CheckResult(f"hadolint {names}", status == 0, output)


CHECKS: Final[tuple[tuple[str, Callable[[Path], CheckResult]], ...]] = (
    ("caddy validate (compose defaults)", lambda scratch: check_caddy_validate(scratch, False)),
    ("caddy validate (local stack)", lambda scratch: check_caddy_validate(scratch, True)),
    ("caddy fmt", check_caddy_fmt),
    ("docker compose config", check_compose),
    ("hadolint", check_hadolint),
)


def run_checks(out: TextIO) -> bool:
    """Run every check, print one line each (and what failed); True when all pass."""
    results = []
    with tempfile.TemporaryDirectory(prefix="stack-check-") as folder:
        for name, check in CHECKS:
            try:
                result = check(Path(folder))
            except (ToolMissing, OSError, subprocess.TimeoutExpired) as exc:
                result = CheckResult(name, False, str(exc))
            results.append(result)
            print(f"{'ok  ' if result.passed else 'FAIL'}  {result.name}", file=out)
            if not result.passed and result.output:
                for line in result.output.splitlines():
                    print(f"      {line}", file=out)
    failed = sum(not result.passed for result in results)
    if failed:
        print(f"check-config: {failed} of {len(results)} checks FAILED", file=out)
    else:
        print(f"check-config: all {len(results)} checks pass", file=out)
    return failed == 0
