"""One call against the fake stack: the good paths and every error path."""

from __future__ import annotations

import json
import socket
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path

import jwt
import numpy as np
import numpy.typing as npt

from simulator.audio import STAMP_BITS, samples_per_frame
from tests.simulator.certs import make_server_cert
from tests.simulator.conftest import (
    APOLOGY,
    FakeStack,
    Run,
    StartStack,
    reconnecting_events,
    secret_file,
)
from tests.simulator.fakes import SECRET, TOKEN, FakeSocket, Reply, Request, connect_ncco

RunCall = Callable[[list[str]], Awaitable[Run]]


async def test_good_call_echoes_byte_exact(start_stack: StartStack, run_call: RunCall) -> None:
    """A full call over TLS: signed webhooks, first message, echo byte-exact, events."""
    stack = await start_stack()
    run = await run_call(stack.argv("--json", "--dtmf", "1#"))
    assert run.status == 0, run.err
    report = run.report()
    assert report["passed"] is True
    assert report["frames"]["planned"] == 50
    assert report["frames"]["echoed"] == 50
    assert report["frames"]["lost"] == 0
    assert report["echo"] == {
        "byte_exact": True,
        "mode": "echo",
        "lag_ms": report["echo"]["lag_ms"],
        "lag_frames": 0,
    }
    assert set(report["round_trip_ms"]) == {"p50", "p90", "p99", "max"}
    assert report["talks"] == ["Please wait while we connect you to the echo server"]
    assert report["dtmf_sent"] == "1#"
    assert stack.hooks.statuses() == ["started", "ringing", "answered", "completed"]
    assert stack.hooks.leg_statuses() == [["started", "ringing", "answered", "completed"]]
    assert all(r.claims is not None for r in stack.hooks.requests), "every webhook signed"
    answer = stack.hooks.received("/webhooks/answer")[0]
    assert answer.method == "POST"
    assert set(answer.fields()) == {
        "to", "from", "uuid", "conversation_uuid", "region_url", "endpoint_type",
    }  # fmt: skip
    assert {r.method for r in stack.hooks.requests} == {"POST"}
    assert stack.socket.authorizations == [TOKEN]
    assert stack.socket.first_messages == [
        {
            "event": "websocket:connected",
            "content-type": "audio/l16;rate=16000",
            "call_uuid": "c-1",
            "attempt": 1,
        }
    ]
    digits = [t for t in stack.socket.texts if "websocket:dtmf" in t]
    assert len(digits) == 2


async def test_progress_reads_before_the_report(start_stack: StartStack, run_call: RunCall) -> None:
    """answer, talk, connect lines come first, on the report's own stream."""
    stack = await start_stack()
    run = await run_call(stack.argv())
    assert run.status == 0, run.err
    lines = run.out.splitlines()
    steps = [line.split(":")[0].strip() for line in lines[:3]]
    assert steps == ["answer", "talk", "connect"]
    assert lines[3].startswith("call ")
    assert lines[3].endswith(": PASSED")
    assert run.err == ""


def stamps_in_order(samples: npt.NDArray[np.int16], count: int) -> list[int]:
    """The stamps (``audio.read_stamp``) of the first ``count`` frames found, in order."""
    lsb = (samples & 1).astype(np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(lsb, STAMP_BITS)
    values = windows @ (np.int64(1) << np.arange(STAMP_BITS)) - 1
    found, at = [], 0
    per = samples_per_frame(16000)
    for k in range(count):
        hits = np.flatnonzero(values[at:] == k)
        if not hits.size:
            break
        found.append(k)
        at += int(hits[0]) + per
    return found


async def test_get_answer_and_wav_out(
    start_stack: StartStack, run_call: RunCall, isolated: Path
) -> None:
    """--get sends the answer and events as signed queries; --out writes what was heard."""
    stack = await start_stack(tls=False)
    out = isolated / "echo.wav"
    run = await run_call(stack.argv("--get", "--json", "--out", str(out)))
    assert run.status == 0, run.err
    report = run.report()
    assert report["passed"] is True
    answer = stack.hooks.received("/webhooks/answer")[0]
    assert answer.method == "GET"
    assert answer.claims is not None  # payload_hash over the query, as Vonage computes it
    assert set(answer.query) == {
        "to", "from", "uuid", "conversation_uuid", "region_url", "endpoint_type",
    }  # fmt: skip
    assert stack.hooks.received("/webhooks/events")[0].method == "GET"
    with wave.open(str(out), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    # At its real time from the answer: silence until the socket's audio, then every
    # echoed frame, in order, wherever an underrun may have shifted one.
    assert abs(len(samples) / 16000 - report["duration_s"]) < 0.05
    heard = round(report["heard"]["seconds"] / 0.02)
    assert heard >= 48  # at most the last frame or two still queued when the caller hung up
    assert stamps_in_order(samples, 50) == list(range(heard))
    first_audio = next(s for s in report["heard"]["timeline"] if s["heard"] == "audio")
    assert abs(np.flatnonzero(samples)[0] / 16000 - first_audio["from_s"]) < 0.002


async def test_delayed_echo_lag_found(start_stack: StartStack, run_call: RunCall) -> None:
    """A delayed echo (silence first) is byte-exact with the lag found by alignment."""
    stack = await start_stack(tls=False, socket=FakeSocket(delay=0.2, silence_first=True))
    run = await run_call(stack.argv("--json"))
    assert run.status == 0, run.err
    echo = run.report()["echo"]
    assert echo["byte_exact"] is True
    assert echo["mode"] == "delayed echo"
    assert 180 <= echo["lag_ms"] <= 280
    assert 9 <= echo["lag_frames"] <= 14
    assert run.report()["frames"]["silent"] > 0


async def test_reconnect_after_server_close(start_stack: StartStack, run_call: RunCall) -> None:
    """Socket closed mid-call: disconnected posted with headers, new connect, gap measured."""
    stack = await start_stack(socket=FakeSocket(close_after=20))
    run = await run_call(stack.argv("--json", seconds=1.5))
    assert run.status == 0, run.err
    report = run.report()
    assert report["passed"] is True
    assert stack.hooks.statuses() == ["started", "ringing", "answered", "completed"]
    assert stack.hooks.leg_statuses() == [
        ["started", "ringing", "answered", "disconnected", "completed"],
        ["started", "ringing", "answered", "completed"],
    ]
    [disconnected] = [
        r
        for r in stack.hooks.received("/webhooks/events")
        if r.fields()["status"] == "disconnected"
    ]
    fields = disconnected.fields()
    assert disconnected.claims is not None
    assert fields["to"] == stack.socket.uri
    assert fields["headers"] == {"call_uuid": "c-1", "attempt": 1}
    assert fields["uuid"] != report["uuid"]
    assert fields["conversation_uuid"] == report["conversation_uuid"]
    assert [m["attempt"] for m in stack.socket.first_messages] == [1, 2]
    [reconnect] = report["reconnects"]
    assert reconnect["audio_resumed"] is True
    assert reconnect["gap_ms"] is not None
    assert 0 <= reconnect["gap_ms"] < 1000
    assert reconnect["frames_lost"] >= 1
    assert "1001" in reconnect["cause"]
    assert report["frames"]["lost_outside_gaps"] == 0
    assert report["frames"]["lost_in_gaps"] == reconnect["frames_lost"]


async def test_ncco_it_cannot_run(start_stack: StartStack, run_call: RunCall) -> None:
    """An NCCO with an action the simulator cannot run: a clear message, exit 1."""

    async def answer(_request: Request) -> Reply:
        return 200, [{"action": "record", "eventUrl": ["https://example.com/r"]}]

    stack = await start_stack(answer=answer)
    run = await run_call(stack.argv())
    assert run.status == 1
    assert "simulator: NCCO action 0 (record): the simulator cannot run 'record'" in run.err
    assert "Traceback" not in run.err


async def test_refused_upgrade(start_stack: StartStack, run_call: RunCall) -> None:
    """A 401 at the upgrade: failed posted per attempt, apology spoken, status shown, exit 1."""
    stack = await start_stack(socket=FakeSocket(refuse=401))
    run = await run_call(stack.argv("--json"))
    assert run.status == 1
    report = run.report()
    assert report["passed"] is False
    assert "upgrade refused: HTTP 401" in report["error"]
    assert "upgrade refused: HTTP 401" in run.err.splitlines()[-1]
    assert stack.hooks.statuses() == ["started", "ringing", "answered", "completed"]
    # `failed` holds the call flow and is not queued behind the leg's notifications:
    # when the upgrade fails at once it may arrive first.
    legs = [sorted(statuses) for statuses in stack.hooks.leg_statuses()]
    assert legs == [["failed", "ringing", "started"]] * 3
    failed = [e for e in stack.hooks.event_fields() if e["status"] == "failed"]
    assert [f["headers"]["attempt"] for f in failed] == [1, 2, 3]
    assert {f["detail"] for f in failed} == {"unavailable"}  # a refused upgrade
    assert report["talks"][-1] == APOLOGY


async def test_untrusted_certificate(start_stack: StartStack, run_call: RunCall) -> None:
    """A self-signed certificate: a clear message naming it, exit 1."""
    stack = await start_stack(self_signed=True)
    run = await run_call(stack.argv(trust=False))
    assert run.status == 1
    [line] = [x for x in run.err.splitlines() if x.startswith("simulator:")]
    assert "untrusted certificate at https://localhost:" in line
    assert "self-signed certificate" in line


async def test_socket_certificate_untrusted(
    start_stack: StartStack, run_call: RunCall, isolated: Path
) -> None:
    """Webhooks reachable but a socket whose CA is unknown: each leg fails clearly."""
    cert = make_server_cert(isolated / "socket-tls")
    tls_socket = FakeSocket(ssl_context=cert.server_context(), host="localhost")
    await tls_socket.start()
    try:
        stack = await start_stack(tls=False)
        on_tls = FakeStack(stack.hooks, tls_socket, None, stack.secret_file)

        async def answer(_request: Request) -> Reply:
            return 200, connect_ncco(tls_socket.uri, stack.events_url)

        stack.hooks.answer = answer
        stack.hooks.events = reconnecting_events(lambda: on_tls)
        run = await run_call(stack.argv())
    finally:
        await tls_socket.close()
    assert run.status == 1
    assert "untrusted certificate at wss://localhost:" in run.err.splitlines()[-1]
    failed = [e for e in stack.hooks.event_fields() if e["status"] == "failed"]
    assert [f["detail"] for f in failed] == ["cannot_route"] * 3
    assert tls_socket.first_messages == []


async def test_webhook_timeout(start_stack: StartStack, run_call: RunCall) -> None:
    """An answer webhook that never answers: retried once, then a clear message, exit 1."""

    async def hang(request: Request) -> Reply:
        return await stack.hooks.hang(request)

    stack = await start_stack(tls=False, answer=hang)
    run = await run_call(stack.argv("--answer-timeout", "0.3"))
    assert run.status == 1
    assert "simulator: webhook timed out after 0.3 s: POST http" in run.err
    assert "note: answer 0.3 s (Vonage: 1-5 s): Vonage would not accept it" in run.err
    assert len(stack.hooks.received("/webhooks/answer")) == 2


async def test_connection_refused(run_call: RunCall, isolated: Path) -> None:
    """Nothing listening at BASE_URL: a clear message, exit 1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["call", f"http://127.0.0.1:{port}", "--secret-file", str(secret_file(isolated))]
    run = await run_call([*argv, "--seconds", "1"])
    assert run.status == 1
    assert f"simulator: connection refused: http://127.0.0.1:{port}/webhooks/answer" in run.err


async def test_events_webhook_rejects(start_stack: StartStack, run_call: RunCall) -> None:
    """Events answered 401: the call goes on as on Vonage; each failure is reported, exit 1."""

    async def reject(_request: Request) -> Reply:
        return 401, {"error": "bad signature"}

    stack = await start_stack(tls=False, events=reject)
    run = await run_call(stack.argv("--json"))
    assert run.status == 1
    report = run.report()
    assert report["frames"]["echoed"] == report["frames"]["planned"] == 50
    assert len(report["events_failed"]) == 8  # the caller's leg and the socket leg, 4 each
    assert report["events_failed"][0].startswith("event 'started' to http")
    assert report["events_failed"][0].endswith("failed: HTTP 401")
    assert report["error"].startswith("8 event webhook(s) failed: event 'started'")
    assert stack.hooks.statuses() == ["started", "ringing", "answered", "completed"]


async def test_vonage_authorization_and_get_events(
    start_stack: StartStack, run_call: RunCall
) -> None:
    """authorization type vonage sends a signed JWT; eventMethod GET puts the event in the query."""
    holder: list[str] = []

    async def answer(_request: Request) -> Reply:
        ncco = connect_ncco(holder[0], holder[1])
        endpoint = ncco[1]["endpoint"][0]
        endpoint["authorization"] = {"type": "vonage"}
        ncco[1]["eventMethod"] = "GET"
        return 200, ncco

    stack = await start_stack(tls=False, socket=FakeSocket(close_after=10), answer=answer)
    holder += [stack.socket.uri, stack.events_url]
    run = await run_call(stack.argv("--json"))
    assert run.status == 0, run.err
    token = stack.socket.authorizations[0] or ""
    claims = jwt.decode(token.removeprefix("Bearer "), SECRET, algorithms=["HS256"])
    assert claims["iss"] == "Vonage"
    on_leg = [r for r in stack.hooks.received("/webhooks/events") if r.method == "GET"]
    assert [r.query["direction"] for r in on_leg] == ["outbound"] * len(on_leg)
    disconnected = [r for r in on_leg if r.query["status"] == "disconnected"]
    assert len(disconnected) == 1
    assert json.loads(disconnected[0].query["headers"]) == {"call_uuid": "c-1", "attempt": 1}
    assert disconnected[0].claims is not None


async def test_wav_caller(start_stack: StartStack, run_call: RunCall, isolated: Path) -> None:
    """--wav: a 44.1 kHz stereo file is sent as 16 kHz mono frames, as long as the file."""
    path = isolated / "caller.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(bytes(range(256)) * (44100 * 4 // 2 // 256))
    stack = await start_stack(tls=False)
    run = await run_call(stack.argv("--json", "--wav", str(path), seconds=None))
    assert run.status == 0, run.err
    report = run.report()
    assert report["frames"]["planned"] == 25
    assert report["echo"]["byte_exact"] is True


async def test_expect_sets_the_verdict_and_the_exit_status(
    start_stack: StartStack, run_call: RunCall
) -> None:
    """An echo is audio (passes --expect audio) and is not silence (fails, status 1)."""
    stack = await start_stack(tls=False)
    audio = await run_call(stack.argv("--json", "--expect", "audio"))
    assert audio.status == 0, audio.err
    assert audio.report()["expect"] == "audio"
    silence = await run_call(stack.argv("--json", "--expect", "silence"))
    assert silence.status == 1
    assert "not silence" in silence.report()["error"]
    assert silence.report()["heard"]["audible_s"] > 0.9
