"""Login sessions: a random token in an HttpOnly cookie, only its SHA-256 in the database."""

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from db.base import utcnow
from db.models import AuthSession, User
from db.session import SessionFactory

COOKIE_NAME = "aristobot_session"
SESSION_LIFETIME = timedelta(days=14)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(sessions: SessionFactory, user_id: int) -> str:
    token = secrets.token_urlsafe(32)
    async with sessions.begin() as session:
        session.add(
            AuthSession(
                token_hash=_digest(token),
                user_id=user_id,
                expires_at=utcnow() + SESSION_LIFETIME,
            )
        )
    return token


async def close_session(sessions: SessionFactory, token: str) -> None:
    async with sessions.begin() as session:
        await session.execute(delete(AuthSession).where(AuthSession.token_hash == _digest(token)))


async def user_for_token(sessions: SessionFactory, token: str | None) -> User | None:
    if not token:
        return None
    async with sessions() as session:
        row = (
            await session.execute(
                select(User, AuthSession.expires_at)
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(AuthSession.token_hash == _digest(token))
            )
        ).first()
    if row is None or row[1] <= utcnow():
        return None
    user: User = row[0]
    return user
