"""Storage: where conversations, the outbox, the inbox and call-back requests are kept.

This module is the storage contract: `Storage`, the operations the service, the channels and the
command-line tools use, with typed results (`OutboxItem`, `CallbackRequest`, `Forgotten`) and
the project's own errors (`StorageError` and its kinds). A backend implements `Storage` and maps
its driver's errors to these at its boundary, so nothing above it knows which database it is.
`sqlite` is the embedded backend (a second, PostgreSQL, would be a sibling package); `crypto`
encrypts patients' data at rest; `personal_data` scrubs what is kept for the staff report.

Chat ids are strings namespaced by channel ("tg:123456" for Telegram, "term:1" for the terminal
chat): the store never needs to know which messenger a chat belongs to.

Tests every backend must pass: tests/test_storage_contract.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.core.replies import Event, Reply
from bot.core.request_flow import DEFAULT_RETENTION_DAYS

# ---------------------------------------------------------------------------------- errors

DISK_ADVICE = "Check free disk space and permissions of DATA_DIR"
DAMAGED_ADVICE = "The database file in DATA_DIR is damaged: stop the bot and restore it from a backup"


class StorageError(Exception):
    """Storage could not do what was asked; `advice` says what the operator should do."""

    advice = DISK_ADVICE


class StorageFull(StorageError):
    """A write was refused by the disk: full, read-only, no permission, an I/O error."""

    advice = DISK_ADVICE


class StorageCorrupt(StorageError):
    """The database is damaged: writing on would make it worse."""

    advice = DAMAGED_ADVICE


class StorageOpenError(StorageError):
    """The data directory, database or data key cannot be used at start; the message says what
    to do (the bot refuses to start with it as a configuration error)."""


# ---------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class OutboxItem:
    """A message waiting to be sent (or an edit of one already sent: `edit_message_id`)."""

    id: int
    chat_id: str
    reply: Reply
    edit_message_id: int | None
    request_id: int | None
    attempts: int
    due: bool = True

    @property
    def for_staff(self) -> bool:
        return self.request_id is not None


@dataclass(frozen=True)
class CallbackRequest:
    """A patient's call-back request, decrypted."""

    id: int
    name: str
    phone: str
    preferred_time: str
    note: str
    created_at: float
    status: str
    handled_at: float | None


@dataclass(frozen=True)
class StaffMessage:
    """A message in a staff chat that shows a call-back request (edited when it changes)."""

    request_id: int
    chat_id: str
    message_id: int


@dataclass(frozen=True)
class Forgotten:
    """What `forget` deleted for one patient. `staff_messages`: the staff chats' messages that
    showed the deleted requests, for the service to replace with a "deleted" note."""

    conversations: int
    queued: int
    unanswered: int
    request_ids: tuple[int, ...]
    staff_messages: tuple[StaffMessage, ...]

    @property
    def requests(self) -> int:
        return len(self.request_ids)


# ---------------------------------------------------------------------------------- the contract


@runtime_checkable
class Storage(Protocol):
    """What the service, the channels and the tools need from storage. One writer at a time;
    every method may raise `StorageError` (never a driver's own error). Methods marked
    "in a transaction" are called inside `transaction()`; the others commit on their own."""

    # --- transactions, lifetime, pseudonyms

    def transaction(self) -> AbstractContextManager[object]:
        """All or nothing: everything done inside is committed together or not at all (also
        when the block raises). Not re-entrant."""
        ...

    def close(self) -> None: ...

    def log_tag(self, chat_id: str) -> str:
        """A keyed pseudonym of a chat (or a staff user) for log lines: the same chat always
        gets the same tag, and nobody without the data key can test a known id against it."""
        ...

    def integrity_ok(self) -> bool: ...

    # --- conversations (in a transaction)

    def load_state(self, chat_id: str) -> str | None:
        """The conversation state saved for a chat; None when there is none (or it is unreadable)."""
        ...

    def save_state(self, chat_id: str, state_json: str) -> None: ...

    def clear_state(self, chat_id: str) -> None:
        """Delete a chat's state (it is back at the start: nothing to keep)."""
        ...

    # --- the inbox: updates kept the moment they arrive, replayed after a crash

    def receive(self, update_id: int, payload_json: str) -> None: ...

    def inbox(self) -> list[tuple[int, str]]:
        """(update id, payload) received but not handled yet, oldest first."""
        ...

    def is_processed(self, update_id: int) -> bool: ...

    def mark_processed(self, update_id: int, press_id: str | None = None) -> None:
        """The update is handled (and no longer in the inbox); `press_id`: a button press still to answer."""
        ...

    def discard_received(self, update_id: int) -> None:
        """Drop an update from the inbox without handling it (it was handled before)."""
        ...

    def press_answered(self, update_id: int) -> None: ...

    def press_unanswered(self, update_id: int) -> bool: ...

    def unanswered_presses(self, within_seconds: float) -> list[tuple[int, str]]:
        """(update id, press id) of presses processed within the last `within_seconds`, never answered."""
        ...

    # --- the outbox

    def queue(
        self, chat_id: str, reply: Reply, edit_message_id: int | None = None, request_id: int | None = None
    ) -> None:
        """Queue a message (in a transaction). `request_id`: a staff message about that request."""
        ...

    def pending(self, chat_id: str | None = None, due_only: bool = False) -> list[OutboxItem]:
        """Queued items in order (an unreadable one is dropped); `due`: its next attempt is now."""
        ...

    def mark_sent(self, item_id: int, message_id: int | None = None) -> bool:
        """Remove a sent item (a new staff message's id is remembered for later edits); False
        when it was already gone."""
        ...

    def start_attempt(self, item_id: int) -> bool:
        """Record that a send is under way; True when an earlier attempt may have been shown."""
        ...

    def mark_failed(self, item: OutboxItem, outcome_unknown: bool = False) -> bool:
        """Schedule the next attempt with backoff; False when a patient's message is given up."""
        ...

    def retry_now(self, chat_id: str) -> None: ...

    def drop_chat_outbox(self, chat_id: str) -> int:
        """Delete a chat's queued replies (not staff messages); how many."""
        ...

    def delete_outbox_item(self, item_id: int) -> None: ...

    def staff_notifications_elsewhere(self, staff_chat_ids: Iterable[str]) -> list[tuple[int, int]]:
        """(outbox id, request id) of new-request notifications queued for a chat not in `staff_chat_ids`."""
        ...

    def undelivered_requests(self, staff_chat_ids: Iterable[str]) -> list[int]:
        """Open requests no chat in `staff_chat_ids` has been shown or is waiting for."""
        ...

    # --- call-back requests (writes in a transaction)

    def save_request(self, chat_id: str, name: str, phone: str, preferred_time: str, note: str) -> int: ...

    def request(self, request_id: int) -> CallbackRequest | None: ...

    def requests(self, status: str | None = None) -> list[CallbackRequest]: ...

    def mark_request(self, request_id: int, status: str, handled_by: str) -> bool: ...

    def request_messages(self, request_id: int) -> list[tuple[str, int]]:
        """(staff chat, message id) of the staff messages that show a request."""
        ...

    def open_requests(self) -> int: ...

    def forget(self, chat_id: str) -> Forgotten:
        """Delete everything held about one patient (in a transaction): state, queued messages,
        requests with their staff notifications and message links, unanswered questions."""
        ...

    # --- reports and retention

    def record(self, events: Iterable[Event], chat_id: str | None = None) -> None:
        """Count events (in a transaction); an unanswered question is kept scrubbed and linked to its chat."""
        ...

    def counts(self) -> dict[str, int]: ...

    def unanswered(self) -> list[str]: ...

    def purge(self, request_retention_days: int = DEFAULT_RETENTION_DAYS) -> dict[str, int]:
        """Delete what the privacy notice says is not kept; how many of each."""
        ...
