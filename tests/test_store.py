"""The SQLite store and the clinic service, in process: round trips, encryption at rest, the data
key checks, retention, the outbox's retry schedule, and what a saved request queues for staff."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.content.loader import Knowledge
from bot.core.actions import RequestChoice, Simple, StaffAction
from bot.core.replies import Button, Event, Reply, UserInput
from bot.service.clinic import ClinicService
from bot.storage import Forgotten, StaffMessage, StorageCorrupt, StorageError, StorageFull, StorageOpenError
from bot.storage.crypto import Cipher
from bot.storage.sqlite import migrations
from bot.storage.sqlite.store import (
    DATABASE_NAME,
    DAY,
    MAX_BACKOFF_SECONDS,
    MAX_PATIENT_ATTEMPTS,
    SqliteStore,
    storage_error,
)

T0 = 1_760_000_000.0
PATIENT = "tg:5150"
OTHER_PATIENT = "tg:5151"
STAFF = "tg:-1001"
STAFF_CHATS = (STAFF, "tg:-1002")


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "data.key"


@pytest.fixture
def store(tmp_path: Path, key_file: Path, clock: Clock) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "data", key_file=key_file, clock=clock)
    yield opened
    opened.close()


def raw_rows(store: SqliteStore) -> dict[str, list[tuple]]:
    tables = [row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: store.db.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}  # noqa: S608


def raw_text(store: SqliteStore) -> str:
    return repr(raw_rows(store))


# ---------------------------------------------------------------------------------- round trips


def test_state_round_trip_is_encrypted(store: SqliteStore) -> None:
    state = '{"v":1,"callback":{"step":"phone","name":"Hanako Yamada"}}'
    with store.transaction():
        assert store.load_state(PATIENT) is None
        store.save_state(PATIENT, state)
    with store.transaction():
        assert store.load_state(PATIENT) == state
        store.save_state(PATIENT, state.replace("phone", "time"))
    assert store.load_state(PATIENT) == state.replace("phone", "time")
    assert "Hanako" not in raw_text(store) and '"step"' not in raw_text(store)


def test_outbox_round_trip(store: SqliteStore) -> None:
    replies = [
        Reply(
            "<b>Hello</b> & welcome 😀",
            ((Button("Menu", action="menu"), Button("Book", url="https://clinic.example.org/book")),),
        ),
        Reply("What number?", share_contact="Share my phone number"),
        Reply("Thanks, +819012345678", remove_keyboard=True),
        Reply("Edited", ((Button("Next", action="c:t:m"),),)),
    ]
    with store.transaction():
        store.queue(PATIENT, replies[0])
        store.queue(PATIENT, replies[1])
        store.queue(PATIENT, replies[2])
        store.queue(PATIENT, replies[3], edit_message_id=7)
        store.queue(STAFF, Reply("staff"), request_id=3)
    items = store.pending(PATIENT)
    assert [item.reply for item in items] == replies
    assert [item.edit_message_id for item in items] == [None, None, None, 7]
    assert not any(item.for_staff for item in items)
    assert [item.chat_id for item in store.pending()] == [PATIENT] * 4 + [STAFF]
    [staff] = store.pending(STAFF)
    assert staff.for_staff and staff.request_id == 3 and staff.attempts == 0 and staff.due
    assert "+819012345678" not in raw_text(store) and "welcome" not in raw_text(store)

    store.mark_sent(items[0].id, message_id=11)
    assert [item.id for item in store.pending(PATIENT)] == [i.id for i in items[1:]]
    store.mark_sent(staff.id, message_id=99)  # a delivered staff message is remembered for later edits
    assert store.request_messages(3) == [(STAFF, 99)]
    assert store.pending(STAFF) == []


def test_unreadable_outbox_item_is_dropped(store: SqliteStore) -> None:
    with store.transaction():
        store.queue(PATIENT, Reply("fine"))
        store.db.execute("INSERT INTO outbox (chat_id, payload, created_at) VALUES (?, 'garbage', 0)", (PATIENT,))
    assert [item.reply.text for item in store.pending()] == ["fine"]
    assert store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1


def test_requests_are_encrypted_at_rest(store: SqliteStore, clock: Clock) -> None:
    with store.transaction():
        number = store.save_request(PATIENT, "Hanako Yamada", "+819012345678", "morning", "Lower back, sitting hurts")
    request = store.request(number)
    assert request is not None
    assert (request.name, request.phone, request.preferred_time, request.note) == (
        "Hanako Yamada",
        "+819012345678",
        "morning",
        "Lower back, sitting hurts",
    )
    assert (request.status, request.created_at, request.handled_at) == ("open", T0, None)
    text = raw_text(store)
    for secret in ("Hanako", "Yamada", "9012345678", "sitting", "5150"):
        # standing alone, not inside a base64 ciphertext or a hex hash, where "5150" turns up by chance
        assert not re.search(rf"(?<![A-Za-z0-9_=-]){secret}(?![A-Za-z0-9_=-])", text), secret
    assert [r.id for r in store.requests("open")] == [number]
    clock.now += 60
    assert store.mark_request(number, "contacted", "ab12cd34")
    assert store.requests("open") == [] and [r.status for r in store.requests()] == ["contacted"]
    assert store.request(number).handled_at == T0 + 60  # type: ignore[union-attr]
    assert not store.mark_request(number + 1, "contacted", "x"), "no such request"


def test_counts_and_unanswered(store: SqliteStore) -> None:
    with store.transaction():
        store.record([Event("callback_requested"), Event("callback_requested"), Event("unanswered", {"text": "qwz?"})])
    assert store.counts() == {"callback_requested": 2, "unanswered": 1}
    assert store.unanswered() == ["qwz?"]
    assert "qwz?" not in raw_text(store)  # "?" never occurs in base64: "qwz" alone can, by chance


def test_data_survives_reopening(tmp_path: Path, key_file: Path) -> None:
    store = SqliteStore(tmp_path / "data", key_file=key_file)
    with store.transaction():
        number = store.save_request(PATIENT, "Ken", "+819012345678", "any", "")
        store.save_state(PATIENT, "{}")
    store.close()
    again = SqliteStore(tmp_path / "data", key_file=key_file)
    assert again.request(number).name == "Ken"  # type: ignore[union-attr]
    assert again.load_state(PATIENT) == "{}"
    assert again.integrity_ok()
    again.close()


# ---------------------------------------------------------------------------------- the data key


def test_key_file_created_owner_only_outside_data_dir(tmp_path: Path, key_file: Path) -> None:
    SqliteStore(tmp_path / "data", key_file=key_file).close()
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (tmp_path / "data" / key_file.name).exists()
    Fernet(key_file.read_bytes().strip())  # a valid key


def test_wrong_key_is_refused(tmp_path: Path, key_file: Path) -> None:
    store = SqliteStore(tmp_path / "data", key_file=key_file)
    with store.transaction():
        store.save_request(PATIENT, "Ken", "+819012345678", "any", "")
    store.close()
    with pytest.raises(StorageOpenError, match="does not fit"):
        SqliteStore(tmp_path / "data", key=Fernet.generate_key())
    with pytest.raises(StorageOpenError, match="not a valid Fernet key"):
        SqliteStore(tmp_path / "data", key=b"not-a-key")
    other_file = tmp_path / "other.key"
    other_file.write_bytes(Fernet.generate_key())
    with pytest.raises(StorageOpenError, match="does not fit"):
        SqliteStore(tmp_path / "data", key_file=other_file)
    assert SqliteStore(tmp_path / "data", key=key_file.read_bytes().strip()).requests()[0].name == "Ken"


def test_missing_key_with_existing_data_is_refused(tmp_path: Path, key_file: Path) -> None:
    SqliteStore(tmp_path / "data", key_file=key_file).close()
    key_file.unlink()
    with pytest.raises(StorageOpenError) as raised:
        SqliteStore(tmp_path / "data", key_file=key_file)
    assert str(key_file) in str(raised.value) and "key is missing" in str(raised.value)
    assert not key_file.exists(), "a new key must not replace the lost one"


def test_read_only_data_dir(tmp_path: Path, key_file: Path) -> None:
    """A folder with mode 0500; as root, where the mode stops nothing, a folder where the database
    file should be, which SQLite cannot open either: the same clear error, never a skip."""
    data_dir = tmp_path / "readonly"
    data_dir.mkdir()
    data_dir.chmod(0o500)
    try:
        if os.access(data_dir, os.W_OK):  # root
            data_dir.chmod(0o700)
            (data_dir / DATABASE_NAME).mkdir()
        with pytest.raises(StorageOpenError) as raised:
            SqliteStore(data_dir, key_file=key_file)
        message = str(raised.value)
        assert str(data_dir) in message and "writable" in message
        assert not key_file.exists(), "no key is made for a database that could not be opened"
    finally:
        data_dir.chmod(0o700)


def test_data_dir_that_is_a_file(tmp_path: Path, key_file: Path) -> None:
    """The root-proof variant of the test above: DATA_DIR cannot be created."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageOpenError, match="cannot create it"):
        SqliteStore(blocker / "data", key_file=key_file)


# ---------------------------------------------------------------------------------- retention


def test_retention_purge(store: SqliteStore, clock: Clock) -> None:
    def at(days_ago: float) -> None:
        clock.now = T0 - days_ago * DAY

    with store.transaction():
        at(31)
        store.save_state("tg:1", "{}")  # old conversation: goes
        store.mark_processed(1)  # old update id: goes
        store.record([Event("unanswered", {"text": "recent enough"})])  # 31 days: kept (90)
        old_open = store.save_request("tg:11", "Old Open", "+819012345678", "any", "")
        old_handled = store.save_request("tg:12", "Old Handled", "+819012345678", "any", "")
        old_unreachable = store.save_request("tg:13", "Old Unreachable", "+819012345678", "any", "")
        store.mark_request(old_handled, "contacted", "x")
        store.mark_request(old_unreachable, "unreachable", "x")
        store.db.execute("INSERT INTO request_messages VALUES (?, 'tg:-1001', 5)", (old_handled,))
        at(91)
        store.record([Event("unanswered", {"text": "too old"})])  # goes
        at(400)
        very_old_open = store.save_request("tg:14", "Very Old Open", "+819012345678", "any", "")  # open: stays
        at(1)
        store.save_state("tg:2", "{}")
        store.mark_processed(2)
        recent = store.save_request("tg:15", "Recent", "+819012345678", "any", "")
        store.mark_request(recent, "contacted", "x")  # handled a day ago: stays
    at(0)
    removed = store.purge(request_retention_days=30)
    assert removed == {"conversations": 1, "processed_updates": 1, "inbox": 0, "unanswered": 1, "requests": 2}
    assert [row[0] for row in store.db.execute("SELECT chat_id FROM conversations")] == ["tg:2"]
    assert not store.is_processed(1) and store.is_processed(2)
    assert store.unanswered() == ["recent enough"]
    assert sorted(r.id for r in store.requests()) == sorted([old_open, very_old_open, recent])
    assert {r.id for r in store.requests("open")} == {old_open, very_old_open}
    assert store.request_messages(old_handled) == []
    assert store.purge(request_retention_days=30) == {
        "conversations": 0,
        "processed_updates": 0,
        "inbox": 0,
        "unanswered": 0,
        "requests": 0,
    }
    at(-30)  # 31 days after the recent one was handled
    assert store.purge(request_retention_days=30)["requests"] == 1
    assert store.integrity_ok()


# ---------------------------------------------------------------------------------- retries


def expected_delay(attempts: int) -> float:
    return min(MAX_BACKOFF_SECONDS, 2.0 ** min(attempts, 12))


def test_backoff_schedule(store: SqliteStore, clock: Clock) -> None:
    assert [expected_delay(n) for n in range(1, 11)] == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    with store.transaction():
        store.queue(STAFF, Reply("staff"), request_id=1)
    for attempt in range(1, 12):
        [item] = store.pending(STAFF)
        assert item.attempts == attempt - 1 and item.due
        failed_at = clock.now
        assert store.mark_failed(item)
        [waiting] = store.pending(STAFF)
        assert waiting.attempts == attempt and not waiting.due
        assert store.pending(STAFF, due_only=True) == []
        delay = expected_delay(attempt)
        clock.now = failed_at + delay - 0.01
        assert not store.pending(STAFF)[0].due, f"attempt {attempt} retried before {delay} s"
        clock.now = failed_at + delay
        assert store.pending(STAFF, due_only=True), f"attempt {attempt} not due after {delay} s"


def test_patient_items_are_given_up_staff_items_never(store: SqliteStore, clock: Clock) -> None:
    with store.transaction():
        store.queue(PATIENT, Reply("to the patient"))
        store.queue(STAFF, Reply("to the staff"), request_id=1)
    for attempt in range(1, 101):
        for item in store.pending(due_only=True):
            kept = store.mark_failed(item)
            if item.for_staff:
                assert kept, f"a staff message was given up after {attempt} attempts"
            else:
                assert kept == (attempt < MAX_PATIENT_ATTEMPTS), attempt
        clock.now += MAX_BACKOFF_SECONDS
        if attempt == MAX_PATIENT_ATTEMPTS - 1:
            assert len(store.pending(PATIENT)) == 1
        if attempt == MAX_PATIENT_ATTEMPTS:
            assert store.pending(PATIENT) == []
    [staff] = store.pending(STAFF)
    assert staff.attempts == 100


def test_an_attempt_cut_off_is_known_to_the_next_one(store: SqliteStore, clock: Clock) -> None:
    """A staff notification in flight when the bot died, or whose call timed out, may have
    reached Telegram: every later attempt learns so (and marks the message as a possible
    repeat), even after failures that prove only that they themselves were not shown."""
    with store.transaction():
        store.queue(STAFF, Reply("request"), request_id=7)
        store.queue(STAFF, Reply("another request"), request_id=8)
    cut_off, timed_out = store.pending(STAFF)
    assert store.start_attempt(cut_off.id) is False, "a first attempt is not a repeat"
    # ...the process is killed here, before the outcome is recorded...
    assert store.start_attempt(cut_off.id) is True
    store.mark_failed(cut_off)  # Telegram refused this attempt: the killed one may still be there
    assert store.start_attempt(cut_off.id) is True
    store.mark_failed(cut_off, outcome_unknown=True)
    assert store.start_attempt(cut_off.id) is True
    assert store.mark_sent(cut_off.id, 99)
    assert store.request_messages(7) == [(STAFF, 99)]

    assert store.start_attempt(timed_out.id) is False
    store.mark_failed(timed_out)  # refused: it was not shown
    assert store.start_attempt(timed_out.id) is False
    store.mark_failed(timed_out, outcome_unknown=True)  # timed out: it may have been shown
    store.mark_failed(timed_out)
    assert store.start_attempt(timed_out.id) is True
    assert store.mark_sent(timed_out.id, 100)
    assert store.pending() == []


# The schema as shipped before versioned migrations (user_version 0, Telegram integer chat ids).
LEGACY_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE conversations (chat_id INTEGER PRIMARY KEY, state TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chat_id INTEGER NOT NULL, payload TEXT NOT NULL,
    edit_message_id INTEGER, request_id INTEGER, created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,
    in_flight INTEGER NOT NULL DEFAULT 0, maybe_shown INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_by_chat ON outbox (chat_id, id);
CREATE TABLE processed_updates (update_id INTEGER PRIMARY KEY, processed_at REAL NOT NULL, press_id TEXT);
CREATE TABLE inbox (update_id INTEGER PRIMARY KEY, payload TEXT NOT NULL, received_at REAL NOT NULL);
CREATE TABLE counters (day TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (day, kind));
CREATE TABLE unanswered (
    id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL, created_at REAL NOT NULL, patient_ref TEXT
);
CREATE TABLE requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, patient_ref TEXT NOT NULL, name TEXT NOT NULL, phone TEXT NOT NULL,
    preferred_time TEXT NOT NULL, note TEXT NOT NULL, created_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'open', handled_at REAL, handled_by TEXT
);
CREATE INDEX requests_by_patient ON requests (patient_ref);
CREATE TABLE request_messages (
    request_id INTEGER NOT NULL, chat_id INTEGER NOT NULL, message_id INTEGER NOT NULL,
    PRIMARY KEY (request_id, chat_id)
);
"""


def legacy_reference(key: bytes, telegram_chat_id: int) -> str:
    """The keyed reference as it was computed when chat ids were bare Telegram integers."""
    mac_key = hashlib.sha256(b"patient-ref:" + key).digest()
    return hmac.new(mac_key, str(telegram_chat_id).encode(), hashlib.sha256).hexdigest()[:32]


def legacy_database(data_dir: Path, key: bytes) -> sqlite3.Connection:
    """A database as the bot wrote it before versioning: its tables, its key check, no version."""
    data_dir.mkdir(parents=True)
    db = sqlite3.connect(data_dir / DATABASE_NAME)
    db.executescript(LEGACY_SCHEMA)
    db.execute("INSERT INTO meta VALUES ('key_check', ?)", (Cipher(key).encrypt("spine-clinic-bot key check"),))
    db.commit()
    return db


def test_a_database_from_before_the_added_columns_is_upgraded(tmp_path: Path) -> None:
    data_dir, key = tmp_path / "old", Fernet.generate_key()
    with contextlib.closing(legacy_database(data_dir, key)) as db:
        db.execute("ALTER TABLE outbox DROP COLUMN in_flight")
        db.execute("ALTER TABLE outbox DROP COLUMN maybe_shown")
        db.execute("ALTER TABLE processed_updates DROP COLUMN press_id")
        db.commit()
    reopened = SqliteStore(data_dir, key=key)
    try:
        with reopened.transaction():
            reopened.queue(STAFF, Reply("request"), request_id=1)
            reopened.mark_processed(41, "query-41")
        [item] = reopened.pending()
        assert reopened.start_attempt(item.id) is False and reopened.start_attempt(item.id) is True
        assert reopened.press_unanswered(41) and reopened.unanswered_presses(60) == [(41, "query-41")]
        reopened.press_answered(41)
        assert not reopened.press_unanswered(41) and reopened.unanswered_presses(60) == []
        assert reopened.db.execute("PRAGMA user_version").fetchone() == (migrations.LATEST,)
    finally:
        reopened.close()


def test_a_legacy_database_gets_namespaced_chat_ids_and_forget_still_finds_its_rows(tmp_path: Path) -> None:
    """Chat ids were Telegram integers: the migration rewrites them to "tg:<id>", keeps the
    outbox's ids and id sequence, and requests and questions saved then (linked by the keyed
    reference of the bare id) are still found and deleted by /forget."""
    data_dir, key = tmp_path / "old", Fernet.generate_key()
    cipher = Cipher(key)
    ref, other_ref = legacy_reference(key, 5150), legacy_reference(key, 5151)
    state = '{"v":1,"callback":{"step":"phone","name":"Hanako Yamada"}}'
    with contextlib.closing(legacy_database(data_dir, key)) as db:
        db.execute("INSERT INTO conversations VALUES (5150, ?, ?)", (cipher.encrypt(state), T0))
        db.execute("INSERT INTO conversations VALUES (5151, ?, ?)", (cipher.encrypt("{}"), T0))
        db.execute(
            "INSERT INTO requests (patient_ref, name, phone, preferred_time, note, created_at) "
            "VALUES (?, ?, ?, 'any', ?, ?)",
            (ref, cipher.encrypt("Hanako"), cipher.encrypt("+819012345678"), cipher.encrypt(""), T0),
        )
        db.execute(
            "INSERT INTO requests (patient_ref, name, phone, preferred_time, note, created_at) "
            "VALUES (?, ?, ?, 'any', ?, ?)",
            (other_ref, cipher.encrypt("Ken"), cipher.encrypt("+819012345679"), cipher.encrypt(""), T0),
        )
        payload = cipher.encrypt('{"text":"hello","buttons":[]}')
        db.execute("INSERT INTO outbox (id, chat_id, payload, created_at) VALUES (40, 5150, ?, 0)", (payload,))
        db.execute(
            "INSERT INTO outbox (id, chat_id, payload, request_id, created_at) VALUES (41, -1001, ?, 2, 0)", (payload,)
        )
        db.execute("INSERT INTO outbox (id, chat_id, payload, created_at) VALUES (90, 5151, ?, 0)", (payload,))
        db.execute("DELETE FROM outbox WHERE id = 90")  # the sequence is at 90 now
        db.execute("INSERT INTO request_messages VALUES (1, -1001, 77), (1, -1002, 78), (2, -1001, 79)")
        db.execute(
            "INSERT INTO unanswered (text, created_at, patient_ref) VALUES (?, ?, ?)", (cipher.encrypt("q"), T0, ref)
        )
        db.commit()

    store = SqliteStore(data_dir, key=key)
    try:
        assert store.db.execute("PRAGMA user_version").fetchone() == (migrations.LATEST,)
        assert store.load_state(PATIENT) == state and store.load_state(OTHER_PATIENT) == "{}"
        assert [(i.id, i.chat_id, i.request_id) for i in store.pending()] == [(40, PATIENT, None), (41, STAFF, 2)]
        assert store.request_messages(1) == [(STAFF, 77), ("tg:-1002", 78)]
        assert store.undelivered_requests(["tg:-1002"]) == [2]
        with store.transaction():
            store.queue(PATIENT, Reply("new"))
        assert store.pending(PATIENT)[-1].id == 91, "outbox ids are never reused after the migration"
        with store.transaction():
            forgotten = store.forget(PATIENT)
        assert forgotten == Forgotten(
            conversations=1,
            queued=2,
            unanswered=1,
            request_ids=(1,),
            staff_messages=(StaffMessage(1, STAFF, 77), StaffMessage(1, "tg:-1002", 78)),
        )
        assert [r.name for r in store.requests()] == ["Ken"] and store.unanswered() == []
        assert store.request_messages(1) == [] and store.request_messages(2) == [(STAFF, 79)]
        assert store.load_state(OTHER_PATIENT) == "{}"
        types = store.db.execute(
            "SELECT DISTINCT typeof(chat_id) FROM outbox UNION SELECT typeof(chat_id) FROM conversations "
            "UNION SELECT typeof(chat_id) FROM request_messages"
        ).fetchall()
        assert types == [("text",)]
    finally:
        store.close()
    reopened = SqliteStore(data_dir, key=key)  # already at the latest version: nothing changes
    try:
        assert reopened.load_state(OTHER_PATIENT) == "{}" and [r.name for r in reopened.requests()] == ["Ken"]
    finally:
        reopened.close()


def test_new_rows_get_namespaced_references_that_differ_per_channel(store: SqliteStore) -> None:
    """A Telegram chat keeps its old reference (Cipher.reference); another channel's chat with
    the same number does not share it."""
    assert store.cipher.reference("tg:42") != store.cipher.reference("term:42")
    assert store.cipher.reference("tg:42") != store.cipher.reference("tg:43")
    with store.transaction():
        store.save_request("tg:42", "A", "+819012345678", "any", "")
        store.save_request("term:42", "B", "+819012345678", "any", "")
    with store.transaction():
        assert store.forget("term:42").request_ids == (2,)
    assert [r.name for r in store.requests()] == ["A"]


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path, key_file: Path) -> None:
    SqliteStore(tmp_path / "data", key_file=key_file).close()
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / DATABASE_NAME)) as db:
        db.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    with pytest.raises(StorageOpenError, match="newer version"):
        SqliteStore(tmp_path / "data", key_file=key_file)


def test_a_migration_cut_off_leaves_the_last_whole_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step commits with its version: a failure in the last one rolls back only that step,
    and the next start finishes the upgrade."""
    data_dir, key = tmp_path / "old", Fernet.generate_key()
    with contextlib.closing(legacy_database(data_dir, key)) as db:
        db.execute("INSERT INTO conversations VALUES (5150, ?, ?)", (Cipher(key).encrypt("{}"), T0))
        db.commit()
    last = migrations.STEPS[-1]

    def failing(db: sqlite3.Connection) -> None:
        last.apply(db)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(
        migrations, "STEPS", (*migrations.STEPS[:-1], migrations.Migration(last.version, last.what, failing))
    )
    with pytest.raises(StorageOpenError, match="disk is not full"):
        SqliteStore(data_dir, key=key)
    with contextlib.closing(sqlite3.connect(data_dir / DATABASE_NAME)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (last.version - 1,)
        assert db.execute("SELECT chat_id FROM conversations").fetchall() == [(5150,)]
    monkeypatch.undo()
    store = SqliteStore(data_dir, key=key)
    assert store.load_state(PATIENT) == "{}"
    store.close()


def test_blocked_patient_outbox_is_dropped_but_not_staff_items(store: SqliteStore) -> None:
    with store.transaction():
        store.queue(STAFF, Reply("listing"))
        store.queue(STAFF, Reply("request"), request_id=4)
    assert store.drop_chat_outbox(STAFF) == 1
    assert [item.request_id for item in store.pending()] == [4]


def test_integrity_check(store: SqliteStore) -> None:
    with store.transaction():
        for n in range(50):
            store.save_request(f"tg:{n}", f"Name {n}", "+819012345678", "any", "note " * 50)
            store.queue(f"tg:{n}", Reply("x" * 1000))
    assert store.integrity_ok()
    path = store.path
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# ---------------------------------------------------------------------------------- the service


class Driver:
    """Drives ClinicService.handle as the Telegram adapter does, with increasing update ids."""

    def __init__(self, service: ClinicService) -> None:
        self.service = service
        self.update_id = 1000

    def send(self, chat: str, user_input: UserInput, user_id: int | None = None, pressed: int | None = None):
        """`chat` a Telegram chat ("tg:<id>"); the user is the chat's own id unless given (a private chat)."""
        self.update_id += 1
        return self.service.handle(chat, user_input, self.update_id, user_id or int(chat.removeprefix("tg:")), pressed)

    def request(self, chat: str, name: str = "Hanako Yamada", phone: str = "090-1234-5678", note: str = "") -> None:
        self.send(chat, UserInput.action(Simple("request").encode()))
        self.send(chat, UserInput.text(name))
        self.send(chat, UserInput.text(phone))
        self.send(chat, UserInput.action(RequestChoice("time", "morning").encode()))
        if note:
            self.send(chat, UserInput.text(note))
        else:
            self.send(chat, UserInput.action(RequestChoice("note", "skip").encode()))
        self.send(chat, UserInput.action(RequestChoice("summary", "confirm").encode()))
        handled = self.send(chat, UserInput.action(RequestChoice("consent", "agree").encode()))
        assert handled is not None and handled.staff_queued


@pytest.fixture
def service(knowledge: Knowledge, store: SqliteStore) -> ClinicService:
    return ClinicService(knowledge, store, staff_chat_ids=STAFF_CHATS, staff_user_ids=(777,))


def test_saved_request_queues_one_staff_message_per_staff_chat(service: ClinicService, store: SqliteStore) -> None:
    Driver(service).request(PATIENT, note="Sitting hurts")
    [request] = store.requests()
    assert (request.name, request.phone, request.note) == ("Hanako Yamada", "+819012345678", "Sitting hurts")
    for staff_chat in STAFF_CHATS:
        [item] = store.pending(staff_chat)
        assert item.for_staff and item.request_id == request.id and item.edit_message_id is None
        assert "Hanako Yamada" in item.reply.text and "+819012345678" in item.reply.text
        assert [b.action for row in item.reply.buttons for b in row] == [
            StaffAction(request.id, "contacted").encode(),
            StaffAction(request.id, "unreachable").encode(),
        ]
    received = store.pending(PATIENT)[-1]
    assert "The clinic has your request" in received.reply.text
    assert store.counts()["callback_requested"] == 1
    # The patient's finished draft is not kept.
    assert store.load_state(PATIENT) is None


def test_no_staff_chat_still_saves(knowledge: Knowledge, store: SqliteStore) -> None:
    service = ClinicService(knowledge, store)
    driver = Driver(service)
    driver.send(PATIENT, UserInput.action(Simple("request").encode()))
    for text in ("Ken", "090-1234-5678"):
        driver.send(PATIENT, UserInput.text(text))
    for step, choice in (("time", "any"), ("note", "skip"), ("summary", "confirm"), ("consent", "agree")):
        handled = driver.send(PATIENT, UserInput.action(RequestChoice(step, choice).encode()))
    assert handled is not None and not handled.staff_queued
    assert len(store.requests()) == 1
    assert all(not item.for_staff for item in store.pending())


def test_redelivered_update_changes_nothing(service: ClinicService, store: SqliteStore) -> None:
    driver = Driver(service)
    driver.request(PATIENT)
    before = raw_rows(store)
    agree = UserInput.action(RequestChoice("consent", "agree").encode())
    assert service.handle(PATIENT, agree, driver.update_id, 5150) is None
    assert raw_rows(store) == before
    # Also for a text in the middle of a flow and a staff press.
    driver.send(OTHER_PATIENT, UserInput.action(Simple("request").encode()))
    before = raw_rows(store)
    assert service.handle(OTHER_PATIENT, UserInput.text("Ken"), driver.update_id, 5151) is None
    assert raw_rows(store) == before
    press = UserInput.action(StaffAction(1, "contacted").encode())
    assert driver.send(STAFF, press, user_id=5) is not None
    before = raw_rows(store)
    assert service.handle(STAFF, press, driver.update_id, 5) is None
    assert raw_rows(store) == before
    assert store.request(1).status == "contacted"  # type: ignore[union-attr]


def test_staff_only(service: ClinicService, store: SqliteStore) -> None:
    driver = Driver(service)
    driver.request(PATIENT)
    not_available = service.texts.staff_text("not_available")
    for chat, user in ((PATIENT, 5150), ("tg:-5", 6)):  # a patient; a group that is not the staff's
        handled = driver.send(chat, UserInput.action("st:c:1"), user_id=user)
        assert handled is not None and handled.toast == not_available
        for command in ("requests", "stats"):
            driver.send(chat, UserInput.command(command), user_id=user)
            assert store.pending(chat)[-1].reply.text == not_available
    assert store.request(1).status == "open"  # type: ignore[union-attr]
    # Staff by user id, in a private chat.
    driver.send("tg:777", UserInput.command("stats"))
    assert "Call-back requests: 1" in store.pending("tg:777")[-1].reply.text
    assert driver.send("tg:777", UserInput.action("st:u:1")).toast.startswith("Status: could not reach")  # type: ignore[union-attr]
    assert store.request(1).status == "unreachable"  # type: ignore[union-attr]
    # A press for a request that is gone says so.
    assert "was deleted" in driver.send("tg:777", UserInput.action("st:c:99")).toast  # type: ignore[union-attr]


def test_forget_removes_everything_of_the_patient(service: ClinicService, store: SqliteStore) -> None:
    driver = Driver(service)
    driver.request(PATIENT)
    driver.request(OTHER_PATIENT, name="Someone Else")
    [staff_item] = [i for i in store.pending(STAFF) if i.request_id == 1]
    store.mark_sent(staff_item.id, message_id=41)  # delivered to the first staff chat only
    driver.send(PATIENT, UserInput.command("forget"))
    driver.send(PATIENT, UserInput.action(Simple("forget").encode()))
    ref = store.cipher.reference(PATIENT)
    assert store.db.execute("SELECT COUNT(*) FROM requests WHERE patient_ref = ?", (ref,)).fetchone() == (0,)
    assert store.load_state(PATIENT) is None
    done = store.pending(PATIENT)
    assert [item.reply.text for item in done] == [service.texts.text("forget_done", requests="1")]
    # The delivered staff message is replaced; the undelivered one is never sent.
    deleted = service.texts.staff_text("deleted", number="1")
    assert [(i.edit_message_id, i.reply.text) for i in store.pending(STAFF) if i.reply.text == deleted] == [
        (41, deleted)
    ]
    assert [i for i in store.pending() if i.request_id == 1 and i.edit_message_id is None] == []
    assert store.request_messages(1) == []
    assert [r.name for r in store.requests()] == ["Someone Else"]


@pytest.mark.parametrize("edit", ["deleted", "status"])
def test_staff_message_edits_are_never_given_up(
    service: ClinicService, store: SqliteStore, clock: Clock, edit: str
) -> None:
    driver = Driver(service)
    driver.request(PATIENT)
    for item in store.pending():
        store.mark_sent(item.id, message_id=41 if item.for_staff else None)
    if edit == "deleted":
        driver.send(PATIENT, UserInput.command("forget"))
        driver.send(PATIENT, UserInput.action(Simple("forget").encode()))
    else:
        driver.send(STAFF, UserInput.action(StaffAction(1, "contacted").encode()), user_id=5, pressed=41)
    store.db.execute("DELETE FROM outbox WHERE chat_id NOT IN ('tg:-1001', 'tg:-1002')")
    assert len(store.pending()) == 2  # one edit per staff chat
    for _ in range(MAX_PATIENT_ATTEMPTS + 5):
        for item in store.pending(due_only=True):
            store.mark_failed(item)
        clock.now += MAX_BACKOFF_SECONDS
    assert len(store.pending()) == 2, "an edit of a staff message was given up while the staff chat was down"


def test_unanswered_questions_are_scrubbed_and_deleted_by_forget(store: SqliteStore) -> None:
    """Issue 10: the staff report kept a patient's name, phone and address, and /forget could
    not find their questions."""
    with store.transaction():
        store.record(
            [Event("unanswered", {"text": "qwz? I'm Taro Yamada, 090-8765-4321, taro@example.com, 2-14-7 Jingumae"})],
            chat_id="tg:7",
        )
        store.record([Event("unanswered", {"text": "another patient's qwz"})], chat_id="tg:8")
    [kept, other] = store.unanswered()
    for personal in ("Taro", "Yamada", "8765", "taro@example.com", "2-14-7", "Jingumae"):
        assert personal not in kept, kept
    assert kept.startswith("qwz? I'm [name]")
    raw = store.db.execute("SELECT patient_ref FROM unanswered ORDER BY id").fetchall()
    assert [ref for (ref,) in raw] == [store.cipher.reference("tg:7"), store.cipher.reference("tg:8")]
    with store.transaction():
        removed = store.forget("tg:7")
    assert removed.unanswered == 1
    assert store.unanswered() == [other]


def test_an_old_database_gets_the_unanswered_link_column(tmp_path: Path, key_file: Path) -> None:
    path = tmp_path / "data"
    path.mkdir()
    with contextlib.closing(sqlite3.connect(path / DATABASE_NAME)) as db:
        db.execute("CREATE TABLE unanswered (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT, created_at REAL)")
        db.commit()
    reopened = SqliteStore(path, key_file=key_file)
    with reopened.transaction():
        reopened.record([Event("unanswered", {"text": "qwz"})], chat_id="tg:1")
    assert reopened.unanswered() == ["qwz"]
    reopened.close()


def test_a_damaged_database_file_is_told_apart_from_a_full_disk(tmp_path: Path, key_file: Path) -> None:
    path = tmp_path / "data"
    path.mkdir()
    (path / DATABASE_NAME).write_bytes(b"garbage " * 1000)
    with pytest.raises(StorageOpenError) as raised:
        SqliteStore(path, key_file=key_file)
    assert "damaged" in str(raised.value) and "disk is not full" not in str(raised.value)


def test_sqlite_errors_become_the_projects_own(store: SqliteStore) -> None:
    """Nothing above the backend sees sqlite3: a refused write, a damaged file and a closed
    database all arrive as StorageError, with the advice for the operator."""
    store.db.execute("PRAGMA query_only = ON")  # every write fails, as on a read-only disk
    with pytest.raises(StorageFull) as raised, store.transaction():
        store.save_state(PATIENT, "{}")
    assert not isinstance(raised.value, sqlite3.Error) and "disk space" in raised.value.advice
    with pytest.raises(StorageFull):
        store.receive(1, "{}")  # autocommitted writes too
    store.db.execute("PRAGMA query_only = OFF")
    with store.transaction():  # usable again, nothing left half done
        store.save_state(PATIENT, "{}")
    damaged = storage_error(sqlite3.DatabaseError("database disk image is malformed"))
    assert isinstance(damaged, StorageCorrupt) and "restore it from a backup" in damaged.advice
    store.close()
    with pytest.raises(StorageError):
        store.pending()
