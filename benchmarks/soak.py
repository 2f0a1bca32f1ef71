"""Soak: tens of thousands of messages through the real bot, watching memory, latency and the database.

Run `python -m benchmarks.soak [--messages 20000] [--patients 500] [--seed N]`. One fake Bot API
server (tests/fake_telegram) and the real `python -m bot run` (tests/bot_process.BotProcess) with a
fresh DATA_DIR and KEY_FILE in a temporary folder, and a staff chat (STAFF_CHAT_ID).

- Every patient (one asyncio task each; `--concurrent` of them active at once, the next starting
  when one finishes) runs a closed loop over their own seeded script of `--messages / --patients`
  updates: /start, then a mix of questions (most answered
  from the article, some not, so the `unanswered` table fills), small talk, whole or half-done
  self-checks (/selfcheck, the safety question, the 8 signs, pressed on the message the bot
  edits), and for a few patients one call-back request (/start, "Ask for a call back", name,
  phone, time, Skip, "Looks right", "I agree, send it"). Each update waits for the bot's reply
  (a message sent or edited in that chat) before the next: as fast as the bot answers.
- Throughput has a ceiling that is the bot's own choice: python-telegram-bot's AIORateLimiter
  (bot/channels/telegram/adapter.py) lets through at most 30 calls per second that name a chat, which is
  Telegram's limit for messages to different users; a typed text costs two (the "typing" action
  and the answer), a press or a command one. So 20,000 updates take at least ~11 minutes however
  fast the bot is, and latency under a saturating load is mostly time queued in that limiter;
  the bot's CPU per message (per window) shows the processing cost on its own.
- Latency of an update: from just before the push to the moment the fake server finished the
  bot's first reply call for that chat (sendMessage / editMessageText). p50 / p99 per window of
  5,000 updates, by the order the replies came in.
- Memory: VmRSS of the bot process from /proc after a warm-up (one patient through every kind of
  step, not counted), then every 2,000 updates, and at the end.
- The database: bot.sqlite3 (+ its -wal) after the warm-up and at the end, rows per table at the
  end; then, with the bot stopped, the retention purge run by the store itself
  (SqliteStore(...).purge()) with its clock moved 3 and then 100 days ahead, to show what it removes.
  Half the requests are marked "Contacted" by the staff first, so handled requests are purged
  and open ones are kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import telegram_load
from benchmarks.chaos import (
    CB,
    SC,
    STAFF_CHAT,
    WatchedServer,
    Watcher,
    db_counts,
    screen_of_check,
    screen_of_flow,
    staff_requests,
)
from bot.storage.sqlite.store import DATABASE_NAME, DAY, SqliteStore
from tests.bot_process import TOKEN, BotProcess
from tests.fake_telegram.server import ChatMessage

FIRST_CHAT = 9_100_001
WARM_UP_CHAT = 9_000_001
REPLY_TIMEOUT = 60.0
RSS_EVERY = 2_000
WINDOW = 5_000
QUESTIONS = (
    *telegram_load.QUESTIONS,
    "is yoga good for back pain",
    "does walking help",
    "what are your opening hours",
    "how much does it cost",
    "can you park there",
    "how dose stres cause bakc pain",  # typos
    "my back hurts when I sit",
    "what should I eat",
)
UNANSWERED = ("do you sell shoes", "can I bring my dog", "what is the wifi password", "is there a lift in the building")
SMALL_TALK = ("hi", "hello", "thanks!", "ok", "good morning", "who are you", "bye", "thank you so much", "👍")
TIMES = ("morning", "afternoon", "evening", "any")


@dataclass(frozen=True)
class Step:
    kind: str  # command, text, press
    value: str  # the command, the text, or the button label
    on: str = ""  # press: "check" (the self-check message) or "any" (the newest message with that button)
    wait_for: str = ""  # press/text: a flow screen that must show before this step can be done


def script(rng: random.Random, quota: int, request: bool) -> list[Step]:
    steps = [Step("command", "/start")]
    check_steps = 10  # /selfcheck, the safety question, 8 signs
    request_steps = 8
    while len(steps) < quota:
        room = quota - len(steps)
        roll = rng.random()
        if request and room >= request_steps and len(steps) >= quota // 3:
            name = f"{rng.choice(('Aiko', 'Ren', 'Mei', 'Sota', 'Emma'))} {rng.choice(('Sato', 'Ito', 'Kato'))}"
            digits = f"90{rng.randrange(10_000_000, 100_000_000)}"
            steps += [
                Step("command", "/start"),
                Step("press", CB.buttons["request"], "any"),
                Step("text", name, wait_for="ask_name"),
                Step("text", f"0{digits[:2]}-{digits[2:6]}-{digits[6:]}", wait_for="ask_phone"),
                Step("press", CB.buttons[rng.choice(TIMES)], "any", wait_for="ask_time"),
                Step("press", CB.buttons["skip"], "any", wait_for="ask_note"),
                Step("press", CB.buttons["confirm"], "any", wait_for="summary"),
                Step("press", CB.buttons["agree"], "any", wait_for="consent"),
            ]
            request = False
        elif roll < 0.22:
            answers = rng.choices(("yes", "no", "unsure"), k=len(SC.questions))
            check = [Step("command", "/selfcheck"), Step("press", SC.buttons["no"], "check")]
            check += [Step("press", SC.buttons[answer], "check") for answer in answers]
            steps += check[: min(check_steps, room)]  # the last one may leave halfway
        elif roll < 0.72:
            steps.append(Step("text", rng.choice(QUESTIONS)))
        elif roll < 0.80:
            steps.append(Step("text", rng.choice(UNANSWERED)))
        else:
            steps.append(Step("text", rng.choice(SMALL_TALK)))
    return steps[:quota]


@dataclass
class SoakResult:
    messages: int
    patients: int
    requests_planned: int = 0
    latencies: list[float] = field(default_factory=list)  # in order of completion
    rss_kb: list[tuple[int, int]] = field(default_factory=list)  # (messages done, VmRSS kB)
    window_cpu: list[float] = field(default_factory=list)  # bot CPU seconds per WINDOW messages
    window_seconds: list[float] = field(default_factory=list)  # wall seconds per WINDOW messages
    no_reply: int = 0
    cannot_press: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    db_start: tuple[int, int] = (0, 0)  # (main file, wal) bytes
    db_end: tuple[int, int] = (0, 0)
    db_after_stop: int = 0
    rows_end: dict[str, int] = field(default_factory=dict)
    purge_rows: list[tuple[str, dict[str, int], dict[str, int]]] = field(default_factory=list)
    staff_messages: int = 0
    handled: int = 0
    validation_errors: list[str] = field(default_factory=list)
    replies_expected: int = 0  # one message sent or edited per update (two for a phone number)
    replies_made: int = 0  # sendMessage + editMessageText calls Telegram accepted, to patients
    bot_errors: int = 0
    load_seconds: float = 0.0
    wall_seconds: float = 0.0
    cpu_seconds: float | None = None
    integrity: str = "?"


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float | None:
    import os

    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def db_sizes(data_dir: Path) -> tuple[int, int]:
    main, wal = data_dir / DATABASE_NAME, data_dir / f"{DATABASE_NAME}-wal"
    return (main.stat().st_size if main.exists() else 0, wal.stat().st_size if wal.exists() else 0)


class Runner:
    def __init__(self, server: WatchedServer, watcher: Watcher, pid: int, result: SoakResult | None) -> None:
        self.server = server
        self.watcher = watcher
        self.pid = pid
        self.result = result
        self.done = 0
        self.window_started = (time.monotonic(), cpu_seconds(pid) or 0.0)

    def _find(self, chat: int, step: Step) -> ChatMessage | None:
        messages = self.watcher.newest(chat, self.server.bot_messages(chat))
        if step.wait_for and not any(screen_of_flow(m) == step.wait_for for m in messages[:2]):
            return None
        if step.kind != "press":
            return messages[0] if messages else None
        for message in messages:
            if step.on == "check" and screen_of_check(message) not in ("screening", "question"):
                continue
            if step.value in message.button_texts:
                return message
        return None

    async def _ready(self, chat: int, step: Step) -> ChatMessage | None:
        """The message to act on (for a text: the newest) once what the step needs is shown."""
        if step.kind == "command" or (step.kind == "text" and not step.wait_for):
            return None
        deadline = time.monotonic() + REPLY_TIMEOUT
        while (found := self._find(chat, step)) is None:
            if time.monotonic() > deadline:
                raise LookupError(step)
            await self.watcher.wait_change(chat, self.watcher.replies[chat], 1.0, replies_only=True)
        return found

    async def patient(self, chat: int, steps: list[Step]) -> None:
        for step in steps:
            try:
                message = await self._ready(chat, step)
            except LookupError:
                if self.result is None:
                    raise RuntimeError(f"warm-up: cannot do {step}") from None
                self.result.cannot_press += 1
                return
            version = self.watcher.replies[chat]
            started = time.monotonic()
            if step.kind == "command":
                command, _, payload = step.value.partition(" ")
                self.server.push_command(chat, command, payload or None)
            elif step.kind == "text":
                self.server.push_text(chat, step.value)
            else:
                assert message is not None
                data = next(b["callback_data"] for b in message.buttons if b.get("text") == step.value)
                self.server.push_callback(chat, message.message_id, data, check_button=False)
            replied = await self.watcher.wait_change(chat, version, REPLY_TIMEOUT, replies_only=True)
            if self.result is None:
                if not replied:
                    raise RuntimeError(f"warm-up: no reply to {step}")
                continue
            self.result.kinds[step.kind] += 1
            if not replied:
                self.result.no_reply += 1
                continue
            self.result.latencies.append(self.watcher.reply_at.get(chat, started) - started)
            self.done += 1
            if self.done % RSS_EVERY == 0:
                self.result.rss_kb.append((self.done, rss_kb(self.pid)))
            if self.done % WINDOW == 0:
                now, cpu = time.monotonic(), cpu_seconds(self.pid) or 0.0
                self.result.window_seconds.append(now - self.window_started[0])
                self.result.window_cpu.append(cpu - self.window_started[1])
                self.window_started = (now, cpu)
            await asyncio.sleep(0)


def warm_up_script() -> list[Step]:
    steps = [Step("command", "/start"), Step("text", QUESTIONS[0]), Step("text", UNANSWERED[0])]
    steps += [Step("text", SMALL_TALK[0]), Step("command", "/selfcheck"), Step("press", SC.buttons["no"], "check")]
    steps += [Step("press", SC.buttons["no"], "check")] * len(SC.questions)
    return steps


async def soak(args: argparse.Namespace, base: Path) -> SoakResult:
    rng = random.Random(args.seed)
    quota = args.messages // args.patients
    result = SoakResult(messages=quota * args.patients, patients=args.patients)
    requesters = set(rng.sample(range(args.patients), k=max(1, round(args.patients * args.request_share))))
    result.requests_planned = len(requesters)
    scripts = [script(random.Random(rng.random()), quota, number in requesters) for number in range(args.patients)]
    data_dir, key_file = base / "data", base / "keys" / "data.key"
    wall_started = time.monotonic()
    with WatchedServer(token=TOKEN) as server:
        server.add_chat(STAFF_CHAT, "group", title="Clinic staff")
        watcher = Watcher(server, asyncio.get_running_loop())
        bot = BotProcess(server, data_dir, KEY_FILE=str(key_file), STAFF_CHAT_ID=str(STAFF_CHAT), LOG_LEVEL="WARNING")
        await asyncio.to_thread(bot.start)
        assert bot.process is not None
        pid = bot.process.pid
        try:
            await Runner(server, watcher, pid, None).patient(WARM_UP_CHAT, warm_up_script())
            await watcher.quiet(1.0, 10)
            result.rss_kb.append((0, rss_kb(pid)))
            result.db_start = db_sizes(data_dir)
            runner = Runner(server, watcher, pid, result)
            cpu_before = cpu_seconds(pid)
            started = time.monotonic()
            active = asyncio.Semaphore(args.concurrent)

            async def patient(chat: int, steps: list[Step]) -> None:
                async with active:
                    await runner.patient(chat, steps)

            await asyncio.gather(*(patient(FIRST_CHAT + n, steps) for n, steps in enumerate(scripts)))
            result.load_seconds = time.monotonic() - started
            cpu_after = cpu_seconds(pid)
            if cpu_before is not None and cpu_after is not None:
                result.cpu_seconds = cpu_after - cpu_before
            await watcher.quiet(2.5, 30)  # staff messages, outbox retries
            result.rss_kb.append((runner.done, rss_kb(pid)))
            # The staff handle half of the requests ("Contacted"), so the purge has handled ones.
            staff = [m for m in server.bot_messages(STAFF_CHAT) if CB.staff["button_contacted"] in m.button_texts]
            for message in staff[::2]:
                version = watcher.version(STAFF_CHAT)
                server.press_inline_button(STAFF_CHAT, CB.staff["button_contacted"], message_id=message.message_id)
                if await watcher.wait_change(STAFF_CHAT, version, REPLY_TIMEOUT):
                    result.handled += 1
            await watcher.quiet(1.0, 10)
            result.db_end = db_sizes(data_dir)
            result.rows_end = db_counts(data_dir / DATABASE_NAME)
        finally:
            await asyncio.to_thread(bot.stop)
        result.staff_messages = len(staff_requests(server))
        result.validation_errors = [f"{r.method}: {r.description}" for r in server.validation_errors]
        chats = {str(FIRST_CHAT + n) for n in range(args.patients)}
        result.replies_made = sum(
            1
            for r in server.requests
            if r.method in ("sendMessage", "editMessageText")
            and r.status == 200
            and str(r.params.get("chat_id")) in chats
        )
        result.replies_expected = sum(2 if step.wait_for == "ask_phone" else 1 for steps in scripts for step in steps)
        result.bot_errors = sum(1 for line in bot.output().splitlines() if " ERROR " in line)
    result.db_after_stop = db_sizes(data_dir)[0]
    purge_check(data_dir, key_file, result)
    result.wall_seconds = time.monotonic() - wall_started
    return result


def purge_check(data_dir: Path, key_file: Path, result: SoakResult) -> None:
    """The store's own retention purge, with its clock moved ahead."""
    now = time.time()
    for days in (3, 100):
        store = SqliteStore(data_dir, key_file=key_file, clock=lambda days=days: now + days * DAY)
        try:
            before = db_counts(data_dir / DATABASE_NAME)
            removed = store.purge()
            after = db_counts(data_dir / DATABASE_NAME)
            result.integrity = store.db.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            store.close()
        result.purge_rows.append((f"+{days} days", before, after | {f"removed:{k}": v for k, v in removed.items()}))


# --------------------------------------------------------------------------- report


def percentile(values: list[float], share: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def report(result: SoakResult, seed: int) -> str:
    out = [f"## Soak: {result.messages} messages from {result.patients} patients (seed {seed})", ""]
    rate = len(result.latencies) / result.load_seconds if result.load_seconds else 0
    summary = [
        ("messages answered / sent", f"{len(result.latencies)} / {sum(result.kinds.values())}"),
        ("by kind (commands / texts / presses)",
         f"{result.kinds['command']} / {result.kinds['text']} / {result.kinds['press']}"),
        (f"no reply within {REPLY_TIMEOUT:.0f} s", f"{result.no_reply}"),
        ("steps that could not be done (button or screen missing)", f"{result.cannot_press}"),
        ("throughput", f"{rate:.0f} messages/s"),
        ("bot CPU during the load", f"{result.cpu_seconds:.0f} s" if result.cpu_seconds is not None else "-"),
        ("call-back requests planned / staff messages / marked contacted",
         f"{result.requests_planned} / {result.staff_messages} / {result.handled}"),
        ("validation errors", f"{len(result.validation_errors)}"),
        ("replies to patients: expected / made (more = sent twice)",
         f"{result.replies_expected} / {result.replies_made}"),
        ("bot ERROR log lines", f"{result.bot_errors}"),
        ("integrity check (after purge)", result.integrity),
        ("load time / wall time", f"{result.load_seconds:.0f} s / {result.wall_seconds:.0f} s"),
    ]  # fmt: skip
    out += ["| metric | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in summary]

    out += ["", "| messages done | bot RSS (MB) |", "|---|---|"]
    for done, kb in result.rss_kb:
        out.append(f"| {done} | {kb / 1024:.1f} |")

    out += [
        "",
        "| window (messages) | p50 (ms) | p99 (ms) | max (ms) | messages/s | bot CPU ms per message |",
        "|---|---|---|---|---|---|",
    ]
    for number, start in enumerate(range(0, len(result.latencies), WINDOW)):
        window = result.latencies[start : start + WINDOW]
        rate = cpu = "-"
        if number < len(result.window_seconds):
            rate = f"{len(window) / result.window_seconds[number]:.1f}"
            cpu = f"{result.window_cpu[number] / len(window) * 1000:.1f}"
        out.append(f"| {start + 1}-{start + len(window)} | {percentile(window, 0.5) * 1000:.0f} | "
                   f"{percentile(window, 0.99) * 1000:.0f} | {max(window) * 1000:.0f} | {rate} | {cpu} |")  # fmt: skip
    all_ = result.latencies
    out.append(f"| all | {percentile(all_, 0.5) * 1000:.0f} | {percentile(all_, 0.99) * 1000:.0f} | "
               f"{(max(all_) if all_ else math.nan) * 1000:.0f} | - | - |")  # fmt: skip

    kb = 1024
    out += [
        "",
        "| database | main file (kB) | -wal (kB) |",
        "|---|---|---|",
        f"| after warm-up | {result.db_start[0] / kb:.0f} | {result.db_start[1] / kb:.0f} |",
        f"| end of the load (running) | {result.db_end[0] / kb:.0f} | {result.db_end[1] / kb:.0f} |",
        f"| after a clean stop (checkpointed) | {result.db_after_stop / kb:.0f} | - |",
    ]

    tables = [t for t in result.rows_end if t != "sqlite_sequence"]
    heads = ["end of run"] + [f"purge at {label}" for label, _, _ in result.purge_rows]
    out += ["", "| rows | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for table_name in tables:
        cells = [str(result.rows_end.get(table_name, 0))]
        for _, _, after in result.purge_rows:
            removed = after.get(f"removed:{table_name}")
            cells.append(f"{after.get(table_name, 0)}" + (f" (-{removed})" if removed else ""))
        out.append(f"| {table_name} | " + " | ".join(cells) + " |")
    if result.validation_errors:
        out += ["", "Validation errors:"] + [f"- {e}" for e in Counter(result.validation_errors)]
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrent", type=int, default=100, help="patients active at once (of --patients)")
    parser.add_argument("--request-share", type=float, default=0.05, help="share of patients who ask for a call back")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, bot log)")
    args = parser.parse_args(argv)
    if args.messages < args.patients * 12:
        parser.error("at least 12 messages per patient (a self-check is 10, a request 8)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        result = asyncio.run(soak(args, base))
        print(report(result, args.seed))
    finally:
        if args.keep:
            print(f"\n(kept {base})")
        else:
            shutil.rmtree(base, ignore_errors=True)
    ok = result.no_reply == 0 and result.cannot_press == 0 and not result.validation_errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
