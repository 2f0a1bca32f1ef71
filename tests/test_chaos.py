"""Crash safety, end to end: `python -m benchmarks.chaos --quick` runs the real bot against the fake
Bot API server while SIGKILLing it at random moments, and prints what it found. These tests read
its tables: nothing lost, nothing duplicated, the database intact. Timing is printed, not judged
(a shared CI machine flakes). Plus the start-up failure a read-only DATA_DIR must give."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from telegram.constants import ChatType

from benchmarks.chaos import KNOWLEDGE, read_only_data_dir_check
from bot.channels.telegram.adapter import TelegramBot
from bot.core.replies import UserInput
from bot.service.clinic import ClinicService
from bot.storage.sqlite.store import SqliteStore
from tests.conftest import run_module, table_row

TIMEOUT_SECONDS = 300
KINDS_OF_DUPLICATES = "duplicated staff messages / request rows / final replies"


@pytest.fixture(scope="module")
def quick_run() -> str:
    run = run_module("benchmarks.chaos", "--quick", timeout=TIMEOUT_SECONDS)
    assert "| metric | value |" in run.stdout, f"exit {run.returncode}\n{run.stdout}\n{run.stderr[-4000:]}"
    return run.stdout


def row(output: str, metric: str) -> str:
    """The value cell of the chaos table's row for `metric`."""
    return table_row(output, metric)[0]


def test_kills_lose_and_duplicate_nothing(quick_run: str) -> None:
    patients = int(row(quick_run, "patients"))
    kills = int(row(quick_run, "kills (SIGKILL, then restart)"))
    assert (patients, kills) == (10, 5), quick_run
    assert row(quick_run, "self-checks with exactly the answers given") == f"{patients} / {patients}", quick_run
    assert row(quick_run, "requests table rows") == str(patients), quick_run
    assert row(quick_run, "lost requests") == "0", quick_run
    staff, rows, finals = (int(n) for n in row(quick_run, KINDS_OF_DUPLICATES).split(" / "))
    assert (staff, rows, finals) == (0, 0, 0), quick_run
    # A staff message that Telegram showed just before a SIGKILL is sent again at the restart
    # (the Bot API cannot tell the bot it arrived), marked as a possible repeat: never silently,
    # never more than once per kill. Seen about once in 60 kills.
    assert int(row(quick_run, "staff messages sent again, marked as a possible repeat")) <= kills, quick_run
    delivered = int(row(quick_run, "requests delivered exactly once").split(" / ")[0])
    repeated = int(row(quick_run, "requests delivered, then sent again marked as a possible repeat").split(" / ")[0])
    assert delivered + repeated == patients, quick_run
    assert row(quick_run, "integrity check") == "ok", quick_run
    assert row(quick_run, "outbox left at the end") == "0", quick_run
    assert row(quick_run, "other validation errors") == "0", quick_run
    # Presses handled just before a kill are answered after the restart (redelivered or not).
    assert row(quick_run, "button presses never answered (of them: handled)").endswith("(0)"), quick_run


def test_a_backlog_beyond_the_handler_pool_loses_nothing_across_a_kill(quick_run: str) -> None:
    """Issue 10: with more updates queued than handlers run at once, a SIGKILL after Telegram
    was told they arrived used to lose the ones no handler had started."""
    queued = int(row(quick_run, "backlog: updates queued at once (handler pool: 256)"))
    assert queued > 256, quick_run
    assert row(quick_run, "backlog: all confirmed to Telegram before the SIGKILL") == "yes", quick_run
    assert row(quick_run, "backlog: patients answered after the restart") == f"{queued} / {queued}", quick_run
    assert row(quick_run, "backlog: requests in the backlog delivered to staff once") == "3 / 3", quick_run
    assert row(quick_run, "backlog: requests delivered twice") == "0", quick_run


def test_staff_chat_400s_lose_no_request(quick_run: str) -> None:
    assert row(quick_run, "staff 400s: patients told 'received'") == "4 / 4", quick_run
    assert row(quick_run, "staff 400s: delivered once / twice / never") == "4 / 0 / 0", quick_run
    assert row(quick_run, "staff 400s: wrong STAFF_CHAT_ID reported at start (getChat)") == "yes", quick_run
    assert int(row(quick_run, "staff 400s: ERROR lines naming STAFF_CHAT_ID and the open requests")) >= 1


def test_full_disk_is_survived(quick_run: str) -> None:
    assert row(quick_run, "questions answered while full") == "3 / 3", quick_run
    assert row(quick_run, "request rows / staff messages while full") == "0 / 0", quick_run
    assert row(quick_run, "after freeing: request received") == "yes", quick_run
    assert row(quick_run, "after freeing: request rows / staff messages") == "1 / 1", quick_run


def test_quick_fingers_break_no_telegram_rule(quick_run: str) -> None:
    # How many answers were sent twice is printed, not judged here: whether the race behind
    # such duplicates happens depends on timing; the test below checks its cause deterministically.
    assert row(quick_run, "rapid: other validation errors") == "0", quick_run


def test_one_chat_is_never_handled_twice_at_once() -> None:
    assert asyncio.run(asyncio.wait_for(overlapping_handlers(), timeout=20)) == []


async def until(event: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Wait for `event`; if `task` ends first, raise what it raised (never hang on a crash)."""
    waiter = asyncio.ensure_future(event.wait())
    await asyncio.wait({waiter, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        waiter.cancel()
        if task.done():
            task.result()
        raise AssertionError("the handler never started")


async def overlapping_handlers() -> list[tuple[int, list[int]]]:
    """Three updates of one chat through the real TelegramBot.on_update, its _handle replaced by
    one that waits for the test: the second arrives while the first is handled, the third just
    after the first finished - the moment a lock dropped as soon as it reported "not locked"
    let the third run beside the second (two flush_chat() sending one reply twice).
    Returns (update, updates of the same chat being handled then) for every overlap."""
    store = SqliteStore(None)
    bot = TelegramBot(KNOWLEDGE, store=store, service=ClinicService(KNOWLEDGE, store))
    inside: set[int] = set()
    overlaps: list[tuple[int, list[int]]] = []
    gates = {number: asyncio.Event() for number in (1, 2, 3)}
    entered = {number: asyncio.Event() for number in (1, 2, 3)}

    async def handle(update: SimpleNamespace, *args: object) -> None:
        if inside:
            overlaps.append((update.update_id, sorted(inside)))
        inside.add(update.update_id)
        entered[update.update_id].set()
        try:
            await gates[update.update_id].wait()
        finally:
            inside.discard(update.update_id)

    def update(number: int) -> SimpleNamespace:
        chat = SimpleNamespace(id=42, type=ChatType.PRIVATE)
        return SimpleNamespace(update_id=number, effective_chat=chat, callback_query=None,
                               message=SimpleNamespace(), edited_message=None, effective_user=chat,
                               to_dict=lambda: {"update_id": number})  # fmt: skip

    bot._handle = handle  # type: ignore[method-assign]
    bot._to_input = lambda update: UserInput.command("help")  # type: ignore[method-assign]
    context = SimpleNamespace(application=None, bot=None)
    first = asyncio.create_task(bot.on_update(update(1), context))  # type: ignore[arg-type]
    await until(entered[1], first)
    second = asyncio.create_task(bot.on_update(update(2), context))  # type: ignore[arg-type]
    for _ in range(3):
        await asyncio.sleep(0)  # the second now waits for the chat's lock
    gates[1].set()
    await first  # done; the second is woken and takes the lock
    third = asyncio.create_task(bot.on_update(update(3), context))  # type: ignore[arg-type]
    for _ in range(5):
        await asyncio.sleep(0)
    gates[2].set()
    gates[3].set()
    await asyncio.wait_for(asyncio.gather(second, third), timeout=5)
    return overlaps


def test_many_requests_at_once_all_reach_the_staff(quick_run: str) -> None:
    patients = row(quick_run, "burst: patients pressing 'I agree, send it' at once")
    assert row(quick_run, "burst: requests received / staff messages") == f"{patients} / {patients}", quick_run


def test_patients_do_not_wait_for_the_staff_chat(quick_run: str) -> None:
    assert row(quick_run, "burst: patients waiting over 5 s for it") == "0", quick_run


def test_update_confirmed_before_it_was_saved_is_not_lost(quick_run: str) -> None:
    assert row(quick_run, "confirmed: second update confirmed to Telegram before the kill") != "0", quick_run
    assert row(quick_run, "confirmed: second update lost (never processed, never delivered again)") == "0"


def test_read_only_data_dir_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    result = read_only_data_dir_check(tmp_path)
    assert result.exit_code == 2, result
    assert len(result.lines) == 1, result.lines
    assert "DATA_DIR" in result.lines[0] and "cannot" in result.lines[0], result.lines
    assert "Traceback" not in result.lines[0]
