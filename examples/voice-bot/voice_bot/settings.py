"""The bot's settings: ``BOT_*`` variables, read once when the audio service starts."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BotSettings(BaseSettings):
    """How the bot takes turns, and how much of the machine its speech models use."""

    model_config = SettingsConfigDict(env_prefix="BOT_", env_file=".env", extra="ignore")

    #: Silence that ends the caller's turn (BOT_END_OF_TURN_MS).
    end_of_turn_ms: int = Field(default=300, ge=100, le=3000)
    #: Quiet after which the turn so far is recognised, before the turn is known to have
    #: ended; used if the caller stays quiet until the end of turn (BOT_SPECULATE_MS;
    #: 0, or not under the end of turn: never).
    speculate_ms: int = Field(default=150, ge=0, le=3000)
    #: Audio kept from before the speech onset, so the first word is not cut (BOT_PRE_ROLL_MS).
    pre_roll_ms: int = Field(default=300, ge=0, le=1000)
    #: Voice-activity probability that counts as speech (BOT_VAD_THRESHOLD).
    vad_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    #: A turn with less speech than this is a click or a cough: dropped (BOT_MIN_SPEECH_MS).
    min_speech_ms: int = Field(default=150, ge=0, le=2000)
    #: A turn longer than this is ended there and answered (BOT_MAX_TURN_SECONDS).
    max_turn_seconds: float = Field(default=15.0, gt=1.0, le=30.0)
    #: Threads of the speech pool every call of the process shares (BOT_WORKERS).
    workers: int = Field(default=2, ge=1, le=16)
    #: What the bot says first (BOT_GREETING).
    greeting: str = "Hello, this is the voice bot. Say something and I will repeat it."

    def describe(self) -> str:
        """The audio service's start-up line names the handler this way."""
        return (
            f"voice bot ({self.workers} speech workers, end of turn {self.end_of_turn_ms} ms,"
            f" recognition from {self.speculate_ms} ms of quiet)"
        )
