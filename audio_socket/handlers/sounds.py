"""Synthesised prompts for the example handlers, so they run without audio files.

Tones stand in for speech (there is no text-to-speech on the socket: a real
deployment plays recorded prompts from ``PROMPT_WAV`` or its own files). Each is
made once per process and rate, then shared by every call.
"""

from __future__ import annotations

import functools

import numpy as np

#: Notes of the long prompt: a slow arpeggio, so the caller hears it go on.
_ARPEGGIO = (392.0, 494.0, 587.0, 784.0)


def tone(rate: int, hz: float, seconds: float, level: float = 0.2) -> bytes:
    """A sine tone with 10 ms fades (no clicks), as 16-bit mono PCM."""
    count = round(rate * seconds)
    t = np.arange(count) / rate
    wave = level * np.sin(2 * np.pi * hz * t)
    fade = min(count // 2, rate // 100)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[count - fade :] *= ramp[::-1]
    pcm: bytes = np.round(wave * 32767).astype("<i2").tobytes()
    return pcm


def silence(rate: int, seconds: float) -> bytes:
    """Silence, as 16-bit mono PCM."""
    return bytes(2 * round(rate * seconds))


@functools.cache
def long_prompt(rate: int, seconds: float = 30.0) -> bytes:
    """``seconds`` of notes, 400 ms each with 100 ms between: the barge-in prompt."""
    note = [tone(rate, hz, 0.4) + silence(rate, 0.1) for hz in _ARPEGGIO]
    one_bar = b"".join(note)
    bars = int(seconds / 2.0) + 1
    return (one_bar * bars)[: 2 * round(rate * seconds)]


@functools.cache
def menu_prompt(rate: int) -> bytes:
    """Three rising notes then a pause: "choose now"."""
    notes = [tone(rate, hz, 0.25) + silence(rate, 0.05) for hz in (523.0, 659.0, 784.0)]
    return b"".join(notes) + silence(rate, 0.5)


@functools.cache
def beeps(rate: int, count: int, hz: float = 880.0) -> bytes:
    """``count`` short beeps: the menu's confirmation of a digit."""
    beep = tone(rate, hz, 0.12) + silence(rate, 0.08)
    return beep * max(count, 1)


@functools.cache
def error_tone(rate: int) -> bytes:
    """Two low notes: "that did not work"."""
    return tone(rate, 330.0, 0.25) + silence(rate, 0.05) + tone(rate, 262.0, 0.4)
