"""INSERT ... ON CONFLICT DO NOTHING on both backends."""

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignore(
    session: AsyncSession, model: Any, values: dict[str, Any], conflict: list[str]
) -> bool:
    """Insert unless a row with the same `conflict` columns exists; True if inserted."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict)
        # rowcount is not reliable for ORM-enabled inserts; a returned row is.
        .returning(*(getattr(model, column) for column in conflict))
    )
    result = await session.execute(statement)
    return result.first() is not None
