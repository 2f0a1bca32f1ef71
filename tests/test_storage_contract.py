"""The storage contract (bot/storage/__init__.py): what every backend must do, tested through the
contract alone. A new backend (PostgreSQL) adds one entry to BACKENDS and passes this file.

Nothing here reads a backend's tables: only what the service, the channels and the tools can see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.core.replies import Button, Event, Reply
from bot.storage import CallbackRequest, Forgotten, OutboxItem, StaffMessage, Storage
from bot.storage.sqlite.store import SqliteStore

T0 = 1_760_000_000.0
DAY = 86_400.0
PATIENT = "tg:5150"
OTHER = "tg:5151"
TERMINAL = "term:1"
STAFF = "tg:-1001"
STAFF_2 = "tg:-1002"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _sqlite_file(tmp_path: Path, clock: Clock) -> Storage:
    return SqliteStore(tmp_path / "data", key_file=tmp_path / "keys" / "data.key", clock=clock)


def _sqlite_memory(tmp_path: Path, clock: Clock) -> Storage:
    return SqliteStore(None, clock=clock)


# name -> a function opening an empty store with the given clock. PostgreSQL: add it here.
BACKENDS: dict[str, Callable[[Path, Clock], Storage]] = {
    "sqlite-file": _sqlite_file,
    "sqlite-memory": _sqlite_memory,
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Storage]:
    store = BACKENDS[request.param](tmp_path, clock)
    yield store
    store.close()


def _request(store: Storage, chat: str, name: str = "Hanako Yamada") -> int:
    return store.save_request(chat, name, "+819012345678", "morning", "Sitting hurts")


# ---------------------------------------------------------------------------------- the contract itself


def test_implements_the_contract(backend: Storage) -> None:
    assert isinstance(backend, Storage)
    missing = [name for name in _contract_methods() if not callable(getattr(backend, name, None))]
    assert missing == []


def _contract_methods() -> list[str]:
    return [name for name in vars(Storage) if not name.startswith("_")]


def test_log_tags_are_stable_and_per_chat(backend: Storage) -> None:
    assert backend.log_tag(PATIENT) == backend.log_tag(PATIENT)
    assert len({backend.log_tag(chat) for chat in (PATIENT, OTHER, TERMINAL, "term:5150")}) == 4
    assert "5150" not in backend.log_tag(PATIENT)


# ---------------------------------------------------------------------------------- transactions


def test_a_transaction_is_all_or_nothing(backend: Storage) -> None:
    with pytest.raises(RuntimeError), backend.transaction():
        backend.save_state(PATIENT, '{"v":1}')
        backend.queue(PATIENT, Reply("hello"))
        _request(backend, PATIENT)
        backend.record([Event("answered")], PATIENT)
        backend.mark_processed(1)
        raise RuntimeError("the turn failed half way")
    assert backend.load_state(PATIENT) is None
    assert backend.pending() == [] and backend.requests() == [] and backend.counts() == {}
    assert not backend.is_processed(1)
    with backend.transaction():
        backend.save_state(PATIENT, '{"v":1}')
        backend.queue(PATIENT, Reply("hello"))
        backend.mark_processed(1)
    assert backend.load_state(PATIENT) == '{"v":1}'
    assert [item.reply.text for item in backend.pending()] == ["hello"] and backend.is_processed(1)


def test_the_store_is_usable_after_a_failed_transaction(backend: Storage) -> None:
    for _ in range(3):
        with pytest.raises(ValueError), backend.transaction():
            backend.queue(PATIENT, Reply("lost"))
            raise ValueError
    with backend.transaction():
        backend.queue(PATIENT, Reply("kept"))
    assert [item.reply.text for item in backend.pending()] == ["kept"]


# ---------------------------------------------------------------------------------- conversations


def test_state_save_load_and_clear(backend: Storage) -> None:
    state = '{"v":1,"callback":{"step":"phone","name":"Hanako Yamada"}}'
    with backend.transaction():
        assert backend.load_state(PATIENT) is None
        backend.save_state(PATIENT, state)
        backend.save_state(TERMINAL, "{}")
    with backend.transaction():
        assert backend.load_state(PATIENT) == state
        backend.save_state(PATIENT, state.replace("phone", "time"))
    assert backend.load_state(PATIENT) == state.replace("phone", "time")
    assert backend.load_state("tg:515") is None, "chat ids are compared whole"
    with backend.transaction():
        backend.clear_state(PATIENT)
    assert backend.load_state(PATIENT) is None and backend.load_state(TERMINAL) == "{}"


# ---------------------------------------------------------------------------------- the outbox


def test_outbox_queue_pending_and_mark_sent(backend: Storage) -> None:
    replies = [
        Reply("<b>Hello</b> & welcome 😀", ((Button("Menu", action="menu"), Button("Book", url="https://x.org/b")),)),
        Reply("What number?", share_contact="Share my phone number"),
        Reply("Thanks", remove_keyboard=True),
    ]
    with backend.transaction():
        for reply in replies:
            backend.queue(PATIENT, reply)
        backend.queue(PATIENT, Reply("Edited"), edit_message_id=7)
        backend.queue(STAFF, Reply("staff"), request_id=3)
        backend.queue(OTHER, Reply("other"))
    mine = backend.pending(PATIENT)
    assert [item.reply for item in mine] == [*replies, Reply("Edited")]
    assert [item.edit_message_id for item in mine] == [None, None, None, 7]
    assert all(isinstance(item, OutboxItem) and item.chat_id == PATIENT and item.due for item in mine)
    assert [item.chat_id for item in backend.pending()] == [PATIENT] * 4 + [STAFF, OTHER], "in queued order"
    assert mine[0].id < mine[1].id < mine[2].id
    [staff] = backend.pending(STAFF)
    assert staff.for_staff and staff.request_id == 3 and staff.attempts == 0
    assert backend.mark_sent(mine[0].id, message_id=11)
    assert not backend.mark_sent(mine[0].id), "already gone"
    assert backend.mark_sent(staff.id, message_id=99)
    assert backend.request_messages(3) == [(STAFF, 99)], "a new staff message is remembered for edits"
    assert [item.id for item in backend.pending(PATIENT)] == [item.id for item in mine[1:]]


def test_outbox_failures_back_off_and_patients_are_given_up(backend: Storage, clock: Clock) -> None:
    with backend.transaction():
        backend.queue(PATIENT, Reply("to the patient"))
        backend.queue(STAFF, Reply("to the staff"), request_id=1)
    [patient, staff] = backend.pending()
    assert backend.mark_failed(patient) and backend.mark_failed(staff)
    assert backend.pending(due_only=True) == []
    assert [item.attempts for item in backend.pending()] == [1, 1] and not any(i.due for i in backend.pending())
    backend.retry_now(PATIENT)
    assert [item.chat_id for item in backend.pending(due_only=True)] == [PATIENT]
    clock.now += 2.0
    assert len(backend.pending(due_only=True)) == 2
    for _ in range(100):
        for item in backend.pending(due_only=True):
            backend.mark_failed(item)
        clock.now += 301
    assert [item.chat_id for item in backend.pending()] == [STAFF], "a staff message is never given up"


def test_attempts_in_flight(backend: Storage) -> None:
    with backend.transaction():
        backend.queue(STAFF, Reply("request"), request_id=7)
    [item] = backend.pending()
    assert backend.start_attempt(item.id) is False
    assert backend.start_attempt(item.id) is True, "an attempt that never came back may have been shown"
    backend.mark_failed(item)
    assert backend.start_attempt(item.id) is True
    with backend.transaction():
        backend.queue(STAFF, Reply("another"), request_id=8)
    other = backend.pending()[-1]
    assert backend.start_attempt(other.id) is False
    backend.mark_failed(other)  # refused: not shown
    assert backend.start_attempt(other.id) is False
    backend.mark_failed(other, outcome_unknown=True)
    assert backend.start_attempt(other.id) is True


def test_dropping_and_deleting_outbox_items(backend: Storage) -> None:
    with backend.transaction():
        backend.queue(PATIENT, Reply("reply"))
        backend.queue(PATIENT, Reply("staff edit"), request_id=4)
        backend.queue(OTHER, Reply("other"))
    assert backend.drop_chat_outbox(PATIENT) == 1
    assert [item.reply.text for item in backend.pending()] == ["staff edit", "other"]
    with backend.transaction():
        backend.delete_outbox_item(backend.pending()[0].id)
    assert [item.reply.text for item in backend.pending()] == ["other"]


def test_staff_notifications_for_chats_no_longer_staff(backend: Storage) -> None:
    with backend.transaction():
        first, second, third = (_request(backend, chat) for chat in (PATIENT, OTHER, TERMINAL))
        backend.queue("tg:-9", Reply("new request"), request_id=first)
        backend.queue("tg:-9", Reply("an edit"), edit_message_id=5, request_id=first)
        backend.queue(STAFF, Reply("new request"), request_id=second)
    [(item_id, request_id)] = backend.staff_notifications_elsewhere([STAFF, STAFF_2])
    assert request_id == first and item_id == backend.pending("tg:-9")[0].id
    backend.mark_sent(backend.pending(STAFF)[0].id, message_id=3)
    assert backend.undelivered_requests([STAFF]) == [first, third]
    assert backend.undelivered_requests([STAFF_2]) == [first, second, third]
    assert backend.undelivered_requests([]) == []


# ---------------------------------------------------------------------------------- the inbox


def test_inbox_receive_replay_and_processed(backend: Storage, clock: Clock) -> None:
    backend.receive(12, '{"update_id": 12, "message": {"text": "later"}}')
    backend.receive(11, '{"update_id": 11}')
    backend.receive(11, '{"update_id": 11, "again": true}')  # the same update twice: kept once
    assert backend.inbox() == [(11, '{"update_id": 11}'), (12, '{"update_id": 12, "message": {"text": "later"}}')]
    with backend.transaction():
        backend.mark_processed(11, press_id="q11")
    assert backend.is_processed(11) and not backend.is_processed(12)
    assert [update_id for update_id, _ in backend.inbox()] == [12]
    assert backend.press_unanswered(11) and backend.unanswered_presses(60) == [(11, "q11")]
    backend.press_answered(11)
    assert not backend.press_unanswered(11) and backend.unanswered_presses(60) == []
    with backend.transaction():
        backend.mark_processed(13, press_id="q13")
    clock.now += 120
    assert backend.unanswered_presses(60) == [], "too old to answer"
    with backend.transaction():
        backend.discard_received(12)
    assert backend.inbox() == [] and not backend.is_processed(12)


# ---------------------------------------------------------------------------------- requests


def test_requests_save_list_and_mark(backend: Storage, clock: Clock) -> None:
    with backend.transaction():
        first = _request(backend, PATIENT)
        second = _request(backend, OTHER, name="Ken")
    assert second > first
    request = backend.request(first)
    assert request == CallbackRequest(
        first, "Hanako Yamada", "+819012345678", "morning", "Sitting hurts", T0, "open", None
    )
    assert backend.request(second + 100) is None
    assert [r.id for r in backend.requests()] == [first, second] == [r.id for r in backend.requests("open")]
    assert backend.open_requests() == 2
    clock.now += 60
    with backend.transaction():
        assert backend.mark_request(first, "contacted", "tag")
        assert not backend.mark_request(second + 100, "contacted", "tag")
    assert backend.request(first).handled_at == T0 + 60  # type: ignore[union-attr]
    assert [r.id for r in backend.requests("open")] == [second] and backend.open_requests() == 1
    assert [r.id for r in backend.requests("contacted")] == [first]


# ---------------------------------------------------------------------------------- forget


def test_forget_deletes_everything_linked_to_the_chat_and_nothing_else(backend: Storage) -> None:
    with backend.transaction():
        mine = _request(backend, PATIENT)
        theirs = _request(backend, OTHER, name="Ken")
        for request_id in (mine, theirs):
            backend.queue(STAFF, Reply("new request"), request_id=request_id)
            backend.queue(STAFF_2, Reply("new request"), request_id=request_id)
        backend.save_state(PATIENT, "{}")
        backend.save_state(OTHER, "{}")
        backend.queue(PATIENT, Reply("a reply"))
        backend.queue(OTHER, Reply("their reply"))
        backend.record([Event("unanswered", {"text": "my question"})], PATIENT)
        backend.record([Event("unanswered", {"text": "their question"})], OTHER)
    for item in backend.pending(STAFF):
        backend.mark_sent(item.id, message_id=100 + item.request_id)  # type: ignore[operator]
    with backend.transaction():
        forgotten = backend.forget(PATIENT)
    assert forgotten == Forgotten(
        conversations=1,
        queued=1,
        unanswered=1,
        request_ids=(mine,),
        staff_messages=(StaffMessage(mine, STAFF, 100 + mine),),
    )
    assert forgotten.requests == 1
    assert backend.load_state(PATIENT) is None and backend.pending(PATIENT) == []
    assert backend.request(mine) is None and backend.request_messages(mine) == []
    assert all(item.request_id != mine for item in backend.pending()), "its staff notifications too"
    assert backend.unanswered() == ["their question"]
    # The other patient is untouched.
    assert backend.load_state(OTHER) == "{}" and [i.reply.text for i in backend.pending(OTHER)] == ["their reply"]
    assert [r.id for r in backend.requests()] == [theirs]
    assert backend.request_messages(theirs) == [(STAFF, 100 + theirs)]
    assert [item.request_id for item in backend.pending(STAFF_2)] == [theirs]
    with backend.transaction():
        assert backend.forget(PATIENT) == Forgotten(0, 0, 0, (), ())


# ---------------------------------------------------------------------------------- retention


def test_purge_deletes_what_is_not_kept(backend: Storage, clock: Clock) -> None:
    def at(days_ago: float) -> None:
        clock.now = T0 - days_ago * DAY

    with backend.transaction():
        at(31)
        backend.save_state("tg:1", "{}")  # 30 days: goes
        backend.mark_processed(1)  # 2 days: goes
        backend.record([Event("unanswered", {"text": "recent enough"})])  # 90 days: stays
        old_open = _request(backend, "tg:11")
        old_handled = _request(backend, "tg:12")
        backend.mark_request(old_handled, "contacted", "x")
        at(91)
        backend.record([Event("unanswered", {"text": "too old"})])
        at(1)
        backend.save_state("tg:2", "{}")
        backend.mark_processed(2)
        recent = _request(backend, "tg:15")
        backend.mark_request(recent, "unreachable", "x")
    at(3)
    backend.receive(50, "{}")  # never handled: not replayed forever
    at(0)
    assert backend.purge(request_retention_days=30) == {
        "conversations": 1,
        "processed_updates": 1,
        "inbox": 1,
        "unanswered": 1,
        "requests": 1,
    }
    assert backend.load_state("tg:1") is None and backend.load_state("tg:2") == "{}"
    assert not backend.is_processed(1) and backend.is_processed(2) and backend.inbox() == []
    assert backend.unanswered() == ["recent enough"]
    assert sorted(r.id for r in backend.requests()) == [old_open, recent]
    assert set(backend.purge(request_retention_days=30).values()) == {0}
    assert backend.integrity_ok()


# ---------------------------------------------------------------------------------- reports


def test_unanswered_questions_are_scrubbed_and_linked(backend: Storage) -> None:
    with backend.transaction():
        backend.record(
            [Event("unanswered", {"text": "qwz? I'm Taro Yamada, 090-8765-4321, taro@example.com"})], chat_id=PATIENT
        )
        backend.record([Event("unanswered", {"text": "no chat"})])
        backend.record([Event("unanswered", {})], chat_id=PATIENT)  # nothing to keep
    [kept, other] = backend.unanswered()
    for personal in ("Taro", "Yamada", "8765", "taro@example.com"):
        assert personal not in kept
    assert kept.startswith("qwz? I'm [name]") and other == "no chat"
    with backend.transaction():
        assert backend.forget(PATIENT).unanswered == 1
    assert backend.unanswered() == ["no chat"]


def test_counters(backend: Storage, clock: Clock) -> None:
    assert backend.counts() == {}
    with backend.transaction():
        backend.record([Event("answered"), Event("answered"), Event("booking_shown")], PATIENT)
    clock.now += 2 * DAY  # another day: summed
    with backend.transaction():
        backend.record([Event("answered"), Event("unanswered", {"text": "x"})])
    assert backend.counts() == {"answered": 3, "booking_shown": 1, "unanswered": 1}
