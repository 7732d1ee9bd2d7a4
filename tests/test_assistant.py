"""The AI assistant: per-user settings with an encrypted key, and "Ask AI" against a fake
OpenAI-compatible endpoint on loopback."""

import asyncio
import secrets
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

import assistant.client
from assistant.client import AssistantError, Endpoint, _completion
from assistant.prompt import MAX_CODE_BYTES, SYSTEM_PROMPT, suggested_code
from db.models import AssistantSettings
from strategies.loader import validate
from tests.conftest import ApiUser, eventually, free_port
from tests.fakes.openai_compatible import DEFAULT_ANSWER, FakeOpenAI
from tests.fakes.server import LoopbackServer
from workers.stack import Stack

CODE = """from strategies import Strategy


class Dip(Strategy):
    def should_long(self) -> bool:
        return self.close < self.candles[-2, 4]
"""
QUESTION = "Why does my strategy never buy?"
SUGGESTED = DEFAULT_ANSWER.split("```python\n", 1)[1].split("```", 1)[0]
MakeUser = Callable[[], Awaitable[ApiUser]]


@pytest.fixture(scope="module")
async def ai_server() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    server = await LoopbackServer(fake.app).start()
    yield fake, server.url + "/v1"
    await server.stop()


@pytest.fixture
def ai(ai_server: tuple[FakeOpenAI, str]) -> tuple[FakeOpenAI, str]:
    ai_server[0].reset()
    return ai_server


def new_key() -> str:
    return f"sk-test-{secrets.token_hex(16)}"


async def configure(user: ApiUser, base_url: str, **fields: Any) -> dict[str, Any]:
    body = {"base_url": base_url, "model": "qwen2.5-coder:7b", **fields}
    response = await user.http.put("/api/assistant", json=body)
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


async def stored(stack: Stack, user: ApiUser) -> AssistantSettings | None:
    assert stack.runtime is not None
    async with stack.runtime.sessions() as session:
        return await session.get(AssistantSettings, user.id)


async def test_settings_round_trip_keeps_the_key_encrypted_and_unseen(
    stack: Stack, user: ApiUser, ai: tuple[FakeOpenAI, str]
) -> None:
    assert stack.runtime is not None
    empty = {"configured": False, "base_url": None, "model": None, "has_key": False}
    assert (await user.http.get("/api/assistant")).json() == empty
    key = new_key()

    saved = await user.http.put(
        "/api/assistant",
        json={"base_url": "https://openrouter.ai/api/v1/", "model": " m/x ", "api_key": key},
    )
    expected = {
        "configured": True,
        "base_url": "https://openrouter.ai/api/v1",
        "model": "m/x",
        "has_key": True,
    }
    assert saved.status_code == 200 and saved.json() == expected
    shown = await user.http.get("/api/assistant")
    assert shown.json() == expected and key not in shown.text and key not in saved.text
    row = await stored(stack, user)
    assert row is not None and row.api_key_encrypted is not None
    assert key not in row.api_key_encrypted
    assert stack.runtime.vault.decrypt(row.api_key_encrypted) == key
    ciphertext = row.api_key_encrypted

    # No api_key: the stored one stays; a new URL and model are taken.
    kept = await configure(user, "http://localhost:11434/v1", model="llama3.1")
    assert kept == {
        "configured": True,
        "base_url": "http://localhost:11434/v1",
        "model": "llama3.1",
        "has_key": True,
    }
    row = await stored(stack, user)
    assert row is not None and row.api_key_encrypted == ciphertext

    # "" removes it.
    removed = await configure(user, "http://localhost:11434/v1", model="llama3.1", api_key="")
    assert removed["has_key"] is False
    row = await stored(stack, user)
    assert row is not None and row.api_key_encrypted is None

    assert (await user.http.delete("/api/assistant")).status_code == 204
    assert (await user.http.get("/api/assistant")).json() == empty
    assert await stored(stack, user) is None
    assert (await user.http.delete("/api/assistant")).status_code == 204  # already gone


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"base_url": "ftp://example.com/v1"}, "base_url", "http:// or https://"),
        ({"base_url": "localhost:11434"}, "base_url", "http:// or https://"),
        ({"base_url": "https://me:pw@example.com/v1"}, "base_url", "user or password"),
        ({"base_url": "https://example.com/v1?x=1"}, "base_url", "query or fragment"),
        ({"model": "   "}, "model", "model must name the model"),
        ({"api_key": "sk-secret with space"}, "api_key", "one token"),
    ],
)
async def test_settings_are_validated_without_echoing_the_key(
    user: ApiUser, body: dict[str, str], field: str, message: str
) -> None:
    full = {"base_url": "https://example.com/v1", "model": "m", "api_key": "sk-secret", **body}
    response = await user.http.put("/api/assistant", json=full)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field] and message in error["msg"]
    assert "sk-secret" not in response.text
    assert (await user.http.get("/api/assistant")).json()["configured"] is False


async def test_ask_sends_the_question_code_and_key_and_returns_the_suggestion(
    user: ApiUser, ai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = ai
    key = new_key()
    fake.api_key = key
    await configure(user, url, api_key=key)

    response = await user.http.post("/api/assistant/ask", json={"question": QUESTION, "code": CODE})

    assert response.status_code == 200, response.text
    assert response.json() == {
        "answer": DEFAULT_ANSWER,
        "code": SUGGESTED,
        "model": "qwen2.5-coder:7b",
    }
    [sent] = fake.requests
    assert sent.authorization == f"Bearer {key}"
    assert sent.body["model"] == "qwen2.5-coder:7b" and sent.body["temperature"] == 0.2
    system, asked = sent.body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert asked["role"] == "user"
    assert asked["content"] == f"{QUESTION}\n\nMy current strategy file:\n\n```python\n{CODE}```"


async def test_without_a_key_no_authorization_is_sent_and_plain_answers_have_no_code(
    user: ApiUser, ai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = ai
    fake.answer = "Your condition compares the close with itself; use candles[-2, 4]."
    await configure(user, url)
    response = await user.http.post("/api/assistant/ask", json={"question": "Is this right?"})
    assert response.status_code == 200, response.text
    assert response.json() == {"answer": fake.answer, "code": None, "model": "qwen2.5-coder:7b"}
    [sent] = fake.requests
    assert sent.authorization is None
    assert sent.body["messages"][1]["content"] == "Is this right?\n\n(The editor is empty.)"


async def test_endpoint_failures_answer_502_in_plain_words(
    user: ApiUser, ai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = ai
    fake.api_key = new_key()
    wrong = new_key()
    await configure(user, url, api_key=wrong)
    ask = {"question": QUESTION, "code": CODE}

    refused = await user.http.post("/api/assistant/ask", json=ask)
    assert refused.status_code == 502
    assert refused.json() == {
        "detail": "the AI endpoint refused the key (401): Incorrect API key provided"
    }
    assert wrong not in refused.text

    fake.api_key, fake.models = None, {"llama3.1"}
    missing = await user.http.post("/api/assistant/ask", json=ask)
    assert missing.status_code == 502
    assert missing.json()["detail"] == (
        f"model or URL not found (404): check the base URL {url} and the model "
        "'qwen2.5-coder:7b': The model `qwen2.5-coder:7b` does not exist or you do not "
        "have access to it."
    )

    fake.models, fake.status = set(), 500
    failed = await user.http.post("/api/assistant/ask", json=ask)
    assert failed.status_code == 502
    assert failed.json()["detail"] == (
        "the AI endpoint failed (500): "
        "The server had an error while processing your request. Sorry about that!"
    )
    assert len(fake.requests) == 3


async def test_unreachable_and_slow_endpoints_answer_502(
    user: ApiUser, ai: tuple[FakeOpenAI, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = ai
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    await configure(user, nowhere, api_key=new_key())
    refused = await user.http.post("/api/assistant/ask", json={"question": QUESTION})
    assert refused.status_code == 502
    assert refused.json()["detail"].startswith(f"could not reach the AI endpoint at {nowhere}: ")

    monkeypatch.setattr(assistant.client, "TIMEOUT", httpx.Timeout(0.5, connect=5.0))
    fake.delay = 2.0
    await configure(user, url)
    slow = await user.http.post("/api/assistant/ask", json={"question": QUESTION})
    assert slow.status_code == 502
    assert slow.json() == {
        "detail": f"could not reach the AI endpoint at {url}: no answer within 0.5 s"
    }


async def test_a_slow_answer_does_not_hold_the_database(
    user: ApiUser, make_user: MakeUser, ai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = ai
    fake.delay = 1.5
    await configure(user, url)
    pending = asyncio.create_task(
        user.http.post("/api/assistant/ask", json={"question": QUESTION, "code": CODE})
    )
    await eventually(lambda: asyncio.sleep(0, result=bool(fake.requests)))
    # Another user's write goes through while the AI call is still out.
    other = await make_user()
    await configure(other, url)
    assert not pending.done()
    answered = await pending
    assert answered.status_code == 200 and answered.json()["code"] == SUGGESTED


async def test_not_configured_answers_409(user: ApiUser, ai: tuple[FakeOpenAI, str]) -> None:
    response = await user.http.post("/api/assistant/ask", json={"question": QUESTION})
    assert response.status_code == 409
    assert response.json() == {"detail": "set up the AI assistant first (endpoint and model)"}
    assert ai[0].requests == []


async def test_each_user_has_their_own_assistant(
    stack: Stack, make_user: MakeUser, ai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = ai
    alice, bob = await make_user(), await make_user()
    alice_key = new_key()
    await configure(alice, url, api_key=alice_key)

    assert (await bob.http.get("/api/assistant")).json() == {
        "configured": False,
        "base_url": None,
        "model": None,
        "has_key": False,
    }
    denied = await bob.http.post("/api/assistant/ask", json={"question": QUESTION})
    assert denied.status_code == 409 and fake.requests == []
    assert (await bob.http.delete("/api/assistant")).status_code == 204

    await configure(bob, url, model="llama3.1")
    answered = await bob.http.post("/api/assistant/ask", json={"question": QUESTION})
    assert answered.status_code == 200 and answered.json()["model"] == "llama3.1"
    assert fake.requests[-1].authorization is None  # bob has no key; alice's is not used
    assert (await alice.http.get("/api/assistant")).json() == {
        "configured": True,
        "base_url": url,
        "model": "qwen2.5-coder:7b",
        "has_key": True,
    }
    row = await stored(stack, alice)
    assert row is not None and stack.runtime is not None and row.api_key_encrypted is not None
    assert stack.runtime.vault.decrypt(row.api_key_encrypted) == alice_key


async def test_oversized_questions_and_code_are_refused_before_any_call(
    user: ApiUser, ai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = ai
    await configure(user, url)
    big_code = "x = 1\n" * (MAX_CODE_BYTES // 6 + 1)
    too_much = await user.http.post("/api/assistant/ask", json={"question": "?", "code": big_code})
    assert too_much.status_code == 422
    assert "the code is too large to send (over 100 KB)" in too_much.json()["detail"][0]["msg"]
    long_question = await user.http.post("/api/assistant/ask", json={"question": "?" * 4001})
    assert long_question.status_code == 422
    assert long_question.json()["detail"][0]["loc"] == ["body", "question"]
    blank = await user.http.post("/api/assistant/ask", json={"question": "  "})
    assert blank.status_code == 422
    assert fake.requests == []


async def test_the_assistant_needs_a_login(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        assert (await http.get("/api/assistant")).status_code == 401
        put = await http.put("/api/assistant", json={"base_url": "http://x/v1", "model": "m"})
        assert put.status_code == 401
        assert (await http.post("/api/assistant/ask", json={"question": "?"})).status_code == 401


@pytest.mark.parametrize(
    ("status", "raw", "message"),
    [
        (200, b"<html>Ollama is running</html>", "did not answer with JSON"),
        (200, b'{"object": "list", "data": []}', "unexpected shape"),
        (200, b'{"choices": [{"message": {"content": "  "}}]}', "sent an empty answer"),
        (200, b'{"error": {"message": "upstream down", "code": 502}}', "error: upstream down"),
        (404, b"404 page not found", "model or URL not found (404)"),
        (404, b'{"error": "model \\"x\\" not found"}', 'model "x" not found'),
        (429, b'{"error": {"message": "slow down"}}', "rate limiting requests (429)"),
        (400, b'{"detail": "bad"}', "rejected the request (400): bad"),
    ],
)
def test_unexpected_answers_are_described(status: int, raw: bytes, message: str) -> None:
    with pytest.raises(AssistantError) as raised:
        _completion(status, raw, Endpoint("http://localhost:11434/v1", "x", "sk-k"))
    assert message in raised.value.message


def test_content_parts_are_joined_and_the_endpoint_model_is_reported() -> None:
    raw = b'{"model": "openai/gpt-4o", "choices": [{"message": {"content": '
    raw += b'[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]}'
    done = _completion(200, raw, Endpoint("https://openrouter.ai/api/v1", "openrouter/auto"))
    assert (done.content, done.model) == ("ab", "openai/gpt-4o")
    assert "sk-k" not in repr(Endpoint("http://h/v1", "m", "sk-k"))


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("no code here", None),
        ("```js\nlet a\n```\ntext\n```python\nx = 1\n```\nbye", "x = 1\n"),
        ("```python\nfirst\n```\n```py\nsecond\n```", "second\n"),
        ("```\nbare = 1\n```", "bare = 1\n"),
        ("```python\ntyped\n```\n```\nbare\n```", "typed\n"),
        ("```json\n{}\n```", None),
        ("```python\ncut off by the token limit", None),
        ("1. Do this:\n   ```python\n   def f():\n       pass\n   ```", "def f():\n    pass\n"),
        ('````python\ns = """\n```\n"""\n````', 's = """\n```\n"""\n'),
    ],
)
def test_suggested_code_is_the_last_python_block(answer: str, code: str | None) -> None:
    assert suggested_code(answer) == code


def test_the_prompt_example_and_the_fake_suggestion_pass_the_sdk_check() -> None:
    example = SYSTEM_PROMPT.split("    from strategies", 1)[1].split("\nAvailable inside", 1)[0]
    assert validate(textwrap.dedent("    from strategies" + example)) == []
    assert validate(SUGGESTED) == []
    assert "numpy" in SYSTEM_PROMPT and "subprocess" not in SYSTEM_PROMPT
