"""Reliability end to end: the real `python -m bot run` process against the fake Bot API server
while Telegram misbehaves (429, 502/504, dropped connections, a stalled call, a patient who
blocked the bot, updates delivered twice, a failing getUpdates, errors at start-up).

Every scenario checks three things besides its own: every other patient keeps being served,
each update is answered exactly once (bot messages and edits are counted per chat), and
nothing the bot sends is rejected by Telegram. Where a duplicate cannot be avoided (Telegram
applied the call but the answer was lost), the test measures it and allows at most one.

All tests but the start-up ones share one bot process; faults are scoped to each test's own
chats (chat_id=...) wherever the method has a chat, and are cleared after every test.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.config import load_config
from bot.content.html import to_plain_text
from bot.content.loader import load_knowledge
from tests.bot_process import TOKEN, BotProcess, wait_quiet
from tests.fake_telegram.server import ChatMessage, FakeTelegramServer, RecordedRequest

KNOWLEDGE = load_knowledge(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir)
UI = KNOWLEDGE.ui
SC = KNOWLEDGE.selfcheck
RETRY_ROUND = 2.5  # the outbox retry loop wakes every 2 s; one round and a bit
PROMPT = 3.0  # "answered promptly": a patient who is not hit by a fault, even on a busy CI box
# PTB logs these itself, with a traceback, before raising an error the bot handles.
PTB_TRACEBACKS = ("Can not load invalid JSON data",)  # an HTML error page instead of JSON
LOG_RECORD = re.compile(r"^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ )", re.MULTILINE)
_chat_ids = itertools.count(71_001)


def first_line(key: str) -> str:
    return to_plain_text(UI.texts[key]).strip().split("\n")[0][:50]


START, HELP, BOOK = first_line("start"), first_line("help"), first_line("book")
FALLBACK = first_line("fallback")
STRESS_QUESTION = "how does stres cause back pain"
STRESS_ANSWER = to_plain_text(KNOWLEDGE.entries["how_stress_causes_pain"].answer).split("\n")[0][:50]
GIBBERISH = "qwxz vbnmk plorft"
STAFF_GROUP = -1001
CB = KNOWLEDGE.callback


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def bot(server: FakeTelegramServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    base = tmp_path_factory.mktemp("faults")
    server.add_chat(STAFF_GROUP, "group", title="Clinic staff")
    process = BotProcess(server, base / "data", KEY_FILE=str(base / "data.key"), STAFF_CHAT_ID=str(STAFF_GROUP))
    with process:
        yield process
    output = process.output()
    assert TOKEN not in output and TOKEN.split(":")[1] not in output, "the token leaked into the bot's output"


@pytest.fixture(autouse=True)
def no_faults_left(server: FakeTelegramServer) -> Iterator[None]:
    server.clear_faults()
    yield
    server.clear_faults()


def new_chat() -> int:
    return next(_chat_ids)


# ---------------------------------------------------------------------------------- helpers


def calls_to(server: FakeTelegramServer, chat: int, method: str | None = None) -> list[RecordedRequest]:
    """Every call the bot made about one chat (optionally one method), in order."""
    return [r for r in server.calls(method) if str(r.params.get("chat_id")) == str(chat)]


def texts(server: FakeTelegramServer, chat: int) -> list[str]:
    return [m.text or "" for m in server.bot_messages(chat)]


def wait_messages(server: FakeTelegramServer, chat: int, count: int, timeout: float) -> list[ChatMessage]:
    return server.wait_for_bot_messages(chat, count, timeout=timeout)


def assert_replies(server: FakeTelegramServer, chat: int, expected: list[str]) -> None:
    """The chat holds exactly these replies (by the start of their text), in this order."""
    got = texts(server, chat)
    assert len(got) == len(expected), f"chat {chat}: expected {len(expected)} replies, got {len(got)}: {got}"
    for text, start in zip(got, expected, strict=True):
        assert text.startswith(start), f"chat {chat}: {text[:80]!r} should start with {start!r} (all: {got})"


def settle(server: FakeTelegramServer, seconds: float = RETRY_ROUND) -> None:
    """Give the bot time for late retries and duplicates (one outbox round and a bit)."""
    time.sleep(seconds)


class Scenario:
    """Marks where a test starts, so its checks only look at what happened since."""

    def __init__(self, server: FakeTelegramServer, bot: BotProcess) -> None:
        self.server = server
        self.bot = bot
        self.seq = max((r.seq for r in server.requests), default=0)
        self.log_start = len(bot.output())

    def requests(self) -> list[RecordedRequest]:
        return [r for r in self.server.requests if r.seq > self.seq]

    def faulted(self, method: str) -> list[RecordedRequest]:
        return [r for r in self.requests() if r.method == method and r.fault]

    def output(self) -> str:
        return self.bot.output()[self.log_start :]

    def check(self, allow_not_modified: bool = False, tracebacks_of: tuple[str, ...] = ()) -> None:
        """Nothing Telegram would reject, every button press answered, the bot still running,
        no traceback in its log. A resent edit that reached Telegram before its answer was lost
        gets "message is not modified": the bot treats it as done, so it is allowed where an
        edit can be resent. `tracebacks_of`: log records (by their first line) that may carry a
        traceback, where PTB itself logs a handled failure with one."""
        errors = [
            r
            for r in self.requests()
            if r.status == 400
            and r.fault is None
            and not (allow_not_modified and r.method == "editMessageText" and "not modified" in (r.description or ""))
        ]
        assert errors == [], [(r.method, r.params.get("chat_id"), r.description) for r in errors]
        assert self.server.unanswered_callbacks() == [], "a button press was left unanswered"
        assert self.server.internal_errors == []
        assert self.bot.process is not None and self.bot.process.poll() is None, "the bot process died"
        records = log_records(self.output())
        allowed = (*tracebacks_of, *PTB_TRACEBACKS)
        records = [r for r in records if not any(a in r.split("\n", 1)[0] for a in allowed)]
        with_traceback = [r for r in records if "Traceback" in r]
        assert with_traceback == [], with_traceback[:2]


def log_records(output: str) -> list[str]:
    """The bot's log split into records (a record's traceback stays with it)."""
    return [r for r in LOG_RECORD.split(output) if r.strip()]


def served_promptly(server: FakeTelegramServer, chat: int, pushed_at: float, count: int = 1) -> float:
    """Wait for `count` replies in a patient's chat; returns how long after the push they came."""
    wait_messages(server, chat, count, timeout=PROMPT + 5)
    elapsed = time.monotonic() - pushed_at
    assert elapsed < PROMPT, f"chat {chat} waited {elapsed:.1f}s for its reply"
    return elapsed


def open_selfcheck(server: FakeTelegramServer, chat: int) -> ChatMessage:
    server.push_command(chat, "/selfcheck")
    [check] = wait_messages(server, chat, 1, timeout=10)
    wait_quiet(server)  # the turn is over before the next one starts (see the burst test)
    return check


def question_shown(server: FakeTelegramServer, chat: int, message_id: int, number: int) -> Callable[[], bool]:
    return lambda: f"{number} of 8" in (server.message(chat, message_id).text or "")


def successful_edits(server: FakeTelegramServer, chat: int) -> list[RecordedRequest]:
    return [r for r in calls_to(server, chat, "editMessageText") if r.ok]


# ---------------------------------------------------------------------------------- 1. 429


def test_429_retry_after_replies_arrive_once_after_the_wait(server: FakeTelegramServer, bot: BotProcess) -> None:
    """429s within what PTB's rate limiter retries (3): one chat gets three in a row, another
    one. (One update per chat: several at once are test_a_burst_from_one_patient...)"""
    scenario = Scenario(server, bot)
    thrice, once, other_1, other_2 = (new_chat() for _ in range(4))
    server.inject_fault("sendMessage", "retry_after", count=3, chat_id=thrice, retry_after=1)
    server.inject_fault("sendMessage", "retry_after", count=1, chat_id=once, retry_after=1)
    pushed = time.monotonic()
    server.push_command(thrice, "/start")
    server.push_command(once, "/book")
    server.push_command(other_1, "/start")
    server.push_command(other_2, "/help")

    wait_messages(server, once, 1, timeout=10)
    waited = time.monotonic() - pushed
    # PTB's rate limiter pauses every request for retry_after (+0.1 s) after a 429, then retries.
    assert waited >= 1.0, f"the reply came after {waited:.2f}s: the 429's retry_after was not respected"
    wait_messages(server, thrice, 1, timeout=15)
    assert time.monotonic() - pushed >= 3.0, "three 429s with retry_after=1 were not waited out"
    wait_messages(server, other_1, 1, timeout=10)
    wait_messages(server, other_2, 1, timeout=10)
    settle(server)

    assert len(scenario.faulted("sendMessage")) == 4, "the faults did not all fire"
    assert_replies(server, thrice, [START])
    assert_replies(server, once, [BOOK])
    assert_replies(server, other_1, [START])
    assert_replies(server, other_2, [HELP])
    scenario.check()


def test_429_more_often_than_the_rate_limiter_retries(server: FakeTelegramServer, bot: BotProcess) -> None:
    """Four 429s in a row: PTB's limiter gives up after its 3 retries and the outbox takes over."""
    scenario = Scenario(server, bot)
    hit, other = new_chat(), new_chat()
    server.inject_fault("sendMessage", "retry_after", count=4, chat_id=hit, retry_after=1)
    server.push_command(hit, "/start")
    wait_messages(server, hit, 1, timeout=20)
    pushed = time.monotonic()
    server.push_command(other, "/help")
    wait_messages(server, other, 1, timeout=10)
    assert time.monotonic() - pushed < PROMPT + 1.2  # at most one retry_after pause in the way
    settle(server)
    assert len(scenario.faulted("sendMessage")) == 4
    assert_replies(server, hit, [START])
    assert_replies(server, other, [HELP])
    assert "will retry" in scenario.output()  # the outbox took over from the rate limiter
    scenario.check(tracebacks_of=("Rate limit hit after maximum of 3 retries",))  # PTB logs it so


# ---------------------------------------------------------------------------------- 2. 502 / 504


def test_502_and_504_on_send_and_edit_are_retried_and_delivered_once(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    send_502, send_504, edit_502, edit_504, control = (new_chat() for _ in range(5))
    checks = {chat: open_selfcheck(server, chat) for chat in (edit_502, edit_504)}
    scenario = Scenario(server, bot)
    server.inject_fault("sendMessage", "http", count=1, chat_id=send_502, status=502, description="Bad Gateway")
    server.inject_fault(
        "sendMessage", "http", count=1, chat_id=send_504, status=504, raw_body="<html>504 Gateway Time-out</html>"
    )
    server.inject_fault("editMessageText", "http", count=1, chat_id=edit_502, status=502)
    server.inject_fault("editMessageText", "http", count=1, chat_id=edit_504, status=504)

    for chat in (send_502, send_504):
        server.push_command(chat, "/start")
    for chat, check in checks.items():
        server.press_inline_button(chat, SC.buttons["no"], message_id=check.message_id)
    pushed = time.monotonic()
    server.push_command(control, "/help")
    served_promptly(server, control, pushed)

    for chat in (send_502, send_504):
        wait_messages(server, chat, 1, timeout=10)
    for chat, check in checks.items():
        server.wait_for(question_shown(server, chat, check.message_id, 1), timeout=10, what=f"edit in {chat}")
    settle(server)

    assert len(scenario.faulted("sendMessage")) == 2
    assert len(scenario.faulted("editMessageText")) == 2
    for chat in (send_502, send_504):
        assert_replies(server, chat, [START])
    for chat, check in checks.items():
        assert len(server.bot_messages(chat)) == 1, "the self-check must stay one message"
        assert len(successful_edits(server, chat)) == 1, "the edit was applied more than once"
        assert len(server.message(chat, check.message_id).edits) == 1
    assert_replies(server, control, [HELP])
    scenario.check()


# ---------------------------------------------------------------------------------- 3. dropped connections


def test_dropped_connection_before_telegram_saw_the_call(server: FakeTelegramServer, bot: BotProcess) -> None:
    scenario = Scenario(server, bot)
    dropped, control = new_chat(), new_chat()
    server.inject_fault("sendMessage", "drop", count=1, chat_id=dropped, process=False)
    server.push_command(dropped, "/start")
    pushed = time.monotonic()
    server.push_command(control, "/help")
    served_promptly(server, control, pushed)
    wait_messages(server, dropped, 1, timeout=10)
    settle(server)
    assert len(scenario.faulted("sendMessage")) == 1
    assert_replies(server, dropped, [START])
    assert_replies(server, control, [HELP])
    scenario.check()


def test_dropped_response_after_telegram_applied_the_call(
    server: FakeTelegramServer, bot: BotProcess, record_property: Callable[[str, object], None]
) -> None:
    """Telegram delivered the message but its answer was lost: the bot cannot know, so it sends
    again (at-least-once). Measured, and at most one extra message is allowed. An edit resent
    the same way is harmless: Telegram says "not modified" and the bot counts it as done."""
    lost_send, lost_edit, control = new_chat(), new_chat(), new_chat()
    check = open_selfcheck(server, lost_edit)
    scenario = Scenario(server, bot)
    server.inject_fault("sendMessage", "drop", count=1, chat_id=lost_send, process=True)
    server.inject_fault("editMessageText", "drop", count=1, chat_id=lost_edit, process=True)
    server.push_command(lost_send, "/start")
    server.press_inline_button(lost_edit, SC.buttons["no"], message_id=check.message_id)
    pushed = time.monotonic()
    server.push_command(control, "/help")
    served_promptly(server, control, pushed)
    wait_messages(server, lost_send, 1, timeout=10)
    server.wait_for(question_shown(server, lost_edit, check.message_id, 1), timeout=10)
    settle(server, RETRY_ROUND + 2)

    replies = texts(server, lost_send)
    record_property("messages_after_one_lost_response", len(replies))
    print(f"\nmeasured: one sendMessage whose response was lost -> {len(replies)} message(s) in the chat")
    assert 1 <= len(replies) <= 2, replies
    assert all(text.startswith(START) for text in replies)
    assert len(server.bot_messages(lost_edit)) == 1
    assert len(server.message(lost_edit, check.message_id).edits) == 1, "an edit was applied twice"
    assert_replies(server, control, [HELP])
    scenario.check(allow_not_modified=True)


# ---------------------------------------------------------------------------------- 4. a stalled call


def test_a_stalled_chat_does_not_hold_up_other_patients(
    server: FakeTelegramServer, bot: BotProcess, record_property: Callable[[str, object], None]
) -> None:
    scenario = Scenario(server, bot)
    stalled = new_chat()
    others = [new_chat() for _ in range(4)]
    server.inject_fault("sendMessage", "stall", count=1, chat_id=stalled, seconds=10)
    started = time.monotonic()
    server.push_command(stalled, "/start")
    server.wait_for(lambda: calls_to(server, stalled, "sendMessage"), timeout=5, what="the stalled call")
    server.push_command(stalled, "/help")  # waits behind the stalled reply, in order
    latencies = []
    for chat in others:
        pushed = time.monotonic()
        server.push_command(chat, "/start")
        latencies.append(served_promptly(server, chat, pushed))
    assert time.monotonic() - started < 10, "other patients were held up by the stalled call"
    print(f"\nmeasured: other patients answered in {max(latencies):.2f}s at most during a 10 s stall")

    wait_messages(server, stalled, 2, timeout=20)
    # The stalled call completes on Telegram's side at 10 s; wait past it for a late duplicate.
    server.wait_for(lambda: time.monotonic() - started > 10.5, timeout=15)
    settle(server)
    replies = texts(server, stalled)
    record_property("messages_in_stalled_chat", len(replies))
    print(f"measured: stalled chat got {len(replies)} message(s) for 2 updates: {[t[:20] for t in replies]}")
    assert replies[0].startswith(START) and replies[1].startswith(HELP), replies
    assert len(replies) <= 3, f"more than one duplicate after one stalled call: {replies}"
    for chat in others:
        assert_replies(server, chat, [START])
    scenario.check()


# ---------------------------------------------------------------------------------- 5. blocked


def test_blocked_patient_is_dropped_without_a_retry_storm(server: FakeTelegramServer, bot: BotProcess) -> None:
    scenario = Scenario(server, bot)
    blocked, other = new_chat(), new_chat()
    server.inject_fault("*", "blocked", count=None, chat_id=blocked)
    for number, push in enumerate(
        (lambda: server.push_command(blocked, "/start"), lambda: server.push_text(blocked, STRESS_QUESTION),
         lambda: server.push_command(blocked, "/help")),
        start=1,
    ):  # fmt: skip
        push()
        server.wait_for(lambda n=number: len(calls_to(server, blocked, "sendMessage")) >= n, timeout=10)
        wait_quiet(server)
    pushed = time.monotonic()
    server.push_command(other, "/start")
    served_promptly(server, other, pushed)

    refused = len(calls_to(server, blocked))
    settle(server, RETRY_ROUND + 1)  # the retry loop ran at least once
    calls = calls_to(server, blocked)
    assert len(calls) == refused, f"the bot kept calling a chat that blocked it: {[r.method for r in calls]}"
    sends = [r for r in calls if r.method == "sendMessage"]
    assert len(sends) == 3, f"one attempt per update expected, got {len(sends)}"
    assert all(r.status == 403 for r in calls)
    assert scenario.output().count("blocked the bot") == 3
    assert server.bot_messages(blocked) == []

    # Unblocked later: only the new message is answered; the dropped replies stay dropped.
    server.clear_faults()
    server.push_command(blocked, "/book")
    wait_messages(server, blocked, 1, timeout=10)
    settle(server)
    assert_replies(server, blocked, [BOOK])
    assert_replies(server, other, [START])
    scenario.check()


# ---------------------------------------------------------------------------------- 6. duplicates


@pytest.mark.parametrize("same_batch", [False, True], ids=["next-poll", "same-batch"])
def test_update_delivered_twice_is_answered_once(server: FakeTelegramServer, bot: BotProcess, same_batch: bool) -> None:
    """One update per chat, so this checks the de-duplication alone (several updates of one
    chat at once are test_a_burst_from_one_patient_is_answered_once_in_order)."""
    presser, commander, asker, other = (new_chat() for _ in range(4))
    server.push_command(presser, "/start")
    [menu] = wait_messages(server, presser, 1, timeout=10)
    wait_quiet(server)
    scenario = Scenario(server, bot)
    server.inject_fault("getUpdates", "duplicate", count=1, same_batch=same_batch)
    with server._cond:  # all in one batch: the fault duplicates the next non-empty one
        pushed = [
            server.press_inline_button(presser, UI.buttons["book"], message_id=menu.message_id),
            server.push_command(commander, "/help"),
            server.push_text(asker, STRESS_QUESTION),
        ]
    for update in pushed:
        server.wait_for(lambda u=update: server.delivery_count(u["update_id"]) >= 2, timeout=10, what="redelivery")
    wait_messages(server, presser, 2, timeout=10)
    wait_messages(server, commander, 1, timeout=10)
    wait_messages(server, asker, 1, timeout=10)
    pushed_at = time.monotonic()
    server.push_command(other, "/start")
    served_promptly(server, other, pushed_at)
    settle(server)
    assert_replies(server, presser, [START, BOOK])
    assert_replies(server, commander, [HELP])
    assert_replies(server, asker, [STRESS_ANSWER])
    [press] = [c for c in server.callback_queries() if c.chat_id == presser]
    assert press.answered
    assert len([r for r in scenario.requests() if r.method == "answerCallbackQuery"]) == 1
    assert "seen before" in scenario.output()
    assert_replies(server, other, [START])
    scenario.check()


# ---------------------------------------------------------------------------------- 7. getUpdates fails


def test_polling_recovers_from_502s_on_get_updates(server: FakeTelegramServer, bot: BotProcess) -> None:
    scenario = Scenario(server, bot)
    before, during, after = new_chat(), new_chat(), new_chat()
    server.inject_fault("getUpdates", "http", count=2, status=502)
    server.inject_fault("getUpdates", "http", count=1, status=502, raw_body="<html><h1>502 Bad Gateway</h1></html>")
    server.push_command(before, "/start")  # answers the long poll in flight: the next polls fail
    wait_messages(server, before, 1, timeout=10)
    server.wait_for(lambda: scenario.faulted("getUpdates"), timeout=10, what="a failed poll")
    server.push_command(during, "/start")
    wait_messages(server, during, 1, timeout=15)  # PTB backs off 1 s, 1.5 s, 2.25 s
    assert len(scenario.faulted("getUpdates")) == 3
    pushed = time.monotonic()
    server.push_command(after, "/help")
    served_promptly(server, after, pushed)
    settle(server, 1)
    assert_replies(server, before, [START])
    assert_replies(server, during, [START])
    assert_replies(server, after, [HELP])
    assert server.pending_updates() == []
    assert bot.process is not None and bot.process.poll() is None
    # PTB hands polling errors to the error handler, which logs them with their traceback.
    scenario.check(tracebacks_of=("update None failed: NetworkError",))


# ---------------------------------------------------------------------------------- one patient, several updates


def test_a_burst_from_one_patient_is_answered_once_in_order(server: FakeTelegramServer, bot: BotProcess) -> None:
    """Three commands from one patient while Telegram is slow (1.5 s per send, under PTB's 5 s
    timeout, so no retry is involved): each must be answered once, in order. (The chat's lock
    used to be dropped while the second update still waited on it: the third then flushed the
    outbox alongside it and sent the second reply twice.)"""
    scenario = Scenario(server, bot)
    chat, other = new_chat(), new_chat()
    server.inject_fault("sendMessage", "stall", count=2, chat_id=chat, seconds=1.5)
    server.push_command(chat, "/start")
    server.wait_for(lambda: len(calls_to(server, chat, "sendMessage")) >= 1, timeout=5, what="first send")
    server.push_command(chat, "/help")  # waits for the chat's lock
    server.wait_for(lambda: len(calls_to(server, chat, "sendMessage")) >= 2, timeout=5, what="second send")
    time.sleep(0.3)
    server.push_command(chat, "/book")  # arrives while /help's reply is being sent
    pushed = time.monotonic()
    server.push_command(other, "/start")
    served_promptly(server, other, pushed)
    wait_messages(server, chat, 3, timeout=10)
    settle(server)
    assert_replies(server, chat, [START, HELP, BOOK])
    scenario.check()


# ---------------------------------------------------------------------------------- an unexpected error


def step(server: FakeTelegramServer, chat: int, do: Callable[[], object], marker: str) -> None:
    """Do something in a chat and wait until its newest bot message shows `marker`."""
    before = [(m.message_id, m.text) for m in server.bot_messages(chat)]
    do()
    server.wait_for(
        lambda: (
            [(m.message_id, m.text) for m in server.bot_messages(chat)] != before
            and marker in (server.last_bot_message(chat).text or "")
        ),  # type: ignore[union-attr]
        timeout=10,
        what=f"{marker!r} in chat {chat}",
    )
    wait_quiet(server, 0.2)


def request_call_back(server: FakeTelegramServer, chat: int) -> None:
    press = server.press_inline_button
    step(server, chat, lambda: server.push_command(chat, "/start"), "")
    step(server, chat, lambda: press(chat, CB.buttons["request"]), "What name")
    step(server, chat, lambda: server.push_text(chat, "Taro Yamada"), "What number")
    step(server, chat, lambda: server.push_text(chat, "090-1234-5678"), "When is a good time")
    step(server, chat, lambda: press(chat, CB.buttons["morning"]), "anything you'd like")
    step(server, chat, lambda: press(chat, CB.buttons["skip"]), "Please check your request")
    step(server, chat, lambda: press(chat, CB.buttons["confirm"]), "Before I send it")
    step(server, chat, lambda: press(chat, CB.buttons["agree"]), "The clinic has your request")


def test_a_staff_group_that_moved_does_not_stop_retries_for_patients(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    scenario = Scenario(server, bot)
    patient, unlucky = new_chat(), new_chat()
    server.inject_fault(
        "sendMessage",
        "http",
        count=None,
        chat_id=STAFF_GROUP,
        status=400,
        description="Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": -100_1001},
    )
    request_call_back(server, patient)
    server.wait_for(lambda: scenario.faulted("sendMessage"), timeout=10, what="the staff notification")
    # Another patient's reply fails once: the outbox retry loop must deliver it.
    server.inject_fault("sendMessage", "http", count=1, chat_id=unlucky, status=502)
    server.push_command(unlucky, "/help")
    try:
        wait_messages(server, unlucky, 1, timeout=2 * RETRY_ROUND + 1)  # due after 2 s; the loop wakes every 2 s
    finally:
        server.clear_faults()
    assert_replies(server, unlucky, [HELP])


# ---------------------------------------------------------------------------------- order


def test_replies_keep_the_patients_order_when_the_typing_indicator_is_slow(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    """Two questions in a row while "typing..." is slow: answered in the order asked. (The
    typing action used to be awaited before the chat's lock was taken, so the second question
    could overtake the first.)"""
    scenario = Scenario(server, bot)
    chat = new_chat()
    server.inject_fault("sendChatAction", "stall", count=1, chat_id=chat, seconds=1.5)
    server.push_text(chat, STRESS_QUESTION)
    server.push_text(chat, GIBBERISH)
    wait_messages(server, chat, 2, timeout=10)
    settle(server, 1)
    assert_replies(server, chat, [STRESS_ANSWER, FALLBACK])
    scenario.check()


# ---------------------------------------------------------------------------------- start-up


def _starts_polling(tmp_path: Path, method: str, **fault: object) -> tuple[bool, str]:
    """Start a bot on its own server with one fault on `method`; True when it got to polling."""
    with FakeTelegramServer(token=TOKEN) as server:
        server.inject_fault(method, count=1, **fault)  # type: ignore[arg-type]
        process = BotProcess(server, tmp_path / "data", KEY_FILE=str(tmp_path / "data.key"))
        process.start(wait=False)
        try:
            server.wait_for(
                lambda: server.calls("getUpdates") or process.process.poll() is not None,  # type: ignore[union-attr]
                timeout=20,
                what="polling or exit",
            )
            polling = process.process.poll() is None and bool(server.calls("getUpdates"))  # type: ignore[union-attr]
            if polling:
                server.push_command(7_000_001, "/start")
                polling = bool(server.wait_for_bot_messages(7_000_001, 1, timeout=10))
            return polling, process.output()
        finally:
            process.stop()


def test_a_502_on_get_me_at_start_is_retried(tmp_path: Path) -> None:
    polling, output = _starts_polling(tmp_path, "getMe", kind="http", status=502)
    assert polling, output[-2000:]


def test_a_502_on_set_my_commands_at_start_is_survived(tmp_path: Path) -> None:
    polling, output = _starts_polling(tmp_path, "setMyCommands", kind="http", status=502)
    assert polling, output[-2000:]


def test_a_429_on_set_my_commands_at_start_is_waited_out(tmp_path: Path) -> None:
    polling, output = _starts_polling(tmp_path, "setMyCommands", kind="retry_after", retry_after=1)
    assert polling, output[-2000:]
