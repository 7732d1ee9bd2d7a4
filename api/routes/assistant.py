"""/api/assistant: the user's AI endpoint (settings) and "Ask AI" from the strategy editor."""

import httpx
from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, field_validator

from api.deps import CurrentUser, RuntimeDep, SessionDep
from assistant.client import AssistantError, Endpoint, chat
from assistant.prompt import (
    MAX_CODE_BYTES,
    MAX_QUESTION_CHARS,
    SYSTEM_PROMPT,
    suggested_code,
    user_message,
)
from db.models import AssistantSettings
from db.upsert import insert_ignore

router = APIRouter(prefix="/api/assistant", tags=["assistant"])

NOT_CONFIGURED = "set up the AI assistant first (endpoint and model)"


class AssistantOut(BaseModel):
    """The settings as shown; the key itself is never sent back."""

    configured: bool
    base_url: str | None
    model: str | None
    has_key: bool


class AssistantIn(BaseModel):
    base_url: str = Field(max_length=255, examples=["https://openrouter.ai/api/v1"])
    model: str = Field(max_length=200, examples=["openai/gpt-4o-mini", "qwen2.5-coder:7b"])
    api_key: str | None = Field(
        default=None,
        max_length=512,
        description="omitted or null keeps the stored key; an empty string removes it",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            url = httpx.URL(value.strip())
        except httpx.InvalidURL:
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(
                "base_url must be an http:// or https:// address, "
                "e.g. https://openrouter.ai/api/v1 or http://localhost:11434/v1"
            )
        if url.userinfo:
            raise ValueError("base_url must not contain a user or password: use api_key")
        if url.query or url.fragment:
            raise ValueError("base_url must not have a query or fragment")
        return str(url).rstrip("/")

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model must name the model, e.g. qwen2.5-coder:7b")
        return value.strip()

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        # The key goes into an HTTP header: one token of visible ASCII characters.
        if value is not None:
            value = value.strip()
            if value and not (value.isascii() and value.isprintable() and " " not in value):
                raise ValueError("api_key must be one token without spaces or special characters")
        return value


class AskIn(BaseModel):
    question: str = Field(max_length=MAX_QUESTION_CHARS)
    code: str = ""

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("ask a question")
        return value

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if len(value.encode()) > MAX_CODE_BYTES:
            raise ValueError(f"the code is too large to send (over {MAX_CODE_BYTES // 1000} KB)")
        return value


class AskOut(BaseModel):
    answer: str
    code: str | None = Field(description="the answer's suggested strategy file, if it has one")
    model: str


def settings_out(row: AssistantSettings | None) -> AssistantOut:
    if row is None:
        return AssistantOut(configured=False, base_url=None, model=None, has_key=False)
    return AssistantOut(
        configured=True,
        base_url=row.base_url,
        model=row.model,
        has_key=row.api_key_encrypted is not None,
    )


@router.get("", response_model=AssistantOut)
async def get_settings(user: CurrentUser, session: SessionDep) -> AssistantOut:
    return settings_out(await session.get(AssistantSettings, user.id))


@router.put("", response_model=AssistantOut)
async def put_settings(
    body: AssistantIn, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> AssistantOut:
    # Insert-if-missing, then update the locked row: two saves at once (a double click on
    # PostgreSQL) cannot both insert.
    values = {"user_id": user.id, "base_url": body.base_url, "model": body.model}
    await insert_ignore(session, AssistantSettings, values, ["user_id"])
    row = await session.get(
        AssistantSettings, user.id, with_for_update=True, populate_existing=True
    )
    assert row is not None
    row.base_url, row.model = body.base_url, body.model
    if body.api_key is not None:
        row.api_key_encrypted = runtime.vault.encrypt(body.api_key) if body.api_key else None
    await session.commit()
    return settings_out(row)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_settings(user: CurrentUser, session: SessionDep) -> None:
    row = await session.get(AssistantSettings, user.id)
    if row is not None:
        await session.delete(row)
        await session.commit()


@router.post("/ask", response_model=AskOut)
async def ask(body: AskIn, user: CurrentUser, runtime: RuntimeDep) -> AskOut:
    """Sends the question and the editor's code to the user's endpoint. No SessionDep: the
    settings are read in a short session, closed before the (slow) outside call."""
    async with runtime.sessions() as session:
        row = await session.get(AssistantSettings, user.id)
    if row is None:
        raise HTTPException(status.HTTP_409_CONFLICT, NOT_CONFIGURED)
    try:
        key = runtime.vault.decrypt(row.api_key_encrypted) if row.api_key_encrypted else None
    except ValueError:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "the stored AI key cannot be decrypted (the server's secret key changed): "
            "enter the key again",
        ) from None
    endpoint = Endpoint(base_url=row.base_url, model=row.model, api_key=key)
    try:
        completion = await chat(endpoint, SYSTEM_PROMPT, user_message(body.question, body.code))
    except AssistantError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, exc.message) from None
    return AskOut(
        answer=completion.content,
        code=suggested_code(completion.content),
        model=completion.model,
    )
