"""The README's handler example, taken from README.md and run as a user would run it.

The example is saved where the README says (``loudness.py`` at the repository root),
linted there with the project's own ruff and mypy settings, loaded into a local stack
with the README's ``AUDIO_HANDLER``, and called with the README's simulator command.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.cli import build_parser
from simulator.frontends.call import call_main
from stack import Stack
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TOOLS = Path(sys.executable).parent
#: The README's local base URL, replaced by the test stack's.
LOCAL_URL = "https://localhost:8443"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def readme_example() -> tuple[str, str]:
    """(file name, code) of the handler example: the block opening ``# NAME.py:``."""
    for block in _blocks(_section("Write your own handler"), "python"):
        named = re.match(r"# (\w+\.py):", block)
        if named:
            return named[1], block
    raise AssertionError("the handler section has no '# NAME.py:' example")


def readme_commands() -> tuple[str, list[str]]:
    """The ``AUDIO_HANDLER`` that loads the example, and the simulator call after it.

    The handler section's ``sh`` block whose ``AUDIO_HANDLER`` names the example's
    module; the first simulator command that follows it in that block.
    """
    name, _ = readme_example()
    module = name.removesuffix(".py")
    for block in _blocks(_section("Write your own handler"), "sh"):
        handler: str | None = None
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0].startswith(f"AUDIO_HANDLER={module}:"):
                handler = words[0].partition("=")[2]
            elif handler and words[1:3] == ["-m", "simulator"]:
                return handler, words[3:]
    raise AssertionError(f"the handler section shows no AUDIO_HANDLER={module}:... and call")


@pytest.fixture(scope="module")
def saved_example() -> Iterator[Path]:
    """The README's example, written where the README says; removed afterwards."""
    name, code = readme_example()
    path = ROOT / name
    if path.exists():
        if path.read_text() != code:
            pytest.skip(f"{path} is someone's own file, not the README's example")
        yield path
        return
    path.write_text(code)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        for cached in (ROOT / "__pycache__").glob(f"{path.stem}.*.pyc"):
            cached.unlink(missing_ok=True)


def test_the_example_passes_the_project_lint(saved_example: Path) -> None:
    """ruff (lint and format) and mypy strict, with the project's settings, where it is saved."""
    for argv in (
        [str(TOOLS / "ruff"), "check", str(saved_example)],
        [str(TOOLS / "ruff"), "format", "--check", "--diff", str(saved_example)],
        [sys.executable, "-m", "mypy", str(saved_example)],
    ):
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{shlex.join(argv)}:\n{done.stdout}{done.stderr}"


def test_the_readme_names_the_example_and_a_sample_that_exist(saved_example: Path) -> None:
    """AUDIO_HANDLER names the example's module and handler; the --wav file ships."""
    handler, call = readme_commands()
    module, _, factory = handler.partition(":")
    assert module == saved_example.stem
    defined = rf"^(?:class|async def|def) {factory}\("
    assert re.search(defined, saved_example.read_text(), flags=re.MULTILINE)
    wav = call[call.index("--wav") + 1]
    assert (ROOT / wav).is_file(), wav


@pytest.fixture(scope="module")
def loudness_stack(
    saved_example: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A local stack whose audio replica runs the README's handler."""
    handler, _ = readme_commands()
    stack = start_stack(tmp_path_factory.mktemp("readme"), 1, AUDIO_HANDLER=handler)
    try:
        yield stack
    finally:
        stack.stop()


async def test_a_call_through_the_example(
    loudness_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's call: the caller hears themselves, and the handler logs the peak."""
    _, call = readme_commands()
    call = [loudness_stack.base_url if word == LOCAL_URL else word for word in call]
    secrets = str(loudness_stack.paths.secrets_env)
    trust = ["--secret-file", secrets, "--cafile", str(loudness_stack.cafile), "--json"]
    wav = call.index("--wav") + 1
    call[wav] = str(ROOT / call[wav])
    status = await call_main(build_parser().parse_args([*call, *trust]))
    report = json.loads(capsys.readouterr().out)
    assert status == 0, report
    assert report["frames"]["echoed"] == report["frames"]["planned"] > 100
    assert report["echo"]["byte_exact"] is True

    loudness_stack.stop()  # the call's end is logged; stopping flushes the log
    log = loudness_stack.paths.logs / "audio-1.log"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    peaks = [m for line in lines if (m := re.fullmatch(r"peak (\d+)", line.get("message", "")))]
    assert len(peaks) == 1, lines[-5:]
    # The sample is normalised to 0.7 of full scale (about 22,900).
    assert 15_000 < int(peaks[0][1]) <= 32_768
