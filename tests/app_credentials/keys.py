"""Test keys for a Vonage application: made fresh, never a real application's."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: An application id of the right shape (a UUID).
APP_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def private_key_pem(fmt: serialization.PrivateFormat) -> str:
    """A new 2048-bit RSA private key as PEM text, in ``fmt`` (PKCS#8 or PKCS#1)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
