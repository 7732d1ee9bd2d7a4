"""The shared exchange HTTP plumbing: which transport failures leave an order's outcome
unknown (it may have reached the exchange) and which prove nothing was sent."""

import asyncio

import pytest

from exchanges.errors import ExchangeUnavailable, NetworkError
from exchanges.http import HttpPool, transport_errors
from tests.conftest import free_port


async def test_refused_connection_means_nothing_was_sent() -> None:
    pool = HttpPool(timeout=1.0)
    endpoint = pool.endpoint(f"http://127.0.0.1:{free_port()}", "binance")
    with (
        pytest.raises(NetworkError, match="cannot reach binance"),
        transport_errors("binance", write=True),
    ):
        await endpoint.client.post("/api/v3/order", content=b"x=1")
    await pool.aclose()


async def test_connection_dropped_after_the_request_leaves_the_outcome_unknown() -> None:
    received = asyncio.Event()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"x=1")  # the whole order arrived...
        received.set()
        writer.close()  # ...and the connection drops without an answer

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = HttpPool(timeout=2.0)
    endpoint = pool.endpoint(f"http://127.0.0.1:{port}", "binance")
    with (
        pytest.raises(ExchangeUnavailable, match="outcome is unknown"),
        transport_errors("binance", write=True),
    ):
        await endpoint.client.post("/api/v3/order", content=b"x=1")
    assert received.is_set()
    await pool.aclose()
    server.close()
    await server.wait_closed()


def test_endpoints_are_shared_per_exchange_and_url() -> None:
    pool = HttpPool()
    assert pool.endpoint("http://h/", "binance") is pool.endpoint("http://h", "binance")
    assert pool.endpoint("http://h", "binance") is not pool.endpoint("http://h", "kraken")
