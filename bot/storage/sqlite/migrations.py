"""Versioned schema migrations for the SQLite backend.

The database's `PRAGMA user_version` is the number of steps applied to it. At start every step
after it runs in order, each in its own transaction together with the new version number, so a
crash mid-upgrade leaves the database at the last whole step and the next start continues.

Databases from before versioning have user_version 0 and some of the columns later steps add
(they were added ad hoc then): steps 1-5 therefore create and add only what is missing. A new
step is appended to STEPS, never inserted or edited: a database at version n has run steps
1..n exactly as they were.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    what: str
    apply: Callable[[sqlite3.Connection], None]


class NewerDatabase(Exception):
    """The database was written by a newer version of the bot (a downgrade)."""


# Every statement is a literal (tests/test_security.py proves all SQL is), so each step sets
# its own version number with a literal PRAGMA; `migrate` checks that it did.


def _first_tables(db: sqlite3.Connection) -> None:
    """The tables as first released (chat ids were Telegram integers then)."""
    db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS conversations (chat_id INTEGER PRIMARY KEY, state TEXT NOT NULL, "
        "updated_at REAL NOT NULL)"
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            chat_id INTEGER NOT NULL,
            payload TEXT NOT NULL,
            edit_message_id INTEGER,
            request_id INTEGER,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS outbox_by_chat ON outbox (chat_id, id)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS processed_updates (update_id INTEGER PRIMARY KEY, processed_at REAL NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS inbox (update_id INTEGER PRIMARY KEY, payload TEXT NOT NULL, "
        "received_at REAL NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS counters (day TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL, "
        "PRIMARY KEY (day, kind))"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS unanswered (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL, "
        "created_at REAL NOT NULL)"
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            patient_ref TEXT NOT NULL,
            name TEXT NOT NULL,
            phone TEXT NOT NULL,
            preferred_time TEXT NOT NULL,
            note TEXT NOT NULL,
            created_at REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'open',
            handled_at REAL,
            handled_by TEXT
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS requests_by_patient ON requests (patient_ref)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS request_messages (request_id INTEGER NOT NULL, chat_id INTEGER NOT NULL, "
        "message_id INTEGER NOT NULL, PRIMARY KEY (request_id, chat_id))"
    )
    db.execute("PRAGMA user_version = 1")


def _has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return db.execute("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", (table, column)).fetchone() is not None


def _in_flight(db: sqlite3.Connection) -> None:
    if not _has_column(db, "outbox", "in_flight"):
        db.execute("ALTER TABLE outbox ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0")
    db.execute("PRAGMA user_version = 2")


def _maybe_shown(db: sqlite3.Connection) -> None:
    if not _has_column(db, "outbox", "maybe_shown"):
        db.execute("ALTER TABLE outbox ADD COLUMN maybe_shown INTEGER NOT NULL DEFAULT 0")
    db.execute("PRAGMA user_version = 3")


def _press_id(db: sqlite3.Connection) -> None:
    if not _has_column(db, "processed_updates", "press_id"):
        db.execute("ALTER TABLE processed_updates ADD COLUMN press_id TEXT")
    db.execute("PRAGMA user_version = 4")


def _link_unanswered(db: sqlite3.Connection) -> None:
    if not _has_column(db, "unanswered", "patient_ref"):
        db.execute("ALTER TABLE unanswered ADD COLUMN patient_ref TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS unanswered_by_patient ON unanswered (patient_ref)")
    db.execute("PRAGMA user_version = 5")


# Chat ids were Telegram's integers; they become "tg:<id>" (a value already text is left alone).


def _namespace_chat_ids(db: sqlite3.Connection) -> None:
    """Rebuild the three tables that hold chat ids with TEXT columns (SQLite cannot change a
    column's type, and conversations.chat_id was the rowid, which holds integers only). The
    outbox keeps its ids and its id sequence. Keyed references (requests, unanswered) need no
    rewrite: see Cipher.reference."""
    db.execute(
        "CREATE TABLE conversations_new (chat_id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at REAL NOT NULL)"
    )
    db.execute(
        "INSERT INTO conversations_new (chat_id, state, updated_at) "
        "SELECT CASE WHEN typeof(chat_id) = 'integer' THEN 'tg:' || chat_id ELSE chat_id END, "
        "state, updated_at FROM conversations"
    )
    db.execute("DROP TABLE conversations")
    db.execute("ALTER TABLE conversations_new RENAME TO conversations")

    sequence = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    db.execute(
        """CREATE TABLE outbox_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            chat_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            edit_message_id INTEGER,
            request_id INTEGER,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL DEFAULT 0,
            in_flight INTEGER NOT NULL DEFAULT 0,
            maybe_shown INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute(
        "INSERT INTO outbox_new (chat_id, id, payload, edit_message_id, request_id, created_at, attempts, "
        "next_attempt_at, in_flight, maybe_shown) "
        "SELECT CASE WHEN typeof(chat_id) = 'integer' THEN 'tg:' || chat_id ELSE chat_id END, "
        "id, payload, edit_message_id, request_id, created_at, attempts, "
        "next_attempt_at, in_flight, maybe_shown FROM outbox"
    )
    db.execute("DROP TABLE outbox")
    db.execute("ALTER TABLE outbox_new RENAME TO outbox")
    db.execute("CREATE INDEX outbox_by_chat ON outbox (chat_id, id)")
    if sequence is not None:
        db.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'outbox'", (sequence[0],))
        if db.execute("SELECT 1 FROM sqlite_sequence WHERE name = 'outbox'").fetchone() is None:
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (sequence[0],))

    db.execute(
        """CREATE TABLE request_messages_new (
            request_id INTEGER NOT NULL,
            chat_id TEXT NOT NULL,
            message_id INTEGER NOT NULL,
            PRIMARY KEY (request_id, chat_id)
        )"""
    )
    db.execute(
        "INSERT INTO request_messages_new (request_id, chat_id, message_id) "
        "SELECT request_id, CASE WHEN typeof(chat_id) = 'integer' THEN 'tg:' || chat_id ELSE chat_id END, "
        "message_id FROM request_messages"
    )
    db.execute("DROP TABLE request_messages")
    db.execute("ALTER TABLE request_messages_new RENAME TO request_messages")
    db.execute("PRAGMA user_version = 6")


STEPS: tuple[Migration, ...] = (
    Migration(1, "the tables as first released", _first_tables),
    Migration(2, "outbox.in_flight: an attempt under way", _in_flight),
    Migration(3, "outbox.maybe_shown: an earlier attempt may have arrived", _maybe_shown),
    Migration(4, "processed_updates.press_id: a button press still to answer", _press_id),
    Migration(5, "unanswered.patient_ref: /forget finds a patient's questions", _link_unanswered),
    Migration(6, "chat ids namespaced by channel: Telegram's integers become 'tg:<id>'", _namespace_chat_ids),
)
LATEST = STEPS[-1].version


def version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection) -> int:
    """Bring the database (autocommit connection) to LATEST; returns the version it was at."""
    found = version(db)
    if found > LATEST:
        raise NewerDatabase(f"schema version {found}, this bot knows up to {LATEST}")
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            current = version(db)  # again under the write lock: another process may have moved on
            if current >= LATEST:
                db.execute("COMMIT")
                return found
            step = STEPS[current]
            step.apply(db)
            if version(db) != step.version:
                raise AssertionError(f"migration {step.version} ({step.what}) did not set user_version")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
