"""A handler of one's own in the audio image: compose.handler.yaml and the example's
derived image (examples/handler-image/), built and called."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack.paths import COMPOSE_FILE, REPO_ROOT
from tests.containers.calls import calls_to
from tests.containers.engine import Engine
from tests.containers.project import PROJECT, Project, running, tier_variables
from tests.reliability.helpers import assert_clean

HANDLER_FILE = REPO_ROOT / "compose.handler.yaml"
EXAMPLE = REPO_ROOT / "examples" / "handler-image"
#: The first build downloads the handler's requirements from PyPI.
BUILD_TIMEOUT = 600.0


@pytest.mark.timeout(BUILD_TIMEOUT + 120)
async def test_own_handler_built_into_the_image_answers_a_call(
    engine: Engine, tmp_path: Path
) -> None:
    """The derived image (FROM the project's audio image, numpy added) runs the example
    handler: a call through Caddy echoes, and the handler logs the call's loudness."""
    variables = tier_variables(
        HANDLER_DIR=str(EXAMPLE),
        AUDIO_IMAGE=f"{PROJECT}-audio",
        HANDLER_IMAGE=f"{PROJECT}-handler",
        AUDIO_HANDLER="loudness:LoudnessHandler",
    )
    project = Project(engine, tmp_path, variables, files=(COMPOSE_FILE, HANDLER_FILE))
    project.run("build", "audio", timeout=BUILD_TIMEOUT)
    with running(project):
        [audio] = project.containers("audio")
        image = project.inspect(audio["Id"])["Config"]["Image"]  # [registry/]name[:tag]
        assert image.rsplit("/", 1)[-1].split(":")[0] == f"{PROJECT}-handler", image
        secret = variables["VONAGE_SIGNATURE_SECRET"]
        async with calls_to(project.base_url, secret, project.cafile(), seconds=2.0) as calls:
            calls.place(1)
            [report] = await calls.reports()
        assert_clean(report)
        logs = project.run("logs", "--no-log-prefix", "audio")
    ends = [json.loads(line) for line in logs.splitlines() if "call loudness" in line]
    assert len(ends) == 1, logs
    assert ends[0]["samples"] == report.frames.sent * 320  # 16 kHz: 320 samples a frame
    assert -60 < ends[0]["rms_dbfs"] < 0
