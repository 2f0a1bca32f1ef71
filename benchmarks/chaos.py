"""Crash safety: many patients use the real bot while it is SIGKILLed again and again.

Run `python -m benchmarks.chaos` (`--quick` for 10 patients and 5 kills, `--seed N` to vary the
schedule). One fake Bot API server (tests/fake_telegram) and the real `python -m bot run`
process (tests/bot_process.BotProcess), with a fresh DATA_DIR and KEY_FILE in a temporary folder.

What happens:

- `--patients` simulated patients (one asyncio task each, starting at random moments) each do the
  whole self-check (their own answers: "No" or "Not sure" to the safety question, then yes / no /
  not sure to the 8 signs) and then ask for a call back from the result message (their own name,
  phone number, time of day, and a typed note or "Skip"), up to "I agree, send it".
- A controller SIGKILLs the bot `--kills` times at random (seeded) moments - uptimes from half a
  second, so some kills land while the restarted bot is still sending what the last one left in
  its outbox - and restarts it after a short random pause.
- A patient acts on what their chat shows: the bot message that changed last among those of the
  step they are in (the self-check message, or the call-back request's messages). A press on a
  keyboard that moved on is answered "moved on"; they look again and press the right button. A
  command, text or press that got no reply at all within REPLY_TIMEOUT is sent again, and counted.
  They never read the database.

At the end, with the bot stopped cleanly: every self-check result lists exactly the signs the
patient said yes (and not sure) to; the requests table holds exactly one row per patient (names
decrypted with the run's key and compared); the staff chat (STAFF_CHAT_ID) got exactly one message
per request, each with the right name; no patient got a final reply (the result, "the clinic has
your request") twice; `PRAGMA integrity_check` is ok; the outbox is empty; and the fake server saw
no call Telegram would refuse, except "message is not modified" on an edit the bot sent again
after a restart (counted apart). Updates the bot received but never processed (it confirms an
update to Telegram when it fetches the next batch, which can be before its handler committed)
are counted from the server's delivery log and the processed_updates table.

Then two start-up failures: a DATA_DIR that cannot be written (the bot must exit 2 with one line
naming DATA_DIR) and a full disk, simulated per process with RLIMIT_FSIZE (a file may not grow
past a limit: writes fail with EFBIG where a full disk gives ENOSPC; both reach SQLite as a
failed write). The full disk is tried at start, and while running (then freed again).

Last, with no kills at all, "quick fingers": patients who type five questions before the first
answer arrives, and double-tap every self-check button (each question must be answered once);
and 25 patients pressing "I agree, send it" at the same moment, then asking a question: more
than the 20 messages a minute Telegram lets a bot post to a group, so the staff notifications
queue - the patients' next answers should not. And one kill at a chosen moment: right after the
bot confirmed to Telegram a second message that was still waiting behind a slow first answer.

The exit code is 0 when the chaos run itself lost and duplicated nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import load_config
from bot.content.html import to_plain_text
from bot.content.loader import Knowledge, load_knowledge
from bot.core.dialogue import Dialogue
from bot.core.replies import Reply, UserInput
from bot.core.state import ConversationState
from bot.storage.sqlite.store import DATABASE_NAME, SqliteStore
from tests.bot_process import BOOKING_URL, PROJECT, TOKEN, BotProcess
from tests.fake_telegram.server import ChatMessage, FakeTelegramServer, RecordedRequest

STAFF_CHAT = -100_777_001
FIRST_CHAT = 8_100_001
REPLY_TIMEOUT = 6.0  # no reply at all within this: the patient sends it again
STALE_PAUSE = 1.0  # after "this question has moved on": look again after this
SETTLE = 0.15  # after a reply arrived: a second message of the same turn may follow
PATIENT_DEADLINE = 240.0  # one patient, start to end; longer means stuck
SAME_STEP_LIMIT = 12  # the same action this many times in a row: stuck
REPLY_METHODS = frozenset({"sendMessage", "editMessageText"})


def knowledge() -> Knowledge:
    config = load_config(env={"BOOKING_URL": BOOKING_URL}, env_file=Path("/nonexistent"))
    return load_knowledge(config.knowledge_dir, config.clinic_overrides)


KNOWLEDGE = knowledge()
SC = KNOWLEDGE.selfcheck
CB = KNOWLEDGE.callback
UI = KNOWLEDGE.ui


def plain(html: str) -> str:
    return to_plain_text(html).strip()


# What the patient sees, as markers in the plain text of a bot message.
INTRO = plain(SC.texts["intro"]).split("\n")[0]
PROGRESS = re.compile(r"Question (\d+) of (\d+)")
RESULT = "Your result"
STALE = UI.texts["stale_button"]
FLOW_MARKERS = (  # (screen, marker), most specific first
    ("received", "The clinic has your request"),
    ("consent", "Before I send it"),
    ("summary", "Please check your request"),
    ("ask_note", plain(CB.text("ask_note"))),
    ("ask_time", plain(CB.text("ask_time"))),
    ("phone_ok", plain(CB.text("phone_ok", patient_phone="\x00")).split("\x00")[0]),
    ("bad_phone", plain(CB.text("bad_phone"))),
    ("ask_phone", "What number should the clinic call?"),
    ("bad_name", plain(CB.text("bad_name"))),
    ("ask_name", "What name should they ask for?"),
    ("cancelled", plain(CB.text("cancelled"))),
)
for _screen, _marker in FLOW_MARKERS:
    assert _marker, f"empty marker for {_screen}"
    assert _marker in plain(CB.texts[_screen] if _screen in CB.texts else CB.text(_screen, patient_phone="x")), _screen
FIRST_NAMES = ("Aiko", "Haruto", "Yui", "Sota", "Mei", "Ren", "Hina", "Kaito", "Sakura", "Yuto", "Emma", "Noah")
LAST_NAMES = ("Sato", "Suzuki", "Takahashi", "Tanaka", "Ito", "Watanabe", "Yamamoto", "Nakamura", "Kobayashi",
              "Kato", "Smith", "Garcia")  # fmt: skip
NOTES = (
    "Please call after 10",
    "I prefer to speak English",
    "Weekdays are best for me",
    "My daughter may answer the phone",
    "I saw the article about stress",
    "I have been to the clinic before",
)
TIMES = ("morning", "afternoon", "evening", "any")


# --------------------------------------------------------------------------- the fake server


class WatchedServer(FakeTelegramServer):
    """The fake Bot API server, calling `listener(record)` in its own threads when a call
    finished, and quiet about connections a killed bot left half-open."""

    listener: Callable[[RecordedRequest], None] | None = None

    def _finish(self, record: RecordedRequest, status: int | None, body: Any) -> Any:
        reply = super()._finish(record, status, body)
        listener = self.listener
        if listener is not None:
            listener(record)
        return reply

    def start(self) -> WatchedServer:
        super().start()
        if self._httpd is not None:  # a SIGKILLed bot resets its connections: not worth a traceback
            self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        return self

    def chat_of_callback(self, query_id: str) -> int | None:
        with self._lock:
            record = self._callbacks.get(query_id)
            return record.chat_id if record else None


class Watcher:
    """Per chat, a counter bumped by every reply call that succeeded (a message sent or edited, a
    button press answered), and for every message the moment (a global counter) it last changed."""

    def __init__(self, server: WatchedServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.versions: Counter[int] = Counter()
        self.replies: Counter[int] = Counter()  # messages sent or edited only (no button answers)
        self.changed: dict[tuple[int, int], int] = {}
        self.tick = 0
        self.events: dict[int, asyncio.Event] = {}
        self.stale_answers: Counter[int] = Counter()
        self.changed_at: dict[int, float] = {}  # per chat: when its newest call of these finished
        self.reply_at: dict[int, float] = {}  # per chat: when its newest message was sent or edited
        self.last_call_at = time.monotonic()
        server.listener = self._from_server

    def _from_server(self, record: RecordedRequest) -> None:  # in a server thread
        if record.method == "getUpdates":
            return
        self.last_call_at = time.monotonic()
        if record.status != 200:
            return
        message_id = None
        stale = False
        if record.method in REPLY_METHODS:
            try:
                chat = int(record.params.get("chat_id"))
            except (TypeError, ValueError):
                return
            if record.method == "sendMessage":
                result = record.result if isinstance(record.result, dict) else {}
                message_id = result.get("message_id")
            else:
                message_id = record.params.get("message_id")
        elif record.method == "answerCallbackQuery":
            found = self.server.chat_of_callback(str(record.params.get("callback_query_id")))
            if found is None:
                return
            chat = found
            stale = record.params.get("text") == STALE
        else:
            return
        self.loop.call_soon_threadsafe(self._bump, chat, message_id, stale, time.monotonic())

    def _bump(self, chat: int, message_id: Any, stale: bool, at: float) -> None:
        self.tick += 1
        self.changed_at[chat] = at
        self.versions[chat] += 1
        if message_id is not None:
            self.replies[chat] += 1
            self.reply_at[chat] = at
            self.changed[(chat, int(message_id))] = self.tick
        if stale:
            self.stale_answers[chat] += 1
        event = self.events.get(chat)
        if event is not None:
            event.set()

    def version(self, chat: int) -> int:
        return self.versions[chat]

    async def wait_change(self, chat: int, version: int, timeout: float, replies_only: bool = False) -> bool:
        """Until the chat's counter moved on from `version` (`replies_only`: the reply counter)."""
        counter = self.replies if replies_only else self.versions
        deadline = time.monotonic() + timeout
        while counter[chat] == version:
            event = self.events.setdefault(chat, asyncio.Event())
            event.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return True

    def newest(self, chat: int, messages: list[ChatMessage]) -> list[ChatMessage]:
        """Messages, the one that changed last first."""
        return sorted(messages, key=lambda m: self.changed.get((chat, m.message_id), 0), reverse=True)

    async def quiet(self, seconds: float, timeout: float) -> None:
        """Until the bot made no call but polling for `seconds`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and time.monotonic() - self.last_call_at < seconds:
            await asyncio.sleep(0.1)


# --------------------------------------------------------------------------- the patients


@dataclass(frozen=True)
class Plan:
    chat: int
    entry: str  # "/selfcheck" or "/start selfcheck"
    screening: str  # "no" or "unsure"
    answers: tuple[str, ...]
    name: str
    phone: str  # as typed
    phone_e164: str
    time: str
    note: str | None  # None: "Skip"
    start_delay: float
    think: tuple[float, float]
    expected_result: str = ""
    expected_summary: str = ""
    expected_received: str = ""

    @property
    def yes_signs(self) -> list[str]:
        return [q.summary for q, a in zip(SC.questions, self.answers, strict=True) if a == "yes"]

    @property
    def unsure_signs(self) -> list[str]:
        return [q.summary for q, a in zip(SC.questions, self.answers, strict=True) if a == "unsure"]


def make_plans(count: int, rng: random.Random, first_chat: int, span: float, think: tuple[float, float]) -> list[Plan]:
    names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(names)
    plans = []
    for number in range(count):
        name = names[number % len(names)] + (f" {number // len(names) + 1}" if number >= len(names) else "")
        digits = f"{rng.choice(('90', '80'))}{rng.randrange(10_000_000, 100_000_000)}"
        plan = Plan(
            chat=first_chat + number,
            entry=rng.choice(("/selfcheck", "/selfcheck", "/start selfcheck")),
            screening="unsure" if rng.random() < 0.15 else "no",
            answers=tuple(rng.choices(("yes", "no", "unsure"), weights=(4, 4, 2), k=len(SC.questions))),
            name=name,
            phone=f"0{digits[:2]}-{digits[2:6]}-{digits[6:]}",
            phone_e164=f"+81{digits}",
            time=rng.choice(TIMES),
            note=rng.choice(NOTES) if rng.random() < 0.5 else None,
            start_delay=rng.uniform(0, span),
            think=think,
        )
        plans.append(expected(plan))
    return plans


def expected(plan: Plan) -> Plan:
    """What the patient must end up seeing, worked out by the bot's own dialogue core; stops the
    benchmark when the core no longer behaves as the patients expect."""
    dialogue = Dialogue(KNOWLEDGE)
    state = ConversationState()
    last: tuple[Reply, ...] = ()

    def send(user_input: UserInput) -> tuple[Reply, ...]:
        nonlocal state, last
        turn = dialogue.handle(state, user_input)
        state = turn.state
        if any(reply.buttons for reply in turn.replies):
            last = turn.replies
        return turn.replies

    def press(label: str) -> tuple[Reply, ...]:
        found = [b for r in last for row in r.buttons for b in row if b.label == label and b.action]
        if not found:
            raise SystemExit(f"benchmark out of date: no button {label!r} where a patient presses it")
        return send(UserInput.action(found[-1].action or ""))

    command, _, payload = plan.entry[1:].partition(" ")
    send(UserInput.command(command, payload))
    press(SC.buttons[plan.screening])
    if plan.screening == "unsure":
        press(SC.buttons["continue"])
    for answer in plan.answers:
        replies = press(SC.buttons[answer])
    result = plain(replies[-1].text)
    if not result.startswith(RESULT):
        raise SystemExit("benchmark out of date: the self-check does not end on its result")
    press(CB.buttons["request"])
    send(UserInput.text(plan.name))
    send(UserInput.text(plan.phone))
    press(CB.buttons[plan.time])
    summary = press(CB.buttons["skip"]) if plan.note is None else send(UserInput.text(plan.note))
    press(CB.buttons["confirm"])
    received = press(CB.buttons["agree"])
    if not received or "The clinic has your request" not in plain(received[-1].text):
        raise SystemExit(f"benchmark out of date: the request of {plan.name!r} is not received")
    return dataclasses.replace(
        plan,
        expected_result=result,
        expected_summary=plain(summary[-1].text),
        expected_received=plain(received[-1].text),
    )


@dataclass
class Outcome:
    plan: Plan
    pushes: list[int] = field(default_factory=list)  # update ids
    presses: dict[str, int] = field(default_factory=dict)  # callback query id -> update id
    resends: int = 0  # sent again after no reply within REPLY_TIMEOUT
    represses: int = 0  # pressed again after "moved on"
    check_message: int | None = None
    result_text: str | None = None
    received: bool = False
    started_at: float = 0.0
    finished_at: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def check_ok(self) -> bool:
        return self.result_text is not None and not any(p.startswith("result") for p in self.problems)


@dataclass(frozen=True)
class Act:
    kind: str  # command, text, press, wait, done
    value: str = ""
    message_id: int | None = None
    key: tuple[Any, ...] = ()


def screen_of_check(message: ChatMessage) -> str | None:
    text = message.text or ""
    if text.startswith(RESULT):
        return "result"
    if PROGRESS.match(text):
        return "question"
    if text.startswith(INTRO):
        return "screening"
    if SC.buttons["continue"] in message.button_texts:
        return "screening_unsure"
    return None


def screen_of_flow(message: ChatMessage) -> str | None:
    text = message.text or ""
    for screen, marker in FLOW_MARKERS:
        if marker in text:
            return screen
    return None


def parse_signs(text: str, heading: str) -> list[str]:
    """The bullet lines after the line that starts with `heading`."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.startswith(heading):
            signs = []
            for bullet in lines[index + 1 :]:
                if not bullet.startswith("• "):
                    break
                signs.append(bullet[2:])
            return signs
    return []


class Patient:
    def __init__(self, plan: Plan, server: WatchedServer, watcher: Watcher, rng: random.Random) -> None:
        self.plan = plan
        self.server = server
        self.watcher = watcher
        self.rng = rng
        self.outcome = Outcome(plan)

    # What to do next, from what the chat shows.

    def decide(self) -> Act:
        chat = self.plan.chat
        messages = self.watcher.newest(chat, self.server.bot_messages(chat))
        if self.outcome.result_text is None:
            return self._decide_check(messages)
        return self._decide_flow(messages)

    def _press(self, message: ChatMessage, label: str, screen: str) -> Act:
        return Act("press", label, message.message_id, ("press", message.message_id, screen, message.text))

    def _decide_check(self, messages: list[ChatMessage]) -> Act:
        plan = self.plan
        check = next((m for m in messages if screen_of_check(m)), None)
        if check is None:
            return Act("command", plan.entry, key=("command", plan.entry))
        screen = screen_of_check(check)
        if screen == "result":
            self._check_result(check)
            return self._decide_flow(messages)
        self.outcome.check_message = check.message_id
        if screen == "screening":
            return self._press(check, SC.buttons[plan.screening], screen)
        if screen == "screening_unsure":
            return self._press(check, SC.buttons["continue"], screen)
        match = PROGRESS.match(check.text or "")
        assert match is not None
        number = int(match.group(1))
        return self._press(check, SC.buttons[plan.answers[number - 1]], f"question {number}")

    def _check_result(self, message: ChatMessage) -> None:
        plan = self.plan
        text = message.text or ""
        self.outcome.result_text = text
        self.outcome.check_message = message.message_id
        yes = parse_signs(text, "You said yes to")
        unsure = parse_signs(text, "You were not sure about")
        if yes != plan.yes_signs:
            self.outcome.problems.append(f"result: yes-list {yes} but the patient said yes to {plan.yes_signs}")
        if unsure != plan.unsure_signs:
            self.outcome.problems.append(f"result: not-sure list {unsure}, expected {plan.unsure_signs}")
        count = re.search(r"You said yes to (\d+) of", text)
        if plan.yes_signs and (count is None or int(count.group(1)) != len(plan.yes_signs)):
            self.outcome.problems.append(f"result: wrong count in {text[:80]!r}")
        if text != plan.expected_result:
            self.outcome.problems.append("result: the text differs from what the dialogue core gives")

    def _decide_flow(self, messages: list[ChatMessage]) -> Act:
        plan = self.plan
        current = next((m for m in messages if screen_of_flow(m)), None)
        screen = screen_of_flow(current) if current is not None else None
        if current is None or screen == "cancelled":
            result = next(m for m in messages if screen_of_check(m) == "result")
            return self._press(result, CB.buttons["request"], "result")
        if screen == "received":
            if plan.name not in (current.text or "") or current.text != plan.expected_received:
                self.outcome.problems.append(f"received: {current.text!r}")
            return Act("done")
        if screen == "consent":
            return self._press(current, CB.buttons["agree"], screen)
        if screen == "summary":
            if current.text != plan.expected_summary:
                self.outcome.problems.append(f"summary: {current.text!r}, expected {plan.expected_summary!r}")
            return self._press(current, CB.buttons["confirm"], screen)
        if screen == "ask_note":
            if plan.note is None:
                return self._press(current, CB.buttons["skip"], screen)
            return Act("text", plan.note, key=("text", screen, current.message_id, plan.note))
        if screen == "ask_time":
            return self._press(current, CB.buttons[plan.time], screen)
        if screen == "phone_ok":
            return Act("wait", key=("wait", current.message_id))
        if screen in ("ask_phone", "bad_phone"):
            return Act("text", plan.phone, key=("text", screen, current.message_id, plan.phone))
        return Act("text", plan.name, key=("text", screen, current.message_id, plan.name))

    # Doing it.

    def _push(self, act: Act) -> int | None:
        chat = self.plan.chat
        if act.kind == "command":
            command, _, payload = act.value.partition(" ")
            update = self.server.push_command(chat, command, payload or None)
        elif act.kind == "text":
            update = self.server.push_text(chat, act.value)
        else:
            message = self.server.message(chat, act.message_id or 0)
            data = next((b.get("callback_data") for b in (message.buttons if message else [])
                         if b.get("text") == act.value and "callback_data" in b), None)  # fmt: skip
            if data is None:
                return None  # the keyboard changed meanwhile: look again
            update = self.server.push_callback(chat, act.message_id or 0, data, check_button=False)
            self.outcome.presses[str(update["callback_query"]["id"])] = int(update["update_id"])
        return int(update["update_id"])

    async def run(self, deadline: float) -> Outcome:
        plan, watcher, outcome = self.plan, self.watcher, self.outcome
        await asyncio.sleep(plan.start_delay)
        outcome.started_at = time.monotonic()
        last_key: tuple[Any, ...] | None = None
        last_changed = False
        same = 0
        while True:
            if time.monotonic() > min(deadline, outcome.started_at + PATIENT_DEADLINE):
                outcome.problems.append(f"stuck: last action {last_key}")
                break
            act = self.decide()
            if act.kind == "done":
                outcome.received = True
                outcome.finished_at = time.monotonic()
                break
            if act.kind == "wait":
                await watcher.wait_change(plan.chat, watcher.version(plan.chat), REPLY_TIMEOUT)
                continue
            if act.key == last_key:
                same += 1
                if same >= SAME_STEP_LIMIT:
                    outcome.problems.append(f"stuck: {same} times {act.key}")
                    break
                if last_changed:  # answered, but the screen did not move: "moved on", look again
                    await asyncio.sleep(STALE_PAUSE)
                    if self.decide() != act:
                        continue
                    outcome.represses += 1
                else:
                    outcome.resends += 1
            else:
                same = 0
                await asyncio.sleep(self.rng.uniform(*plan.think))
            version = watcher.version(plan.chat)
            update_id = self._push(act)
            if update_id is None:
                continue
            outcome.pushes.append(update_id)
            last_key = act.key
            last_changed = await watcher.wait_change(plan.chat, version, REPLY_TIMEOUT)
            if last_changed:
                await asyncio.sleep(SETTLE)
        return outcome


# --------------------------------------------------------------------------- the kills


@dataclass
class KillLog:
    kills: list[float] = field(default_factory=list)  # monotonic time of each SIGKILL
    restarts: list[float] = field(default_factory=list)  # when each restarted bot was polling
    startup_seconds: list[float] = field(default_factory=list)


async def controller(bot: BotProcess, kills: int, rng: random.Random, log: KillLog,
                     uptime: tuple[float, float], pause: tuple[float, float]) -> None:  # fmt: skip
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(*uptime))
        await asyncio.to_thread(bot.kill)
        log.kills.append(time.monotonic())
        await asyncio.sleep(rng.uniform(*pause))
        started = time.monotonic()
        await asyncio.to_thread(bot.start)
        log.restarts.append(time.monotonic())
        log.startup_seconds.append(time.monotonic() - started)


# --------------------------------------------------------------------------- the run


@dataclass
class ChaosResult:
    patients: int
    kills: int
    kills_mid_flow: int = 0
    updates_sent: int = 0
    resends: int = 0
    represses: int = 0
    lost_updates: int = 0
    resumed: int = 0
    checks_ok: int = 0
    requests_received: int = 0
    request_rows: int = 0
    delivered_once: int = 0
    lost_requests: int = 0
    duplicate_staff: int = 0
    marked_repeats: int = 0
    delivered_with_marked_repeat: int = 0
    duplicate_rows: int = 0
    duplicate_finals: int = 0
    duplicate_sends: int = 0
    integrity: str = "?"
    outbox_left: int = -1
    not_modified_after_restart: int = 0
    presses_answered_again: int = 0
    other_errors: list[str] = field(default_factory=list)
    unanswered_presses: int = 0
    unanswered_processed: int = 0  # handled (committed) but the press never answered
    problems: list[str] = field(default_factory=list)
    bot_errors: int = 0
    wall_seconds: float = 0.0
    startup_seconds: list[float] = field(default_factory=list)


def db_counts(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        # Table names come from sqlite_master, not from anyone's input.
        return {t: int(db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]) for t in tables}  # noqa: S608


async def wait_outbox_empty(path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    left = -1
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.Error):
            left = db_counts(path).get("outbox", -1)
            if left == 0:
                return 0
        await asyncio.sleep(0.5)
    return left


@dataclass(frozen=True)
class StaffMessage:
    number: int
    name: str
    text: str
    marked: bool  # sent again after a cut-off attempt, saying it may be a repeat


def staff_requests(server: FakeTelegramServer) -> list[StaffMessage]:
    """Every call-back request message the staff chat received, in order."""
    found = []
    for record in server.calls("sendMessage"):
        if record.status != 200 or str(record.params.get("chat_id")) != str(STAFF_CHAT):
            continue
        text = plain(str(record.params.get("text") or ""))
        number = re.search(r"(?:^|\n)Call-back request #(\d+)\n", text)
        name = re.search(r"\nName: (.*)\n", text)
        if number and name:
            repeat = to_plain_text(KNOWLEDGE.callback.staff_text("maybe_repeated", number=number.group(1)))
            found.append(StaffMessage(int(number.group(1)), name.group(1), text, text.startswith(repeat + "\n")))
    return found


def duplicated_sends(server: FakeTelegramServer, chats: set[int]) -> Counter[int]:
    """Per patient chat: messages sent twice in a row (same text and buttons) - what a reply sent
    again after a kill (it reached Telegram, the bot died before noting it) looks like."""
    return Counter(chat for chat, _ in sent_twice(server, chats))


def sent_twice(server: FakeTelegramServer, chats: set[int]) -> list[tuple[int, RecordedRequest]]:
    """(chat, the second sendMessage) for every message sent twice in a row to a chat."""
    last: dict[int, tuple[Any, ...]] = {}
    twice: list[tuple[int, RecordedRequest]] = []
    for record in server.calls("sendMessage"):
        if record.status != 200:
            continue
        try:
            chat = int(record.params.get("chat_id"))
        except (TypeError, ValueError):
            continue
        if chat not in chats:
            continue
        call = (record.params.get("text"), str(record.params.get("reply_markup")))
        if last.get(chat) == call:
            twice.append((chat, record))
        last[chat] = call
    return twice


async def chaos_run(args: argparse.Namespace, base: Path) -> ChaosResult:
    rng = random.Random(args.seed)
    plans = make_plans(args.patients, random.Random(rng.random()), FIRST_CHAT, args.span, args.think)
    result = ChaosResult(patients=args.patients, kills=args.kills)
    data_dir = base / "data"
    key_file = base / "keys" / "data.key"
    started = time.monotonic()
    with WatchedServer(token=TOKEN) as server:
        server.add_chat(STAFF_CHAT, "group", title="Clinic staff")
        watcher = Watcher(server, asyncio.get_running_loop())
        bot = BotProcess(server, data_dir, KEY_FILE=str(key_file), STAFF_CHAT_ID=str(STAFF_CHAT), LOG_LEVEL="INFO")
        await asyncio.to_thread(bot.start)
        kill_log = KillLog()
        patients = [Patient(plan, server, watcher, random.Random(rng.random())) for plan in plans]
        deadline = time.monotonic() + args.deadline
        control = asyncio.create_task(
            controller(bot, args.kills, random.Random(rng.random()), kill_log, args.uptime, args.pause)
        )
        outcomes = await asyncio.gather(*(patient.run(deadline) for patient in patients))
        await control
        result.outbox_left = await wait_outbox_empty(data_dir / DATABASE_NAME, 30)
        await watcher.quiet(1.5, 20)
        await asyncio.to_thread(bot.stop)
        result.wall_seconds = time.monotonic() - started
        result.startup_seconds = kill_log.startup_seconds
        _judge(result, outcomes, server, kill_log, data_dir, key_file)
        result.bot_errors = sum(1 for line in bot.output().splitlines() if " ERROR " in line)
    return result


def _judge(result: ChaosResult, outcomes: list[Outcome], server: WatchedServer, kill_log: KillLog,
           data_dir: Path, key_file: Path) -> None:  # fmt: skip
    plans = {o.plan.chat: o.plan for o in outcomes}
    for outcome in outcomes:
        result.updates_sent += len(outcome.pushes)
        result.resends += outcome.resends
        result.represses += outcome.represses
        result.checks_ok += outcome.check_ok
        result.requests_received += outcome.received
        end = outcome.finished_at or time.monotonic()
        if outcome.received and any(outcome.started_at < kill < end for kill in kill_log.kills):
            result.resumed += 1
        result.problems += [f"patient {outcome.plan.name}: {p}" for p in outcome.problems]
    result.kills_mid_flow = sum(
        1 for kill in kill_log.kills
        if any(o.started_at < kill < (o.finished_at or float("inf")) for o in outcomes if o.started_at)
    )  # fmt: skip

    # Final replies: the result and "the clinic has your request", each once per patient.
    for chat, plan in plans.items():
        messages = server.bot_messages(chat)
        results = [m for m in messages if (m.text or "").startswith(RESULT)]
        received = [m for m in messages if "The clinic has your request" in (m.text or "")]
        extra = max(0, len(results) - 1) + max(0, len(received) - 1)
        if extra:
            result.duplicate_finals += extra
            result.problems.append(f"patient {plan.name}: {len(results)} results, {len(received)} 'received'")
    twice = sent_twice(server, set(plans))
    result.duplicate_sends = len(twice)
    walls = _walls(kill_log)
    for chat, record in twice:
        since = [record.started - wall for wall in walls if wall <= record.started]
        when = f"{min(since):.2f} s after a kill" if since else "before any kill"
        text = plain(str(record.params.get("text") or "")).split("\n")[0][:60]
        result.problems.append(f"patient {plans[chat].name}: {text!r} sent twice ({when})")

    # The database: one row per request, the names the patients gave; intact; outbox empty.
    store = SqliteStore(data_dir, key_file=key_file)
    try:
        rows = store.requests()
        result.integrity = store.db.execute("PRAGMA integrity_check").fetchone()[0]
        processed = {row[0] for row in store.db.execute("SELECT update_id FROM processed_updates")}
    finally:
        store.close()
    result.request_rows = len(rows)
    row_names = Counter(row.name for row in rows)
    result.duplicate_rows = sum(count - 1 for count in row_names.values() if count > 1)
    staff = staff_requests(server)
    staff_names = Counter(message.name for message in staff)
    staff_numbers = Counter(message.number for message in staff)
    # A repeat is silent unless it carries the "sent again" line: a kill that cut off an attempt
    # Telegram had shown already makes the bot send it again, marked (at-least-once, announced).
    silent: Counter[int] = Counter()
    seen: set[int] = set()
    for message in staff:
        if message.number in seen:
            if message.marked:
                result.marked_repeats += 1
            else:
                silent[message.number] += 1
        seen.add(message.number)
    result.duplicate_staff = sum(silent.values())
    by_name = {row.name: row for row in rows}
    for plan in plans.values():
        row = by_name.get(plan.name)
        if row is not None and row_names[plan.name] == 1 and staff_numbers[row.id] >= 1 and not silent[row.id]:
            details_ok = (row.phone, row.preferred_time, row.note) == (plan.phone_e164, plan.time, plan.note or "")
            if not details_ok:
                result.problems.append(f"request of {plan.name}: stored {row.phone} {row.preferred_time} {row.note!r}")
            elif staff_numbers[row.id] == 1:
                result.delivered_once += 1
            else:
                result.delivered_with_marked_repeat += 1
        else:
            if row_names[plan.name] == 0 or staff_names[plan.name] == 0:
                result.lost_requests += 1
            result.problems.append(
                f"request of {plan.name}: {row_names[plan.name]} row(s), {staff_names[plan.name]} staff message(s)"
            )
    unknown = set(staff_names) - {p.name for p in plans.values()}
    if unknown:
        result.problems.append(f"staff messages for names nobody gave: {sorted(unknown)}")

    # Updates the bot was given (delivered at least once) but never processed.
    for outcome in outcomes:
        lost = [u for u in outcome.pushes if u not in processed and server.delivery_count(u) > 0]
        result.lost_updates += len(lost)

    # Calls Telegram would refuse.
    for record in server.validation_errors:
        description = record.description or ""
        after_restart = any(0 <= record.started - wall < 15 for wall in _walls(kill_log))
        if record.method == "editMessageText" and "not modified" in description and after_restart:
            result.not_modified_after_restart += 1
        elif record.method == "answerCallbackQuery" and "too old" in description and after_restart:
            # Answered, then killed before that was recorded: answered again at the restart.
            result.presses_answered_again += 1
        else:
            result.other_errors.append(f"{record.method}: {description}{_error_context(server, record, kill_log)}")
    presses = {query: update for outcome in outcomes for query, update in outcome.presses.items()}
    for query in server.unanswered_callbacks():
        result.unanswered_presses += 1
        result.unanswered_processed += presses.get(query.id) in processed


def _error_context(server: WatchedServer, record: RecordedRequest, kill_log: KillLog) -> str:
    """Where a refused call came from: for a button press answered twice, every answer to it and
    how long after the nearest kill it came."""
    walls = _walls(kill_log)

    def since_kill(at: float) -> str:
        before = [at - wall for wall in walls if wall <= at]
        return f"{min(before):.2f} s after a kill" if before else "before any kill"

    context = f" (chat {record.params.get('chat_id', '?')}, {since_kill(record.started)})"
    if record.method == "answerCallbackQuery":
        query_id = str(record.params.get("callback_query_id"))
        answers = [r for r in server.calls("answerCallbackQuery") if str(r.params.get("callback_query_id")) == query_id]
        chat = server.chat_of_callback(query_id)
        context = (
            f" (query of chat {chat}: answered {len(answers)} times: "
            + ", ".join(f"#{r.seq} {r.status} {since_kill(r.started)} text={r.params.get('text')!r}" for r in answers)
            + ")"
        )
    return context


def _walls(kill_log: KillLog) -> list[float]:
    """The restarts as wall-clock times (server records use time.time())."""
    offset = time.time() - time.monotonic()
    return [kill + offset for kill in kill_log.kills]


# --------------------------------------------------------------------------- start-up failures


@dataclass
class StartFailure:
    what: str
    method: str
    exit_code: int | None
    lines: list[str]

    @property
    def one_clear_line(self) -> bool:
        return len(self.lines) == 1 and "DATA_DIR" in self.lines[0]


# A deployed clinic sets these; without them the bot warns about the shipped placeholders, which
# would hide whether the failure itself is said in one line.
CLINIC_SETTINGS = {"CLINIC_NAME": "Chaos Spine Clinic", "CLINIC_PHONE": "03-1234-5678", "CLINIC_HOURS": "Mon-Fri 9-18"}


def _bot_env(server: FakeTelegramServer, data_dir: Path, key_file: Path) -> dict[str, str]:
    return BotProcess(server, data_dir, KEY_FILE=str(key_file), **CLINIC_SETTINGS).env


def read_only_data_dir_check(base: Path) -> StartFailure:
    """The bot on a DATA_DIR it cannot write: exit 2, one line naming DATA_DIR. A folder with mode
    0500 when that stops us (not root); as root, where permissions do not stop anything, a
    DATA_DIR below a regular file, which can never be created."""
    base.mkdir(parents=True, exist_ok=True)
    folder = base / "read-only"
    folder.mkdir()
    os.chmod(folder, 0o500)
    data_dir, method = folder / "data", "folder with mode 0500"
    if os.access(folder, os.W_OK):  # root: the mode does not stop writes
        blocker = base / "a-file"
        blocker.write_text("not a folder\n")
        data_dir, method = blocker / "data", "DATA_DIR below a regular file (running as root: mode 0500 is ignored)"
    with WatchedServer(token=TOKEN) as server:
        run = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            cwd=PROJECT,
            env=_bot_env(server, data_dir, base / "keys" / "data.key"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    os.chmod(folder, 0o700)
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    return StartFailure("DATA_DIR not writable", method, run.returncode, lines)


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:  # in the child, before exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return apply


def full_disk_at_start_check(base: Path) -> StartFailure:
    """A disk with no room left when the bot starts: no file may grow past 0 bytes."""
    data_dir = base / "full-at-start" / "data"
    with WatchedServer(token=TOKEN) as server:
        run = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            cwd=PROJECT,
            env=_bot_env(server, data_dir, base / "full-at-start" / "data.key"),
            capture_output=True,  # pipes: not limited by RLIMIT_FSIZE, so the message is seen
            text=True,
            timeout=60,
            check=False,
            preexec_fn=_limit_file_size(0),  # only setrlimit between fork and exec
        )
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    return StartFailure("disk full at start", "RLIMIT_FSIZE 0", run.returncode, lines)


@dataclass
class FullDiskRun:
    limit: int = 0
    answered_while_full: int = 0
    questions_while_full: int = 0
    consent_reply: str = ""
    rows_while_full: int = -1
    staff_while_full: int = 0
    recovered: bool = False
    rows_after: int = -1
    staff_after: int = 0
    integrity: str = "?"
    log_lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def full_disk_while_running_check(base: Path) -> FullDiskRun:
    """The disk fills while the bot runs (RLIMIT_FSIZE lowered on the running process to the size
    its write-ahead log has then: every write from now on needs the file to grow), then frees."""
    out = FullDiskRun()
    data_dir = base / "full-later" / "data"
    key_file = base / "full-later" / "data.key"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    chat = FIRST_CHAT - 1000
    with WatchedServer(token=TOKEN) as server:
        server.add_chat(STAFF_CHAT, "group", title="Clinic staff")
        watcher = Watcher(server, asyncio.get_running_loop())
        bot = BotProcess(server, data_dir, KEY_FILE=str(key_file), STAFF_CHAT_ID=str(STAFF_CHAT))
        await asyncio.to_thread(bot.start)
        plan = make_plans(1, random.Random(7), chat, 0, (0.0, 0.0))[0]
        patient = Patient(plan, server, watcher, random.Random(1))
        try:
            # Up to the consent question (saved), with the disk still fine.
            for _ in range(60):
                act = patient.decide()
                if act.kind == "press" and act.value == CB.buttons["agree"]:
                    break
                if act.kind == "wait":
                    await watcher.wait_change(chat, watcher.version(chat), REPLY_TIMEOUT)
                    continue
                version = watcher.version(chat)
                patient._push(act)
                if await watcher.wait_change(chat, version, REPLY_TIMEOUT):
                    await asyncio.sleep(SETTLE)
            else:
                out.notes.append("could not reach the consent question")
                return out
            await watcher.quiet(0.5, 10)
            wal = data_dir / f"{DATABASE_NAME}-wal"
            out.limit = wal.stat().st_size if wal.exists() else (data_dir / DATABASE_NAME).stat().st_size
            pid = bot.process.pid if bot.process else 0
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (out.limit, resource.RLIM_INFINITY))
            # Questions while full: still answered?
            questions = ("how does stress cause back pain", "what is the cellgel method", "how does sleep help")
            for question in questions:
                version = watcher.version(chat)
                server.push_text(chat, question)
                out.questions_while_full += 1
                if await watcher.wait_change(chat, version, REPLY_TIMEOUT):
                    out.answered_while_full += 1
                await asyncio.sleep(SETTLE)
            # "I agree, send it" while full: must not say "received".
            consent = next(m for m in watcher.newest(chat, server.bot_messages(chat)) if screen_of_flow(m) == "consent")
            version = watcher.version(chat)
            server.press_inline_button(chat, CB.buttons["agree"], message_id=consent.message_id)
            await watcher.wait_change(chat, version, REPLY_TIMEOUT)
            await watcher.quiet(0.5, 10)
            newest = watcher.newest(chat, server.bot_messages(chat))[0]
            out.consent_reply = newest.text or ""
            out.rows_while_full = db_counts(data_dir / DATABASE_NAME).get("requests", -1)
            out.staff_while_full = len(staff_requests(server))
            # Room again: the same press goes through.
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            await asyncio.sleep(0.5)
            for _ in range(3):
                consent = server.message(chat, consent.message_id)
                if consent is None or CB.buttons["agree"] not in consent.button_texts:
                    break
                version = watcher.version(chat)
                server.press_inline_button(chat, CB.buttons["agree"], message_id=consent.message_id)
                await watcher.wait_change(chat, version, REPLY_TIMEOUT)
                await watcher.quiet(0.5, 10)
                if any(screen_of_flow(m) == "received" for m in server.bot_messages(chat)):
                    break
            out.recovered = any(screen_of_flow(m) == "received" for m in server.bot_messages(chat))
            await asyncio.sleep(2.5)  # one round of the outbox retry loop
            out.rows_after = db_counts(data_dir / DATABASE_NAME).get("requests", -1)
            out.staff_after = len(staff_requests(server))
        finally:
            await asyncio.to_thread(bot.stop)
        with contextlib.closing(sqlite3.connect(data_dir / DATABASE_NAME)) as db:
            out.integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        out.log_lines = [line for line in bot.output().splitlines() if " ERROR " in line][:3]
    return out


# --------------------------------------------------------------------------- quick fingers


RAPID_QUESTIONS = (
    "how does stress cause back pain",
    "what is the cellgel method",
    "how does sleep help my back",
    "is yoga good for back pain",
    "what are your opening hours",
)


@dataclass
class RapidRun:
    patients: int = 0
    texts: int = 0
    replies_expected: int = 0
    replies: int = 0
    duplicated_messages: int = 0
    double_taps: int = 0
    not_modified: int = 0
    other_errors: list[str] = field(default_factory=list)


async def rapid_input_check(base: Path, patients: int = 20, rounds: int = 3) -> RapidRun:
    """No kills: patients who type several questions before the first answer comes (each is
    answered by one message), and who double-tap every self-check button. Each update should
    get its reply once; a double tap's second press is "moved on" and changes nothing."""
    out = RapidRun(patients=patients)
    data_dir = base / "rapid" / "data"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    chats = [FIRST_CHAT + 50_000 + n for n in range(patients)]
    with WatchedServer(token=TOKEN) as server:
        watcher = Watcher(server, asyncio.get_running_loop())
        bot = BotProcess(server, data_dir, KEY_FILE=str(base / "rapid" / "data.key"))
        await asyncio.to_thread(bot.start)
        try:

            async def typist(chat: int) -> None:
                for _ in range(rounds):
                    before = watcher.replies[chat]
                    for question in RAPID_QUESTIONS:
                        server.push_text(chat, question)
                    out.texts += len(RAPID_QUESTIONS)
                    out.replies_expected += len(RAPID_QUESTIONS)
                    deadline = time.monotonic() + 15
                    while watcher.replies[chat] < before + len(RAPID_QUESTIONS) and time.monotonic() < deadline:
                        await watcher.wait_change(chat, watcher.replies[chat], 1.0, replies_only=True)

            async def double_tapper(chat: int) -> None:
                version = watcher.replies[chat]
                server.push_command(chat, "/selfcheck")
                await watcher.wait_change(chat, version, REPLY_TIMEOUT, replies_only=True)
                check = server.bot_messages(chat)[-1]
                for label in [SC.buttons["no"]] + [SC.buttons["yes"]] * len(SC.questions):
                    current = server.message(chat, check.message_id)
                    if current is None or label not in current.button_texts:
                        break
                    version = watcher.replies[chat]
                    data = next(b["callback_data"] for b in current.buttons if b.get("text") == label)
                    for _ in range(2):  # a double tap: the same button twice
                        server.push_callback(chat, check.message_id, data, check_button=False)
                    out.double_taps += 1
                    await watcher.wait_change(chat, version, REPLY_TIMEOUT, replies_only=True)
                    await asyncio.sleep(0.05)

            await asyncio.gather(*(typist(chat) for chat in chats))
            await asyncio.gather(*(double_tapper(chat) for chat in chats))
            await watcher.quiet(1.0, 15)
        finally:
            await asyncio.to_thread(bot.stop)
        out.replies = sum(
            1
            for record in server.calls("sendMessage")
            if record.status == 200 and str(record.params.get("chat_id")) in {str(c) for c in chats}
        ) - len(chats)  # minus the self-check message
        out.duplicated_messages = sum(duplicated_sends(server, set(chats)).values())
        for record in server.validation_errors:
            if record.method == "editMessageText" and "not modified" in (record.description or ""):
                out.not_modified += 1
            else:
                out.other_errors.append(f"{record.method}: {record.description}")
    return out


# --------------------------------------------------------------------------- confirmed, then killed


@dataclass
class ConfirmedRun:
    tried: int = 0
    confirmed_first: int = 0  # the bot moved Telegram's offset past the update before saving it
    lost: int = 0  # never processed and never delivered again
    notes: list[str] = field(default_factory=list)


async def confirmed_before_saved_check(base: Path, trials: int = 2) -> ConfirmedRun:
    """A kill at a chosen moment instead of a random one. Telegram is slow to take the answer to a
    patient's question (the fake stalls that sendMessage 5 s), the patient sends a second message,
    which waits for the chat's lock; once the bot has confirmed the second update to Telegram (a
    getUpdates with a higher offset), the bot is SIGKILLed and restarted. The second update must
    still be answered: either saved before it was confirmed, or delivered again."""
    out = ConfirmedRun()
    data_dir = base / "confirmed" / "data"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with WatchedServer(token=TOKEN) as server:
        watcher = Watcher(server, asyncio.get_running_loop())
        bot = BotProcess(server, data_dir, KEY_FILE=str(base / "confirmed" / "data.key"))
        await asyncio.to_thread(bot.start)
        try:
            for trial in range(trials):
                chat = FIRST_CHAT + 70_000 + trial
                version = watcher.replies[chat]
                server.push_command(chat, "/start")
                await watcher.wait_change(chat, version, REPLY_TIMEOUT, replies_only=True)
                server.inject_fault("sendMessage", "stall", chat_id=chat, seconds=5.0)
                first = server.push_text(chat, RAPID_QUESTIONS[0])["update_id"]
                await asyncio.sleep(0.5)
                second = int(server.push_text(chat, RAPID_QUESTIONS[1])["update_id"])
                out.tried += 1
                deadline = time.monotonic() + 4
                while time.monotonic() < deadline:
                    if any(int(r.params.get("offset") or 0) > second for r in server.calls("getUpdates")):
                        out.confirmed_first += 1
                        break
                    await asyncio.sleep(0.02)
                await asyncio.to_thread(bot.kill)
                await asyncio.to_thread(bot.start)
                await asyncio.sleep(6)  # the stalled send lands, the outbox retry runs
                with contextlib.closing(sqlite3.connect(data_dir / DATABASE_NAME, timeout=10)) as db:
                    done = {row[0] for row in db.execute("SELECT update_id FROM processed_updates")}
                if second not in done:
                    out.lost += 1
                    out.notes.append(
                        f"update {second} delivered {server.delivery_count(second)}x, never processed; "
                        f"first one processed: {first in done}"
                    )
        finally:
            await asyncio.to_thread(bot.stop)
    return out


def confirmed_table(run: ConfirmedRun) -> str:
    rows = [
        ("confirmed: tries (second message while the first answer is slow, then SIGKILL)", f"{run.tried}"),
        ("confirmed: second update confirmed to Telegram before the kill", f"{run.confirmed_first}"),
        ("confirmed: second update lost (never processed, never delivered again)", f"{run.lost}"),
    ]
    lines = ["| metric | value |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines + [f"| note | {note} |" for note in run.notes])


# --------------------------------------------------------------------------- many requests at once


@dataclass
class BurstRun:
    patients: int = 0
    received: int = 0
    staff_messages: int = 0
    staff_seconds: float = 0.0  # from the presses until the last staff message
    next_answer: list[float] = field(default_factory=list)  # seconds, per patient


async def staff_burst_check(base: Path, patients: int = 25) -> BurstRun:
    """No kills: `patients` patients press "I agree, send it" at the same moment, then each asks a
    question. Telegram lets a bot post 20 messages a minute to a group (python-telegram-bot's
    AIORateLimiter keeps to that), so the staff chat's notifications beyond 20 go out one every
    3 s. A patient's next answer should not wait for the staff chat."""
    out = BurstRun(patients=patients)
    data_dir = base / "burst" / "data"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    chats = [FIRST_CHAT + 60_000 + n for n in range(patients)]
    with WatchedServer(token=TOKEN) as server:
        server.add_chat(STAFF_CHAT, "group", title="Clinic staff")
        watcher = Watcher(server, asyncio.get_running_loop())
        bot = BotProcess(server, data_dir, KEY_FILE=str(base / "burst" / "data.key"), STAFF_CHAT_ID=str(STAFF_CHAT))
        await asyncio.to_thread(bot.start)

        async def shown(chat: int, screen: str, timeout: float = 20) -> ChatMessage:
            deadline = time.monotonic() + timeout
            while True:
                messages = watcher.newest(chat, server.bot_messages(chat))
                found = next((m for m in messages if screen_of_flow(m)), None)
                if found is not None and screen_of_flow(found) == screen:
                    return found
                if time.monotonic() > deadline:
                    raise TimeoutError(f"chat {chat}: no {screen!r}")
                await watcher.wait_change(chat, watcher.replies[chat], 1.0, replies_only=True)

        async def up_to_consent(number: int, chat: int) -> ChatMessage:
            version = watcher.replies[chat]
            server.push_command(chat, "/start")
            await watcher.wait_change(chat, version, REPLY_TIMEOUT, replies_only=True)
            server.press_inline_button(chat, CB.buttons["request"])
            await shown(chat, "ask_name")
            server.push_text(chat, f"Burst Patient {number}")
            await shown(chat, "ask_phone")
            server.push_text(chat, f"090-1234-{5000 + number:04d}")
            message = await shown(chat, "ask_time")
            server.press_inline_button(chat, CB.buttons["morning"], message_id=message.message_id)
            message = await shown(chat, "ask_note")
            server.press_inline_button(chat, CB.buttons["skip"], message_id=message.message_id)
            message = await shown(chat, "summary")
            server.press_inline_button(chat, CB.buttons["confirm"], message_id=message.message_id)
            return await shown(chat, "consent")

        async def agree_then_ask(chat: int, consent: ChatMessage) -> None:
            server.press_inline_button(chat, CB.buttons["agree"], message_id=consent.message_id)
            await shown(chat, "received")
            out.received += 1
            version = watcher.replies[chat]
            asked = time.monotonic()
            server.push_text(chat, RAPID_QUESTIONS[0])
            if await watcher.wait_change(chat, version, 120, replies_only=True):
                out.next_answer.append(watcher.reply_at[chat] - asked)
            else:
                out.next_answer.append(math.inf)

        try:
            consents = await asyncio.gather(*(up_to_consent(n, chat) for n, chat in enumerate(chats)))
            await watcher.quiet(0.5, 10)
            pressed = time.monotonic()
            await asyncio.gather(*(agree_then_ask(chat, c) for chat, c in zip(chats, consents, strict=True)))
            deadline = time.monotonic() + 120
            while len(staff_requests(server)) < patients and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            out.staff_seconds = time.monotonic() - pressed
            out.staff_messages = len(staff_requests(server))
        finally:
            await asyncio.to_thread(bot.stop)
    return out


# --------------------------------------------------------------------------- a backlog, then a kill


@dataclass
class BacklogRun:
    updates: int = 0
    requests_in_backlog: int = 0
    confirmed_before_kill: bool = False
    inbox_at_kill: int = -1
    answered: int = 0
    requests_delivered_once: int = 0
    requests_duplicated: int = 0
    seconds_to_answer_all: float = math.nan


async def backlog_check(base: Path, updates: int = 400, requests: int = 3) -> BacklogRun:
    """More updates at once than python-telegram-bot runs handlers (256), while Telegram is slow
    (every sendMessage stalls 3 s), the last ones other patients' "I agree, send it"; SIGKILL
    once Telegram has been told every update was received (a getUpdates past them), restart.
    Every patient must be answered and every request reach the staff chat once."""
    out = BacklogRun(updates=updates, requests_in_backlog=requests)
    data_dir = base / "backlog" / "data"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with WatchedServer(token=TOKEN) as server:
        server.add_chat(STAFF_CHAT, "group", title="Clinic staff")
        bot = BotProcess(server, data_dir, KEY_FILE=str(base / "backlog" / "data.key"), STAFF_CHAT_ID=str(STAFF_CHAT))
        await asyncio.to_thread(bot.start)
        agreeing = [FIRST_CHAT + 80_000 + n for n in range(requests)]
        crowd = [FIRST_CHAT + 81_000 + n for n in range(updates - requests)]
        try:
            for number, chat in enumerate(agreeing):
                await asyncio.to_thread(_up_to_consent, server, chat, f"Backlog Patient {number}")
            server.inject_fault("sendMessage", "stall", count=None, seconds=3.0)
            with server._cond:
                for chat in crowd:
                    server.push_command(chat, "/start")
                for chat in agreeing:
                    server.press_inline_button(chat, CB.buttons["agree"])
            deadline = time.monotonic() + 30
            while server.pending_updates() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            out.confirmed_before_kill = not server.pending_updates()
            await asyncio.sleep(0.5)
            await asyncio.to_thread(bot.kill)
            out.inbox_at_kill = db_counts(data_dir / DATABASE_NAME).get("inbox", -1)
            server.clear_faults()
            restarted = time.monotonic()
            await asyncio.to_thread(bot.start)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                out.answered = sum(1 for chat in crowd if server.bot_messages(chat)) + sum(
                    1 for chat in agreeing if any(screen_of_flow(m) == "received" for m in server.bot_messages(chat))
                )
                named = [m for m in staff_requests(server) if m.name.startswith("Backlog Patient")]
                if out.answered == updates and len({m.name for m in named}) == requests:
                    out.seconds_to_answer_all = time.monotonic() - restarted
                    break
                await asyncio.sleep(0.3)
            await asyncio.sleep(2.5)
            named = Counter(m.name for m in staff_requests(server) if m.name.startswith("Backlog Patient"))
            out.requests_delivered_once = sum(1 for count in named.values() if count == 1)
            out.requests_duplicated = sum(1 for count in named.values() if count > 1)
        finally:
            await asyncio.to_thread(bot.stop)
    return out


def _up_to_consent(server: FakeTelegramServer, chat: int, name: str) -> None:
    """A call-back request filled in up to the consent question (blocking; run in a thread)."""
    steps: list[tuple[Callable[[], object], str]] = [
        (lambda: server.push_command(chat, "/start"), ""),
        (lambda: server.press_inline_button(chat, CB.buttons["request"]), "ask_name"),
        (lambda: server.push_text(chat, name), "ask_phone"),
        (lambda: server.push_text(chat, "090-1234-5678"), "ask_time"),
        (lambda: server.press_inline_button(chat, CB.buttons["morning"]), "ask_note"),
        (lambda: server.press_inline_button(chat, CB.buttons["skip"]), "summary"),
        (lambda: server.press_inline_button(chat, CB.buttons["confirm"]), "consent"),
    ]
    for action, screen in steps:
        before = [(m.message_id, m.text) for m in server.bot_messages(chat)]
        action()
        server.wait_for(
            lambda s=screen, b=before: (
                [(m.message_id, m.text) for m in server.bot_messages(chat)] != b
                and (not s or any(screen_of_flow(m) == s for m in server.bot_messages(chat)[-1:]))
            ),
            timeout=15,
            what=f"{screen or 'menu'} in chat {chat}",
        )
        time.sleep(0.2)


def backlog_table(run: BacklogRun) -> str:
    rows = [
        ("backlog: updates queued at once (handler pool: 256)", f"{run.updates}"),
        ("backlog: all confirmed to Telegram before the SIGKILL", "yes" if run.confirmed_before_kill else "no"),
        ("backlog: updates kept in the inbox at the kill", f"{run.inbox_at_kill}"),
        ("backlog: patients answered after the restart", f"{run.answered} / {run.updates}"),
        (
            "backlog: requests in the backlog delivered to staff once",
            f"{run.requests_delivered_once} / {run.requests_in_backlog}",
        ),
        ("backlog: requests delivered twice", f"{run.requests_duplicated}"),
        ("backlog: seconds from restart to the last answer", f"{run.seconds_to_answer_all:.1f}"),
    ]
    return "\n".join(["| metric | value |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows])


# --------------------------------------------------------------------------- a broken staff chat


@dataclass
class StaffFaultRun:
    requests: int = 0
    received: int = 0
    delivered_once: int = 0
    duplicated: int = 0
    lost: int = 0
    error_lines_naming_setting: int = 0
    start_error_naming_setting: bool = False


async def staff_400_check(base: Path, requests: int = 4) -> StaffFaultRun:
    """The staff chat answers 400s: first STAFF_CHAT_ID names a chat Telegram does not know
    ("chat not found"), then, after a restart with the right id, the group refuses with "not
    enough rights" three times, with a SIGKILL in between. Every request must reach the staff
    chat once, and the log must say what is wrong and how many requests wait."""
    out = StaffFaultRun(requests=requests)
    data_dir = base / "staff400" / "data"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with WatchedServer(token=TOKEN) as server:
        server.add_chat(STAFF_CHAT, "group", title="Clinic staff")
        wrong = STAFF_CHAT - 1
        bot = BotProcess(server, data_dir, KEY_FILE=str(base / "staff400" / "data.key"), STAFF_CHAT_ID=str(wrong))
        await asyncio.to_thread(bot.start)
        out.start_error_naming_setting = any(
            " ERROR " in line and "STAFF_CHAT_ID" in line for line in bot.output().splitlines()
        )
        chats = [FIRST_CHAT + 90_000 + n for n in range(requests)]
        try:
            for number, chat in enumerate(chats[: requests // 2]):  # while the id is wrong
                await asyncio.to_thread(_up_to_consent, server, chat, f"Staff400 Patient {number}")
                server.press_inline_button(chat, CB.buttons["agree"])
            await asyncio.sleep(2.5)
            await asyncio.to_thread(bot.kill)
            bot.env["STAFF_CHAT_ID"] = str(STAFF_CHAT)
            server.inject_fault(
                "sendMessage", "http", count=3, chat_id=STAFF_CHAT, status=400,
                description="Bad Request: not enough rights to send text messages to the chat",
            )  # fmt: skip
            await asyncio.to_thread(bot.start)
            for number, chat in enumerate(chats[requests // 2 :], start=requests // 2):
                await asyncio.to_thread(_up_to_consent, server, chat, f"Staff400 Patient {number}")
                server.press_inline_button(chat, CB.buttons["agree"])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                names = {m.name for m in staff_requests(server) if m.name.startswith("Staff400")}
                if len(names) == requests:
                    break
                await asyncio.sleep(0.3)
            await asyncio.sleep(2.5)
            out.received = sum(
                1 for chat in chats if any(screen_of_flow(m) == "received" for m in server.bot_messages(chat))
            )
            counts = Counter(m.name for m in staff_requests(server) if m.name.startswith("Staff400"))
            out.delivered_once = sum(1 for count in counts.values() if count == 1)
            out.duplicated = sum(1 for count in counts.values() if count > 1)
            out.lost = requests - len(counts)
            out.error_lines_naming_setting = sum(
                1
                for line in bot.output().splitlines()
                if " ERROR " in line and "STAFF_CHAT_ID" in line and "open request" in line
            )
        finally:
            await asyncio.to_thread(bot.stop)
    return out


def staff_400_table(run: StaffFaultRun) -> str:
    rows = [
        (
            "staff 400s: requests (half while STAFF_CHAT_ID was wrong, half during 'not enough rights')",
            f"{run.requests}",
        ),
        ("staff 400s: patients told 'received'", f"{run.received} / {run.requests}"),
        (
            "staff 400s: wrong STAFF_CHAT_ID reported at start (getChat)",
            "yes" if run.start_error_naming_setting else "no",
        ),
        ("staff 400s: ERROR lines naming STAFF_CHAT_ID and the open requests", f"{run.error_lines_naming_setting}"),
        ("staff 400s: delivered once / twice / never", f"{run.delivered_once} / {run.duplicated} / {run.lost}"),
    ]
    return "\n".join(["| metric | value |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows])


# --------------------------------------------------------------------------- report


def table(result: ChaosResult) -> str:
    startup = sorted(result.startup_seconds)
    rows = [
        ("kills (SIGKILL, then restart)", f"{result.kills}"),
        ("kills while patients were mid-flow", f"{result.kills_mid_flow}"),
        ("patients", f"{result.patients}"),
        ("updates sent", f"{result.updates_sent}"),
        (f"resends needed (no reply within {REPLY_TIMEOUT:.0f} s)", f"{result.resends}"),
        ("re-presses after 'moved on'", f"{result.represses}"),
        ("updates received by the bot but never processed", f"{result.lost_updates}"),
        ("conversations resumed across a kill", f"{result.resumed}"),
        ("self-checks with exactly the answers given", f"{result.checks_ok} / {result.patients}"),
        ("requests delivered exactly once", f"{result.delivered_once} / {result.patients}"),
        ("requests delivered, then sent again marked as a possible repeat",
         f"{result.delivered_with_marked_repeat} / {result.patients}"),
        ("lost requests", f"{result.lost_requests}"),
        ("requests table rows", f"{result.request_rows}"),
        ("duplicates", f"{result.duplicate_staff + result.duplicate_rows + result.duplicate_finals}"),
        ("duplicated staff messages / request rows / final replies",
         f"{result.duplicate_staff} / {result.duplicate_rows} / {result.duplicate_finals}"),
        ("other messages sent twice in a row", f"{result.duplicate_sends}"),
        ("staff messages sent again, marked as a possible repeat", f"{result.marked_repeats}"),
        ("staff messages sent again silently", f"{result.duplicate_staff}"),
        ("integrity check", result.integrity),
        ("outbox left at the end", f"{result.outbox_left}"),
        ("'not modified' edits right after a restart", f"{result.not_modified_after_restart}"),
        ("button presses answered again right after a restart", f"{result.presses_answered_again}"),
        ("other validation errors", f"{len(result.other_errors)}"),
        ("button presses never answered (of them: handled)",
         f"{result.unanswered_presses} ({result.unanswered_processed})"),
        ("bot ERROR log lines", f"{result.bot_errors}"),
        ("restart to polling (median / max)",
         f"{startup[len(startup) // 2]:.2f} s / {startup[-1]:.2f} s" if startup else "-"),
        ("wall time", f"{result.wall_seconds:.0f} s"),
    ]  # fmt: skip
    lines = ["| metric | value |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def failures_table(checks: list[StartFailure], disk: FullDiskRun | None) -> str:
    lines = ["| check | how | exit code | output | one clear line naming DATA_DIR |", "|---|---|---|---|---|"]
    for check in checks:
        shown = " / ".join(check.lines[:3]).replace("|", "\\|")[:220]
        lines.append(f"| {check.what} | {check.method} | {check.exit_code} | {shown} | "
                     f"{'yes' if check.one_clear_line else 'no'} |")  # fmt: skip
    if disk is not None:
        lines += [
            "",
            "| disk fills while running (RLIMIT_FSIZE) | value |",
            "|---|---|",
            f"| file size limit set (bytes) | {disk.limit} |",
            f"| questions answered while full | {disk.answered_while_full} / {disk.questions_while_full} |",
            f"| reply to 'I agree, send it' while full | {disk.consent_reply[:90]!r} |",
            f"| request rows / staff messages while full | {disk.rows_while_full} / {disk.staff_while_full} |",
            f"| after freeing: request received | {'yes' if disk.recovered else 'no'} |",
            f"| after freeing: request rows / staff messages | {disk.rows_after} / {disk.staff_after} |",
            f"| integrity check | {disk.integrity} |",
        ]
        lines += [f"| bot log | {line[:160].replace('|', '/')} |" for line in disk.log_lines[:2]]
        lines += [f"| note | {note} |" for note in disk.notes]
    return "\n".join(lines)


def rapid_table(rapid: RapidRun) -> str:
    rows = [
        ("rapid: patients", f"{rapid.patients}"),
        (f"rapid: questions typed in bursts of {len(RAPID_QUESTIONS)}", f"{rapid.texts}"),
        ("rapid: answers expected / sent", f"{rapid.replies_expected} / {rapid.replies}"),
        ("rapid: messages sent twice in a row", f"{rapid.duplicated_messages}"),
        ("rapid: double taps on self-check buttons", f"{rapid.double_taps}"),
        ("rapid: 'not modified' edits", f"{rapid.not_modified}"),
        ("rapid: other validation errors", f"{len(rapid.other_errors)}"),
    ]
    return "\n".join(["| metric | value |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows])


def burst_table(burst: BurstRun) -> str:
    answers = sorted(burst.next_answer)
    median = answers[len(answers) // 2] if answers else math.nan
    rows = [
        ("burst: patients pressing 'I agree, send it' at once", f"{burst.patients}"),
        ("burst: requests received / staff messages", f"{burst.received} / {burst.staff_messages}"),
        ("burst: seconds until the last staff message", f"{burst.staff_seconds:.1f}"),
        ("burst: answer to the next question, median (s)", f"{median:.2f}"),
        ("burst: answer to the next question, max (s)", f"{answers[-1] if answers else math.nan:.2f}"),
        ("burst: patients waiting over 5 s for it", f"{sum(1 for a in answers if a > 5)}"),
    ]
    return "\n".join(["| metric | value |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="10 patients, 5 kills")
    parser.add_argument("--no-start-checks", action="store_true", help="skip the DATA_DIR and full-disk checks")
    parser.add_argument("--no-rapid", action="store_true", help="skip the quick-fingers run (no kills)")
    parser.add_argument("--no-backlog", action="store_true", help="skip the backlog and staff-chat 400 runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, bot log)")
    args = parser.parse_args(argv)
    if args.quick:
        args.patients, args.kills = 10, 5
    # Patients start over `span` seconds and think between steps; the kills come every
    # `uptime` seconds of the bot being up, after a pause of `pause` with the bot down.
    args.span = 8.0 if args.quick else 50.0
    args.think = (0.2, 1.5) if args.quick else (0.4, 3.0)
    args.uptime = (0.4, 5.0) if args.quick else (0.4, 6.0)
    args.pause = (0.1, 1.5)
    args.deadline = 120.0 if args.quick else 300.0
    return args


async def main_async(args: argparse.Namespace, base: Path) -> int:
    result = await chaos_run(args, base)
    print(f"## Chaos: {result.patients} patients, {result.kills} SIGKILLs (seed {args.seed})\n")
    print(table(result))
    if result.problems or result.other_errors:
        print("\nProblems:")
        for problem in (result.problems + result.other_errors)[:40]:
            print(f"- {problem}")
    if not args.no_start_checks:
        checks = [read_only_data_dir_check(base / "ro"), full_disk_at_start_check(base)]
        disk = await full_disk_while_running_check(base)
        print("\n## Start-up and disk failures\n")
        print(failures_table(checks, disk))
    if not args.no_rapid:
        rapid = await rapid_input_check(base, rounds=2 if args.quick else 3)
        print("\n## Quick fingers: bursts of questions and double taps, no kills\n")
        print(rapid_table(rapid))
        burst = await staff_burst_check(base)
        print("\n## Many call-back requests at once, no kills\n")
        print(burst_table(burst))
    backlog_ok = True
    if not args.no_backlog:
        backlog = await backlog_check(base, updates=300 if args.quick else 400)
        print("\n## A backlog larger than the handler pool, then a SIGKILL\n")
        print(backlog_table(backlog))
        staff = await staff_400_check(base)
        print("\n## The staff chat answering 400s (wrong STAFF_CHAT_ID, then 'not enough rights'), a SIGKILL between\n")
        print(staff_400_table(staff))
        backlog_ok = (
            backlog.answered == backlog.updates
            and backlog.requests_delivered_once == backlog.requests_in_backlog
            and staff.delivered_once == staff.requests
        )
    if not args.no_start_checks:
        confirmed = await confirmed_before_saved_check(base, trials=1 if args.quick else 2)
        print("\n## A kill right after the bot confirmed an update it had not saved yet\n")
        print(confirmed_table(confirmed))
    ok = (
        result.lost_requests == 0
        and result.delivered_once + result.delivered_with_marked_repeat == result.patients
        and result.checks_ok == result.patients
        and result.duplicate_staff + result.duplicate_rows + result.duplicate_finals == 0
        and result.integrity == "ok"
        and not result.other_errors
        and backlog_ok
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="chaos-"))
    try:
        return asyncio.run(main_async(args, base))
    finally:
        if args.keep:
            print(f"\n(kept {base})")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
