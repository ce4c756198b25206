"""A local Vonage: place calls through the stack without a phone, and load it.

``python -m simulator call BASE_URL`` plays Vonage's side of one call as
``docs/vonage-protocol.md`` describes — signed answer request, the NCCO run (talk
for as long as it speaks, connect), the WebSocket leg with real-time 20 ms frames,
signed events as notifications, and a reconnect when the server closes the socket
under the call — and reports what
came back and what the caller heard of it. ``python -m simulator load BASE_URL
--calls N --seconds S`` runs N such calls at once and says how late its own
frames left, so a slow simulator is never mistaken for a slow server.

Modules, from the wire up:

* ``signing`` — the signed-webhook JWT; ``webhook`` — answer and event requests,
  with Vonage's timeouts, retries and fallback URL;
* ``events`` — what each event carries, and notifications that never hold a call;
* ``ncco`` — the NCCO checked and parsed; ``speech`` — how long a ``talk`` speaks;
* ``audio`` — WAV in, stamped frames out;
* ``stream`` — one call's frames out and matches back (the per-frame hot path);
* ``pacer`` — the one pacing loop per process; ``leg`` — the WebSocket leg;
* ``playout`` — Vonage's playout buffer (what the caller hears, and when);
  ``heard`` — its timeline and real-time WAV;
* ``call`` — one call, run as Vonage runs it; ``report`` — its figures;
* ``load``, ``load_report`` — many calls over worker processes; ``cli`` — commands.

Measuring the simulator itself (a bare echo that costs less than it does)::

    python -m tests.simulator.rig --fast          # prints BASE_URL; Ctrl-D stops it
    python -m simulator load BASE_URL --unsigned --instant-talk --calls 400 --seconds 20 --ramp 4
"""
