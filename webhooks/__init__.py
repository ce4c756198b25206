"""The webhooks service: Vonage's answer and event webhooks (``python -m webhooks``).

Modules, one concept each:

- ``settings``: the typed configuration, read once (docs/contract.md, "Variables").
- ``app``: the route table, the ``create_app`` factory, metrics and the catch-all.
- ``routes``: /webhooks/answer, /webhooks/events, /healthz, /metrics.
- ``payloads``: reading a request's body within its limit, and its parameters.
- ``signatures``: checking Vonage signed webhooks (docs/vonage-protocol.md §6).
- ``events``: which events get a reconnect or the apology (§4), with no call state.
- ``ncco``: the NCCOs, built with vonage-voice's models (§2).
- ``credentials``: the per-call socket JWT (docs/contract.md).
- ``errors``: the exception tree and its mapping to HTTP answers.
- ``metrics``, ``logs``: Prometheus metrics and JSON log lines.
"""
