"""A minimal async client for OpenAI-compatible Chat Completions (`POST …/chat/completions`).

Every failure becomes one `AssistantError` whose message says, in plain words, what went
wrong; the API key never appears in it (it is masked even when the endpoint echoes it).
"""

import json
from dataclasses import dataclass
from typing import Any

import httpx

# Local models (Ollama on a CPU) can take most of a minute to answer.
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
TEMPERATURE = 0.2
MAX_RESPONSE_BYTES = 2_000_000  # a chat answer is kilobytes; refuse to buffer more
MAX_DETAIL = 300  # characters of the endpoint's own error message passed on


class AssistantError(Exception):
    """The AI endpoint could not give an answer; `message` is safe to show the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    model: str
    api_key: str | None = None

    def __repr__(self) -> str:  # keeps the key out of tracebacks and logs
        return f"Endpoint(base_url={self.base_url!r}, model={self.model!r})"


@dataclass(frozen=True)
class Completion:
    content: str
    model: str


async def chat(endpoint: Endpoint, system: str, user: str) -> Completion:
    """One system + user exchange; returns the assistant's text."""
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    headers = {"Accept": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    body = {
        "model": endpoint.model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "temperature": TEMPERATURE,
    }
    try:
        status, raw = await _post(url, headers, body)
    except httpx.TimeoutException as exc:
        connecting = isinstance(exc, httpx.ConnectTimeout)
        waited = f"{TIMEOUT.connect:g} s to connect" if connecting else f"{TIMEOUT.read:g} s"
        raise AssistantError(
            f"could not reach the AI endpoint at {endpoint.base_url}: no answer within {waited}"
        ) from None
    except httpx.HTTPError as exc:
        reason = _masked(str(exc), endpoint.api_key) or type(exc).__name__
        if isinstance(exc, httpx.ConnectError):
            reason += " (is it running, and is the address right?)"
        raise AssistantError(
            f"could not reach the AI endpoint at {endpoint.base_url}: {reason}"
        ) from None
    try:
        return _completion(status, raw, endpoint)
    except AssistantError as exc:
        raise AssistantError(_masked(exc.message, endpoint.api_key)) from None


async def _post(url: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, bytes]:
    # Redirects are not followed: they would carry the key to wherever they point.
    async with (
        httpx.AsyncClient(timeout=TIMEOUT) as client,
        client.stream("POST", url, json=body, headers=headers) as response,
    ):
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise AssistantError("the AI endpoint's answer is too large (over 2 MB)")
            chunks.append(chunk)
        return response.status_code, b"".join(chunks)


def _completion(status: int, raw: bytes, endpoint: Endpoint) -> Completion:
    try:
        data: Any = json.loads(raw)
    except ValueError:
        data = None
    if status != 200:
        raise AssistantError(_status_message(status, _error_detail(data, raw), endpoint))
    if not isinstance(data, dict):
        raise AssistantError(
            "the AI endpoint did not answer with JSON: check the base URL "
            "(it usually ends in /v1, e.g. http://localhost:11434/v1)"
        )
    if "error" in data and not data.get("choices"):
        # OpenRouter reports some upstream failures with a 200 and an error body.
        raise AssistantError(f"the AI endpoint reported an error: {_error_detail(data, raw)}")
    content = _content(data)
    if content is None:
        raise AssistantError(
            "the AI endpoint's answer has an unexpected shape (no choices[0].message.content)"
        )
    if not content.strip():
        raise AssistantError("the AI endpoint sent an empty answer")
    model = data.get("model")
    return Completion(content=content, model=model if isinstance(model, str) else endpoint.model)


def _content(data: dict[str, Any]) -> str | None:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    if isinstance(content, list):  # some servers send content parts
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(t for t in texts if isinstance(t, str))
    return content if isinstance(content, str) else None


def _error_detail(data: Any, raw: bytes) -> str:
    """The endpoint's own words: OpenAI/OpenRouter `{"error": {"message"}}`, Ollama
    `{"error": "..."}`, FastAPI-style `{"detail": ...}`, else the start of the body."""
    detail: Any = None
    if isinstance(data, dict):
        error = data.get("error", data.get("detail"))
        detail = error.get("message") if isinstance(error, dict) else error
        if detail is None and error is not None:
            detail = json.dumps(error)
    if detail is None:
        detail = raw.decode("utf-8", "replace").strip() or "no details"
    text = " ".join(str(detail).split())
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "…"


def _status_message(status: int, detail: str, endpoint: Endpoint) -> str:
    if status in (401, 403):
        return f"the AI endpoint refused the key ({status}): {detail}"
    if status == 404:
        return (
            f"model or URL not found (404): check the base URL {endpoint.base_url} "
            f"and the model {endpoint.model!r}: {detail}"
        )
    if status == 429:
        return f"the AI endpoint is rate limiting requests (429), try again later: {detail}"
    if status >= 500:
        return f"the AI endpoint failed ({status}): {detail}"
    return f"the AI endpoint rejected the request ({status}): {detail}"


def _masked(text: str, key: str | None) -> str:
    # Too short a key would mangle ordinary words; real keys are long.
    return text.replace(key, "***") if key and len(key) >= 8 else text
