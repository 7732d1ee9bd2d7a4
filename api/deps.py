"""FastAPI dependencies (the full-stack template's pattern: Annotated aliases)."""

from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, WebSocket, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.sessions import COOKIE_NAME, user_for_token
from api.temporal_link import TemporalLink
from db.models import Broker, Order, Position, User, Webhook
from workers.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_temporal(request: Request) -> TemporalLink:
    link: TemporalLink = request.app.state.temporal
    return link


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
TemporalDep = Annotated[TemporalLink, Depends(get_temporal)]


async def get_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    # Changing requests get a write session up front (SQLite: no lock upgrade mid-request);
    # reads stay deferred so a handler can call code that opens its own write transaction.
    # Routes list CurrentUser before SessionDep, so an anonymous request never waits for
    # (or holds) the write turn.
    reading = request.method in ("GET", "HEAD")
    async with runtime.sessions() if reading else runtime.sessions.writer() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_current_user(request: Request, runtime: RuntimeDep) -> User:
    user = await user_for_token(runtime.sessions, request.cookies.get(COOKIE_NAME))
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not logged in")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def websocket_user(websocket: WebSocket) -> User | None:
    runtime: Runtime = websocket.app.state.runtime
    return await user_for_token(runtime.sessions, websocket.cookies.get(COOKIE_NAME))


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


Owned = TypeVar("Owned", Broker, Order, Position, Webhook)


async def owned(session: AsyncSession, model: type[Owned], object_id: int, user: User) -> Owned:
    """The user's own row; another user's answers 404 exactly like a missing one."""
    row = (
        await session.scalars(select(model).where(model.id == object_id, model.user_id == user.id))
    ).first()
    if row is None:
        raise not_found(model.__name__.lower())
    return row
