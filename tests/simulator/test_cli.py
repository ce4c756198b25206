"""``python -m simulator``: failures are one line and a status, never a traceback."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.cli import build_parser
from simulator.errors import UsageError
from simulator.frontends.call import call_main
from simulator.local_stack import read_secret_file


async def run_module(*argv: str, cwd: Path) -> tuple[int, str, str]:
    """Run ``python -m simulator`` with no secret in its environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VONAGE_SIGNATURE_SECRET", "STACK_STATE_DIR")
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        *argv,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_refused_from_the_command_line(isolated: Path) -> None:
    """Connection refused: exit 1, one line on stderr, no traceback."""
    port = closed_port()
    status, _, err = await run_module(
        "call", f"http://127.0.0.1:{port}", "--unsigned", "--seconds", "1", cwd=isolated
    )
    assert status == 1
    assert (
        err.strip().splitlines()[-1]
        == f"simulator: connection refused: http://127.0.0.1:{port}/webhooks/answer"
    )
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dtmf", "12x"], "--dtmf takes 0-9, * and #"),
        (["--seconds", "0"], "--seconds must be between"),
        (["--wav", "missing.wav"], "cannot read missing.wav"),
        (["--cafile", "missing.pem"], "--cafile missing.pem does not exist"),
    ],
)
async def test_usage_errors(
    argv: list[str], message: str, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad options: exit 2 and one line naming the problem."""
    status = await call_main(
        build_parser().parse_args(["call", "https://localhost:8443", "--unsigned", *argv])
    )
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("simulator: error: ")
    assert message in err


async def test_no_secret(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No --secret-file, no environment, no local stack: exit 2 saying where a secret comes from."""
    status = await call_main(build_parser().parse_args(["call", "https://localhost:8443"]))
    assert status == 2
    assert "no signature secret" in capsys.readouterr().err


async def test_bad_base_url(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """BASE_URL must be http(s)."""
    status = await call_main(
        build_parser().parse_args(["call", "wss://localhost:8443", "--unsigned"])
    )
    assert status == 2
    assert "BASE_URL must be an http(s) URL" in capsys.readouterr().err


async def test_load_usage_error(isolated: Path) -> None:
    """load with bad numbers: exit 2, one line."""
    status, _, err = await run_module(
        "load",
        "https://localhost:8443",
        "--unsigned",
        "--calls",
        "0",
        "--seconds",
        "1",
        cwd=isolated,
    )
    assert status == 2
    assert err.strip() == "simulator: error: --calls must be at least 1"


async def test_secret_is_never_an_argument(isolated: Path) -> None:
    """--secret is gone: a secret on the command line is visible to every user in ps."""
    status, _, err = await run_module(
        "call", "https://localhost:8443", "--secret", "s" * 40, cwd=isolated
    )
    assert status == 2
    assert "unrecognized arguments: --secret" in err


@pytest.mark.parametrize(
    "text", ["just-the-secret-value\n", "# run\nVONAGE_SIGNATURE_SECRET=just-the-secret-value\n"]
)
def test_secret_file_forms(isolated: Path, text: str) -> None:
    """--secret-file takes a one-line file or KEY=VALUE lines (a secrets.env)."""
    path = isolated / "secret"
    path.write_text(text)
    assert read_secret_file(path) == "just-the-secret-value"


@pytest.mark.parametrize("text", ["", "\n\n", "a\nb\n", "OTHER=1\n"])
def test_secret_file_without_a_secret(isolated: Path, text: str) -> None:
    """An empty, ambiguous or unrelated file is a usage error naming the file."""
    path = isolated / "secret"
    path.write_text(text)
    with pytest.raises(UsageError, match=r"--secret-file .*: no secret"):
        read_secret_file(path)


async def test_missing_secret_file(isolated: Path) -> None:
    """A --secret-file that does not exist: exit 2 naming it."""
    status, _, err = await run_module(
        "call", "https://localhost:8443", "--secret-file", "nope", cwd=isolated
    )
    assert status == 2
    assert "--secret-file nope" in err


def test_a_reader_that_goes_away_is_no_error(tmp_path: Path) -> None:
    """``... | head``: a closed pipe ends the command quietly with SIGPIPE's status."""
    script = (
        "import sys\n"
        "from simulator import cli\n"
        "def flood(args):\n"
        "    for _ in range(100_000):\n"
        "        print('x' * 80)\n"
        "    return 0\n"
        "cli._run_command = flood\n"
        "sys.exit(cli.main(['call', 'https://localhost:8443']))\n"
    )
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    process = subprocess.run(
        [sys.executable, "-c", script],
        stdout=write,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
        check=False,
    )
    os.close(write)
    assert process.returncode == 141
    assert process.stderr == b""
