"""SQLite storage: conversation state, a reply outbox, processed updates, counters.

Why an outbox: a patient's turn is committed in one transaction (new state, the replies to
send, the update's id) before anything is sent. If the process is killed after that, the
replies are still in the outbox and go out at the next start; if it is killed before, the
update is delivered again by Telegram and handled then. Either way nothing is lost, and an
update already handled is never applied twice.

WAL mode with synchronous=NORMAL survives a killed process (SIGKILL) without losing a committed
transaction; only a power cut may drop the last few, which is acceptable for this data.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.replies import Button, Event, Reply

DATABASE_NAME = "bot.sqlite3"
STATE_RETENTION_DAYS = 30
UPDATE_RETENTION_DAYS = 2
UNANSWERED_RETENTION_DAYS = 90
DAY = 86_400.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    chat_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    payload TEXT NOT NULL,
    edit_message_id INTEGER,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_by_chat ON outbox (chat_id, id);
CREATE TABLE IF NOT EXISTS processed_updates (
    update_id INTEGER PRIMARY KEY,
    processed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, kind)
);
CREATE TABLE IF NOT EXISTS unanswered (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class StoreError(Exception):
    """The data directory or database cannot be used; the message says what to do."""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    chat_id: int
    reply: Reply
    edit_message_id: int | None
    attempts: int


def _encode_reply(reply: Reply) -> str:
    rows = [
        [{"label": b.label, "action": b.action, "url": b.url} for b in row] for row in reply.buttons
    ]
    return json.dumps({"text": reply.text, "buttons": rows}, ensure_ascii=False, separators=(",", ":"))


def _decode_reply(payload: str) -> Reply:
    data = json.loads(payload)
    buttons = tuple(
        tuple(Button(b["label"], action=b.get("action"), url=b.get("url")) for b in row)
        for row in data["buttons"]
    )
    return Reply(data["text"], buttons)


class Store:
    """One SQLite database under DATA_DIR, used from the bot's single event-loop thread."""

    def __init__(self, data_dir: Path, clock: Any = time.time) -> None:
        self.clock = clock
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"DATA_DIR {data_dir}: cannot create it ({error.strerror})") from error
        self.path = data_dir / DATABASE_NAME
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            with self._transaction():  # proves the directory and file are writable now
                self.db.execute("CREATE TABLE IF NOT EXISTS _probe (x)")
                self.db.execute("DROP TABLE _probe")
        except sqlite3.Error as error:
            raise StoreError(
                f"DATA_DIR {data_dir}: cannot write the database {self.path.name} ({error}); "
                "check that the folder is writable and the disk is not full"
            ) from error

    def _transaction(self) -> sqlite3.Connection:
        return _Transaction(self.db)  # type: ignore[return-value]

    # ------------------------------------------------------------------ conversations

    def load_state(self, chat_id: int) -> str | None:
        row = self.db.execute("SELECT state FROM conversations WHERE chat_id = ?", (chat_id,)).fetchone()
        return row[0] if row else None

    def is_processed(self, update_id: int) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM processed_updates WHERE update_id = ?", (update_id,)
        ).fetchone()
        return row is not None

    def commit_turn(
        self,
        chat_id: int,
        update_id: int | None,
        state_json: str,
        replies: Sequence[Reply],
        pressed_message_id: int | None,
        events: Iterable[Event] = (),
    ) -> None:
        """Save a turn atomically: state, replies to send, the update as handled, counters."""
        now = self.clock()
        with self._transaction():
            self.db.execute(
                "INSERT INTO conversations (chat_id, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                (chat_id, state_json, now),
            )
            for reply in replies:
                edit = pressed_message_id if reply.replaces_pressed else None
                self.db.execute(
                    "INSERT INTO outbox (chat_id, payload, edit_message_id, created_at) VALUES (?, ?, ?, ?)",
                    (chat_id, _encode_reply(reply), edit, now),
                )
            if update_id is not None:
                self.db.execute(
                    "INSERT OR IGNORE INTO processed_updates (update_id, processed_at) VALUES (?, ?)",
                    (update_id, now),
                )
            self._record(events, now)

    # ------------------------------------------------------------------ outbox

    def pending(self, chat_id: int | None = None) -> list[OutboxItem]:
        if chat_id is None:
            rows = self.db.execute(
                "SELECT id, chat_id, payload, edit_message_id, attempts FROM outbox ORDER BY id"
            ).fetchall()
        else:
            rows = self.db.execute(
                "SELECT id, chat_id, payload, edit_message_id, attempts FROM outbox WHERE chat_id = ? ORDER BY id",
                (chat_id,),
            ).fetchall()
        return [OutboxItem(r[0], r[1], _decode_reply(r[2]), r[3], r[4]) for r in rows]

    def mark_sent(self, item_id: int) -> None:
        self.db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

    def mark_attempt(self, item_id: int) -> None:
        self.db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    def drop_chat_outbox(self, chat_id: int) -> int:
        """Forget replies to a chat that can never receive them (the patient blocked the bot)."""
        return self.db.execute("DELETE FROM outbox WHERE chat_id = ?", (chat_id,)).rowcount

    # ------------------------------------------------------------------ counters and unanswered

    def record(self, events: Iterable[Event]) -> None:
        with self._transaction():
            self._record(events, self.clock())

    def _record(self, events: Iterable[Event], now: float) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        for event in events:
            self.db.execute(
                "INSERT INTO counters (day, kind, count) VALUES (?, ?, 1) "
                "ON CONFLICT (day, kind) DO UPDATE SET count = count + 1",
                (day, event.kind),
            )
            if event.kind == "unanswered" and event.data.get("text"):
                self.db.execute(
                    "INSERT INTO unanswered (text, created_at) VALUES (?, ?)", (event.data["text"], now)
                )

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT kind, SUM(count) FROM counters GROUP BY kind").fetchall()
        return {kind: int(total) for kind, total in rows}

    def unanswered(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT text FROM unanswered ORDER BY id")]

    # ------------------------------------------------------------------ retention

    def purge(self) -> dict[str, int]:
        """Delete what the privacy notice says is not kept: old states, updates, questions."""
        now = self.clock()
        with self._transaction():
            removed = {
                "conversations": self.db.execute(
                    "DELETE FROM conversations WHERE updated_at < ?", (now - STATE_RETENTION_DAYS * DAY,)
                ).rowcount,
                "processed_updates": self.db.execute(
                    "DELETE FROM processed_updates WHERE processed_at < ?", (now - UPDATE_RETENTION_DAYS * DAY,)
                ).rowcount,
                "unanswered": self.db.execute(
                    "DELETE FROM unanswered WHERE created_at < ?", (now - UNANSWERED_RETENTION_DAYS * DAY,)
                ).rowcount,
            }
        return removed

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def close(self) -> None:
        self.db.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if kind is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
