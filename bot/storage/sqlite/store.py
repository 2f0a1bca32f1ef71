"""SQLite storage: conversation state, a reply outbox, call-back requests, counters.

Why an outbox: a turn is committed in one transaction (new state, replies to send, a saved
request and its staff notifications, the update's id) before anything is sent. If the process
dies after that, the outbox still holds the messages and they go out at the next start; if it
dies before, Telegram delivers the update again. Nothing is lost, nothing is applied twice.
Staff notifications are retried with backoff until Telegram accepts them, however long that
takes; a reply to a patient is given up after MAX_PATIENT_ATTEMPTS.

Personal data (states, queued messages, names, phone numbers, notes, unanswered questions) is
encrypted with the data key (bot/storage/crypto.py). WAL with synchronous=NORMAL survives a killed
process without losing a committed transaction. All SQL is parameterised.

This is the SQLite implementation of the storage contract (bot/storage/__init__.py): every
sqlite3 error is mapped to the project's StorageError kinds here, at the boundary, and the schema
is versioned (migrations.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from bot.core.replies import Button, Event, Reply
from bot.core.request_flow import DEFAULT_RETENTION_DAYS
from bot.storage import (
    CallbackRequest,
    Forgotten,
    OutboxItem,
    StaffMessage,
    StorageCorrupt,
    StorageError,
    StorageFull,
    StorageOpenError,
)
from bot.storage.crypto import DEFAULT_KEY_FILE, Cipher, DataKeyError, load_key, new_key
from bot.storage.personal_data import scrub
from bot.storage.sqlite.migrations import NewerDatabase, migrate

DATABASE_NAME = "bot.sqlite3"
STATE_RETENTION_DAYS = 30
UPDATE_RETENTION_DAYS = 2
UNANSWERED_RETENTION_DAYS = 90
MAX_PATIENT_ATTEMPTS = 20
MAX_BACKOFF_SECONDS = 300.0
DAY = 86_400.0
_KEY_CHECK = "spine-clinic-bot key check"

_DAMAGED = ("file is not a database", "malformed", "corrupt", "not a database")
_DISK = ("full", "readonly", "read-only", "disk i/o", "unable to open", "no such file")


def storage_error(error: sqlite3.Error) -> StorageError:
    """The project's error for a sqlite3 error: a damaged file needs other advice than a full disk."""
    text = str(error)
    lowered = text.lower()
    if isinstance(error, sqlite3.DatabaseError) and any(word in lowered for word in _DAMAGED):
        return StorageCorrupt(text)
    if isinstance(error, sqlite3.OperationalError) and any(word in lowered for word in _DISK):
        return StorageFull(text)
    return StorageError(text)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _mapped(method: _Method) -> _Method:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as error:
            raise storage_error(error) from error

    return call  # type: ignore[return-value]


def _errors_mapped(cls: type) -> type:
    """Every public method of the store raises StorageError, never sqlite3.Error."""
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and name != "transaction":
            setattr(cls, name, _mapped(value))
    return cls


def _open_advice(data_dir: Path | None, error: sqlite3.Error) -> str:
    """One line for an unusable database: a damaged file needs other advice than a full disk."""
    text = str(error)
    if isinstance(error, sqlite3.DatabaseError) and any(word in text.lower() for word in _DAMAGED):
        return (
            f"DATA_DIR {data_dir}: the database {DATABASE_NAME} is damaged ({text}): stop the bot, move the "
            "file aside and restore it from a backup (or start with an empty DATA_DIR: conversations and "
            "call-back requests in the damaged file are then lost)"
        )
    return (
        f"DATA_DIR {data_dir}: cannot write the database {DATABASE_NAME} ({text}); "
        "check that the folder is writable and the disk is not full"
    )


def _encode_reply(reply: Reply) -> str:
    rows = [[{"label": b.label, "action": b.action, "url": b.url} for b in row] for row in reply.buttons]
    return json.dumps(
        {
            "text": reply.text,
            "buttons": rows,
            "share_contact": reply.share_contact,
            "remove_keyboard": reply.remove_keyboard,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _decode_reply(payload: str) -> Reply:
    data = json.loads(payload)
    buttons = tuple(
        tuple(Button(b["label"], action=b.get("action"), url=b.get("url")) for b in row) for row in data["buttons"]
    )
    return Reply(
        data["text"],
        buttons,
        share_contact=data.get("share_contact"),
        remove_keyboard=bool(data.get("remove_keyboard")),
    )


@_errors_mapped
class SqliteStore:
    """One SQLite database under DATA_DIR, used from the bot's single event-loop thread."""

    def __init__(
        self,
        data_dir: Path | None,
        key: bytes | None = None,
        key_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`data_dir=None` keeps everything in memory (the terminal chat)."""
        self.clock = clock
        if data_dir is None:
            self.path = Path(":memory:")
        else:
            try:
                data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StorageOpenError(f"DATA_DIR {data_dir}: cannot create it ({error.strerror})") from error
            self.path = data_dir / DATABASE_NAME
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            if data_dir is not None:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            migrate(self.db)
            with self.transaction():  # proves the folder and file are writable now
                self.db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('created', ?)", (str(clock()),))
            self.cipher = self._open_cipher(key, key_file, data_dir)
        except StorageOpenError:
            raise
        except NewerDatabase as error:
            raise StorageOpenError(
                f"DATA_DIR {data_dir}: the database {DATABASE_NAME} was written by a newer version of the bot "
                f"({error}): run that version, or restore a backup made before the upgrade"
            ) from error
        except sqlite3.DatabaseError as error:
            raise StorageOpenError(_open_advice(data_dir, error)) from error
        except StorageError as error:  # from transaction(): the cause is the sqlite3 error
            cause = error.__cause__
            if isinstance(cause, sqlite3.DatabaseError):
                raise StorageOpenError(_open_advice(data_dir, cause)) from cause
            raise StorageOpenError(f"DATA_DIR {data_dir}: cannot use the database {DATABASE_NAME} ({error})") from error

    def _open_cipher(self, key: bytes | None, key_file: Path | None, data_dir: Path | None) -> Cipher:
        check = self.db.execute("SELECT value FROM meta WHERE name = 'key_check'").fetchone()
        try:
            if key is None and data_dir is None:
                key = new_key()
            if key is None:
                key = load_key(None, key_file or DEFAULT_KEY_FILE, create=check is None)
            if key is None:
                raise StorageOpenError(
                    f"the database in {data_dir} holds encrypted patient data but the data key is missing: "
                    f"restore the key file {key_file} or set DATA_KEY in .env (the key it was created with)"
                )
            cipher = Cipher(key)
            if check is None:
                with self.transaction():
                    self.db.execute(
                        "INSERT INTO meta (name, value) VALUES ('key_check', ?)", (cipher.encrypt(_KEY_CHECK),)
                    )
            elif cipher.decrypt(check[0]) != _KEY_CHECK:
                raise DataKeyError("key check failed")
        except DataKeyError as error:
            raise StorageOpenError(
                f"the data key does not fit the database in {data_dir} ({error}): use the key the data "
                "was created with (DATA_KEY in .env or KEY_FILE)"
            ) from error
        return cipher

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any error."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise storage_error(error) from error
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as error:
            if self.db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise storage_error(error) from error

    def log_tag(self, chat_id: str) -> str:
        return self.cipher.log_tag(chat_id)

    # ------------------------------------------------------------------ conversations (call inside a transaction)

    def load_state(self, chat_id: str) -> str | None:
        row = self.db.execute("SELECT state FROM conversations WHERE chat_id = ?", (chat_id,)).fetchone()
        if not row:
            return None
        try:
            return self.cipher.decrypt(row[0])
        except DataKeyError:
            return None  # a damaged row starts afresh rather than blocking the patient

    def clear_state(self, chat_id: str) -> None:
        self.db.execute("DELETE FROM conversations WHERE chat_id = ?", (chat_id,))

    def save_state(self, chat_id: str, state_json: str) -> None:
        self.db.execute(
            "INSERT INTO conversations (chat_id, state, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (chat_id, self.cipher.encrypt(state_json), self.clock()),
        )

    def receive(self, update_id: int, payload_json: str) -> None:
        """Keep an update the moment it arrives (one autocommitted statement, no await before
        it): python-telegram-bot confirms updates to Telegram before the handler has saved
        them, so an update waiting for its chat's turn at a crash would otherwise be lost."""
        self.db.execute(
            "INSERT OR IGNORE INTO inbox (update_id, payload, received_at) VALUES (?, ?, ?)",
            (update_id, self.cipher.encrypt(payload_json), self.clock()),
        )

    def inbox(self) -> list[tuple[int, str]]:
        """Updates received but not yet handled (a crash came in between), oldest first."""
        found = []
        for update_id, payload in self.db.execute("SELECT update_id, payload FROM inbox ORDER BY update_id"):
            try:
                found.append((update_id, self.cipher.decrypt(payload)))
            except DataKeyError:
                continue
        return found

    def is_processed(self, update_id: int) -> bool:
        return (
            self.db.execute("SELECT 1 FROM processed_updates WHERE update_id = ?", (update_id,)).fetchone() is not None
        )

    def mark_processed(self, update_id: int, press_id: str | None = None) -> None:
        """`press_id`: the update is a button press still to be answered (see press_answered)."""
        self.db.execute("DELETE FROM inbox WHERE update_id = ?", (update_id,))
        self.db.execute(
            "INSERT OR IGNORE INTO processed_updates (update_id, processed_at, press_id) VALUES (?, ?, ?)",
            (update_id, self.clock(), press_id),
        )

    def discard_received(self, update_id: int) -> None:
        self.db.execute("DELETE FROM inbox WHERE update_id = ?", (update_id,))

    def press_answered(self, update_id: int) -> None:
        """The button press of this processed update has been answered (own transaction)."""
        self.db.execute("UPDATE processed_updates SET press_id = NULL WHERE update_id = ?", (update_id,))

    def press_unanswered(self, update_id: int) -> bool:
        """Processed, but the bot died before answering its button press."""
        row = self.db.execute("SELECT press_id FROM processed_updates WHERE update_id = ?", (update_id,)).fetchone()
        return row is not None and row[0] is not None

    def unanswered_presses(self, within_seconds: float) -> list[tuple[int, str]]:
        """(update id, callback query id) of presses processed lately but never answered: the
        bot died in between, and Telegram will not deliver the update again."""
        return self.db.execute(
            "SELECT update_id, press_id FROM processed_updates WHERE press_id IS NOT NULL AND processed_at >= ?",
            (self.clock() - within_seconds,),
        ).fetchall()

    def queue(
        self, chat_id: str, reply: Reply, edit_message_id: int | None = None, request_id: int | None = None
    ) -> None:
        self.db.execute(
            "INSERT INTO outbox (chat_id, payload, edit_message_id, request_id, created_at) VALUES (?, ?, ?, ?, ?)",
            (chat_id, self.cipher.encrypt(_encode_reply(reply)), edit_message_id, request_id, self.clock()),
        )

    def record(self, events: Iterable[Event], chat_id: str | None = None) -> None:
        """Count events; an unanswered question is kept scrubbed of personal data and linked to
        its patient by the keyed reference, so /forget deletes it too."""
        now = self.clock()
        ref = self.cipher.reference(chat_id) if chat_id is not None else None
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        for event in events:
            self.db.execute(
                "INSERT INTO counters (day, kind, count) VALUES (?, ?, 1) "
                "ON CONFLICT (day, kind) DO UPDATE SET count = count + 1",
                (day, event.kind),
            )
            if event.kind == "unanswered" and event.data.get("text"):
                self.db.execute(
                    "INSERT INTO unanswered (text, created_at, patient_ref) VALUES (?, ?, ?)",
                    (self.cipher.encrypt(scrub(str(event.data["text"]))), now, ref),
                )

    # ------------------------------------------------------------------ requests (call inside a transaction)

    def save_request(self, chat_id: str, name: str, phone: str, preferred_time: str, note: str) -> int:
        cursor = self.db.execute(
            "INSERT INTO requests (patient_ref, name, phone, preferred_time, note, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                self.cipher.reference(chat_id),
                self.cipher.encrypt(name),
                self.cipher.encrypt(phone),
                preferred_time,
                self.cipher.encrypt(note),
                self.clock(),
            ),
        )
        return int(cursor.lastrowid or 0)

    def request(self, request_id: int) -> CallbackRequest | None:
        row = self.db.execute(
            "SELECT id, name, phone, preferred_time, note, created_at, status, handled_at FROM requests WHERE id = ?",
            (request_id,),
        ).fetchone()
        return self._request(row) if row else None

    def requests(self, status: str | None = None) -> list[CallbackRequest]:
        sql = "SELECT id, name, phone, preferred_time, note, created_at, status, handled_at FROM requests"
        rows = (
            self.db.execute(sql + " WHERE status = ? ORDER BY id", (status,)).fetchall()
            if status
            else self.db.execute(sql + " ORDER BY id").fetchall()
        )
        return [self._request(row) for row in rows]

    def _request(self, row: tuple) -> CallbackRequest:
        return CallbackRequest(
            id=row[0],
            name=self.cipher.decrypt(row[1]),
            phone=self.cipher.decrypt(row[2]),
            preferred_time=row[3],
            note=self.cipher.decrypt(row[4]),
            created_at=row[5],
            status=row[6],
            handled_at=row[7],
        )

    def mark_request(self, request_id: int, status: str, handled_by: str) -> bool:
        cursor = self.db.execute(
            "UPDATE requests SET status = ?, handled_at = ?, handled_by = ? WHERE id = ?",
            (status, self.clock(), handled_by, request_id),
        )
        return cursor.rowcount == 1

    def request_messages(self, request_id: int) -> list[tuple[str, int]]:
        return [
            (row[0], row[1])
            for row in self.db.execute(
                "SELECT chat_id, message_id FROM request_messages WHERE request_id = ?", (request_id,)
            )
        ]

    def forget(self, chat_id: str) -> Forgotten:
        """Delete everything held about one patient: state, queued messages, requests with their
        staff notifications and message links, unanswered questions. The staff messages that
        showed the requests are returned, for the service to replace."""
        ref = self.cipher.reference(chat_id)
        ids = tuple(
            row[0] for row in self.db.execute("SELECT id FROM requests WHERE patient_ref = ? ORDER BY id", (ref,))
        )
        shown = tuple(
            StaffMessage(request_id, chat, message_id)
            for request_id in ids
            for chat, message_id in self.db.execute(
                "SELECT chat_id, message_id FROM request_messages WHERE request_id = ?", (request_id,)
            ).fetchall()
        )
        conversations = self.db.execute("DELETE FROM conversations WHERE chat_id = ?", (chat_id,)).rowcount
        queued = self.db.execute("DELETE FROM outbox WHERE chat_id = ?", (chat_id,)).rowcount
        unanswered = self.db.execute("DELETE FROM unanswered WHERE patient_ref = ?", (ref,)).rowcount
        for request_id in ids:
            self.db.execute("DELETE FROM outbox WHERE request_id = ?", (request_id,))  # details included
            self.db.execute("DELETE FROM request_messages WHERE request_id = ?", (request_id,))
            self.db.execute("DELETE FROM requests WHERE id = ?", (request_id,))
        return Forgotten(conversations, queued, unanswered, ids, shown)

    # ------------------------------------------------------------------ outbox (own transactions)

    def pending(self, chat_id: str | None = None, due_only: bool = False) -> list[OutboxItem]:
        sql = "SELECT id, chat_id, payload, edit_message_id, request_id, attempts, next_attempt_at FROM outbox"
        conditions, params = [], []
        if chat_id is not None:
            conditions.append("chat_id = ?")
            params.append(chat_id)
        if due_only:
            conditions.append("next_attempt_at <= ?")
            params.append(self.clock())
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        items = []
        for row in self.db.execute(sql + " ORDER BY id", params).fetchall():
            try:
                reply = _decode_reply(self.cipher.decrypt(row[2]))
            except (DataKeyError, ValueError, KeyError):
                self.mark_sent(row[0])  # unreadable: it can never be sent
                continue
            items.append(OutboxItem(row[0], row[1], reply, row[3], row[4], row[5], row[6] <= self.clock()))
        return items

    def mark_sent(self, item_id: int, message_id: int | None = None) -> bool:
        """Remove a sent item; False when it was already gone (deleted by /forget meanwhile)."""
        with self.transaction():
            row = self.db.execute(
                "SELECT request_id, chat_id, edit_message_id FROM outbox WHERE id = ?", (item_id,)
            ).fetchone()
            if row and row[0] is not None and row[2] is None and message_id is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO request_messages (request_id, chat_id, message_id) VALUES (?, ?, ?)",
                    (row[0], row[1], message_id),
                )
            self.db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
        return row is not None

    def start_attempt(self, item_id: int) -> bool:
        """Record, before sending, that an attempt is under way; True when some earlier attempt
        may have been shown: it never came back (the bot died while Telegram had the message)
        or it ended in a timeout or a dropped connection. Once True, True until sent."""
        with self.transaction():
            row = self.db.execute("SELECT in_flight, maybe_shown FROM outbox WHERE id = ?", (item_id,)).fetchone()
            maybe_shown = bool(row and (row[0] or row[1]))
            self.db.execute(
                "UPDATE outbox SET in_flight = 1, maybe_shown = ? WHERE id = ?", (int(maybe_shown), item_id)
            )
        return maybe_shown

    def mark_failed(self, item: OutboxItem, outcome_unknown: bool = False) -> bool:
        """Count a failed attempt and schedule the next with backoff; False when given up.
        `outcome_unknown`: the request may have reached Telegram (a timeout), which the next
        attempt will say; a failure that proves nothing was shown clears no earlier doubt."""
        attempts = item.attempts + 1
        if not item.for_staff and attempts >= MAX_PATIENT_ATTEMPTS:
            self.mark_sent(item.id)
            return False
        delay = min(MAX_BACKOFF_SECONDS, 2.0 ** min(attempts, 12))
        self.db.execute(
            "UPDATE outbox SET attempts = ?, next_attempt_at = ?, in_flight = 0, maybe_shown = MAX(maybe_shown, ?) "
            "WHERE id = ?",
            (attempts, self.clock() + delay, int(outcome_unknown), item.id),
        )
        return True

    def retry_now(self, chat_id: str) -> None:
        """Make a chat's waiting messages due now (its chat was just found usable)."""
        self.db.execute("UPDATE outbox SET next_attempt_at = 0 WHERE chat_id = ?", (chat_id,))

    def staff_notifications_elsewhere(self, staff_chat_ids: Iterable[str]) -> list[tuple[int, int]]:
        """(outbox id, request id) of new-request notifications waiting for a chat that is no
        longer a staff chat (STAFF_CHAT_ID was corrected): they must go to the current ones."""
        current = set(staff_chat_ids)
        rows = self.db.execute(
            "SELECT id, chat_id, request_id FROM outbox WHERE request_id IS NOT NULL AND edit_message_id IS NULL"
        ).fetchall()
        return [(row[0], row[2]) for row in rows if row[1] not in current]

    def undelivered_requests(self, staff_chat_ids: Iterable[str]) -> list[int]:
        """Open requests that no current staff chat has been shown and none is waiting for."""
        current = set(staff_chat_ids)
        found = []
        for (request_id,) in self.db.execute("SELECT id FROM requests WHERE status = 'open' ORDER BY id").fetchall():
            shown = {
                row[0]
                for row in self.db.execute("SELECT chat_id FROM request_messages WHERE request_id = ?", (request_id,))
            }
            waiting = {
                row[0]
                for row in self.db.execute(
                    "SELECT chat_id FROM outbox WHERE request_id = ? AND edit_message_id IS NULL", (request_id,)
                )
            }
            if current and not (current & (shown | waiting)):
                found.append(request_id)
        return found

    def delete_outbox_item(self, item_id: int) -> None:
        self.db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

    def open_requests(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM requests WHERE status = 'open'").fetchone()[0])

    def drop_chat_outbox(self, chat_id: str) -> int:
        """Forget replies to a patient who can never receive them (they blocked the bot)."""
        return self.db.execute("DELETE FROM outbox WHERE chat_id = ? AND request_id IS NULL", (chat_id,)).rowcount

    # ------------------------------------------------------------------ reports

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT kind, SUM(count) FROM counters GROUP BY kind").fetchall()
        return {kind: int(total) for kind, total in rows}

    def unanswered(self) -> list[str]:
        """The kept questions, scrubbed again on the way out (rows from before scrubbing)."""
        texts = []
        for row in self.db.execute("SELECT text FROM unanswered ORDER BY id"):
            try:
                texts.append(scrub(self.cipher.decrypt(row[0])))
            except DataKeyError:
                continue
        return texts

    def purge(self, request_retention_days: int = DEFAULT_RETENTION_DAYS) -> dict[str, int]:
        """Delete what the privacy notice says is not kept."""
        now = self.clock()
        with self.transaction():
            return {
                "conversations": self.db.execute(
                    "DELETE FROM conversations WHERE updated_at < ?", (now - STATE_RETENTION_DAYS * DAY,)
                ).rowcount,
                "processed_updates": self.db.execute(
                    "DELETE FROM processed_updates WHERE processed_at < ?", (now - UPDATE_RETENTION_DAYS * DAY,)
                ).rowcount,
                "inbox": self.db.execute(  # an update that keeps failing is not replayed forever
                    "DELETE FROM inbox WHERE received_at < ?", (now - UPDATE_RETENTION_DAYS * DAY,)
                ).rowcount,
                "unanswered": self.db.execute(
                    "DELETE FROM unanswered WHERE created_at < ?", (now - UNANSWERED_RETENTION_DAYS * DAY,)
                ).rowcount,
                "requests": self._purge_requests(now - request_retention_days * DAY),
            }

    def _purge_requests(self, handled_before: float) -> int:
        ids = [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM requests WHERE status != 'open' AND handled_at < ?", (handled_before,)
            )
        ]
        for request_id in ids:
            self.db.execute("DELETE FROM request_messages WHERE request_id = ?", (request_id,))
            self.db.execute("DELETE FROM requests WHERE id = ?", (request_id,))
        return len(ids)

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def close(self) -> None:
        self.db.close()
