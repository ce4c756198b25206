"""Word accuracy of what the voice bot understands, at 16 kHz and through an 8 kHz call.

    .venv/bin/python examples/voice-bot/measure_accuracy.py [--json] [--end-of-turn-ms MS]
        [LINES_FILE]

Each line of LINES_FILE (default: tests/voice_bot/utterances.txt) is spoken by Debian's
flite (voice awb, male, 16 kHz: not the bot's own voice), taken to the call's rate as a
phone leg carries it (16-bit PCM at 16 or 8 kHz) and passed through the bot's own path:
the turn detector (VAD, pre-roll, end of turn), then Whisper tiny.en. Accuracy is
1 - WER, lower case, punctuation stripped, digits spelled out. A line heard as more
than one turn (a pause in it longer than the end of turn) is counted as split.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import soxr

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from voice_bot.accuracy import measure  # after HF_HUB_OFFLINE
from voice_bot.models import new_vad, start_loading
from voice_bot.settings import BotSettings
from voice_bot.turns import vad_rate

LINES = Path(__file__).resolve().parents[2] / "tests" / "voice_bot" / "utterances.txt"
RATES = (16000, 8000)


def flite(text: str, rate: int, folder: Path, voice: str = "awb") -> bytes:
    """``text`` spoken by flite, as 16-bit PCM at ``rate``."""
    path = folder / "line.wav"
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
    with wave.open(str(path), "rb") as wav:
        native = wav.getframerate()
        audio = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
    if native != rate:
        audio = soxr.resample(audio, native, rate, quality="HQ")
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def main() -> int:
    """Print the word accuracy at each rate; exit 1 when 16 kHz is under 85 %."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", nargs="?", type=Path, default=LINES)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--end-of-turn-ms", type=int, default=BotSettings().end_of_turn_ms)
    args = parser.parse_args()
    texts = [line.strip() for line in args.lines.read_text().splitlines() if line.strip()]
    runtime = start_loading(1).result(timeout=120)
    report: dict[str, object] = {
        "utterances": len(texts),
        "voice": "flite awb",
        "end_of_turn_ms": args.end_of_turn_ms,
    }
    with tempfile.TemporaryDirectory() as folder:
        for rate in RATES:
            recordings = [(text, flite(text, rate, Path(folder))) for text in texts]
            started = time.perf_counter()
            vad = new_vad(vad_rate(rate))
            end_of_turn = args.end_of_turn_ms / 1000
            accuracy, pairs, split = measure(
                runtime.models, vad, recordings, rate, end_of_turn=end_of_turn
            )
            report[f"{rate}"] = {
                "word_accuracy": round(accuracy, 3),
                "split_lines": split,
                "seconds": round(time.perf_counter() - started, 1),
                "misheard": [{"said": s, "understood": u} for s, u in pairs if s != u],
            }
            if not args.json:
                print(
                    f"{rate} Hz: word accuracy {accuracy:.3f} over {len(texts)} utterances,"
                    f" {split} heard as more than one turn"
                )
                for said, understood in pairs:
                    print(f"  {said!r} -> {understood!r}")
    if args.json:
        print(json.dumps(report))
    passed = report["16000"]["word_accuracy"] >= 0.85  # type: ignore[index]
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
