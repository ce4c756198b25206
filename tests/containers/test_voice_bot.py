"""The voice bot's image (examples/voice-bot/, FROM the audio image) with compose.bot.yaml:
built, started, and called through the containerised Caddy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.reports.call_report import build_report
from simulator.reports.heard import AUDIO
from stack.paths import COMPOSE_FILE, REPO_ROOT
from tests.containers.calls import calls_to
from tests.containers.engine import Engine
from tests.containers.project import PROJECT, Project, running, tier_variables

BOT_FILE = REPO_ROOT / "compose.bot.yaml"
#: The first build downloads the bot's speech packages (about 200 MB of wheels) from PyPI.
BUILD_TIMEOUT = 900.0


@pytest.mark.timeout(BUILD_TIMEOUT + 180)
async def test_the_bot_image_greets_a_caller(engine: Engine, tmp_path: Path) -> None:
    """The bot's image loads its models before it is healthy and greets a call through
    Caddy with synthesised speech."""
    variables = tier_variables(
        AUDIO_IMAGE=f"{PROJECT}-audio", BOT_IMAGE=f"{PROJECT}-voice-bot", LOG_LEVEL="INFO"
    )
    project = Project(engine, tmp_path, variables, files=(COMPOSE_FILE, BOT_FILE))
    project.run("build", "audio", timeout=BUILD_TIMEOUT)
    with running(project):
        [audio] = project.containers("audio")
        image = project.inspect(audio["Id"])["Config"]["Image"]
        assert image.rsplit("/", 1)[-1].split(":")[0] == f"{PROJECT}-voice-bot", image
        secret = variables["VONAGE_SIGNATURE_SECRET"]
        async with calls_to(project.base_url, secret, project.cafile(), seconds=6.0) as calls:
            [call] = calls.place(1)
            await calls.reports()
        report = build_report(call.record, AUDIO)
        assert report.passed, report.error
        assert report.heard.audible_s > 1.0  # the greeting, spoken
        logs = project.run("logs", "--no-log-prefix", "audio")
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    listening = [line for line in lines if line.get("message") == "listening"]
    assert listening, logs[-2000:]
    assert "voice bot" in listening[0]["handler"]
