"""``converse``: a scripted caller that speaks, listens, interrupts, and measures each turn.

``script`` reads and checks the YAML turns; ``caller`` is the caller's audio (a
script for a microphone) and ``ear`` what it hears after Vonage's playout buffer;
``runner`` plays the turns on a live call; ``measure`` turns what was heard into
each turn's figures; ``session`` runs scripted calls in one process and ``main``
is the command (workers, transcripts, the report).
"""
