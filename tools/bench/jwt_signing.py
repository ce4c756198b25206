"""What signing the REST API's JWTs in worker threads does to an event loop.

``python -m bench.jwt_signing``: four threads sign JWTs the way the Vonage SDK would
on its own (PyJWT given the private key's PEM text, parsed again for every JWT),
then with the key parsed once (what ``app_credentials.sdk_auth`` gives the SDK),
while the event loop runs a 5 ms timer and records how late it fires. Parsing an RSA
key runs cryptography's key check with the GIL held; a late timer is every call's
audio waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import statistics
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TICK_S = 0.005


async def _lateness(until: concurrent.futures.Future[object]) -> list[float]:
    late = []
    while not until.done():
        start = time.perf_counter()
        await asyncio.sleep(TICK_S)
        late.append((time.perf_counter() - start - TICK_S) * 1000)
    return late


def _sign(key: object, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        jwt.encode({"application_id": "bench"}, key, algorithm="RS256")  # type: ignore[arg-type]
    return (time.perf_counter() - start) / count * 1000


async def _measure(key: object, count: int, threads: int) -> tuple[float, float, float]:
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        jobs = [loop.run_in_executor(pool, _sign, key, count) for _ in range(threads)]
        done = asyncio.ensure_future(asyncio.gather(*jobs))
        late = await _lateness(done)  # type: ignore[arg-type]
        per_jwt = statistics.median(await done)
    return per_jwt, statistics.quantiles(late, n=100, method="inclusive")[98], max(late)


def main() -> None:
    """Print, for the PEM text and the parsed key: ms per JWT, the loop's lateness."""
    parser = argparse.ArgumentParser(prog="python -m bench.jwt_signing", description=__doc__)
    parser.add_argument("--bits", type=int, default=2048, help="RSA key size (Vonage's: 2048)")
    parser.add_argument("--threads", type=int, default=4, help="the replica's REST workers: 4")
    args = parser.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=args.bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for name, signing_key, count in (("PEM text", pem, 10), ("parsed key", key, 400)):
        per_jwt, p99, worst = asyncio.run(_measure(signing_key, count, args.threads))
        print(
            f"{args.threads} threads signing with the {name}: {per_jwt:.2f} ms a JWT in each;"
            f" the loop's 5 ms timer late by p99 {p99:.1f} ms, at worst {worst:.1f} ms"
        )


if __name__ == "__main__":
    main()
