"""User accounts. Passwords are hashed with Argon2id (argon2-cffi)."""

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from db.models import User
from db.session import SessionFactory

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MIN_PASSWORD = 8
# Verifying against this keeps the time of a login with an unknown username the same.
_DUMMY_HASH = _hasher.hash("aristobot-dummy-password")


class AccountError(ValueError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(15)


async def create_user(
    sessions: SessionFactory, username: str, password: str, *, is_admin: bool = False
) -> User:
    if not _USERNAME.match(username):
        raise AccountError("username must be 2-64 characters: letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")
    user = User(username=username, password_hash=hash_password(password), is_admin=is_admin)
    try:
        async with sessions.begin() as session:
            session.add(user)
    except IntegrityError:
        raise AccountError(f"user {username!r} already exists") from None
    return user


async def authenticate(sessions: SessionFactory, username: str, password: str) -> User | None:
    async with sessions() as session:
        user = (await session.scalars(select(User).where(User.username == username))).first()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return None
    return user if verify_password(user.password_hash, password) else None


async def count_users(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)
