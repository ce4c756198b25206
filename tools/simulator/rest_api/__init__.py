"""Vonage's Voice REST API for the simulator's calls (docs/vonage-protocol.md §8).

``server`` is the HTTPS API (JWT checks, Vonage's statuses); ``link`` is a
simulator process's link to it, over which the API forwards each request to the
process running the call; ``main`` is ``python -m simulator api``, the API as its
own process (the local stack's).
"""
