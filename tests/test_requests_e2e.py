"""End to end: call-back requests through the real `python -m bot run` process and the fake Bot
API server over HTTP, with the SQLite database and the export command checked from outside.

A patient asks for a call back; the request is saved encrypted, the patient is told at once and
the staff chat gets exactly one message, however long the staff chat fails and even across a
SIGKILL. Staff mark requests, list them and see counts; nobody else can. /forget deletes it all.
Every test also checks the bot never made a call Telegram would reject.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import load_config
from bot.content.html import to_plain_text
from bot.content.loader import load_knowledge
from bot.storage.crypto import Cipher
from bot.storage.sqlite.store import SqliteStore
from tests.bot_process import PROJECT, TOKEN, BotProcess, wait_quiet
from tests.fake_telegram.server import ChatMessage, FakeTelegramServer

KNOWLEDGE = load_knowledge(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir)
CB = KNOWLEDGE.callback
B = CB.buttons

STAFF = -1001  # the staff group (STAFF_CHAT_ID)
STAFF_MEMBER = 4242  # someone in the staff group (staff because of the chat)
STAFF_USER = 777  # a staff member by user id (STAFF_USER_IDS), in a private chat with the bot
STAFF_ENV = {"STAFF_CHAT_ID": str(STAFF), "STAFF_USER_IDS": str(STAFF_USER)}
PHONE_TYPED = "090-1234-5678"
PHONE_E164 = "+819012345678"
PHONE_DIGITS = "9012345678"
NOT_AVAILABLE = CB.staff["not_available"]
RETRY_WAIT = 2.5  # one round of the outbox retry loop (it wakes every 2 s), and a bit

# What the patient sees at each step (text that has no placeholders in it).
ASK_NAME = "What name should they ask for?"
ASK_PHONE = "What number should the clinic call?"
BAD_PHONE = to_plain_text(CB.text("bad_phone"))
ASK_TIME = to_plain_text(CB.text("ask_time")).strip()
ASK_NOTE = to_plain_text(CB.text("ask_note")).strip()
SUMMARY = "Please check your request"
CONSENT = "Before I send it"
RECEIVED = "The clinic has your request"
for _key, _marker in [("ask_name", ASK_NAME), ("ask_phone", ASK_PHONE), ("summary", SUMMARY),
                      ("consent", CONSENT), ("received", RECEIVED)]:  # fmt: skip
    assert _marker in CB.texts[_key], f"{_key} changed: update the marker"

_chat_ids = itertools.count(61_001)


# ---------------------------------------------------------------------------------- helpers


class Patient:
    """One patient's private chat: do something, then wait for the bot's answer to show."""

    def __init__(self, server: FakeTelegramServer, chat: int) -> None:
        self.server = server
        self.chat = chat

    def snapshot(self) -> list[tuple[int, str | None]]:
        return [(m.message_id, m.text) for m in self.server.bot_messages(self.chat)]

    def last(self) -> ChatMessage:
        message = self.server.last_bot_message(self.chat)
        assert message is not None
        return message

    def expect(self, before: list[tuple[int, str | None]], marker: str, timeout: float = 10) -> ChatMessage:
        """Wait until the chat changed since `before` and its newest bot message shows `marker`."""

        def shown() -> ChatMessage | None:
            last = self.server.last_bot_message(self.chat)
            if last is None or marker not in (last.text or "") or self.snapshot() == before:
                return None
            return last

        return self.server.wait_for(shown, timeout=timeout, what=f"{marker!r} in chat {self.chat}")

    def do(self, action: Callable[[], object], marker: str, timeout: float = 10) -> ChatMessage:
        before = self.snapshot()
        action()
        return self.expect(before, marker, timeout)

    def type(self, text: str, marker: str) -> ChatMessage:
        return self.do(lambda: self.server.push_text(self.chat, text), marker)

    def press(self, label: str, marker: str) -> ChatMessage:
        return self.do(lambda: self.server.press_inline_button(self.chat, label), marker)

    def command(self, command: str, marker: str) -> ChatMessage:
        return self.do(lambda: self.server.push_command(self.chat, command), marker)

    # The call-back request, step by step.

    def open_request(self, via: str = "menu") -> None:
        entry = {"menu": "/start", "book": "/book"}[via]
        self.command(entry, "")
        self.press(B["request"], ASK_NAME)

    def until_consent(
        self, name: str, phone: str = PHONE_TYPED, when: str = "morning", note: str | None = None, via: str = "menu"
    ) -> str:
        """Fill in a request up to the consent question; returns the summary the patient saw."""
        self.open_request(via)
        self.type(name, ASK_PHONE)
        self.type(phone, ASK_TIME)
        self.press(B[when], ASK_NOTE)
        summary = self.press(B["skip"], SUMMARY) if note is None else self.type(note, SUMMARY)
        self.press(B["confirm"], CONSENT)
        return summary.text or ""

    def request(self, name: str, **details: str) -> ChatMessage:
        self.until_consent(name, **details)
        return self.press(B["agree"], RECEIVED)


def new_chat() -> int:
    return next(_chat_ids)


def staff_messages(server: FakeTelegramServer, name: str, chat: int = STAFF) -> list[ChatMessage]:
    """The staff chat's messages about one patient's request (by the name shown in them)."""
    return [m for m in server.bot_messages(chat) if f"\nName: {name}\n" in (m.text or "")]


def staff_sends(server: FakeTelegramServer, chat: int = STAFF) -> list:
    """Every sendMessage the bot made to the staff chat, failed ones included."""
    return [r for r in server.calls("sendMessage") if str(r.params.get("chat_id")) == str(chat)]


def wait_staff_message(server: FakeTelegramServer, name: str, timeout: float = 10) -> ChatMessage:
    [message] = server.wait_for(
        lambda: staff_messages(server, name), timeout=timeout, what=f"the staff message for {name}"
    )
    return message


def request_number(message: ChatMessage) -> int:
    match = re.search(r"Call-back request #(\d+)\n", message.text or "")
    assert match, message.text
    return int(match.group(1))


def no_invalid_calls(server: FakeTelegramServer, after_crash: bool = False) -> None:
    """No call Telegram would reject and every button press answered; after a crash an edit
    that reached Telegram just before the kill may be sent again ("not modified": harmless)."""
    wait_quiet(server)
    errors = [
        r
        for r in server.validation_errors
        if not (after_crash and r.method == "editMessageText" and "not modified" in (r.description or ""))
    ]
    assert errors == [], [(r.method, r.params.get("chat_id"), r.description) for r in errors]
    assert server.unanswered_callbacks() == [], "a callback query was left unanswered"
    assert server.internal_errors == []


def database(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "bot.sqlite3", timeout=10)


def all_rows(data_dir: Path) -> dict[str, list[tuple]]:
    with contextlib.closing(database(data_dir)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        # Table names come from sqlite_master, not from anyone's input.
        return {table: db.execute(f'SELECT * FROM "{table}"').fetchall() for table in tables}  # noqa: S608


def count(data_dir: Path, sql: str, *params: object) -> int:
    with contextlib.closing(database(data_dir)) as db:
        return int(db.execute(sql, params).fetchone()[0])


def patient_ref(key_file: Path, chat: int) -> str:
    return Cipher(key_file.read_bytes().strip()).reference(f"tg:{chat}")


def start_bot(server: FakeTelegramServer, base: Path, **env: str) -> BotProcess:
    server.add_chat(STAFF, "group", title="Clinic staff")
    return BotProcess(server, base / "data", KEY_FILE=str(base / "keys" / "data.key"), **{**STAFF_ENV, **env}).start()


def shut_down(process: BotProcess, grace: float = 5) -> None:
    """SIGINT, then SIGKILL if it does not stop within `grace` seconds."""
    if process.process and process.process.poll() is None:
        process.process.send_signal(signal.SIGINT)
        try:
            process.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()


def assert_output_clean(process: BotProcess, *secrets: str) -> None:
    output = process.output()
    assert TOKEN not in output and TOKEN.split(":")[1] not in output, "the bot token leaked into its output"
    for secret in secrets:
        assert secret not in output, f"patient data {secret!r} in the bot's log"


def run_cli(process: BotProcess, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=PROJECT,
        env={**process.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# ---------------------------------------------------------------------------------- shared bot


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("requests")


@pytest.fixture(scope="module")
def bot(server: FakeTelegramServer, base: Path) -> Iterator[BotProcess]:
    process = start_bot(server, base)
    try:
        yield process
    finally:
        shut_down(process, grace=15)
    assert_output_clean(process, PHONE_DIGITS, PHONE_TYPED, "Hanako", "Yamada")


@pytest.fixture
def key_file(base: Path) -> Path:
    return base / "keys" / "data.key"


# ---------------------------------------------------------------------------------- 1, 2: saved and delivered


def test_request_saved_encrypted_and_delivered_once(
    server: FakeTelegramServer, bot: BotProcess, key_file: Path
) -> None:
    patient = Patient(server, new_chat())
    note = "Lower back since Tuesday, worse when sitting"
    summary = patient.until_consent("Hanako Yamada", PHONE_TYPED, "afternoon", note)
    assert "Name: Hanako Yamada" in summary and f"Phone: {PHONE_E164}" in summary and note in summary
    received = patient.press(B["agree"], RECEIVED)
    assert (received.text or "").startswith(to_plain_text(CB.text("received", name="Hanako Yamada", time="Afternoon")))

    staff = wait_staff_message(server, "Hanako Yamada")
    no_invalid_calls(server)
    assert len(staff_messages(server, "Hanako Yamada")) == 1
    assert f"Phone: {PHONE_E164}\n" in (staff.text or "")
    assert f"Note: {note}\n" in (staff.text or "")
    assert "Best time: Afternoon" in (staff.text or "")
    number = request_number(staff)
    assert staff.button_texts == [CB.staff["button_contacted"], CB.staff["button_unreachable"]]
    assert [b["callback_data"] for b in staff.buttons] == [f"st:c:{number}", f"st:u:{number}"]

    # Nothing readable in the database: not in any column of any table, not in the raw files.
    assert count(bot.data_dir, "SELECT COUNT(*) FROM requests WHERE id = ?", number) == 1
    needles = ["Hanako", "Yamada", PHONE_DIGITS, "1234-5678", "Tuesday", "sitting"]
    tables = all_rows(bot.data_dir)
    assert {"requests", "outbox", "conversations", "request_messages"} <= set(tables)
    for table, rows in tables.items():
        for row in rows:
            for value in row:
                for needle in needles:
                    assert needle not in str(value), f"{needle!r} readable in table {table}: {row}"
    files = [p for p in bot.data_dir.iterdir() if p.name.startswith("bot.sqlite3")]
    assert files
    for path in files:
        raw = path.read_bytes()
        for needle in needles:
            assert needle.encode() not in raw, f"{needle!r} readable in {path.name}"
    assert str(patient.chat) not in str(tables["requests"]), "requests must not hold the chat id"


def test_shared_contact_gives_the_phone_number(server: FakeTelegramServer, bot: BotProcess) -> None:
    patient = Patient(server, new_chat())
    patient.open_request(via="book")
    ask_phone = patient.type("Taro Contact", ASK_PHONE)
    keyboard = server.reply_keyboard(patient.chat)
    assert keyboard is not None, "the phone step must offer the share-contact keyboard"
    [[share]] = keyboard["keyboard"]
    assert share == {"text": B["share_phone"], "request_contact": True}
    assert ask_phone.text and ask_phone.text.startswith("Thank you, Taro Contact.")
    # Telegram gives a shared contact's number without "+".
    patient.do(lambda: server.press_reply_button(patient.chat, B["share_phone"], phone_number="819012345678"), ASK_TIME)
    assert server.reply_keyboard(patient.chat) is None, "the share-contact keyboard must be removed"
    phone_ok = to_plain_text(CB.text("phone_ok", patient_phone=PHONE_E164))
    assert phone_ok in [m.text for m in server.bot_messages(patient.chat)]
    patient.press(B["evening"], ASK_NOTE)
    patient.press(B["skip"], SUMMARY)
    patient.press(B["confirm"], CONSENT)
    patient.press(B["agree"], RECEIVED)
    staff = wait_staff_message(server, "Taro Contact")
    assert f"Phone: {PHONE_E164}\n" in (staff.text or "") and "Best time: Evening" in (staff.text or "")

    # A contact pushed directly (e.g. a contact card sent at the phone step) with a "+" works too.
    other = Patient(server, new_chat())
    other.open_request()
    other.type("Jiro Card", ASK_PHONE)
    other.do(lambda: server.push_contact(other.chat, "+442079460958"), ASK_TIME)
    assert "+442079460958" in "".join(m.text or "" for m in server.bot_messages(other.chat))
    no_invalid_calls(server)


# ---------------------------------------------------------------------------------- 3: staff chat failing


def test_staff_chat_failing_then_recovering(server: FakeTelegramServer, bot: BotProcess) -> None:
    before = len(staff_sends(server))
    server.inject_fault("sendMessage", "http", count=1, chat_id=STAFF, status=502, description="Bad Gateway")
    server.inject_fault("sendMessage", "drop", count=None, chat_id=STAFF)
    try:
        patient = Patient(server, new_chat())
        patient.until_consent("Kenji Outage")
        pressed = time.monotonic()
        patient.press(B["agree"], RECEIVED)
        assert time.monotonic() - pressed < 3, "the patient must not wait for the staff chat"
        # The staff chat keeps failing: first a 502, then dropped connections, retried with backoff.
        failed = server.wait_for(
            lambda: staff_sends(server)[before:] if len(staff_sends(server)) - before >= 2 else None,
            timeout=10,
            what="two failed attempts",
        )
        assert [r.fault for r in failed[:2]] == ["http", "drop"]
        assert failed[1].started - failed[0].started >= 1.5, "retried without backoff"
        assert staff_messages(server, "Kenji Outage") == []
        server.clear_faults()
        server.inject_fault("sendMessage", "stall", count=1, chat_id=STAFF, seconds=1.0)  # slow, but answers
        wait_staff_message(server, "Kenji Outage", timeout=15)
    finally:
        server.clear_faults()
    time.sleep(RETRY_WAIT)
    no_invalid_calls(server)
    assert len(staff_messages(server, "Kenji Outage")) == 1, "the staff message must arrive exactly once"
    # The patient was told once, and nothing is left in the outbox.
    assert [m.text for m in server.bot_messages(patient.chat)].count(patient.last().text) == 1
    assert count(bot.data_dir, "SELECT COUNT(*) FROM outbox") == 0


def test_staff_chat_failing_across_a_sigkill(tmp_path: Path) -> None:
    # Its own server: a restarted bot must not poll the shared server alongside the shared bot.
    with FakeTelegramServer(token=TOKEN) as server:
        process = start_bot(server, tmp_path)
        try:
            server.inject_fault("sendMessage", "blocked", count=None, chat_id=STAFF)
            patient = Patient(server, new_chat())
            patient.until_consent("Mariko Restart", "+44 20 7946 0958")
            pressed = time.monotonic()
            patient.press(B["agree"], RECEIVED)
            assert time.monotonic() - pressed < 3
            server.wait_for(lambda: staff_sends(server), timeout=10, what="a failed staff attempt")
            told = [m.text for m in server.bot_messages(patient.chat)]

            process.kill()
            server.clear_faults()
            server.inject_fault("sendMessage", "http", count=None, chat_id=STAFF, status=502)
            attempts = len(staff_sends(server))
            process.start()
            # Still failing after the restart: the request is retried from the database.
            server.wait_for(
                lambda: len(staff_sends(server)) > attempts, timeout=10, what="a staff attempt after the restart"
            )
            assert staff_messages(server, "Mariko Restart") == []
            server.clear_faults()
            staff = wait_staff_message(server, "Mariko Restart", timeout=15)
            time.sleep(RETRY_WAIT)
            no_invalid_calls(server, after_crash=True)
            assert len(staff_messages(server, "Mariko Restart")) == 1, "exactly once, even across a SIGKILL"
            assert "Phone: +442079460958\n" in (staff.text or "")
            assert [m.text for m in server.bot_messages(patient.chat)] == told, "the patient was told twice"
            assert count(process.data_dir, "SELECT COUNT(*) FROM requests") == 1
        finally:
            shut_down(process)
        assert_output_clean(process, "Mariko", "2079460958")


def maybe_repeated(number: int) -> str:
    return to_plain_text(CB.staff_text("maybe_repeated", number=str(number)))


def two_staff_messages(server: FakeTelegramServer, name: str) -> list[ChatMessage]:
    return server.wait_for(
        lambda: found if len(found := staff_messages(server, name)) == 2 else None,
        timeout=15,
        what=f"the staff message for {name} sent again",
    )


def test_staff_message_cut_off_by_a_kill_is_sent_again_marked(tmp_path: Path) -> None:
    """Telegram shows the message, but the bot dies before it hears so: Telegram has no way to
    tell it afterwards, so it sends again, marked, and staff see at once that it is the same."""
    with FakeTelegramServer(token=TOKEN) as server:
        process = start_bot(server, tmp_path)
        try:
            server.inject_fault("sendMessage", "stall", count=1, chat_id=STAFF, seconds=3.0)
            patient = Patient(server, new_chat())
            patient.request("Noriko Cutoff")
            server.wait_for(lambda: staff_sends(server), timeout=10, what="the staff message under way")
            process.kill()
            first = wait_staff_message(server, "Noriko Cutoff", timeout=10)  # lands after the kill
            process.start()
            again = two_staff_messages(server, "Noriko Cutoff")[1]
            number = request_number(first)
            assert (first.text or "").startswith(f"Call-back request #{number}\n"), first.text
            assert (again.text or "").startswith(maybe_repeated(number) + "\n"), again.text
            assert (again.text or "").endswith(first.text or ""), "the same request, in full"
            time.sleep(RETRY_WAIT)
            assert len(staff_messages(server, "Noriko Cutoff")) == 2, "sent again once, not more"
            assert count(process.data_dir, "SELECT COUNT(*) FROM outbox") == 0
            no_invalid_calls(server, after_crash=True)
        finally:
            shut_down(process)


def test_staff_message_whose_answer_was_lost_is_sent_again_marked(server: FakeTelegramServer, bot: BotProcess) -> None:
    server.inject_fault("sendMessage", "drop", count=1, chat_id=STAFF, process=True)
    try:
        Patient(server, new_chat()).request("Taro Lostanswer")
        first, again = two_staff_messages(server, "Taro Lostanswer")
    finally:
        server.clear_faults()
    assert not (first.text or "").startswith(maybe_repeated(request_number(first)))
    assert (again.text or "").startswith(maybe_repeated(request_number(first)))
    no_invalid_calls(server)


def test_staff_message_refused_by_telegram_is_sent_again_unmarked(server: FakeTelegramServer, bot: BotProcess) -> None:
    """An API error (here 403) proves the message was not shown: the next attempt is not marked."""
    server.inject_fault("sendMessage", "http", count=1, chat_id=STAFF, status=403, description="Forbidden: no rights")
    try:
        Patient(server, new_chat()).request("Yuki Refused")
        message = wait_staff_message(server, "Yuki Refused", timeout=15)
    finally:
        server.clear_faults()
    assert (message.text or "").startswith("Call-back request #"), message.text
    no_invalid_calls(server)


# ---------------------------------------------------------------------------------- 4: staff actions


def test_staff_mark_list_and_stats(tmp_path: Path) -> None:
    with FakeTelegramServer(token=TOKEN) as server:
        process = start_bot(server, tmp_path)
        try:
            _staff_mark_list_and_stats(server, process)
        finally:
            shut_down(process, grace=3)
        assert_output_clean(process, PHONE_DIGITS)


def _staff_mark_list_and_stats(server: FakeTelegramServer, process: BotProcess) -> None:
    names = ["Aiko First", "Bunta Second", "Chie Third"]
    for name in names:
        Patient(server, new_chat()).request(name)
    first, second, third = (wait_staff_message(server, name) for name in names)

    # /stats and /requests in the staff group.
    server.push_command(STAFF, "/stats", chat_type="group", user_id=STAFF_MEMBER, mention_bot=True)
    stats = server.wait_for(
        lambda: [m for m in server.bot_messages(STAFF) if (m.text or "").startswith("Counts so far")],
        timeout=10,
        what="/stats",
    )[-1]
    assert "Call-back requests: 3" in (stats.text or "")
    server.push_command(STAFF, "/requests", chat_type="group", user_id=STAFF_MEMBER)
    server.wait_for(
        lambda: len(server.bot_messages(STAFF)) >= 8, timeout=10, what="/requests in the staff chat"
    )  # 3 requests + stats + heading + 3 listed
    assert "Open call-back requests: 3" in (server.bot_messages(STAFF)[4].text or "")

    # A staff user lists the open requests in a private chat and marks one from that listing:
    # both that listing and the staff chat's message are updated.
    staff_user = Patient(server, STAFF_USER)
    staff_user.command("/requests", "Call-back request #")
    server.wait_for(lambda: len(server.bot_messages(STAFF_USER)) >= 4, timeout=10, what="the listing")
    listed = next(m for m in server.bot_messages(STAFF_USER) if "Bunta Second" in (m.text or ""))
    server.press_inline_button(STAFF_USER, CB.staff["button_unreachable"], message_id=listed.message_id)
    server.wait_for(
        lambda: "Status: could not reach" in (server.message(STAFF, second.message_id).text or ""),
        timeout=10,
        what="the staff message of the second request updated",
    )
    assert "Status: could not reach" in (server.message(STAFF_USER, listed.message_id).text or "")

    # Staff press "Contacted" in the staff chat: that message is edited in place.
    staff_count = len(server.bot_messages(STAFF))
    server.press_inline_button(STAFF, CB.staff["button_contacted"], message_id=first.message_id, user_id=STAFF_MEMBER)
    edited = server.wait_for(
        lambda: (
            "Status: contacted" in (server.message(STAFF, first.message_id).text or "")
            and server.message(STAFF, first.message_id)
        ),
        timeout=10,
        what="the staff message edited",
    )
    assert (edited.text or "").startswith(first.text or "")
    toasts = [c.answer for c in server.answered_callbacks() if (c.chat_id, c.message_id) == (STAFF, first.message_id)]
    assert toasts and (toasts[0] or {}).get("text", "").startswith("Status: contacted")
    wait_quiet(server)
    assert len(server.bot_messages(STAFF)) == staff_count, "the press must edit, not send"
    with contextlib.closing(database(process.data_dir)) as db:
        statuses = dict(db.execute("SELECT id, status FROM requests").fetchall())
    assert statuses == {
        request_number(first): "contacted",
        request_number(second): "unreachable",
        request_number(third): "open",
    }

    # /requests now lists only the third one (asked by the staff user in their private chat).
    before = len(server.bot_messages(STAFF_USER))
    server.push_command(STAFF_USER, "/requests")
    new = server.wait_for(
        lambda: server.bot_messages(STAFF_USER)[before:] if len(server.bot_messages(STAFF_USER)) >= before + 2 else [],
        timeout=10,
        what="the second listing",
    )
    wait_quiet(server)
    new = server.bot_messages(STAFF_USER)[before:]
    assert "Open call-back requests: 1" in (new[0].text or "")
    assert len(new) == 2 and "Chie Third" in (new[1].text or "")
    no_invalid_calls(server)


def test_staff_chat_keeps_working_after_a_button_press(tmp_path: Path) -> None:
    with FakeTelegramServer(token=TOKEN) as server:
        process = start_bot(server, tmp_path)
        try:
            Patient(server, new_chat()).request("Dai Deadlock")
            staff = wait_staff_message(server, "Dai Deadlock")
            server.press_inline_button(STAFF, CB.staff["button_contacted"], message_id=staff.message_id)
            server.wait_for(lambda: "Status:" in (server.message(STAFF, staff.message_id).text or ""), timeout=10)
            Patient(server, new_chat()).request("Eri After")
            wait_staff_message(server, "Eri After", timeout=5)
            server.push_command(STAFF, "/requests", chat_type="group", user_id=STAFF_MEMBER)
            server.wait_for(
                lambda: any("Open call-back requests" in (m.text or "") for m in server.bot_messages(STAFF)),
                timeout=5,
                what="/requests answered in the staff chat",
            )
        finally:
            shut_down(process, grace=2)


def test_non_staff_are_refused(server: FakeTelegramServer, bot: BotProcess) -> None:
    outsider = Patient(server, new_chat())
    outsider.command("/start", "")
    for command in ("/requests", "/stats"):
        reply = outsider.command(command, NOT_AVAILABLE)
        assert reply.text == NOT_AVAILABLE
    # A forged staff button ("st:c:1") pressed in a non-staff private chat.
    with contextlib.closing(database(bot.data_dir)) as db:
        before = db.execute("SELECT * FROM requests ORDER BY id").fetchall()
    menu = server.bot_messages(outsider.chat)[0]
    messages_before = outsider.snapshot()
    update = server.push_callback(outsider.chat, menu.message_id, "st:c:1", check_button=False)
    query_id = update["callback_query"]["id"]
    answered = server.wait_for(
        lambda: [c for c in server.answered_callbacks() if c.id == query_id], timeout=10, what="the forged press"
    )[0]
    assert (answered.answer or {}).get("text") == NOT_AVAILABLE
    wait_quiet(server)
    with contextlib.closing(database(bot.data_dir)) as db:
        assert db.execute("SELECT * FROM requests ORDER BY id").fetchall() == before
    assert outsider.snapshot() == messages_before
    # In a group that is not the staff chat, staff commands only get the invitation to a private chat.
    group = -200_000 - outsider.chat
    server.push_command(group, "/requests", chat_type="group", user_id=outsider.chat)
    [invite] = server.wait_for_bot_messages(group, 1, timeout=10)
    assert "Call-back request" not in (invite.text or "") and NOT_AVAILABLE not in (invite.text or "")
    no_invalid_calls(server)


# ---------------------------------------------------------------------------------- 5: /forget


def test_forget_deletes_everything(server: FakeTelegramServer, bot: BotProcess, key_file: Path) -> None:
    patient = Patient(server, new_chat())
    patient.request("Fumiko Forget")
    staff = wait_staff_message(server, "Fumiko Forget")
    number = request_number(staff)
    ref = patient_ref(key_file, patient.chat)
    assert count(bot.data_dir, "SELECT COUNT(*) FROM requests WHERE patient_ref = ?", ref) == 1
    patient.command("/forget", "Delete it all?")
    done = patient.press(B["forget"], "Done. I deleted")
    assert done.text == to_plain_text(CB.text("forget_done", requests="1"))
    deleted = to_plain_text(CB.staff_text("deleted", number=str(number)))
    server.wait_for(
        lambda: server.message(STAFF, staff.message_id).text == deleted, timeout=10, what="the staff message deleted"
    )
    assert server.message(STAFF, staff.message_id).buttons == [], "no buttons left on a deleted request"
    wait_quiet(server)
    assert count(bot.data_dir, "SELECT COUNT(*) FROM requests WHERE patient_ref = ?", ref) == 0
    assert count(bot.data_dir, "SELECT COUNT(*) FROM requests WHERE id = ?", number) == 0
    assert count(bot.data_dir, "SELECT COUNT(*) FROM conversations WHERE chat_id = ?", f"tg:{patient.chat}") == 0
    assert count(bot.data_dir, "SELECT COUNT(*) FROM outbox WHERE chat_id = ?", f"tg:{patient.chat}") == 0
    assert count(bot.data_dir, "SELECT COUNT(*) FROM outbox WHERE request_id = ?", number) == 0
    assert count(bot.data_dir, "SELECT COUNT(*) FROM request_messages WHERE request_id = ?", number) == 0
    no_invalid_calls(server)


def test_forget_before_the_staff_were_told(server: FakeTelegramServer, bot: BotProcess, key_file: Path) -> None:
    """The staff chat is down; the patient forgets: the queued staff message is never sent."""
    server.inject_fault("sendMessage", "http", count=None, chat_id=STAFF, status=502)
    try:
        patient = Patient(server, new_chat())
        patient.request("Goro Gone")
        server.wait_for(
            lambda: count(bot.data_dir, "SELECT COUNT(*) FROM outbox WHERE request_id IS NOT NULL") == 1,
            timeout=10,
            what="the staff message queued",
        )
        patient.command("/forget", "Delete it all?")
        patient.press(B["forget"], "Done. I deleted")
        # The queued staff message is gone at once (the patient's "done" leaves once it is sent).
        server.wait_for(
            lambda: count(bot.data_dir, "SELECT COUNT(*) FROM outbox") == 0, timeout=5, what="an empty outbox"
        )
    finally:
        server.clear_faults()
    time.sleep(RETRY_WAIT)
    assert staff_messages(server, "Goro Gone") == []
    ref = patient_ref(key_file, patient.chat)
    assert count(bot.data_dir, "SELECT COUNT(*) FROM requests WHERE patient_ref = ?", ref) == 0
    no_invalid_calls(server)


def test_forget_while_the_staff_message_is_being_retried(server: FakeTelegramServer, bot: BotProcess) -> None:
    server.inject_fault("sendMessage", "http", count=1, chat_id=STAFF, status=502)
    server.inject_fault("sendMessage", "stall", count=1, chat_id=STAFF, seconds=3.0)
    try:
        before = len(staff_sends(server))
        patient = Patient(server, new_chat())
        patient.request("Hana Inflight")
        # The first attempt failed; the retry loop's second attempt is under way (stalled).
        server.wait_for(lambda: len(staff_sends(server)) >= before + 2, timeout=10, what="the retry in flight")
        patient.command("/forget", "Delete it all?")
        patient.press(B["forget"], "Done. I deleted")
        server.wait_for(lambda: all(r.finished for r in staff_sends(server)), timeout=10, what="the stalled send")
    finally:
        server.clear_faults()
    # The staff chat must not keep showing the forgotten patient's request.
    server.wait_for(lambda: not staff_messages(server, "Hana Inflight"), timeout=6, what="the staff message replaced")
    no_invalid_calls(server)


# ---------------------------------------------------------------------------------- 6: bad input


def test_bad_input_is_asked_again(server: FakeTelegramServer, bot: BotProcess) -> None:
    name = "<b>Ken</b> & Co 😀"
    patient = Patient(server, new_chat())
    patient.open_request()
    ask_phone = patient.type(name, ASK_PHONE)
    assert ask_phone.text and ask_phone.text.startswith(f"Thank you, {name}.")
    for bad in ("12", "abc", "+1 555", "1" * 41):
        reply = patient.type(bad, BAD_PHONE)
        assert reply.text == BAD_PHONE
        assert server.reply_keyboard(patient.chat) is not None, "the share button stays offered"
    patient.type("03-1234-5678", ASK_TIME)
    patient.press(B["any"], ASK_NOTE)
    too_long = patient.type("x" * 5000, "characters long")
    assert too_long.text == to_plain_text(CB.text("note_too_long", length="5000", limit="500"))
    assert B["skip"] in too_long.button_texts
    summary = patient.type("Please <i>call</i> after 5 & ask for me", SUMMARY)
    assert f"Name: {name}\n" in (summary.text or "")  # the name was kept through all of that
    assert "Phone: +81312345678" in (summary.text or "")
    assert "Note: Please <i>call</i> after 5 & ask for me" in (summary.text or "")
    patient.press(B["confirm"], CONSENT)
    received = patient.press(B["agree"], RECEIVED)
    assert (received.text or "").startswith(f"Thank you, {name}.")
    staff = wait_staff_message(server, name)
    assert "Note: Please <i>call</i> after 5 & ask for me\n" in (staff.text or "")
    kinds = [e["type"] for e in staff.entities]
    assert kinds.count("bold") == 1 and "italic" not in kinds, "only the template's own markup is formatting"
    no_invalid_calls(server)


def test_bad_names_and_cancel_save_nothing(server: FakeTelegramServer, bot: BotProcess, key_file: Path) -> None:
    patient = Patient(server, new_chat())
    patient.open_request()
    bad_name = to_plain_text(CB.text("bad_name"))
    for bad in ("12345", "x" * 81):
        assert patient.type(bad, bad_name).text == bad_name
    patient.type("Hoshi Restart", ASK_PHONE)
    patient.type(PHONE_TYPED, ASK_TIME)
    patient.press(B["morning"], ASK_NOTE)
    patient.press(B["skip"], SUMMARY)
    patient.press(B["restart"], ASK_NAME)  # "Start again"
    patient.type("Hoshi Again", ASK_PHONE)
    patient.type(PHONE_TYPED, ASK_TIME)
    patient.press(B["morning"], ASK_NOTE)
    patient.press(B["skip"], SUMMARY)
    patient.press(B["confirm"], CONSENT)
    cancelled = patient.press(B["cancel"], to_plain_text(CB.text("cancelled")))
    assert cancelled.text == to_plain_text(CB.text("cancelled"))
    wait_quiet(server)
    ref = patient_ref(key_file, patient.chat)
    assert count(bot.data_dir, "SELECT COUNT(*) FROM requests WHERE patient_ref = ?", ref) == 0
    assert staff_messages(server, "Hoshi Again") == [] and staff_messages(server, "Hoshi Restart") == []
    no_invalid_calls(server)


# ---------------------------------------------------------------------------------- 7: at the same moment


def test_patients_requesting_at_the_same_moment(server: FakeTelegramServer, bot: BotProcess) -> None:
    patients = [Patient(server, new_chat()) for _ in range(3)]
    names = [f"Same Moment {letter}" for letter in "ABC"]
    for patient, name in zip(patients, names, strict=True):
        patient.until_consent(name, note=f"note of {name}")
    sends_before = len(staff_sends(server))
    # All three press "I agree" at once, from three threads.
    barrier = threading.Barrier(len(patients))

    def agree(patient: Patient) -> None:
        barrier.wait()
        server.press_inline_button(patient.chat, B["agree"])

    threads = [threading.Thread(target=agree, args=(p,)) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    for patient in patients:
        server.wait_for(lambda p=patient: RECEIVED in (p.last().text or ""), timeout=10, what="received")
    staff = [wait_staff_message(server, name) for name in names]
    time.sleep(RETRY_WAIT)
    no_invalid_calls(server)
    for name in names:
        assert len(staff_messages(server, name)) == 1
        assert f"Note: note of {name}\n" in (staff_messages(server, name)[0].text or "")
    numbers = [request_number(m) for m in staff]
    assert len(set(numbers)) == 3
    assert len(staff_sends(server)) - sends_before == 3


# ---------------------------------------------------------------------------------- 9: export and keys


def test_export_requests_csv(server: FakeTelegramServer, bot: BotProcess, base: Path) -> None:
    patient = Patient(server, new_chat())
    patient.request("Ichiro Export", note='Call, please; "urgent"')
    number = request_number(wait_staff_message(server, "Ichiro Export"))
    out = base / "export.csv"
    result = run_cli(bot, "export-requests", "--csv", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o077 == 0, "the export holds health data: owner only"
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert f"{len(rows)} request(s) written" in result.stdout
    by_number = {int(row["number"]): row for row in rows}
    row = by_number[number]
    assert row["name"] == "Ichiro Export"
    assert row["phone"] == PHONE_E164
    assert row["note"] == 'Call, please; "urgent"'
    assert row["best_time"] == "morning" and row["status"] == "open" and row["handled"] == ""
    with contextlib.closing(database(bot.data_dir)) as db:
        assert sorted(by_number) == [r[0] for r in db.execute("SELECT id FROM requests ORDER BY id")]


def test_export_neutralises_formulas(server: FakeTelegramServer, bot: BotProcess, base: Path) -> None:
    note = "=2+5+cmd|' /C calc'!A0"
    patient = Patient(server, new_chat())
    patient.request("Jun Formula", note=note)
    number = request_number(wait_staff_message(server, "Jun Formula"))
    out = base / "formula.csv"
    assert run_cli(bot, "export-requests", "--csv", str(out)).returncode == 0
    with out.open(encoding="utf-8", newline="") as handle:
        row = {int(r["number"]): r for r in csv.DictReader(handle)}[number]
    assert row["note"] == "'" + note
    assert row["phone"] == PHONE_E164  # phone numbers themselves stay as they are


@pytest.mark.parametrize(
    "wrong_key",
    [
        pytest.param(Fernet.generate_key().decode(), id="another-key"),
        pytest.param("not-a-key", id="malformed"),
        pytest.param("ключ-не-тот", id="non-ascii"),
    ],
)
def test_export_with_a_wrong_key(server: FakeTelegramServer, bot: BotProcess, base: Path, wrong_key: str) -> None:
    out = base / f"wrong-{abs(hash(wrong_key))}.csv"
    result = run_cli(bot, "export-requests", "--csv", str(out), DATA_KEY=wrong_key)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("configuration error:") and "key" in lines[0]
    assert not out.exists(), "nothing is written with a wrong key"


def test_run_refuses_without_the_key(server: FakeTelegramServer, tmp_path: Path) -> None:
    data_dir, key_file = tmp_path / "data", tmp_path / "keys" / "data.key"
    store = SqliteStore(data_dir, key_file=key_file)
    with store.transaction():
        store.save_request("tg:1", "Kumi Key", PHONE_E164, "any", "")
    store.close()
    key_file.unlink()
    # Pointed at a closed port: should it start anyway, it cannot disturb the shared server.
    process = BotProcess(server, data_dir, KEY_FILE=str(key_file), TELEGRAM_BASE_URL="http://127.0.0.1:9/bot")
    result = run_cli(process, "run")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("configuration error:")
    assert str(key_file) in errors[0] and "key is missing" in errors[0]
    assert not key_file.exists(), "a new key must not be made while encrypted data exists"
