"""Our client order ids <-> Kraken's cl_ord_id (a UUID or at most 18 characters)."""

import re
import uuid

_OUR_CLIENT_ID = re.compile(r"^ab[0-9a-f]{20}$")
_FREE_TEXT_MAX = 18


def to_cl_ord_id(client_order_id: str) -> str | None:
    """Kraken's cl_ord_id is a UUID or at most 18 characters of free text. Our ids ("ab" +
    20 hex, 22 characters) travel as a version-8 UUID that embeds them, so they can be read
    back; None when an id fits neither form."""
    if _OUR_CLIENT_ID.match(client_order_id):
        h = client_order_id[2:]
        # Marker 00ab, version nibble 8 at index 12, variant nibble 8 at index 16.
        hex32 = "00ab" + h[0:8] + "8" + h[8:11] + "8" + h[11:14] + h[14:20] + "000000"
        return str(uuid.UUID(hex=hex32))
    if len(client_order_id) <= _FREE_TEXT_MAX or _is_uuid(client_order_id):
        return client_order_id
    return None


def from_cl_ord_id(cl_ord_id: str | None) -> str | None:
    """The inverse of `to_cl_ord_id`; other ids come back unchanged."""
    if not cl_ord_id or not _is_uuid(cl_ord_id):
        return cl_ord_id or None
    h = uuid.UUID(cl_ord_id).hex
    if h.startswith("00ab") and h[12] == "8" and h[16] == "8" and h.endswith("000000"):
        return "ab" + h[4:12] + h[13:16] + h[17:20] + h[20:26]
    return cl_ord_id


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
