"""The simulator's model of Vonage: one call run as Vonage runs it (docs/vonage-protocol.md).

From the wire up: ``signing`` (the signed-webhook JWT), ``webhook`` (answer and
event requests with Vonage's timeouts, retries and fallback URL), ``events`` (what
each event carries), ``ncco`` (parsed and checked), ``speech`` (how long a
``talk`` speaks), ``stream`` (one call's frames out and matches back), ``pacer``
(the one pacing loop per process), ``leg`` (the WebSocket leg), ``playout``
(Vonage's playout buffer); then ``records`` (what a call is asked and what it
did), ``context`` (what calls share), ``connect`` (one socket leg), ``call`` (the
call flow), ``call_api`` (a call's side of REST requests) and ``dialer``
(outbound calls).
"""
