"""The simulator's front ends, one per command: ``call``, ``callee``, ``load`` and the ``phone``.

Each resolves its options through ``simulator.setup``, builds the calls of
``simulator.vonage`` and shows what ``simulator.reports`` makes of them.
"""
