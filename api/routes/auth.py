"""/api/auth: login, logout, me."""

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from accounts.users import authenticate
from api.deps import CurrentUser, RuntimeDep
from api.schemas import UserOut
from api.sessions import COOKIE_NAME, SESSION_LIFETIME, close_session, open_session
from db.models import User

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def _user_out(user: User) -> UserOut:
    return UserOut(id=user.id, username=user.username, is_admin=user.is_admin)


@router.post("/login", response_model=UserOut)
async def login(body: Login, request: Request, response: Response, runtime: RuntimeDep) -> UserOut:
    user = await authenticate(runtime.sessions, body.username, body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    token = await open_session(runtime.sessions, user.id)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return _user_out(user)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, response: Response, runtime: RuntimeDep) -> None:
    token = request.cookies.get(COOKIE_NAME)
    if token:
        await close_session(runtime.sessions, token)
    response.delete_cookie(COOKIE_NAME, path="/")


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return _user_out(user)
