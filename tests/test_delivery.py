"""The delivery worker every channel shares, against a fake channel and the real SQLite store (no
Telegram): order, retries with backoff, what is dropped and what never is, the "may be a
repeat" note, edits by capability, record-after-send, staff re-targeting, the start-up steps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.channels.contract import (
    TELEGRAM_CAPABILITIES,
    TERMINAL_CAPABILITIES,
    Capabilities,
    Channel,
    ChatBlocked,
    ChatMoved,
    ChatUnusable,
    MessageRejected,
    SendFailed,
    native_id,
)
from bot.channels.delivery import DeliveryWorker
from bot.channels.terminal import TerminalScreen
from bot.config import load_config
from bot.content.loader import load_knowledge
from bot.core.replies import Reply, UserInput
from bot.service.clinic import ClinicService
from bot.storage import StorageFull
from bot.storage.sqlite.store import SqliteStore

KNOWLEDGE = load_knowledge(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir)
PATIENT = "fake:1"
STAFF = "fake:-100"
FAKE = replace(TELEGRAM_CAPABILITIES, max_message_chars=4096)


class Clock:
    now = 1_760_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeChannel:
    """A messenger that records what it is asked; `failures` are raised by the next sends."""

    name = "Fake"
    prefix = "fake:"

    def __init__(self, capabilities: Capabilities = FAKE) -> None:
        self.capabilities = capabilities
        self.sent: list[tuple[str, str]] = []
        self.edited: list[tuple[str, int, str]] = []
        self.answered: list[tuple[str, str | None]] = []
        self.checked: list[str] = []
        self.replayed: list[tuple[int, str]] = []
        self.typing: list[str] = []
        self.failures: list[SendFailed] = []
        self.unusable: set[str] = set()
        self.on_send: Callable[[], None] | None = None

    async def send(self, chat_id: str, reply: Reply) -> int | None:
        if self.failures:
            raise self.failures.pop(0)
        if self.on_send is not None:
            self.on_send()
        self.sent.append((chat_id, reply.text))
        return 500 + len(self.sent)

    async def edit(self, chat_id: str, message_id: int, reply: Reply) -> int | None:
        if self.failures:
            raise self.failures.pop(0)
        self.edited.append((chat_id, message_id, reply.text))
        return message_id

    async def answer_press(self, press_id: str, toast: str | None = None) -> None:
        self.answered.append((press_id, toast))

    async def show_typing(self, chat_id: str) -> None:
        self.typing.append(chat_id)

    async def check_chat(self, chat_id: str) -> None:
        self.checked.append(chat_id)
        if chat_id in self.unusable:
            raise ChatUnusable("Bad Request: chat not found")

    async def replay(self, update_id: int, payload: str) -> None:
        self.replayed.append((update_id, payload))


class Setup:
    def __init__(self, capabilities: Capabilities = FAKE, staff: tuple[str, ...] = (STAFF,)) -> None:
        self.clock = Clock()
        self.store = SqliteStore(None, clock=self.clock)
        self.service = ClinicService(KNOWLEDGE, self.store, staff_chat_ids=staff)
        self.channel = FakeChannel(capabilities)
        self.worker = DeliveryWorker(self.channel, self.store, self.service)

    def queue(self, chat_id: str, text: str, edit: int | None = None, request_id: int | None = None) -> None:
        with self.store.transaction():
            self.store.queue(chat_id, Reply(text), edit_message_id=edit, request_id=request_id)

    def request(self) -> int:
        with self.store.transaction():
            return self.store.save_request(PATIENT, "Ann", "+81 90 0000 0000", "morning", "")

    def texts(self) -> list[str]:
        return [text for _, text in self.channel.sent]


def run(work: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(work)


def test_the_channels_implement_the_contract() -> None:
    from bot.channels.telegram.adapter import TelegramBot

    store = SqliteStore(None)
    telegram = TelegramBot(KNOWLEDGE, store, ClinicService(KNOWLEDGE, store))
    for channel in (FakeChannel(), TerminalScreen(output=None), telegram):  # type: ignore[arg-type]
        assert isinstance(channel, Channel), channel
    assert telegram.capabilities == TELEGRAM_CAPABILITIES and telegram.prefix == "tg:"
    assert TerminalScreen.capabilities == TERMINAL_CAPABILITIES
    assert TELEGRAM_CAPABILITIES.edits_in_place and TELEGRAM_CAPABILITIES.rich_text == "html"
    assert not TERMINAL_CAPABILITIES.edits_in_place and TERMINAL_CAPABILITIES.rich_text == "plain"
    assert TELEGRAM_CAPABILITIES.share_contact and not TERMINAL_CAPABILITIES.share_contact
    assert native_id("tg:-1001") == "-1001"


def test_a_chat_is_sent_in_order_and_the_outbox_emptied() -> None:
    s = Setup()
    for text in ("one", "two", "three"):
        s.queue(PATIENT, text)
    run(s.worker.flush_chat(PATIENT))
    assert s.channel.sent == [(PATIENT, "one"), (PATIENT, "two"), (PATIENT, "three")]
    assert s.store.pending() == []


def test_a_failed_send_stops_the_chat_and_is_retried_with_backoff() -> None:
    s = Setup()
    s.queue(PATIENT, "one")
    s.queue(PATIENT, "two")
    s.channel.failures = [SendFailed("NetworkError")]
    run(s.worker.flush_all())
    assert s.channel.sent == [], "the second reply overtook the first"
    assert [item.due for item in s.store.pending()] == [False, True]
    run(s.worker.flush_all())
    assert s.channel.sent == [], "retried before its backoff"
    s.clock.now += 10
    run(s.worker.flush_all())
    assert s.texts() == ["one", "two"]


def test_only_this_channels_chats_are_flushed() -> None:
    s = Setup()
    s.queue("other:7", "not mine")
    s.queue(PATIENT, "mine")
    run(s.worker.flush_all())
    assert s.texts() == ["mine"]
    assert [item.chat_id for item in s.store.pending()] == ["other:7"]


def test_a_patient_who_blocked_the_bot_loses_the_queue_but_staff_messages_are_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Setup()
    s.queue(PATIENT, "one")
    s.queue(PATIENT, "two")
    s.channel.failures = [ChatBlocked("Forbidden: bot was blocked by the user")]
    with caplog.at_level(logging.WARNING, "bot.delivery"):
        run(s.worker.flush_chat(PATIENT))
    assert s.store.pending(PATIENT) == []
    assert "blocked the bot: 2 replies dropped" in caplog.text

    request_id = s.request()
    s.queue(STAFF, "request #1", request_id=request_id)
    s.channel.failures = [ChatBlocked("Forbidden: bot was kicked from the group chat")]
    with caplog.at_level(logging.ERROR, "bot.delivery"):
        run(s.worker.flush_chat(STAFF))
    assert [item.chat_id for item in s.store.pending()] == [STAFF]
    assert f"STAFF_CHAT_ID {native_id(STAFF)}" in caplog.text and "1 open request(s)" in caplog.text


def test_a_rejected_reply_is_dropped_a_rejected_staff_message_never(caplog: pytest.LogCaptureFixture) -> None:
    s = Setup()
    s.queue(PATIENT, "bad")
    s.queue(PATIENT, "good")
    s.channel.failures = [MessageRejected("Bad Request: can't parse entities")]
    with caplog.at_level(logging.ERROR, "bot.delivery"):
        run(s.worker.flush_chat(PATIENT))
    assert s.texts() == ["good"], "a rejected reply must not hold up the next"
    assert "rejected by Fake in every form" in caplog.text

    request_id = s.request()
    s.queue(STAFF, "request", request_id=request_id)
    for _ in range(12):  # far more than a patient's message is tried
        s.channel.failures = [MessageRejected("Bad Request: not enough rights")]
        run(s.worker.flush_chat(STAFF))
        s.clock.now += 400
    assert [item.chat_id for item in s.store.pending()] == [STAFF]


def test_a_moved_chat_is_retried() -> None:
    s = Setup()
    request_id = s.request()
    s.queue(STAFF, "request", request_id=request_id)
    s.channel.failures = [ChatMoved("Group migrated to supergroup", "fake:-1009")]
    run(s.worker.flush_chat(STAFF))
    assert len(s.store.pending(STAFF)) == 1


def test_a_staff_notification_cut_off_before_is_marked_as_maybe_repeated() -> None:
    s = Setup()
    request_id = s.request()
    s.queue(STAFF, "request text", request_id=request_id)
    s.channel.failures = [SendFailed("TimedOut", may_have_arrived=True)]
    run(s.worker.flush_chat(STAFF))
    s.clock.now += 10
    run(s.worker.flush_chat(STAFF))
    note = s.service.texts.staff_text("maybe_repeated", number=str(request_id))
    assert s.texts() == [note + "\nrequest text"]


def test_a_failure_that_proves_nothing_arrived_adds_no_note() -> None:
    s = Setup()
    request_id = s.request()
    s.queue(STAFF, "request text", request_id=request_id)
    s.channel.failures = [SendFailed("ConnectError", may_have_arrived=False)]
    run(s.worker.flush_chat(STAFF))
    s.clock.now += 10
    run(s.worker.flush_chat(STAFF))
    assert s.texts() == ["request text"]


def test_a_patients_reply_that_keeps_failing_is_given_up(caplog: pytest.LogCaptureFixture) -> None:
    s = Setup()
    s.queue(PATIENT, "one")
    with caplog.at_level(logging.ERROR, "bot.delivery"):
        for _ in range(20):
            s.channel.failures = [SendFailed("NetworkError")]
            run(s.worker.flush_chat(PATIENT))
            s.clock.now += 400
    assert s.store.pending() == []
    assert "given up" in caplog.text


@pytest.mark.parametrize("edits", [True, False])
def test_an_edit_is_made_in_place_only_where_the_channel_can(edits: bool) -> None:
    s = Setup(replace(FAKE, edits_in_place=edits))
    s.queue(PATIENT, "question 2", edit=41)
    run(s.worker.flush_chat(PATIENT))
    if edits:
        assert s.channel.edited == [(PATIENT, 41, "question 2")] and s.channel.sent == []
    else:
        assert s.channel.edited == [] and s.channel.sent == [(PATIENT, "question 2")]


def test_a_sent_message_whose_record_fails_is_not_sent_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    s = Setup()
    s.queue(PATIENT, "one")
    real_mark_sent = s.store.mark_sent
    failing = [True]

    def mark_sent(item_id: int, message_id: int | None = None) -> bool:
        if failing[0]:
            raise StorageFull("disk full")
        return real_mark_sent(item_id, message_id)

    monkeypatch.setattr(s.store, "mark_sent", mark_sent)
    with caplog.at_level(logging.ERROR, "bot.delivery"):
        run(s.worker.flush_all())
        run(s.worker.flush_all())
        run(s.worker.flush_chat(PATIENT))
    assert s.texts() == ["one"]
    assert s.worker.unrecorded() == 1
    assert caplog.text.count("could not be recorded as sent") == 1
    failing[0] = False
    run(s.worker.flush_all())
    assert s.worker.unrecorded() == 0 and s.store.pending() == [] and s.texts() == ["one"]


def test_a_notification_deleted_while_on_its_way_is_replaced() -> None:
    """The patient used /forget while the notification was being sent: it is edited to say so."""
    s = Setup()
    request_id = s.request()
    s.queue(STAFF, "request text", request_id=request_id)
    item = s.store.pending(STAFF)[0]
    s.channel.on_send = lambda: s.store.delete_outbox_item(item.id)
    run(s.worker.flush_chat(STAFF))
    s.channel.on_send = None
    run(s.worker.flush_chat(STAFF))
    deleted = s.service.texts.staff_text("deleted", number=str(request_id))
    assert s.channel.edited == [(STAFF, 501, deleted)]


def test_start_retargets_checks_staff_chats_answers_presses_and_replays() -> None:
    s = Setup(staff=(STAFF, "fake:-200", "other:9"))
    s.channel.unusable = {"fake:-200"}
    # A request queued for a chat that is no longer a staff chat (STAFF_CHAT_ID was corrected).
    request_id = s.request()
    s.queue("fake:-999", "old notification", request_id=request_id)
    s.store.receive(77, '{"update_id": 77}')
    with s.store.transaction():
        s.store.mark_processed(5, "press-5")

    async def scenario() -> None:
        await s.worker.start()
        s.worker.stop()

    run(scenario())
    assert s.channel.checked == [STAFF, "fake:-200"], "only this channel's staff chats are checked"
    assert s.channel.answered == [("press-5", None)]
    assert not s.store.press_unanswered(5)
    assert s.channel.replayed == [(77, '{"update_id": 77}')]
    staff_copies = [chat for chat, _ in s.channel.sent]
    assert STAFF in staff_copies and "fake:-999" not in staff_copies


def test_the_unusable_staff_chat_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    s = Setup(staff=("fake:-200",))
    s.channel.unusable = {"fake:-200"}
    with caplog.at_level(logging.ERROR, "bot.delivery"):
        run(s.worker.check_staff_chats())
    assert "STAFF_CHAT_ID -200 cannot be used (Fake says: Bad Request: chat not found)" in caplog.text


def test_answer_press_is_recorded_even_when_the_messenger_refuses() -> None:
    s = Setup()
    with s.store.transaction():
        s.store.mark_processed(9, "press-9")

    async def refuse(press_id: str, toast: str | None = None) -> None:
        raise SendFailed("Bad Request: query is too old")

    s.channel.answer_press = refuse  # type: ignore[method-assign]
    run(s.worker.answer_press(9, "press-9", "ok"))
    assert not s.store.press_unanswered(9)


def test_unsaved_answers_go_straight_to_the_channel() -> None:
    s = Setup()
    run(s.worker.answer_unsaved(PATIENT, UserInput.command("help"), StorageFull("disk full"), press_id="p1"))
    assert s.channel.answered == [("p1", None)]
    assert len(s.channel.sent) == 1 and s.store.pending() == []


def test_keep_saves_an_update_once() -> None:
    s = Setup()
    s.worker.keep(3, lambda: '{"update_id": 3}')
    s.worker.keep(3, lambda: '{"update_id": 3}')
    assert s.store.inbox() == [(3, '{"update_id": 3}')]
    with s.store.transaction():
        s.store.mark_processed(3)
    calls = []
    s.worker.keep(3, lambda: calls.append(1) or "{}")  # type: ignore[func-returns-value]
    assert calls == [] and s.store.inbox() == []


def test_purge_uses_the_configured_retention() -> None:
    s = Setup()
    s.worker.retention_days = 7
    assert set(s.worker.purge()) >= {"requests"}


def test_the_typing_indicator_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.channels.delivery as delivery

    monkeypatch.setattr(delivery, "TYPING_DELAY_SECONDS", 0.0)
    s = Setup()
    run(s.worker.typing_after_delay(PATIENT))
    assert s.channel.typing == [PATIENT]


def test_the_worker_and_the_contract_know_no_messenger_and_no_database() -> None:
    import ast

    root = Path(__file__).resolve().parent.parent / "bot" / "channels"
    for name in ("delivery.py", "contract.py", "__init__.py"):
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        for banned in ("telegram", "sqlite3", "bot.storage.sqlite", "bot.channels.telegram", "httpx"):
            assert not any(n == banned or n.startswith(banned + ".") for n in imported), (name, banned)
