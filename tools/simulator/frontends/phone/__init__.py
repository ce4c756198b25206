"""``python -m simulator phone``: the browser softphone, its live caller and its page.

``main.py`` is the command; ``server.py`` serves ``page/`` and runs each call the
page places, with ``live.py``'s caller (the microphone's frames) instead of the
planned test signal.
"""
