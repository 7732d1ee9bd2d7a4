"""The Strategies pages in headless Chromium: a new strategy starts from the working example
in the CodeMirror editor; Validate lists a syntax error as "line N: …" and a click on it puts
the cursor on that line; Save makes version 1, an edit version 2 (both in Versions); the
activation panel only offers brokers in trading mode `strategies` and activates; the Trading
bot page pauses everything with the kill switch and resumes one; "Ask AI" against a fake
OpenAI-compatible server puts the suggested code in the editor. Screenshots are kept in
test-artifacts/."""

import re
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page, expect

from strategies.examples import EXAMPLE_CODE
from tests.conftest import ARTIFACTS
from tests.fakes.openai_compatible import FakeOpenAI
from tests.fakes.server import LoopbackServer
from tests.test_dashboard import (  # noqa: F401 (fixtures)
    browser,
    log_in,
    page,
    session_cookies,
)
from workers.stack import Stack

pytestmark = pytest.mark.browser
GOOD_LINE = "    def should_long(self) -> bool:"
BROKEN = EXAMPLE_CODE.replace(GOOD_LINE, "    def should_long(self -> bool:")
BROKEN_LINE = EXAMPLE_CODE.split("\n").index(GOOD_LINE) + 1


async def api(
    page: Page,  # noqa: F811
    stack: Stack,
) -> httpx.AsyncClient:
    """An HTTP client logged in as the page's user."""
    return httpx.AsyncClient(base_url=stack.url, cookies=await session_cookies(page), timeout=15)


async def replace_code(
    page: Page,  # noqa: F811
    code: str,
) -> None:
    """Everything in the editor replaced by `code` (typed as one insertion: no auto-indent)."""
    await page.locator(".cm-content").click()
    await page.keyboard.press("Control+a")
    await page.keyboard.insert_text(code)


async def test_write_validate_save_version_activate_and_pause_all(
    page: Page,  # noqa: F811
    stack: Stack,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await log_in(page, stack)
    name = f"SMA {secrets.token_hex(2)}"

    await page.get_by_test_id("nav-strategies").click()
    await expect(page.get_by_test_id("strategy-table")).to_be_visible()
    await expect(page.get_by_text("No strategy yet.")).to_be_visible()
    await page.get_by_test_id("strategy-new").click()
    await expect(page).to_have_url(re.compile(r"/strategies/new$"))

    # The editor (CodeMirror) holds the server's example.
    editor = page.locator('[data-testid="strategy-editor"] .cm-editor')
    await expect(editor).to_be_visible()
    await expect(editor.locator(".cm-lineNumbers")).to_be_visible()
    await expect(editor.locator(".cm-content")).to_contain_text("class SmaCross(Strategy):")
    await expect(page.get_by_test_id("strategy-dirty")).to_have_count(0)

    # A syntax error: listed with its line, marked in the editor, and a click goes there.
    await replace_code(page, BROKEN)
    await expect(page.get_by_test_id("strategy-dirty")).to_be_visible()
    await page.get_by_test_id("strategy-validate").click()
    problem = page.get_by_test_id("strategy-problem")
    await expect(problem).to_have_count(1)
    await expect(problem).to_have_text(f"line {BROKEN_LINE}: syntax error: invalid syntax")
    await expect(problem).to_have_attribute("data-line", str(BROKEN_LINE))
    await expect(editor.locator(".cm-lintRange-error")).to_have_count(1)
    await expect(editor.locator(".cm-activeLine")).not_to_contain_text("def should_long")
    await problem.click()
    await expect(editor.locator(".cm-activeLine")).to_have_text("    def should_long(self -> bool:")
    await page.screenshot(path=str(ARTIFACTS / "strategy-editor-problem.png"), full_page=True)

    # Saving it is refused the same way.
    await page.get_by_test_id("strategy-name").fill(name)
    await page.get_by_test_id("strategy-save").click()
    await expect(problem).to_have_text(f"line {BROKEN_LINE}: syntax error: invalid syntax")
    await expect(page).to_have_url(re.compile(r"/strategies/new$"))

    # Fixed: valid (the dry run reports), saved as version 1.
    await replace_code(page, EXAMPLE_CODE)
    await page.get_by_test_id("strategy-validate").click()
    ok = page.get_by_test_id("strategy-validation-ok")
    await expect(ok).to_contain_text("Valid.", timeout=30_000)
    await expect(ok).to_contain_text(re.compile(r"Dry run on \d+ recent candles"))
    await expect(problem).to_have_count(0)
    await page.get_by_test_id("strategy-save").click()
    await expect(page).to_have_url(re.compile(r"/strategies/\d+$"), timeout=30_000)
    strategy_id = int(page.url.rsplit("/", 1)[1])
    await expect(page.get_by_test_id("strategy-current-version")).to_have_text("version 1")
    await expect(page.get_by_test_id("strategy-notice")).to_have_text("Saved as version 1.")
    await expect(page.get_by_test_id("strategy-dirty")).to_have_count(0)
    await expect(page.get_by_test_id("strategy-version-row")).to_have_count(1)

    # In the list with its version.
    await page.get_by_test_id("nav-strategies").click()
    row = page.locator(f'[data-testid="strategy-row"][data-strategy-id="{strategy_id}"]')
    await expect(row).to_contain_text(name)
    await expect(row.get_by_test_id("strategy-version")).to_have_text("1")
    await expect(row.get_by_test_id("strategy-status")).to_have_text("paused")

    # Edited: version 2, both versions listed; version 1 loads back into the editor.
    await row.get_by_test_id("strategy-open").click()
    await expect(editor.locator(".cm-content")).to_contain_text("class SmaCross(Strategy):")
    await page.locator(".cm-content").click()
    await page.keyboard.press("Control+End")
    await page.keyboard.insert_text("# tuned\n")
    await page.get_by_test_id("strategy-save").click()
    await expect(page.get_by_test_id("strategy-current-version")).to_have_text(
        "version 2", timeout=30_000
    )
    versions = page.get_by_test_id("strategy-version-row")
    await expect(versions).to_have_count(2)
    await expect(versions.first).to_have_attribute("data-version", "2")
    await expect(versions.first).to_contain_text("current")
    await versions.nth(1).get_by_test_id("strategy-version-load").click()
    await expect(page.get_by_test_id("strategy-notice")).to_contain_text(
        "Version 1 is in the editor"
    )
    await expect(page.get_by_test_id("strategy-dirty")).to_be_visible()
    await expect(editor.locator(".cm-content")).not_to_contain_text("# tuned")
    # Unsaved: leaving asks first, and "Stay" keeps the edits.
    await page.get_by_test_id("nav-strategies").click()
    await expect(page.get_by_role("alertdialog")).to_contain_text("Leave without saving?")
    await page.get_by_test_id("confirm-cancel").click()
    await expect(page).to_have_url(re.compile(rf"/strategies/{strategy_id}$"))
    await expect(page.get_by_test_id("strategy-dirty")).to_be_visible()

    # No broker in trading mode `strategies` yet: the panel says where to set one.
    activation = page.get_by_test_id("strategy-activation")
    await expect(activation.get_by_test_id("activation-no-broker")).to_contain_text("Brokers page")
    async with await api(page, stack) as http:
        response = await http.post(
            "/api/brokers",
            json={"name": "Bot paper", "exchange": "paper", "trading_mode": "strategies"},
        )
        assert response.status_code == 201, response.text
        broker = response.json()
        webhooks = await http.post(
            "/api/brokers",
            json={"name": "Alerts paper", "exchange": "paper", "trading_mode": "webhooks"},
        )
        assert webhooks.status_code == 201, webhooks.text
    # The broker push refreshes the list: only the `strategies` broker is offered.
    select = activation.get_by_test_id("activation-broker")
    await expect(select).to_be_visible()
    await expect(select.locator("option")).to_have_count(1)
    await expect(select.locator("option")).to_have_text("Bot paper (paper)")
    await expect(activation.get_by_test_id("activation-timeframe")).to_have_value("1h")
    await activation.get_by_test_id("activation-symbol").fill("ETHUSDT")
    await activation.get_by_test_id("activation-timeframe").select_option("4h")
    await activation.get_by_test_id("activation-submit").click()
    await expect(activation.get_by_test_id("activation-status")).to_have_text("active")
    await expect(activation.get_by_test_id("activation-where")).to_contain_text(
        "Bot paper · ETH/USDT · 4h"
    )
    await expect(page.get_by_test_id("strategy-editor-status")).to_have_text("active")
    await page.screenshot(path=str(ARTIFACTS / "strategy-editor.png"), full_page=True)

    # A refusal is shown as the server words it: one active strategy per broker and symbol.
    async with await api(page, stack) as http:
        response = await http.post("/api/strategies", json={"name": "Second", "code": EXAMPLE_CODE})
        assert response.status_code == 201, response.text
        second = response.json()
    await page.goto(f"{stack.url}/strategies/{second['id']}")
    activation = page.get_by_test_id("strategy-activation")
    await activation.get_by_test_id("activation-symbol").fill("ETH/USDT")
    await activation.get_by_test_id("activation-timeframe").select_option("1h")
    await activation.get_by_test_id("activation-submit").click()
    await expect(activation.get_by_test_id("activation-error")).to_have_text(
        f"strategy '{name}' already trades ETH/USDT on broker 'Bot paper':"
        " one active strategy per broker and symbol"
    )
    await expect(activation.get_by_test_id("activation-status")).to_have_text("paused")
    await page.get_by_test_id("nav-strategies").click()
    await expect(page.get_by_test_id("strategy-row")).to_have_count(2)
    await expect(row.get_by_test_id("strategy-status")).to_have_text("active")
    await expect(page.get_by_test_id("strategy-active-count")).to_contain_text("1 / ")
    await page.screenshot(path=str(ARTIFACTS / "strategy-list.png"), full_page=True)

    # The Trading bot page: 1 active, the kill switch pauses it, Resume activates it again.
    await page.get_by_test_id("nav-bot").click()
    bot_row = page.locator(f'[data-testid="bot-row"][data-strategy-id="{strategy_id}"]')
    await expect(bot_row).to_have_attribute("data-status", "active")
    await expect(bot_row).to_contain_text("Bot paper · ETH/USDT · 4h")
    await expect(bot_row.get_by_test_id("bot-orders")).to_have_text("0")
    await expect(page.get_by_test_id("bot-active-count")).to_have_text(
        f"1 / {stack.settings.max_active_strategies} active"
    )
    await page.screenshot(path=str(ARTIFACTS / "strategy-bot.png"), full_page=True)
    await page.get_by_test_id("bot-pause-all").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("bot-notice")).to_have_text("1 strategy paused.")
    await expect(bot_row).to_have_attribute("data-status", "paused")
    await expect(bot_row.get_by_test_id("bot-status")).to_have_text("paused")
    await expect(page.get_by_test_id("bot-pause-all")).to_be_disabled()
    await bot_row.get_by_test_id("bot-resume").click()
    await expect(bot_row).to_have_attribute("data-status", "active")
    await expect(page.get_by_test_id("bot-active-count")).to_contain_text("1 /")
    await bot_row.get_by_test_id("bot-pause").click()
    await expect(bot_row).to_have_attribute("data-status", "paused")
    async with await api(page, stack) as http:
        body = (await http.get(f"/api/strategies/{strategy_id}")).json()
    assert (body["status"], body["broker_id"], body["symbol"]) == (
        "paused",
        broker["id"],
        "ETH/USDT",
    )

    # Deleted from the editor after a confirmation.
    await page.goto(f"{stack.url}/strategies/{strategy_id}")
    await page.get_by_test_id("strategy-delete").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page).to_have_url(re.compile(r"/strategies$"))
    await expect(page.get_by_test_id("strategy-row")).to_have_count(1)
    await expect(row).to_have_count(0)


@pytest.fixture(scope="module")
async def ai_server() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    server = await LoopbackServer(fake.app).start()
    yield fake, server.url + "/v1"
    await server.stop()


async def test_ask_ai_sets_up_the_endpoint_then_suggests_code(
    page: Page,  # noqa: F811
    stack: Stack,
    ai_server: tuple[FakeOpenAI, str],
) -> None:
    fake, base_url = ai_server
    fake.reset()
    key = f"sk-test-{secrets.token_hex(8)}"
    fake.api_key = key
    await log_in(page, stack)
    await page.goto(f"{stack.url}/strategies/new")
    editor = page.locator('[data-testid="strategy-editor"] .cm-editor')
    await expect(editor.locator(".cm-content")).to_contain_text("class SmaCross(Strategy):")

    # Not configured: the settings form instead of the question.
    panel = page.get_by_test_id("assistant-panel")
    await expect(panel.get_by_test_id("assistant-settings")).to_be_visible()
    await expect(panel.get_by_test_id("assistant-question")).to_have_count(0)
    await panel.get_by_test_id("assistant-base-url").fill("ftp://nowhere")
    await panel.get_by_test_id("assistant-model").fill("qwen2.5-coder:7b")
    await panel.get_by_test_id("assistant-save").click()
    await expect(panel.get_by_test_id("assistant-settings-error")).to_contain_text(
        "base_url must be an http:// or https:// address"
    )
    await panel.get_by_test_id("assistant-base-url").fill(base_url)
    await panel.get_by_test_id("assistant-api-key").fill(key)
    await panel.get_by_test_id("assistant-save").click()
    await expect(panel.get_by_test_id("assistant-question")).to_be_visible()

    # The key is write-only: the form only says one is stored.
    await panel.get_by_test_id("assistant-edit-settings").click()
    await expect(panel.get_by_test_id("assistant-key-saved")).to_have_text("key saved")
    await expect(panel.get_by_test_id("assistant-api-key")).to_have_value("")
    await expect(panel.get_by_test_id("assistant-base-url")).to_have_value(base_url)
    await panel.get_by_role("button", name="Cancel").click()

    # Ask: the answer as text, its code offered, then in the editor.
    await panel.get_by_test_id("assistant-question").fill("How do I react faster?")
    await panel.get_by_test_id("assistant-ask").click()
    answer = panel.get_by_test_id("assistant-answer")
    await expect(answer).to_contain_text("Use a faster EMA so the crossover reacts sooner.")
    await expect(answer.get_by_test_id("assistant-code")).to_contain_text(
        "class EmaCross(Strategy):"
    )
    assert len(fake.requests) == 1
    sent = fake.requests[0]
    assert sent.authorization == f"Bearer {key}"
    assert "class SmaCross(Strategy):" in str(sent.body["messages"])
    assert "How do I react faster?" in str(sent.body["messages"])
    await answer.get_by_test_id("assistant-use-code").click()
    await expect(editor.locator(".cm-content")).to_contain_text("class EmaCross(Strategy):")
    await expect(editor.locator(".cm-content")).not_to_contain_text("class SmaCross")
    await expect(page.get_by_test_id("strategy-notice")).to_contain_text("validate it, then save")
    await page.screenshot(path=str(ARTIFACTS / "strategy-ask-ai.png"), full_page=True)

    # The endpoint failing: its reason in plain words.
    fake.status = 500
    await panel.get_by_test_id("assistant-ask").click()
    await expect(panel.get_by_test_id("assistant-error")).to_be_visible()
    await expect(panel.get_by_test_id("assistant-error")).not_to_have_text("")
