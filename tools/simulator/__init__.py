"""A local Vonage: place calls through the stack without a phone, and load it.

``python -m simulator call BASE_URL`` plays Vonage's side of one call as
``docs/vonage-protocol.md`` describes — signed answer request, the NCCO run (talk
for as long as it speaks, connect), the WebSocket leg with real-time 20 ms frames,
signed events as notifications, and a reconnect when the server closes the socket
under the call — and reports what came back and what the caller heard of it.
``python -m simulator load BASE_URL --calls N --seconds S`` runs N such calls at
once and says how late its own frames left, so a slow simulator is never mistaken
for a slow server. ``python -m simulator converse BASE_URL --script FILE`` plays a
caller from a script (speak, listen, press keys, talk over the application) and
measures each turn's reply latency and barge-in at the caller's ear.

The layout, each layer importing only those below it:

* ``cli`` — parses the command line and dispatches to a front end;
* ``frontends/`` — one per command: ``call``, ``callee``, ``load`` (worker
  processes), ``converse/`` (the scripted caller) and ``phone/`` (the browser
  softphone, its live caller and page);
* ``setup`` — the options resolved, the REST link opened, one-line failures;
* ``reports/`` — what calls measured: one call's report, what it heard, a load
  run's summary and plot;
* ``vonage/`` — the model of Vonage: signing, webhooks, events, the NCCO, the
  socket leg, pacing, the playout buffer, one call's flow and its REST side;
* ``rest_api/`` — Vonage's Voice REST API (``server``), a process's ``link`` to
  it, and ``main`` (``python -m simulator api``);
* ``speech/`` — offline speech for scripted callers (espeak-ng, faster-whisper);
* ``audio``, ``net``, ``local_stack``, ``errors`` — shared by all of them.

Measuring the simulator itself (a bare echo that costs less than it does)::

    python -m tests.simulator.rig --fast          # prints BASE_URL; Ctrl-D stops it
    python -m simulator load BASE_URL --unsigned --instant-talk --calls 400 --seconds 20 --ramp 4
"""
