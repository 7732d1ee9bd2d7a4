"""A fake OpenAI-compatible Chat Completions server (what OpenRouter, Ollama and OpenAI
serve under /v1): same path, response shape and error bodies. The test sets the key it
accepts, the models it knows and the answer; every request is recorded."""

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

DEFAULT_ANSWER = """\
Use a faster EMA so the crossover reacts sooner.

```python
from strategies import Strategy, indicators


class EmaCross(Strategy):
    fast = 5
    slow = 21

    def should_long(self) -> bool:
        closes = self.candles[:, 4]
        return indicators.ema(closes, self.fast)[-1] > indicators.ema(closes, self.slow)[-1]

    def go_long(self) -> None:
        self.buy = (self.qty_for(10), None)
```
"""


def openai_error(status: int, message: str, kind: str, code: str | None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


@dataclass
class RecordedRequest:
    authorization: str | None
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    api_key: str | None = None  # the Bearer key accepted; None accepts any (as Ollama does)
    models: set[str] = field(default_factory=set)  # empty: every model name is known
    answer: str = DEFAULT_ANSWER
    status: int = 200  # 500 (or another status) answers OpenAI's error body instead
    delay: float = 0.0  # seconds before answering
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self.app = self._build()

    def reset(self) -> None:
        self.api_key, self.models, self.answer = None, set(), DEFAULT_ANSWER
        self.status, self.delay = 200, 0.0
        self.requests.clear()

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(RecordedRequest(request.headers.get("authorization"), body))
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.api_key is not None and request.headers.get("authorization") != (
                f"Bearer {self.api_key}"
            ):
                return openai_error(
                    401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"
                )
            model = body.get("model")
            if self.models and model not in self.models:
                return openai_error(
                    404,
                    f"The model `{model}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                )
            if self.status != 200:
                return openai_error(
                    self.status,
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                    None,
                )
            return JSONResponse(self._completion(model))

        return app

    def _completion(self, model: Any) -> dict[str, Any]:
        words = len(self.answer.split())
        return {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": words,
                "total_tokens": 100 + words,
            },
        }
