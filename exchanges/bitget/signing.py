"""Bitget request signing: `ACCESS-SIGN` = base64 HMAC-SHA256 of the prehash string."""

import base64
import hashlib
import hmac


def prehash(timestamp: str, method: str, request_path: str, query: str, body: str) -> str:
    """The string Bitget signs: timestamp + METHOD + path (+ "?" + query) + body."""
    return timestamp + method.upper() + request_path + (f"?{query}" if query else "") + body


def sign(secret: str, timestamp: str, method: str, request_path: str, query: str, body: str) -> str:
    message = prehash(timestamp, method, request_path, query, body)
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
