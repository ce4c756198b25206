"""Settings: defaults, environment and .env, and the start-up error lines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app_credentials import ConfigurationError
from audio_socket.handlers.settings import (
    EchoSettings,
    MenuSettings,
    PromptSettings,
    RecorderSettings,
)
from audio_socket.settings import load_settings
from tests.audio_socket.helpers import SECRET


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    """The configuration error lines for the given environment."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env_file=None)
    return caught.value.lines()


def handler_problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    """The configuration error lines of the handler's own settings."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(env_file=None)
    with pytest.raises(ConfigurationError) as caught:
        settings.handler()
    return caught.value.lines()


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the secret is required; every limit has the documented default."""
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    s = load_settings(env_file=None)
    assert (s.audio_host, s.audio_port) == ("0.0.0.0", 8765)
    assert (s.max_calls, s.max_message_bytes, s.drain_timeout) == (500, 65536, 30.0)
    assert (s.audio_handler, s.log_level) == ("echo", "INFO")
    assert (s.handshake_timeout, s.ping_interval, s.ping_timeout) == (10.0, 20.0, 20.0)
    assert (s.send_timeout, s.outbound_buffer_bytes) == (10.0, 65536)
    handler = s.handler()
    assert (handler.spec, handler.form, handler.description) == ("echo", "callback", "echo")
    assert handler.settings == EchoSettings(echo_delay_ms=0)


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each field is read from its upper-case variable."""
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("MAX_CALLS", "7")
    monkeypatch.setenv("ECHO_DELAY_MS", "120")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    s = load_settings(env_file=None)
    assert (s.max_calls, s.log_level) == (7, "DEBUG")
    handler = s.handler()  # ECHO_DELAY_MS is the echo's own setting
    assert handler.settings.echo_delay_ms == 120
    assert handler.description == "delayed echo (120 ms)"


def test_dotenv_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A .env in the working directory is read; the environment overrides it."""
    (tmp_path / ".env").write_text(
        f"SOCKET_TOKEN_SECRET={SECRET}\nMAX_CALLS=3\nDRAIN_TIMEOUT=4\nPUBLIC_HOST=x\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAX_CALLS", "9")
    s = load_settings()
    assert s.socket_token_secret.get_secret_value() == SECRET
    assert (s.max_calls, s.drain_timeout) == (9, 4.0)


def test_empty_variables_mean_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """VAR= is treated as unset, as compose's ${VAR:-} produces it."""
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("MAX_CALLS", "")
    monkeypatch.setenv("DRAIN_TIMEOUT", "")
    s = load_settings(env_file=None)
    assert (s.max_calls, s.drain_timeout) == (500, 30.0)


def test_empty_secret_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty SOCKET_TOKEN_SECRET is as good as none."""
    assert problems(monkeypatch, SOCKET_TOKEN_SECRET="") == [
        "configuration error: SOCKET_TOKEN_SECRET: required but not set"
    ]


def test_missing_secret_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SOCKET_TOKEN_SECRET: one line naming it."""
    assert problems(monkeypatch) == [
        "configuration error: SOCKET_TOKEN_SECRET: required but not set"
    ]


def test_short_secret_is_refused_without_printing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret under 32 bytes is an error, and the message never contains it."""
    lines = problems(monkeypatch, SOCKET_TOKEN_SECRET="short-secret-value")
    assert lines == ["configuration error: SOCKET_TOKEN_SECRET: must be at least 32 bytes"]
    assert "short-secret-value" not in "".join(lines)


def test_every_bad_variable_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """All problems are reported at once, one line each, naming the variable."""
    lines = problems(
        monkeypatch,
        SOCKET_TOKEN_SECRET=SECRET,
        MAX_CALLS="many",
        AUDIO_PORT="70000",
        LOG_LEVEL="loud",
        AUDIO_HANDLER="no_such_module:make",
        SEND_TIMEOUT="0",
    )
    names = sorted(line.split(":")[1].strip() for line in lines)
    assert names == sorted(
        ["MAX_CALLS", "AUDIO_PORT", "LOG_LEVEL", "AUDIO_HANDLER", "SEND_TIMEOUT"]
    )
    assert all(line.startswith("configuration error: ") for line in lines)
    handler_line = next(line for line in lines if "AUDIO_HANDLER" in line)
    assert "cannot import 'no_such_module'" in handler_line


def test_event_loop_is_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """AUDIO_EVENT_LOOP=auto (the default) takes uvloop, the cheaper loop per frame."""
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    s = load_settings(env_file=None)
    assert s.audio_event_loop == "auto"
    assert s.loop_factory() is uvloop.new_event_loop


def test_event_loop_asyncio_keeps_the_standard_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """AUDIO_EVENT_LOOP=asyncio: no loop factory, asyncio's own loop."""
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("AUDIO_EVENT_LOOP", "asyncio")
    assert load_settings(env_file=None).loop_factory() is None


def test_uvloop_required_but_missing_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AUDIO_EVENT_LOOP=uvloop without uvloop installed stops start-up, naming it."""
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now fails
    lines = problems(monkeypatch, SOCKET_TOKEN_SECRET=SECRET, AUDIO_EVENT_LOOP="uvloop")
    assert lines == ["configuration error: AUDIO_EVENT_LOOP: uvloop is not installed"]


def test_example_handlers_are_chosen_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """recorder, barge_in and menu get their settings; the recorder's folder is made."""
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    folder = tmp_path / "made" / "here"
    for name, value in (
        ("AUDIO_HANDLER", "recorder"),
        ("RECORDER_DIR", str(folder)),
        ("MENU_TRANSFER_NUMBER", "447700900001"),
    ):
        monkeypatch.setenv(name, value)
    recorder = load_settings(env_file=None).handler()
    assert (recorder.form, recorder.description) == ("callback", "recorder of the echo")
    assert recorder.settings == RecorderSettings(recorder_dir=folder, echo_delay_ms=0)
    assert folder.is_dir()
    monkeypatch.setenv("AUDIO_HANDLER", "barge_in")
    barge_in = load_settings(env_file=None).handler()
    assert (barge_in.form, barge_in.settings) == ("callback", PromptSettings())
    monkeypatch.setenv("AUDIO_HANDLER", "menu")
    menu = load_settings(env_file=None).handler()
    assert menu.form == "coroutine"
    assert menu.settings == MenuSettings(menu_transfer_number="447700900001")


def test_example_settings_are_checked_at_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A missing folder, an unreadable prompt, a bad number, a bad delay: each named."""
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    assert handler_problems(monkeypatch, AUDIO_HANDLER="recorder") == [
        "configuration error: RECORDER_DIR: required but not set"
    ]
    monkeypatch.setenv("AUDIO_HANDLER", "barge_in")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF and nothing")
    [line] = handler_problems(monkeypatch, PROMPT_WAV=str(junk))
    assert line.startswith("configuration error: PROMPT_WAV: cannot be read as a WAV file")
    monkeypatch.delenv("PROMPT_WAV")
    monkeypatch.setenv("AUDIO_HANDLER", "menu")
    [line] = handler_problems(monkeypatch, MENU_TRANSFER_NUMBER="+44 7700")
    assert line.startswith("configuration error: MENU_TRANSFER_NUMBER:")
    monkeypatch.setenv("AUDIO_HANDLER", "echo")
    [line] = handler_problems(monkeypatch, ECHO_DELAY_MS="-5")
    assert line.startswith("configuration error: ECHO_DELAY_MS:")


def test_a_folder_that_cannot_be_made_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """RECORDER_DIR under a file: the line says it cannot be created."""
    monkeypatch.setenv("SOCKET_TOKEN_SECRET", SECRET)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    [line] = handler_problems(
        monkeypatch, AUDIO_HANDLER="recorder", RECORDER_DIR=str(blocker / "x")
    )
    assert line.startswith("configuration error: RECORDER_DIR: cannot be created")
