"""The Vonage WebSocket audio service: ``python -m audio_socket``.

Layers, from pure to I/O: ``protocol`` and ``framing`` (the Vonage audio
protocol, no I/O), ``credentials``, ``handlers`` (what a call does),
``call`` and ``server`` (websockets' asyncio server feeding the core),
``service`` and ``__main__`` (signals, drain, exit status).
"""
