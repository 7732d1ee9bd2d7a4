"""Exact decimals on both backends, secrets at rest, the generated key file."""

import os
import stat
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select

from config.secrets import Vault, load_or_create_key
from config.settings import Settings
from db.models import PaperBalance
from tests.conftest import insert_paper_broker
from workers.stack import Stack

AMOUNTS = [
    D("0.000000000000000001"),
    D("0.1"),
    D("12345678901234567890.123456789012345678"),
    D("99999.99999999"),
    D("-42.5"),
    D(0),
]


async def test_money_round_trips_exactly(stack: Stack) -> None:
    assert stack.runtime is not None
    sessions = stack.runtime.sessions
    broker_id = await insert_paper_broker(stack)
    async with stack.runtime.sessions.begin() as session:
        for index, amount in enumerate(AMOUNTS):
            session.add(PaperBalance(broker_id=broker_id, asset=f"A{index}", free=amount))
    async with sessions() as session:
        rows = await session.scalars(
            select(PaperBalance)
            .where(PaperBalance.broker_id == broker_id)
            .order_by(PaperBalance.asset)
        )
        assert [r.free for r in rows] == AMOUNTS


async def test_more_than_18_places_round_the_same_on_both_backends(stack: Stack) -> None:
    """An average entry price can have 28 digits; both backends keep the same 18 places."""
    assert stack.runtime is not None
    broker_id = await insert_paper_broker(stack)
    async with stack.runtime.sessions.begin() as session:
        session.add(
            PaperBalance(broker_id=broker_id, asset="X", free=D("3371.855020373752985808627231"))
        )
    async with stack.runtime.sessions() as session:
        stored = await session.get(PaperBalance, (broker_id, "X"))
    assert stored is not None and stored.free == D("3371.855020373752985809")


async def test_floats_are_refused(stack: Stack) -> None:
    assert stack.runtime is not None
    with pytest.raises(Exception, match="money must be Decimal"):
        async with stack.runtime.sessions.begin() as session:
            session.add(PaperBalance(broker_id=1, asset="F", free=0.1))


def test_generated_key_is_private_and_stable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=None)
    key = load_or_create_key(settings)
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600
    assert load_or_create_key(settings) == key
    vault = Vault(key)
    assert vault.decrypt(vault.encrypt("s3cret")) == "s3cret"


def test_a_changed_key_is_reported_plainly(tmp_path: Path) -> None:
    token = Vault(load_or_create_key(Settings(data_dir=tmp_path / "a"))).encrypt("x")
    other = Vault(load_or_create_key(Settings(data_dir=tmp_path / "b")))
    with pytest.raises(ValueError, match="ARISTOBOT_SECRET_KEY changed"):
        other.decrypt(token)


def test_short_configured_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too short"):
        load_or_create_key(Settings(data_dir=tmp_path, secret_key="abc"))


def test_migrations_match_the_models(database_url: str) -> None:
    """The migrated schema is exactly what the models describe (nothing to autogenerate)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from db.base import Base
    from db.session import sync_url

    engine = create_engine(sync_url(database_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


async def test_a_cancelled_writer_does_not_keep_the_write_turn(tmp_path: Path) -> None:
    import asyncio
    import fcntl

    from db.session import _WriterQueue

    queue = _WriterQueue(str(tmp_path / "x.db"))
    other = os.open(tmp_path / "x.db.writer-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)  # another process is writing

    async def writer() -> None:
        async with queue.turn():
            await asyncio.sleep(0)

    waiting = asyncio.create_task(writer())
    await asyncio.sleep(0.1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    fcntl.flock(other, fcntl.LOCK_UN)
    await asyncio.sleep(0.2)  # the waiting thread gets the lock, then must let it go
    probe = os.open(tmp_path / "x.db.writer-lock", os.O_RDWR)
    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if the turn leaked
    os.close(probe)
    os.close(other)
