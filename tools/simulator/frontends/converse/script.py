"""A conversation script: YAML turns, parsed and checked before any call is placed.

A script is a mapping with a ``turns`` list; each turn has exactly one action
(``say``, ``dtmf`` or ``silence``) and optional ``expect``, ``within``,
``heard_contains`` and ``interrupt_after`` (docs/simulator.md, "Converse"). Every
problem is a :exc:`ScriptError` naming the turn as ``turns[i]`` (from 0, as the
report counts), and refuses the run (exit 2) before anything is sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simulator.errors import UsageError
from simulator.vonage.records import DTMF_DIGITS

ACTIONS = ("say", "dtmf", "silence")
EXPECTATIONS = ("reply", "silence", "hangup", "transfer")
OPTIONAL = ("expect", "within", "heard_contains", "interrupt_after")
DEFAULT_WITHIN = 3.0
#: The longest wait or silence a turn may ask for (a minute: Vonage's buffer holds as much).
MAX_SECONDS = 60.0


class ScriptError(UsageError):
    """A script the caller cannot play: refused before the call (exit 2)."""


@dataclass(frozen=True)
class Turn:
    """One turn of the caller: what it does, and what it expects back."""

    index: int
    action: str
    #: ``say``: the text to speak, or None when ``wav`` is given.
    text: str | None = None
    wav: Path | None = None
    digits: str = ""
    seconds: float = 0.0
    expect: str | None = None
    within: float = DEFAULT_WITHIN
    heard_contains: tuple[str, ...] = ()
    interrupt_after: float | None = None

    @property
    def expects_reply(self) -> bool:
        """A reply is expected: said so, or implied by ``heard_contains``."""
        return self.expect == "reply" or bool(self.heard_contains)

    def describe(self) -> str:
        """The action in a few words, for the report."""
        if self.action == "say":
            said = self.wav.name if self.wav is not None else repr(_short(self.text or ""))
            late = (
                "" if self.interrupt_after is None else f" (over it at {self.interrupt_after:g} s)"
            )
            return f"say {said}{late}"
        if self.action == "dtmf":
            return f"dtmf {self.digits}"
        return f"silence {self.seconds:g} s"


@dataclass(frozen=True)
class Script:
    """The turns, in order, and what playing them needs installed."""

    turns: tuple[Turn, ...]

    @property
    def needs_tts(self) -> bool:
        """Some turn says a text (espeak-ng)."""
        return any(t.action == "say" and t.text is not None for t in self.turns)

    @property
    def needs_asr(self) -> bool:
        """Some turn checks the words of its reply (the offline recognizer)."""
        return any(t.heard_contains for t in self.turns)


def load_script(path: Path) -> Script:
    """Read and check the script at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"cannot read the script {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScriptError(f"{path} is not YAML: {exc}") from exc
    return parse_script(data, path.parent)


def parse_script(data: Any, folder: Path) -> Script:
    """Check a parsed script; WAV paths are relative to ``folder``."""
    if not isinstance(data, dict):
        raise ScriptError("a script is a mapping with a `turns` list")
    unknown = sorted(str(k) for k in data if k != "turns")
    if unknown:
        raise ScriptError(f"unknown key {unknown[0]!r} in the script (only `turns`)")
    turns = data.get("turns")
    if not isinstance(turns, list) or not turns:
        raise ScriptError("the script's `turns` must be a non-empty list")
    return Script(tuple(_turn(i, raw, folder) for i, raw in enumerate(turns)))


def _turn(index: int, raw: Any, folder: Path) -> Turn:
    where = f"turns[{index}]"
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: a turn is a mapping, e.g. {{say: hello}}")
    unknown = sorted(str(k) for k in raw if k not in ACTIONS + OPTIONAL)
    if unknown:
        known = ", ".join(ACTIONS + OPTIONAL)
        raise ScriptError(f"{where}: unknown key {unknown[0]!r} (known: {known})")
    actions = [a for a in ACTIONS if a in raw]
    if len(actions) != 1:
        found = " and ".join(actions) or "none"
        raise ScriptError(f"{where}: a turn has exactly one of say, dtmf, silence (found {found})")
    action = actions[0]
    fields = _action(where, action, raw[action], folder)
    fields |= _expectation(where, action, raw)
    return Turn(index, action, **fields)


def _action(where: str, action: str, value: Any, folder: Path) -> dict[str, Any]:
    if action == "say":
        if not isinstance(value, str) or not value.strip():
            raise ScriptError(f"{where}: say takes a text or a .wav path")
        if value.lower().endswith(".wav"):
            wav = Path(value) if Path(value).is_absolute() else folder / value
            if not wav.is_file():
                raise ScriptError(f"{where}: say: no such WAV file {wav}")
            return {"wav": wav}
        return {"text": value.strip()}
    if action == "dtmf":
        if not isinstance(value, str) or not value or set(value) - DTMF_DIGITS:
            raise ScriptError(f"{where}: dtmf takes a quoted string of 0-9, * and #, not {value!r}")
        return {"digits": value}
    return {"seconds": _seconds(where, "silence", value, minimum=0.02)}


def _expectation(where: str, action: str, raw: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    expect = raw.get("expect")
    if expect is not None and expect not in EXPECTATIONS:
        raise ScriptError(f"{where}: expect is one of {', '.join(EXPECTATIONS)}, not {expect!r}")
    fields["expect"] = expect
    if "within" in raw:
        if expect is None and "heard_contains" not in raw:
            raise ScriptError(f"{where}: within needs an expect")
        fields["within"] = _seconds(where, "within", raw["within"], minimum=0.02)
    if "heard_contains" in raw:
        words = raw["heard_contains"]
        if isinstance(words, str):
            words = [words]
        if (
            not isinstance(words, list)
            or not words
            or not all(isinstance(w, str) and w.strip() for w in words)
        ):
            raise ScriptError(f"{where}: heard_contains takes a list of words")
        if expect not in (None, "reply"):
            raise ScriptError(f"{where}: heard_contains checks a reply, not expect: {expect}")
        fields["heard_contains"] = tuple(w.strip() for w in words)
    if "interrupt_after" in raw:
        if action != "say":
            raise ScriptError(f"{where}: interrupt_after is for say turns only")
        fields["interrupt_after"] = _seconds(where, "interrupt_after", raw["interrupt_after"])
    return fields


def _seconds(where: str, key: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScriptError(f"{where}: {key} takes seconds, not {value!r}")
    seconds = float(value)
    if not (math.isfinite(seconds) and minimum <= seconds <= MAX_SECONDS):
        raise ScriptError(f"{where}: {key} must be between {minimum:g} and {MAX_SECONDS:g} s")
    return seconds


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
