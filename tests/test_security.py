"""Security checks: secrets and patient text stay out of the logs, the webhook only accepts
Telegram (by its secret header), staff commands are refused to everyone else, SQL is only ever
parameterised, and dependencies are pinned to ranges.

The process tests run the real `python -m bot run` against the fake Bot API server; each bot has
its own fake server (two bots polling one server knock each other out with 409s).
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.config import load_config
from bot.content.html import to_plain_text
from bot.content.loader import load_knowledge
from tests.bot_process import PROJECT, TOKEN, BotProcess, wait_quiet
from tests.conftest import bot_env
from tests.fake_telegram.server import ChatMessage, FakeTelegramServer

KNOWLEDGE = load_knowledge(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir)
UI = KNOWLEDGE.ui
CB = KNOWLEDGE.callback
SECRET_PART = TOKEN.split(":", 1)[1]
STAFF_GROUP = -1001
STAFF_USER = 777
NOT_AVAILABLE = CB.staff["not_available"]
GROUP_HINT = UI.texts["group_hint"]
WEBHOOK_SECRET = "s3cret"
_chat_ids = itertools.count(81_001)

# What a patient typed, each distinctive enough that any trace of it in a log is found.
QUESTION = "Does zanzibarquux gymnastics help my lumbar vertebra Q7731?"
RED_FLAG = "since yesterday I cannot feel my legs and I wet myself, plughfoo"
NAME = "Quintessa Vorblemann"
PHONE_TYPED = "090-4321-8765"
PHONE_FORMS = ("090-4321-8765", "+819043218765", "9043218765", "81-90-4321-8765")
NOTE = "please ring after lunch, xyzzyfrob"
DISTINCTIVE = ("zanzibarquux", "Q7731", "plughfoo", "Quintessa", "Vorblemann", "xyzzyfrob")


def new_chat() -> int:
    return next(_chat_ids)


def token_traces(output: str) -> list[str]:
    """Every form in which the token (or its secret half) could show up in a log."""
    forms = {TOKEN, SECRET_PART, SECRET_PART[:16], SECRET_PART[-16:], quote(TOKEN, safe=""), TOKEN.replace(":", "%3A")}
    return sorted(form for form in forms if form in output)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def plain(text: str) -> str:
    return to_plain_text(text).strip()


def step(server: FakeTelegramServer, chat: int, action: str, value: str, marker: str) -> ChatMessage:
    before = len(server.bot_messages(chat))
    last = server.last_bot_message(chat)
    edits = len(last.edits) if last is not None else 0
    if action == "text":
        server.push_text(chat, value)
    elif action == "command":
        server.push_command(chat, value)
    else:
        server.press_inline_button(chat, value)

    def shown() -> ChatMessage | None:
        last = server.last_bot_message(chat)
        if last is None or marker not in (last.text or ""):
            return None
        return last if len(server.bot_messages(chat)) > before or len(last.edits) > edits else None

    shown_message = server.wait_for(shown, timeout=10, what=f"{marker!r} after {value!r}")
    wait_quiet(server, 0.2)  # the turn is over before the next one starts
    return shown_message


def request_call_back(server: FakeTelegramServer, chat: int, name: str, phone: str, note: str) -> ChatMessage:
    """A whole call-back request, as a patient taps and types it; returns the confirmation."""
    step(server, chat, "command", "/start", "")
    step(server, chat, "press", CB.buttons["request"], "What name should they ask for?")
    step(server, chat, "text", name, "What number should the clinic call?")
    step(server, chat, "text", phone, plain(CB.text("ask_time")))
    step(server, chat, "press", CB.buttons["morning"], plain(CB.text("ask_note")).split("\n")[0])
    step(server, chat, "text", note, "Please check your request")
    step(server, chat, "press", CB.buttons["confirm"], "Before I send it")
    return step(server, chat, "press", CB.buttons["agree"], "The clinic has your request")


# ---------------------------------------------------------------------------------- the INFO bot


@dataclass
class ClinicBot:
    server: FakeTelegramServer
    process: BotProcess
    patient: int  # the patient who asked for a call back


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClinicBot]:
    """A bot at LOG_LEVEL=INFO with a staff group and a staff user, and one saved request."""
    base = tmp_path_factory.mktemp("security")
    with FakeTelegramServer(token=TOKEN) as server:
        server.add_chat(STAFF_GROUP, "group", title="Clinic staff")
        process = BotProcess(
            server,
            base / "data",
            KEY_FILE=str(base / "data.key"),
            LOG_LEVEL="INFO",
            STAFF_CHAT_ID=str(STAFF_GROUP),
            STAFF_USER_IDS=str(STAFF_USER),
        )
        with process:
            patient = new_chat()
            request_call_back(server, patient, NAME, PHONE_TYPED, NOTE)
            server.wait_for_bot_messages(STAFF_GROUP, 1, timeout=10)
            yield ClinicBot(server, process, patient)


def test_no_patient_text_in_the_log_at_info(clinic: ClinicBot) -> None:
    server = clinic.server
    asker, urgent = new_chat(), new_chat()
    server.push_text(asker, QUESTION)
    server.push_text(urgent, RED_FLAG)
    [answer] = server.wait_for_bot_messages(asker, 1, timeout=10)
    [emergency] = server.wait_for_bot_messages(urgent, 1, timeout=10)
    assert "119" in (emergency.text or ""), "the red-flag text was not recognised: pick another one"
    assert answer.text
    staff = server.bot_messages(STAFF_GROUP)[0].text or ""
    assert NAME in staff and "+819043218765" in staff, "the request did not reach the staff"
    wait_quiet(server)

    output = clinic.process.output()
    assert " INFO bot.telegram: update " in output, "no turn was logged at INFO: the check would prove nothing"
    assert "triage" in output and "unanswered" in output  # the turns are logged, by kind only
    fragments = {QUESTION, RED_FLAG, NAME, NOTE, *PHONE_FORMS, *DISTINCTIVE}
    leaked = sorted(f for f in fragments if f.lower() in output.lower())
    assert leaked == [], f"patient text in the log: {leaked}"
    assert token_traces(output) == []


# ---------------------------------------------------------------------------------- staff commands


def _new_replies(server: FakeTelegramServer, chat: int, before: int, count: int) -> list[ChatMessage]:
    server.wait_for(lambda: len(server.bot_messages(chat)) >= before + count, timeout=10, what=f"reply in {chat}")
    wait_quiet(server)
    return server.bot_messages(chat)[before:]


def _assert_no_data(messages: list[ChatMessage]) -> None:
    for message in messages:
        text = message.text or ""
        for secret in (NAME, NOTE, *PHONE_FORMS, "Call-back request #", "Counts so far", "Open call-back requests"):
            assert secret not in text, f"staff data shown to a non-staff chat: {text!r}"
        assert not any(b.get("callback_data", "").startswith("st:") for b in message.buttons)


def test_staff_commands_refuse_a_private_chat(clinic: ClinicBot) -> None:
    server = clinic.server
    for chat in (new_chat(), clinic.patient):
        for command in ("/requests", "/stats", f"/requests@{server.bot_user['username']}"):
            before = len(server.bot_messages(chat))
            server.push_command(chat, command)
            replies = _new_replies(server, chat, before, 1)
            assert [m.text for m in replies] == [NOT_AVAILABLE], command
            _assert_no_data(replies)


def test_staff_commands_refuse_a_group_that_is_not_the_staff_chat(clinic: ClinicBot) -> None:
    server = clinic.server
    group, member = -300_000 - new_chat(), new_chat()
    for command, mention in (("/requests", True), ("/stats", True), ("/requests", False), ("/stats", False)):
        before = len(server.bot_messages(group))
        server.push_command(group, command, chat_type="group", user_id=member, mention_bot=mention)
        replies = _new_replies(server, group, before, 1)
        assert [m.text for m in replies] == [GROUP_HINT], command
        assert all(b.get("url", "").startswith("https://t.me/") for b in replies[0].buttons)
        _assert_no_data(replies)
    # A forged staff button (the "Contacted" button of request #1) from outside: refused.
    server.push_command(group, "/start", chat_type="group", user_id=member, mention_bot=True)
    [invite] = _new_replies(server, group, len(server.bot_messages(group)), 1)
    server.push_callback(group, invite.message_id, "st:c:1", user_id=member, check_button=False)
    server.wait_for(lambda: all(c.answered for c in server.callback_queries()), timeout=10)
    press = [c for c in server.callback_queries() if c.chat_id == group][-1]
    assert (press.answer or {}).get("text") == NOT_AVAILABLE
    _assert_no_data(server.bot_messages(group))
    assert "Status:" not in (server.bot_messages(STAFF_GROUP)[0].text or ""), "an outsider marked a request"


def test_staff_user_cannot_list_requests_into_a_foreign_group(clinic: ClinicBot) -> None:
    server = clinic.server
    group = -400_000 - new_chat()
    server.push_command(group, "/requests", chat_type="group", user_id=STAFF_USER, mention_bot=True)
    replies = _new_replies(server, group, 0, 1)
    _assert_no_data(replies)
    assert [m.text for m in replies] == [GROUP_HINT]


# ---------------------------------------------------------------------------------- token


def test_token_never_in_the_output_at_debug_with_telegram_errors(tmp_path: Path) -> None:
    with FakeTelegramServer(token=TOKEN) as server:
        process = BotProcess(server, tmp_path / "data", KEY_FILE=str(tmp_path / "data.key"), LOG_LEVEL="DEBUG")
        with process:
            chats = [new_chat() for _ in range(7)]
            server.inject_fault("sendMessage", "http", chat_id=chats[0], status=502)
            server.inject_fault("sendMessage", "retry_after", chat_id=chats[1], retry_after=1)
            server.inject_fault("*", "blocked", count=None, chat_id=chats[2])
            server.inject_fault("sendMessage", "drop", chat_id=chats[3])
            server.inject_fault("sendMessage", "http", chat_id=chats[4], status=400, description="Bad Request: nope")
            server.inject_fault("sendMessage", "http", chat_id=chats[5], status=401, description="Unauthorized")
            server.inject_fault("sendMessage", "http", chat_id=chats[6], status=504, raw_body="<html>504</html>")
            for chat in chats:
                server.push_text(chat, "how does stress cause back pain")
            for chat in (chats[0], chats[1], chats[3], chats[6]):
                server.wait_for_bot_messages(chat, 1, timeout=15)
            server.inject_fault("getUpdates", "http", status=502)
            ping = new_chat()
            server.push_command(ping, "/start")
            server.wait_for_bot_messages(ping, 1, timeout=15)
            server.push_command(ping, "/help")
            server.wait_for_bot_messages(ping, 2, timeout=15)
            time.sleep(0.5)
        output = process.output()
    assert " DEBUG " in output, "LOG_LEVEL=DEBUG did not take effect: the check would prove nothing"
    assert "Calling Bot API endpoint" in output
    assert "update None failed" in output or "502" in output or "Bad Gateway" in output
    assert token_traces(output) == [], "the token is in the bot's output"


def test_token_not_printed_when_telegram_rejects_it(tmp_path: Path) -> None:
    output, _ = _rejected_token_run(tmp_path)
    assert token_traces(output) == [], "the token is in the bot's output"


def test_a_rejected_token_gives_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    output, code = _rejected_token_run(tmp_path)
    assert code == 2, output[-1500:]
    # PTB logs the refusal itself (with a traceback, through the redacting filter); the bot's own
    # last word must be one line that tells the operator what to do.
    last = output.strip().splitlines()[-1]
    assert last.startswith("configuration error:") and "TELEGRAM_BOT_TOKEN" in last, output[-1500:]


def _rejected_token_run(tmp_path: Path) -> tuple[str, int | None]:
    with FakeTelegramServer(token=TOKEN) as server:
        server.inject_fault("getMe", "http", count=None, status=401, description="Unauthorized")
        process = BotProcess(server, tmp_path / "data", KEY_FILE=str(tmp_path / "data.key"))
        process.start(wait=False)
        assert process.process is not None
        try:
            code = process.process.wait(timeout=20)
        finally:
            process.stop()
        return process.output(), code


# ---------------------------------------------------------------------------------- webhook


@dataclass
class WebhookBot:
    server: FakeTelegramServer
    process: BotProcess
    url: str


@pytest.fixture(scope="module")
def webhook_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookBot]:
    base = tmp_path_factory.mktemp("webhook")
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg"
    with FakeTelegramServer(token=TOKEN) as server:
        process = BotProcess(
            server,
            base / "data",
            KEY_FILE=str(base / "data.key"),
            WEBHOOK_URL=url,
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(port),
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            LOG_LEVEL="DEBUG",
        )
        process.start(wait=False)
        try:
            server.wait_for(
                lambda: server.webhook.get("url") or process.process.poll() is not None,  # type: ignore[union-attr]
                timeout=30,
                what="setWebhook",
            )
            assert process.process is not None and process.process.poll() is None, process.output()[-3000:]
            server.wait_for(lambda: _listening(port), timeout=10, what="the webhook server")
            yield WebhookBot(server, process, url)
        finally:
            process.stop()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _post(url: str, update: dict, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_webhook_registered_with_the_secret(webhook_bot: WebhookBot) -> None:
    hook = webhook_bot.server.webhook
    assert hook["url"] == webhook_bot.url
    assert hook["secret_token"] == WEBHOOK_SECRET
    assert webhook_bot.server.calls("getUpdates") == [], "a webhook bot must not poll"


def test_webhook_answers_an_update_with_the_right_secret(webhook_bot: WebhookBot) -> None:
    server, chat = webhook_bot.server, new_chat()
    status = server.deliver_via_webhook(server.make_text_update(chat, "/start"))
    assert status == 200
    [reply] = server.wait_for_bot_messages(chat, 1, timeout=10)
    assert "not a diagnosis" in (reply.text or "")
    assert server.validation_errors == []


@pytest.mark.parametrize("secret", ["wrong", "", None], ids=["wrong", "empty", "missing"])
def test_webhook_refuses_an_update_without_the_secret(webhook_bot: WebhookBot, secret: str | None) -> None:
    server, chat = webhook_bot.server, new_chat()
    status = _post(webhook_bot.url, server.make_text_update(chat, "/start"), secret)
    assert status == 403
    time.sleep(1.0)
    assert server.bot_messages(chat) == [], "a forged update was answered"
    assert webhook_bot.process.process is not None and webhook_bot.process.process.poll() is None


def test_webhook_secret_not_in_the_output(webhook_bot: WebhookBot) -> None:
    output = webhook_bot.process.output()
    assert token_traces(output) == []
    assert WEBHOOK_SECRET not in output


def test_webhook_output_has_no_token(webhook_bot: WebhookBot) -> None:
    assert " DEBUG " in webhook_bot.process.output()
    assert token_traces(webhook_bot.process.output()) == []


def _run_webhook_without(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], FakeTelegramServer]:
    with FakeTelegramServer(token=TOKEN) as server:
        environment = bot_env(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_BASE_URL=server.base_url,
            TELEGRAM_BASE_FILE_URL=server.base_file_url,
            DATA_DIR=str(tmp_path / "data"),
            KEY_FILE=str(tmp_path / "data.key"),
            WEBHOOK_URL=f"http://127.0.0.1:{free_port()}/tg",
            WEBHOOK_LISTEN="127.0.0.1",
            **env,
        )
        if "WEBHOOK_SECRET" not in env:
            environment.pop("WEBHOOK_SECRET", None)
        run = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            cwd=PROJECT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        return run, server


def test_webhook_without_secret_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    run, server = _run_webhook_without(tmp_path)
    assert run.returncode == 2, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("configuration error:")]
    assert len(errors) == 1 and "WEBHOOK_SECRET" in errors[0], run.stderr
    assert run.stderr.strip().splitlines()[-1] == errors[0]
    assert "Traceback" not in run.stderr
    assert server.calls("setWebhook") == [] and server.calls("getUpdates") == []
    assert token_traces(run.stdout + run.stderr) == []


def test_webhook_without_secret_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    run, _ = _run_webhook_without(tmp_path)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "data.key").exists()


def test_webhook_secret_with_characters_telegram_refuses_is_a_config_error(tmp_path: Path) -> None:
    run, _ = _run_webhook_without(tmp_path, WEBHOOK_SECRET="not valid!", WEBHOOK_PORT=str(free_port()))
    assert run.returncode == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("configuration error:")]
    assert len(errors) == 1 and "WEBHOOK_SECRET" in errors[0], run.stderr[-2000:]


# ---------------------------------------------------------------------------------- SQL


SQL_METHODS = ("execute", "executemany", "executescript")


class _Literals:
    """Decides whether an expression can only ever be a string built from literals in the
    source: a literal, `+` of such, a name whose every assignment in the function (or module)
    is such, or "sep".join(a list that only ever holds such)."""

    def __init__(self, module: ast.Module, function: ast.AST | None) -> None:
        self.scopes = [function, module] if function is not None else [module]

    def _assignments(self, name: str) -> list[ast.expr] | None:
        for scope in self.scopes:
            found: list[ast.expr] = []
            nodes = _outside_functions(scope) if isinstance(scope, ast.Module) else ast.walk(scope)
            for node in nodes:
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        found.extend(self._bound(target, node.value, name))
                elif isinstance(node, ast.AnnAssign | ast.AugAssign) and _is_name(node.target, name):
                    if node.value is None or (isinstance(node, ast.AugAssign) and not isinstance(node.op, ast.Add)):
                        return [ast.Constant(None)]  # not a plain string concatenation
                    found.append(node.value)
                elif isinstance(node, ast.For | ast.With | ast.NamedExpr) and name in _targets(node):
                    return [ast.Constant(None)]
            if found:
                return found
        return None

    @staticmethod
    def _bound(target: ast.expr, value: ast.expr, name: str) -> list[ast.expr]:
        if _is_name(target, name):
            return [value]
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
            return [v for t, v in zip(target.elts, value.elts, strict=True) if _is_name(t, name)]
        if isinstance(target, ast.Tuple) and any(_is_name(t, name) for t in target.elts):
            return [ast.Constant(None)]  # unpacked from something we cannot see
        return []

    def string(self, node: ast.expr, seen: frozenset[str] = frozenset()) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.string(node.left, seen) and self.string(node.right, seen)
        if isinstance(node, ast.Name) and node.id not in seen:
            values = self._assignments(node.id)
            return bool(values) and all(self.string(v, seen | {node.id}) for v in values)  # type: ignore[union-attr]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join"
            and isinstance(node.func.value, ast.Constant)
            and isinstance(node.func.value.value, str)
            and len(node.args) == 1
            and not node.keywords
        ):
            return self.string_list(node.args[0], seen)
        return False  # f-strings, % and .format(), calls, subscripts, attributes...

    def string_list(self, node: ast.expr, seen: frozenset[str]) -> bool:
        if isinstance(node, ast.List | ast.Tuple):
            return all(self.string(element, seen) for element in node.elts)
        if not isinstance(node, ast.Name) or node.id in seen:
            return False
        values = self._assignments(node.id)
        if not values or not all(self.string_list(v, seen | {node.id}) for v in values):
            return False
        # Everything ever added to the list must be a literal too, and nothing else may change it.
        for scope in self.scopes[:1]:
            for call in ast.walk(scope):  # type: ignore[arg-type]
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and _is_name(call.func.value, node.id)
                ):
                    if call.func.attr == "append" and len(call.args) == 1 and self.string(call.args[0], seen):
                        continue
                    if call.func.attr == "extend" and len(call.args) == 1 and self.string_list(call.args[0], seen):
                        continue
                    return False
        return True


def _outside_functions(module: ast.Module) -> Iterator[ast.AST]:
    """The module's nodes, without the insides of its functions and classes."""
    stack: list[ast.AST] = list(module.body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _targets(node: ast.AST) -> set[str]:
    if isinstance(node, ast.For):
        return {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    if isinstance(node, ast.NamedExpr):
        return {node.target.id}
    if isinstance(node, ast.With):
        return {
            n.id
            for item in node.items
            if item.optional_vars
            for n in ast.walk(item.optional_vars)
            if isinstance(n, ast.Name)
        }
    return set()


def sql_calls() -> list[tuple[str, int, bool, str]]:
    """(file, line, literal-only, source) of every execute/executemany/executescript in bot/."""
    found = []
    for path in sorted((PROJECT / "bot").rglob("*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        functions = [n for n in ast.walk(module) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for node in ast.walk(module):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in SQL_METHODS:
                continue
            owner = min(
                (f for f in functions if f.lineno <= node.lineno <= (f.end_lineno or f.lineno)),
                key=lambda f: (f.end_lineno or f.lineno) - f.lineno,
                default=None,
            )
            literal = bool(node.args) and _Literals(module, owner).string(node.args[0])
            found.append((path.name, node.lineno, literal, ast.unparse(node.args[0]) if node.args else ""))
    return found


def test_sql_is_only_built_from_literals() -> None:
    calls = sql_calls()
    assert len(calls) >= 30, f"only {len(calls)} SQL calls found: is the scan still looking at the store?"
    assert "store.py" in {name for name, *_ in calls}
    built = [f"{name}:{line}: {source}" for name, line, literal, source in calls if not literal]
    assert built == [], "SQL built from something other than literals (use ? parameters):\n" + "\n".join(built)


def test_the_conditions_joined_in_store_pending_are_literals() -> None:
    """Store.pending builds its WHERE with " AND ".join(conditions): the scan accepts it only
    because `conditions` starts empty and only ever gets literal strings appended. Prove the
    scan is that strict: the same shape with one value appended is refused."""
    calls = {(name, source) for name, _, literal, source in sql_calls() if literal}
    assert any(name == "store.py" and source.startswith("sql") for name, source in calls)
    bad = ast.parse(
        "def pending(db, chat_id):\n"
        "    sql = 'SELECT 1 FROM outbox'\n"
        "    conditions = []\n"
        "    conditions.append('chat_id = ?')\n"
        "    conditions.append(f'chat_id = {chat_id}')\n"
        "    sql += ' WHERE ' + ' AND '.join(conditions)\n"
        "    db.execute(sql)\n"
    )
    function = bad.body[0]
    call = next(n for n in ast.walk(bad) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "execute")
    assert not _Literals(bad, function).string(call.args[0])


@pytest.mark.parametrize(
    "source",
    [
        "db.execute(f'SELECT * FROM t WHERE id = {x}')",
        "db.execute('SELECT * FROM t WHERE id = %s' % x)",
        "db.execute('SELECT * FROM t WHERE id = {}'.format(x))",
        "db.execute('SELECT * FROM t WHERE id = ' + str(x))",
        "sql = 'SELECT * FROM t'\nif x:\n    sql = sql + x\ndb.execute(sql)",
        "db.executemany(query, rows)",
        "db.execute(' AND '.join(parts))",
    ],
)
def test_the_sql_scan_refuses_built_sql(source: str) -> None:
    module = ast.parse(source)
    call = next(n for n in ast.walk(module) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") in SQL_METHODS)
    assert not _Literals(module, None).string(call.args[0])


# ---------------------------------------------------------------------------------- dependencies


_SPEC = re.compile(r"^\s*([A-Za-z0-9._-]+)\s*(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def _bounds(requirement: str) -> tuple[str, bool, bool]:
    match = _SPEC.match(requirement)
    assert match, requirement
    name, specifiers = match.group(1), [s.strip() for s in match.group(3).split(",") if s.strip()]
    lower = any(s.startswith((">=", ">", "~=", "==")) for s in specifiers)
    upper = any(s.startswith(("<", "~=", "==")) and not s.startswith("<>") for s in specifiers)
    return name, lower, upper


def _pyproject() -> dict:
    return tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))


def test_dependencies_are_pinned_to_ranges() -> None:
    project = _pyproject()["project"]
    requirements = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        requirements.extend(group)
    assert len(requirements) >= 5
    unpinned = [r for r in requirements if not all(_bounds(r)[1:])]
    assert unpinned == [], f"dependencies without both a lower and an upper bound: {unpinned}"


def test_the_bounds_parser() -> None:
    assert _bounds("python-telegram-bot[rate-limiter,webhooks]>=22.5,<23") == ("python-telegram-bot", True, True)
    assert _bounds("pyyaml>=6.0.2")[1:] == (True, False)
    assert _bounds("ruff<1")[1:] == (False, True)
    assert _bounds("rapidfuzz~=3.14")[1:] == (True, True)
    assert _bounds("cryptography")[1:] == (False, False)


def test_build_requirements_are_pinned_to_ranges() -> None:
    requires = _pyproject()["build-system"]["requires"]
    unpinned = [r for r in requires if not all(_bounds(r)[1:])]
    assert unpinned == [], unpinned
