"""The Telegram adapter in process, with a recording stand-in for the Bot API: which failed calls
may have reached Telegram, and button presses answered exactly once across a crash (handled,
then killed before the answer) whether Telegram delivers the press again or not."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError, TimedOut

from bot.channels.delivery import OWED_PRESS_SECONDS
from bot.channels.telegram.adapter import TelegramBot, may_have_arrived
from bot.config import load_config
from bot.content.loader import load_knowledge
from bot.core.actions import Simple
from bot.core.replies import UserInput
from bot.service.clinic import ClinicService
from bot.storage.sqlite.store import SqliteStore

KNOWLEDGE = load_knowledge(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir)
CHAT = "tg:5150"  # the adapter's chat id for Telegram chat 5150
PRESS = UserInput.action(Simple("book").encode())


def _raised_by_ptb(cause: Exception | None, error: TelegramError) -> TelegramError:
    """`error` as python-telegram-bot raises it: from the httpx error behind it, if any."""
    try:
        raise error from cause
    except TelegramError as raised:
        return raised


@pytest.mark.parametrize(
    ("cause", "error", "arrived"),
    [
        (httpx.ReadTimeout("read"), TimedOut(), True),
        (httpx.RemoteProtocolError("Server disconnected"), NetworkError("httpx.RemoteProtocolError"), True),
        (httpx.ReadError("reset"), NetworkError("httpx.ReadError"), True),
        (httpx.ConnectError("refused"), NetworkError("httpx.ConnectError"), False),
        (httpx.ConnectTimeout("connect"), TimedOut(), False),
        (httpx.PoolTimeout("pool"), TimedOut("Pool timeout"), False),
        (None, NetworkError("Bad Gateway"), True),  # Telegram's front end answered 502
        (None, NetworkError("Internal Server Error (500)"), True),
        (ValueError("not JSON"), NetworkError("Bad Gateway"), True),  # a 5xx with an HTML body
        (None, BadRequest("Bad Request: chat not found"), False),
        (None, Forbidden("Forbidden: bot was blocked by the user"), False),
    ],
)
def test_which_failures_may_have_reached_telegram(cause: Exception | None, error: TelegramError, arrived: bool) -> None:
    assert may_have_arrived(_raised_by_ptb(cause, error)) is arrived


class RecordingBot:
    """The few Bot API calls the adapter makes here, recorded."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.sent: list[tuple[int, str]] = []  # Telegram chat ids: the adapter converts at its edge

    async def answer_callback_query(self, query_id: str, text: str | None = None) -> bool:
        self.answers.append(query_id)
        return True

    async def send_message(self, chat_id: int, text: str, reply_markup: Any = None, **kwargs: Any) -> SimpleNamespace:
        self.sent.append((chat_id, text))
        return SimpleNamespace(message_id=1000 + len(self.sent))

    async def edit_message_text(self, text: str, **kwargs: Any) -> bool:
        self.sent.append((kwargs["chat_id"], text))
        return True


class Clock:
    now = 1_760_000_000.0

    def __call__(self) -> float:
        return self.now


def press(update_id: int) -> SimpleNamespace:
    query = SimpleNamespace(id=f"q{update_id}", message=SimpleNamespace(message_id=7), data=PRESS.value)
    return SimpleNamespace(update_id=update_id, callback_query=query)


def test_button_presses_are_answered_once_across_a_crash() -> None:
    clock = Clock()
    store = SqliteStore(None, clock=clock)
    service = ClinicService(KNOWLEDGE, store)
    bot = RecordingBot()
    application = SimpleNamespace(bot=bot)

    async def scenario() -> None:
        adapter = TelegramBot(KNOWLEDGE, store, service)
        adapter.use(application)
        # Handled and answered; delivered again by Telegram: not answered twice.
        await adapter._handle(press(1), CHAT, None, PRESS)
        await adapter._handle(press(1), CHAT, None, PRESS)
        assert bot.answers == ["q1"]
        assert len(bot.sent) == 1, "the redelivered press was handled again"
        assert bot.sent[0][0] == 5150, "Telegram is given its own chat id, not the store's"

        # Handled (committed), then the bot died before answering; press 4 an hour before the others.
        clock.now -= 3600
        assert service.handle(CHAT, PRESS, 4, None, 7, press_id="q4") is not None
        clock.now += 3600
        for update_id in (2, 3):
            assert service.handle(CHAT, PRESS, update_id, None, 7, press_id=f"q{update_id}") is not None
        clock.now += 30
        restarted = TelegramBot(KNOWLEDGE, store, service)
        restarted.use(application)
        # Telegram delivers press 2 again: answered now, once.
        await restarted._handle(press(2), CHAT, None, PRESS)
        await restarted._handle(press(2), CHAT, None, PRESS)
        assert bot.answers == ["q1", "q2"]
        # Press 3 was confirmed to Telegram before the crash: nobody delivers it again, so the
        # start answers it. Press 4 is an hour old: past answering, left alone.
        await restarted.delivery.answer_owed_presses()
        assert bot.answers == ["q1", "q2", "q3"]
        await restarted.delivery.answer_owed_presses()
        await restarted._handle(press(3), CHAT, None, PRESS)
        assert bot.answers == ["q1", "q2", "q3"]
        assert OWED_PRESS_SECONDS < 3600

    asyncio.run(scenario())
