"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

IMMEDIATE = "aristobot_begin_immediate"


def sync_url(url: str) -> str:
    """The URL Alembic (a sync engine) uses: psycopg 3 for PostgreSQL, pysqlite for SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {parsed.drivername!r}: use sqlite or postgresql")


def async_url(url: str) -> str:
    parsed = make_url(sync_url(url))
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(engine: AsyncEngine) -> None:
    # Two processes (API, worker) write the same file: WAL lets readers run beside the
    # writer. Write transactions (Sessions.begin) start with BEGIN IMMEDIATE so a
    # read-then-write transaction waits its turn (busy_timeout) instead of failing with
    # "database is locked"; read transactions stay deferred and never block anyone.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str) -> AsyncEngine:
    target = async_url(url)
    if make_url(target).get_backend_name() == "sqlite":
        engine = create_async_engine(target, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(target, pool_size=10, max_overflow=20, pool_pre_ping=True)


class _WriterQueue:
    """Queues SQLite writers fairly, across processes.

    SQLite's busy handler polls with sleeps of up to 100 ms, so under a steady stream of
    short writes from the worker a lone writer (the API recording a webhook) can wait for
    seconds. Here writers wait on an asyncio lock (in-process order) and an flock on a file
    next to the database (the kernel wakes a waiter on release): no polling. This is about
    fairness only; SQLite's own locking still guarantees correctness."""

    def __init__(self, database_file: str) -> None:
        self._path = database_file + ".writer-lock"
        self._local = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        async with self._local:
            # One open file per turn: closing it releases the lock, whoever holds it.
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
                try:
                    await asyncio.shield(waiting)
                except asyncio.CancelledError:
                    # The thread may still get the lock: close the file once it returns.
                    waiting.add_done_callback(lambda _: os.close(fd))
                    raise
            try:
                yield
            finally:
                os.close(fd)


class Sessions:
    """`sessions()` for reading; `sessions.begin()` for a write transaction (committed on
    exit) and `sessions.writer()` for a session that writes and commits itself. On SQLite
    a writer takes its turn first, then the write lock up front (BEGIN IMMEDIATE). Never
    open a write transaction while holding one in the same task."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._read = async_sessionmaker(engine, expire_on_commit=False)
        self._write = async_sessionmaker(
            engine.execution_options(**{IMMEDIATE: True}), expire_on_commit=False
        )
        database = engine.url.database
        sqlite_file = engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
        self._queue = _WriterQueue(str(database)) if sqlite_file else None

    def __call__(self) -> AsyncSession:
        return self._read()

    @contextlib.asynccontextmanager
    async def writer(self) -> AsyncIterator[AsyncSession]:
        async with self._turn(), self._write() as session:
            yield session

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        async with self._turn(), self._write.begin() as session:
            yield session

    def _turn(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self._queue.turn() if self._queue is not None else contextlib.nullcontext()


SessionFactory = Sessions


def create_session_factory(engine: AsyncEngine) -> Sessions:
    return Sessions(engine)
