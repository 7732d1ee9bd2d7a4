"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from contextlib import AbstractAsyncContextManager as AsyncContextManager
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


class Sessions:
    """`sessions()` for reading; `sessions.begin()` for a write transaction (committed on
    exit), which on SQLite takes the write lock up front."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._read = async_sessionmaker(engine, expire_on_commit=False)
        self._write = async_sessionmaker(
            engine.execution_options(**{IMMEDIATE: True}), expire_on_commit=False
        )

    def __call__(self) -> AsyncSession:
        return self._read()

    def writer(self) -> AsyncSession:
        """A session whose first statement takes the write lock (commit it yourself)."""
        return self._write()

    def begin(self) -> AsyncContextManager[AsyncSession]:
        return self._write.begin()


SessionFactory = Sessions


def create_session_factory(engine: AsyncEngine) -> Sessions:
    return Sessions(engine)
