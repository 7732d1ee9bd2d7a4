"""Kraken's request signature (API-Sign header of `/0/private/*` calls)."""

import base64
import hashlib
import hmac


def sign(secret: bytes, path: str, nonce: int, body: str) -> str:
    """API-Sign: base64(HMAC-SHA512(secret, path + SHA256(nonce + body)))."""
    digest = hashlib.sha256((str(nonce) + body).encode()).digest()
    mac = hmac.new(secret, path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()
