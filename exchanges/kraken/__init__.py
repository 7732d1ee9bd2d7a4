"""Kraken spot connector (REST v0: `/0/public/*` GET, `/0/private/*` signed form POSTs).

Kraken answers HTTP 200 with its errors in `{"error": [...]}`; a private request carries a
nonce that must grow strictly per API key, so requests of one key are signed and sent one
at a time. Kraken's own names (XXBT, ZUSD, pair XXBTZUSD with altname XBTUSD) are mapped
to unified ones through the Assets and AssetPairs lists. Orders are sent with `fciq` so the
fee is always charged in the quote asset."""

from exchanges.kraken.client_ids import from_cl_ord_id, to_cl_ord_id
from exchanges.kraken.connector import DEFAULT_BASE_URL, KrakenConnector
from exchanges.kraken.errors import kraken_error
from exchanges.kraken.signing import sign

__all__ = [
    "DEFAULT_BASE_URL",
    "KrakenConnector",
    "from_cl_ord_id",
    "kraken_error",
    "sign",
    "to_cl_ord_id",
]
