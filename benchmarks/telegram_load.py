"""Load benchmark: the real bot process under many concurrent patients, against an echo bot floor.

Run `python -m benchmarks.telegram_load` (`--quick` for a small run, `--check` to exit 1 when a
target fails). In one run it measures two real processes one after the other, each against its
own fresh fake Bot API server (tests/fake_telegram) over HTTP on 127.0.0.1:

  (a) our bot, `python -m bot run` (tests/bot_process.BotProcess) with a fresh DATA_DIR;
  (b) benchmarks/echo_bot.py, a minimal python-telegram-bot 22 bot set up like ours, which
      makes the same Telegram calls per update (minus the "typing" chat action).

How it is measured, and why:

- Every patient (all N at once, one asyncio task each) runs a closed loop: push an update, wait
  for the bot's reply, then the next action. The script: /start, `--questions` questions the bot
  answers directly, /selfcheck, then the whole self-check pressed through on the one message
  the bot edits (the safety question "No", then 8 answers). The echo bot gets the same pushes;
  its "buttons" are callback queries on its last message with short made-up data.
- How many replies each step must produce is worked out before the run by feeding the same
  script to the bot's own dialogue core (and a question that would not be answered directly
  stops the benchmark: it would measure the wrong thing). Replies are counted per chat, so a
  missing reply (lost) and an extra one (duplicated) are both seen; lost ones are those still
  missing when the step's timeout ran out, duplicated ones those above the expected total
  after the bots went quiet.
- Latency of one update: from time.monotonic() just before the push to the moment the fake
  server finished the request of the step's last reply (sendMessage or editMessageText) for
  that chat. The server calls back at that moment (a subclass hooks its one place where a
  request's outcome is recorded), so the load generator never polls the server's records.
- Memory: VmHWM (peak resident set) of the bot process from /proc at the end of its run, so
  start-up, the knowledge base and the load all count. CPU: user+system time of the bot process
  during the load, per update.
- Before the measured load, one patient runs the script once (not measured) so one-off costs
  such as lazy imports and cold caches do not land in the percentiles.
- Both bots share the 2 cores with the fake server and the load generator (one process, so one
  core at most): the floor is measured under exactly the same conditions as ours.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.echo_bot import our_pool_size, our_uses_rate_limiter
from bot.config import load_config
from bot.content.html import to_plain_text
from bot.content.loader import Knowledge, load_knowledge
from bot.core.dialogue import Dialogue
from bot.core.replies import UserInput
from bot.core.state import ConversationState
from tests.bot_process import PROJECT, TOKEN, BotProcess
from tests.fake_telegram.server import FakeTelegramServer, RecordedRequest

REPLY_METHODS = frozenset({"sendMessage", "editMessageText"})
QUESTIONS = (
    "how does stress cause back pain",
    "what is the cellgel method",
    "how does sleep help my back",
    "can exercise help with back pain from stress",
    "how do I know if my back pain is from stress",
    "can stress cause pain in the lower back",
)
SCREENING_ANSWER = "no"
CHECK_ANSWERS = ("yes", "no", "unsure", "yes", "no", "no", "no", "yes")
LISTEN_BACKLOG = 1024
FIRST_CHAT = 7_000_001
WARM_UP_CHAT = 6_999_001
P99_RATIO_TARGET = 1.5
MEMORY_RATIO_TARGET = 1.5
QUIET_SECONDS = 1.0  # after the last patient: no reply for this long means the bot is done
RETRY_QUIET_SECONDS = 6.0  # when a reply call failed: long enough for the outbox retry (5 s)


# --------------------------------------------------------------------------- the script


@dataclass(frozen=True)
class Step:
    kind: str  # "command", "text" or "press"
    value: str  # the command, the text, or the label of the button to press
    replies: int  # how many sendMessage/editMessageText calls the bot makes for it


@dataclass(frozen=True)
class Script:
    steps: tuple[Step, ...]
    echo: bool
    result_line: str | None = None  # how the self-check result starts, as the patient sees it

    @property
    def replies(self) -> int:
        return sum(step.replies for step in self.steps)


def our_script(knowledge: Knowledge, questions: int) -> Script:
    """The patient's script, with the replies the dialogue core gives for each step."""
    dialogue = Dialogue(knowledge)
    state = ConversationState()
    buttons = knowledge.selfcheck.buttons
    wanted = [Step("command", "start", 0)]
    wanted += [Step("text", QUESTIONS[i % len(QUESTIONS)], 0) for i in range(questions)]
    wanted += [Step("command", "selfcheck", 0), Step("press", buttons[SCREENING_ANSWER], 0)]
    wanted += [Step("press", buttons[answer], 0) for answer in CHECK_ANSWERS]
    script: list[Step] = []
    check_keyboard: Any = None
    last_text = ""
    for step in wanted:
        if step.kind == "command":
            user_input = UserInput.command(step.value)
        elif step.kind == "text":
            user_input = UserInput.text(step.value)
        else:
            found = [b for row in check_keyboard or () for b in row if b.label == step.value and b.action]
            if not found:
                raise SystemExit(f"the self-check offers no button {step.value!r} where the benchmark expects it")
            user_input = UserInput.action(found[0].action)
        turn = dialogue.handle(state, user_input)
        state = turn.state
        if step.kind == "text" and not any(event.kind == "answered" for event in turn.events):
            raise SystemExit(f"the bot does not answer {step.value!r} directly any more: pick other questions")
        if step.kind == "press" and not all(reply.replaces_pressed for reply in turn.replies):
            raise SystemExit("the self-check no longer edits its message in place")
        if step.value == "selfcheck" or step.kind == "press":
            check_keyboard = turn.replies[-1].buttons if turn.replies else None
        if turn.replies:
            last_text = turn.replies[-1].text
        script.append(Step(step.kind, step.value, len(turn.replies)))
    if state.selfcheck is not None:
        raise SystemExit("the self-check did not finish after the scripted answers")
    return Script(tuple(script), echo=False, result_line=to_plain_text(last_text).strip().split("\n")[0])


def echo_script(script: Script) -> Script:
    """The same pushes for the echo bot: one reply each (a message, or the edit of the pressed one)."""
    steps = tuple(
        Step(step.kind, f"b{number}" if step.kind == "press" else step.value, 1)
        for number, step in enumerate(script.steps)
    )
    return Script(steps, echo=True)


# --------------------------------------------------------------------------- the fake server


class LoadServer(FakeTelegramServer):
    """The fake Bot API server, calling `listener(record, monotonic_time)` when a reply call
    (sendMessage or editMessageText) finished successfully. Called in the server's threads.

    It also listens with a longer accept queue: http.server's default of 5 overflows when a bot
    opens its whole connection pool at once, and the refused connections then fail inside the
    bot (httpx.ReadError), which real Telegram never does."""

    listener: Callable[[RecordedRequest, float], None] | None = None

    def start(self) -> LoadServer:
        super().start()
        if self._httpd is not None:
            self._httpd.socket.listen(LISTEN_BACKLOG)  # listen() again only resizes the queue
        return self

    def _finish(self, record: RecordedRequest, status: int | None, body: Any) -> Any:
        reply = super()._finish(record, status, body)
        listener = self.listener
        if listener is not None and status == 200 and record.method in REPLY_METHODS:
            listener(record, time.monotonic())
        return reply


class EchoBotProcess(BotProcess):
    """BotProcess running benchmarks/echo_bot.py (`command`) instead of `python -m bot run`."""

    command: tuple[str, ...] = ("-m", "benchmarks.echo_bot")

    def start(self, wait: bool = True) -> EchoBotProcess:
        commands_before = len(self.server.calls("setMyCommands"))
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, *self.command], cwd=PROJECT, env=self.env, stdout=log, stderr=log
        )
        log.close()
        if wait:
            self.server.wait_for(
                lambda: len(self.server.calls("setMyCommands")) > commands_before or self._exited(),
                timeout=30,
                what="the echo bot to start",
            )
            if self._exited():
                raise RuntimeError(f"echo bot exited at start:\n{self.output()}")
            self.server.wait_for(lambda: self.server.calls("getUpdates"), timeout=10, what="polling")
        return self


# --------------------------------------------------------------------------- the load


@dataclass
class _Chat:
    replies: int = 0  # replies that moved the conversation on
    duplicates: int = 0  # the same call as the reply before it, again
    last_reply_at: float = 0.0
    last_message_id: int | None = None
    last_call: tuple[Any, ...] | None = None
    waiter: asyncio.Future[None] | None = None
    target: int = 0


@dataclass
class RunResult:
    name: str
    patients: int
    updates_per_patient: int
    expected_replies: int = 0
    replies: int = 0
    latencies: list[float] = field(default_factory=list)
    latencies_by_kind: dict[str, list[float]] = field(default_factory=dict)
    lost: int = 0
    duplicated: int = 0
    timed_out_updates: int = 0
    failed_pushes: int = 0
    validation_errors: list[str] = field(default_factory=list)
    unanswered_callbacks: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    load_seconds: float = 0.0
    idle_rss_kb: int | None = None
    peak_rss_kb: int | None = None
    cpu_seconds: float | None = None
    finished_checks: int | None = None
    log_problems: list[str] = field(default_factory=list)

    @property
    def replies_per_second(self) -> float:
        return self.replies / self.load_seconds if self.load_seconds > 0 else 0.0

    def percentile(self, share: float, kind: str | None = None) -> float:
        """Nearest-rank percentile of the latencies (of one kind of step), in seconds (NaN when
        there are none)."""
        latencies = self.latencies if kind is None else self.latencies_by_kind.get(kind, [])
        if not latencies:
            return math.nan
        ordered = sorted(latencies)
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class LoadDriver:
    """Runs the patients on one asyncio loop; replies arrive from the server's threads."""

    def __init__(self, server: LoadServer, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.server = server
        self.loop = loop
        self.timeout = timeout
        self.chats: dict[int, _Chat] = {}
        self.last_reply_at = 0.0  # the newest reply call of any kind, duplicates too
        self.last_progress_at = 0.0  # the newest reply that answered an update
        server.listener = self._from_server

    def _from_server(self, record: RecordedRequest, at: float) -> None:
        try:
            chat_id = int(record.params.get("chat_id"))
        except (TypeError, ValueError):
            return
        result = record.result if isinstance(record.result, dict) else {}
        params = record.params
        call = (record.method, params.get("message_id"), params.get("text"), str(params.get("reply_markup")))
        self.loop.call_soon_threadsafe(self._on_reply, chat_id, call, result.get("message_id"), at)

    def _on_reply(self, chat_id: int, call: tuple[Any, ...], message_id: int | None, at: float) -> None:
        chat = self.chats.setdefault(chat_id, _Chat())
        self.last_reply_at = max(self.last_reply_at, at)
        if call == chat.last_call:
            # The very same call again (an edit like that would be refused as "not modified", so
            # this is a message sent twice): a duplicate, and not the reply to the next update.
            chat.duplicates += 1
            return
        chat.last_call = call
        chat.replies += 1
        chat.last_reply_at = at
        self.last_progress_at = max(self.last_progress_at, at)
        if call[0] == "sendMessage" and message_id is not None:
            chat.last_message_id = message_id
        if chat.waiter is not None and not chat.waiter.done() and chat.replies >= chat.target:
            chat.waiter.set_result(None)

    async def _wait_replies(self, chat: _Chat, target: int) -> bool:
        if chat.replies >= target:
            return True
        chat.target = target
        chat.waiter = self.loop.create_future()
        try:
            await asyncio.wait_for(chat.waiter, self.timeout)
            return True
        except TimeoutError:
            return False
        finally:
            chat.waiter = None

    def _push(self, chat_id: int, step: Step, chat: _Chat, echo: bool, check_message: int | None) -> None:
        if step.kind == "command":
            self.server.push_command(chat_id, f"/{step.value}")
        elif step.kind == "text":
            self.server.push_text(chat_id, step.value)
        elif echo:
            if chat.last_message_id is None:
                raise ValueError("the echo bot has sent no message to press on")
            self.server.push_callback(chat_id, chat.last_message_id, step.value, check_button=False)
        else:
            if check_message is None:
                raise ValueError("no self-check message to press on")
            self.server.press_inline_button(chat_id, step.value, message_id=check_message)

    async def patient(self, chat_id: int, script: Script, result: RunResult | None) -> int | None:
        """One patient through the script; returns the id of its self-check message.
        Without `result` (the warm-up) a step that fails raises instead of being counted."""
        chat = self.chats.setdefault(chat_id, _Chat())
        target = 0
        check_message: int | None = None
        for step in script.steps:
            started = time.monotonic()
            try:
                self._push(chat_id, step, chat, script.echo, check_message)
            except ValueError as error:  # the button to press is not there: the rest cannot run
                if result is None:
                    raise RuntimeError(f"warm-up: cannot push {step}: {error}") from error
                result.failed_pushes += 1
                return check_message
            target += step.replies
            if not await self._wait_replies(chat, target):
                if result is None:
                    raise RuntimeError(f"warm-up: no reply to {step} within {self.timeout:.0f} s")
                result.timed_out_updates += 1
                return check_message
            if result is not None:
                result.latencies.append(chat.last_reply_at - started)
                result.latencies_by_kind.setdefault(step.kind, []).append(chat.last_reply_at - started)
            if step.kind == "command" and step.value == "selfcheck":
                check_message = chat.last_message_id
            await asyncio.sleep(0)  # let the other patients push before this one goes on
        return check_message

    async def settle(self, expected: dict[int, int]) -> None:
        """Wait until no reply came for a while (longer when replies are missing or a reply call
        failed: the outbox retries every 5 s), so late and duplicated replies are counted too."""
        short = any(self.chats.get(chat_id, _Chat()).replies < count for chat_id, count in expected.items())
        failed = any(r.method in REPLY_METHODS and r.status not in (200, None) for r in self.server.requests)
        quiet = RETRY_QUIET_SECONDS if short or failed else QUIET_SECONDS
        deadline = time.monotonic() + 3 * quiet
        while time.monotonic() < deadline:
            since = time.monotonic() - self.last_reply_at
            if since >= quiet:
                return
            await asyncio.sleep(quiet - since + 0.01)


def _proc_status_kb(pid: int, field_name: str) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
    return None


def _cpu_seconds(pid: int) -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


async def _load(server: LoadServer, script: Script, patients: int, timeout: float, pid: int, result: RunResult) -> None:
    driver = LoadDriver(server, asyncio.get_running_loop(), timeout)
    await driver.patient(WARM_UP_CHAT, script, None)
    await asyncio.sleep(0.3)
    result.idle_rss_kb = _proc_status_kb(pid, "VmRSS")
    cpu_before = _cpu_seconds(pid)
    chat_ids = [FIRST_CHAT + number for number in range(patients)]
    started = time.monotonic()
    check_messages = await asyncio.gather(*(driver.patient(chat_id, script, result) for chat_id in chat_ids))
    result.load_seconds = max(driver.last_progress_at, started) - started
    expected = dict.fromkeys(chat_ids, script.replies)
    await driver.settle(expected)
    cpu_after = _cpu_seconds(pid)
    if cpu_before is not None and cpu_after is not None:
        result.cpu_seconds = cpu_after - cpu_before
    result.peak_rss_kb = _proc_status_kb(pid, "VmHWM")
    for chat_id, count in expected.items():
        chat = driver.chats.get(chat_id, _Chat())
        result.expected_replies += count
        result.replies += chat.replies + chat.duplicates
        result.lost += max(0, count - chat.replies)
        result.duplicated += chat.duplicates + max(0, chat.replies - count)
    if script.result_line is not None:
        result.finished_checks = sum(
            1
            for chat_id, message_id in zip(chat_ids, check_messages, strict=True)
            if message_id is not None and _shows_result(server, chat_id, message_id, script)
        )


def _shows_result(server: FakeTelegramServer, chat_id: int, message_id: int, script: Script) -> bool:
    """The self-check message was edited once per press and ends on the result."""
    message = server.message(chat_id, message_id)
    if message is None or script.result_line is None:
        return False
    presses = sum(1 for step in script.steps if step.kind == "press")
    return len(message.edits) == presses and (message.text or "").startswith(script.result_line)


def _log_problems(log: str, limit: int = 12) -> list[str]:
    lines = [line for line in log.splitlines() if " ERROR " in line or " WARNING " in line or "Traceback" in line]
    lines = [line for line in lines if "placeholder" not in line and "is not set" not in line]
    return lines[:limit]


def run_bot(name: str, script: Script, patients: int, timeout: float, echo_rate_limiter: bool) -> RunResult:
    result = RunResult(name, patients, len(script.steps))
    with tempfile.TemporaryDirectory(prefix=f"load-{name}-") as tmp, LoadServer(token=TOKEN) as server:
        data_dir = Path(tmp) / "data"
        if script.echo:
            extra = {"ECHO_RATE_LIMITER": "1"} if echo_rate_limiter else {}
            process: BotProcess = EchoBotProcess(server, data_dir, **extra)
        else:
            process = BotProcess(server, data_dir, LOG_LEVEL="INFO")
        try:
            process.start()
            assert process.process is not None
            asyncio.run(_load(server, script, patients, timeout, process.process.pid, result))
        except Exception:
            print(f"{name} bot log:\n{process.output()[-4000:]}", file=sys.stderr)
            raise
        finally:
            server.listener = None
            process.stop()
        result.validation_errors = [f"{r.method}: {r.description}" for r in server.validation_errors]
        result.validation_errors += [f"unsupported method {method}" for method in server.unsupported_methods]
        result.validation_errors += [f"fake server error: {error}" for error in server.internal_errors]
        result.unanswered_callbacks = len(server.unanswered_callbacks())
        result.calls = Counter(r.method for r in server.requests)
        result.log_problems = _log_problems(process.output())
    return result


# --------------------------------------------------------------------------- the report


def _ms(seconds: float, decimals: int = 0) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.{decimals}f}"


def _mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.1f}"


def _ratio(ours: float | None, floor: float | None) -> float | None:
    if ours is None or floor is None or math.isnan(ours) or math.isnan(floor) or floor <= 0:
        return None
    return ours / floor


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(ours: RunResult, echo: RunResult, args: argparse.Namespace) -> tuple[str, bool]:
    """The Markdown report and whether every target passed."""
    p99 = _ratio(ours.percentile(0.99), echo.percentile(0.99))
    memory = _ratio(ours.peak_rss_kb, echo.peak_rss_kb)
    p99_ok = p99 is not None and p99 <= P99_RATIO_TARGET
    memory_ok = memory is not None and memory <= MEMORY_RATIO_TARGET
    delivery_ok = all(r.lost == 0 and r.duplicated == 0 and r.failed_pushes == 0 for r in (ours, echo))
    calls_ok = all(not r.validation_errors and r.unanswered_callbacks == 0 for r in (ours, echo))

    def cpu_per_update(r: RunResult) -> float | None:
        updates = r.patients * r.updates_per_patient
        return None if r.cpu_seconds is None or not updates else r.cpu_seconds / updates

    rows: list[tuple[str, str, str, str, str]] = [
        (
            "patients x updates each",
            f"{ours.patients} x {ours.updates_per_patient}",
            f"{echo.patients} x {echo.updates_per_patient}",
            "",
            "",
        ),
        (
            "replies received / expected",
            f"{ours.replies} / {ours.expected_replies}",
            f"{echo.replies} / {echo.expected_replies}",
            "",
            "",
        ),
        (
            "replies per second",
            f"{ours.replies_per_second:.1f}",
            f"{echo.replies_per_second:.1f}",
            _fmt_ratio(_ratio(ours.replies_per_second, echo.replies_per_second)),
            "",
        ),
    ]
    for label, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)):
        ratio = _ratio(ours.percentile(share), echo.percentile(share))
        target = f"<= {P99_RATIO_TARGET}x echo: {_verdict(p99_ok)}" if label == "p99" else ""
        rows.append(
            (
                f"latency {label} (ms)",
                _ms(ours.percentile(share)),
                _ms(echo.percentile(share)),
                _fmt_ratio(ratio),
                target,
            )
        )
    for kind, label in (("text", "typed questions"), ("command", "commands"), ("press", "button presses")):
        rows.append(
            (
                f"latency p50 / p99, {label} (ms)",
                f"{_ms(ours.percentile(0.5, kind))} / {_ms(ours.percentile(0.99, kind))}",
                f"{_ms(echo.percentile(0.5, kind))} / {_ms(echo.percentile(0.99, kind))}",
                _fmt_ratio(_ratio(ours.percentile(0.99, kind), echo.percentile(0.99, kind))),
                "",
            )
        )
    rows += [
        (
            "peak RSS (MB)",
            _mb(ours.peak_rss_kb),
            _mb(echo.peak_rss_kb),
            _fmt_ratio(memory),
            f"<= {MEMORY_RATIO_TARGET}x echo: {_verdict(memory_ok)}",
        ),
        (
            "RSS after warm-up (MB)",
            _mb(ours.idle_rss_kb),
            _mb(echo.idle_rss_kb),
            _fmt_ratio(_ratio(ours.idle_rss_kb, echo.idle_rss_kb)),
            "",
        ),
        (
            "CPU per update (ms)",
            _ms(cpu_per_update(ours) or math.nan, 1),
            _ms(cpu_per_update(echo) or math.nan, 1),
            _fmt_ratio(_ratio(cpu_per_update(ours), cpu_per_update(echo))),
            "",
        ),
        ("lost replies", str(ours.lost), str(echo.lost), "", f"0: {_verdict(ours.lost == 0 and echo.lost == 0)}"),
        (
            "duplicated replies",
            str(ours.duplicated),
            str(echo.duplicated),
            "",
            f"0: {_verdict(ours.duplicated == 0 and echo.duplicated == 0)}",
        ),
        ("timed-out updates", str(ours.timed_out_updates), str(echo.timed_out_updates), "", ""),
        (
            "validation errors",
            str(len(ours.validation_errors)),
            str(len(echo.validation_errors)),
            "",
            f"0: {_verdict(not ours.validation_errors and not echo.validation_errors)}",
        ),
        (
            "unanswered callback queries",
            str(ours.unanswered_callbacks),
            str(echo.unanswered_callbacks),
            "",
            f"0: {_verdict(ours.unanswered_callbacks == 0 and echo.unanswered_callbacks == 0)}",
        ),
        ("self-checks finished on the result", f"{ours.finished_checks} / {ours.patients}", "n/a", "", ""),
        ("load duration (s)", f"{ours.load_seconds:.1f}", f"{echo.load_seconds:.1f}", "", ""),
    ]
    for method in ("sendMessage", "editMessageText", "answerCallbackQuery", "sendChatAction", "getUpdates"):
        rows.append((f"{method} calls", str(ours.calls[method]), str(echo.calls[method]), "", ""))

    lines = [
        f"## Telegram load: {ours.patients} concurrent patients, closed loop, {ours.updates_per_patient} updates each",
        "",
        "| metric | our bot | echo bot | ours / echo | target |",
        "|---|---:|---:|---:|---|",
        *[f"| {' | '.join(row)} |" for row in rows],
        "",
        f"Result: p99 latency {_verdict(p99_ok)}, peak memory {_verdict(memory_ok)}, "
        f"lost/duplicated replies {_verdict(delivery_ok)}, Telegram calls valid {_verdict(calls_ok)}.",
        "",
        "Notes:",
        f"- Latency: from the push of an update to the moment the fake server finished the bot's "
        f"(last) reply call for that chat; timeout per update {args.timeout:.0f} s. Counts include "
        f"a warm-up patient for the call totals only.",
        f'- Our bot also sends sendChatAction ("typing") before answering typed text '
        f"({ours.calls['sendChatAction']} calls here); the echo bot does not. Otherwise both make the "
        "same calls per update: sendMessage for text and commands, answerCallbackQuery + "
        "editMessageText for a button press.",
        f"- Echo bot: same ApplicationBuilder set-up as bot/channels/telegram/adapter.py (base_url from "
        f"TELEGRAM_BASE_URL, concurrent_updates(True), connection_pool_size({our_pool_size()}), Defaults "
        f"parse_mode HTML); AIORateLimiter: ours {'yes' if our_uses_rate_limiter() else 'no'}, "
        f"echo {'yes' if args.echo_rate_limiter else 'no'}.",
    ]
    if our_uses_rate_limiter():
        lines.append(
            "- AIORateLimiter lets at most 30 calls per second with a chat_id through (sendMessage, "
            "editMessageText and sendChatAction alike: Telegram's overall flood limit), so under this "
            "load it, not the bot's own code, sets our throughput and latency; a typed question "
            'spends two of those slots ("typing" + the answer), which is why it waits about twice '
            "as long as a button press."
            + (
                ""
                if args.echo_rate_limiter
                else " `--echo-rate-limiter` gives the echo bot the same limiter to compare like with like."
            )
        )
    for result in (ours, echo):
        if result.validation_errors:
            counted = Counter(result.validation_errors).most_common(5)
            lines.append(
                f"- {result.name} bot, calls the fake server refused: "
                + "; ".join(f"{count} x {error}" for error, count in counted)
            )
        if result.failed_pushes:
            lines.append(f"- {result.name}: {result.failed_pushes} patient(s) could not press the next button")
        if result.log_problems and (result.lost or result.duplicated or result.validation_errors):
            lines.append(f"- {result.name} bot log, warnings and errors (first {len(result.log_problems)}):")
            lines += [f"  - `{line}`" for line in result.log_problems]
    passed = p99_ok and memory_ok and delivery_ok and calls_ok
    return "\n".join(lines), passed


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telegram_load", description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=None, help="concurrent patients (default 200, 20 with --quick)")
    parser.add_argument("--questions", type=int, default=3, help="questions each patient asks (default 3)")
    parser.add_argument("--quick", action="store_true", help="a small run for CI (20 patients)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one update's reply")
    parser.add_argument(
        "--echo-rate-limiter", action="store_true", help="give the echo bot the same AIORateLimiter as ours"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    patients = args.patients if args.patients is not None else (20 if args.quick else 200)
    if patients < 1 or args.questions < 0:
        parser.error("--patients must be at least 1 and --questions at least 0")

    knowledge = load_knowledge(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir)
    script = our_script(knowledge, args.questions)
    results = {}
    for name, steps in (("ours", script), ("echo", echo_script(script))):
        print(f"running {name}: {patients} patients x {len(steps.steps)} updates ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        results[name] = run_bot(name, steps, patients, args.timeout, args.echo_rate_limiter)
        print(f"  done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    text, passed = report(results["ours"], results["echo"], args)
    print(text)
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
