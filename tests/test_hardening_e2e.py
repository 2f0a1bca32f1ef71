"""Issue 10's "also weak" list, end to end against the real `python -m bot` process: a webhook
that reads no body before the secret and caps it, a corrupt database told apart from a full
disk, a .env with a byte-order mark or in another encoding, invalid link settings, and an edited
old message in the middle of a flow."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.config import load_config
from bot.content.html import to_plain_text
from bot.content.loader import load_knowledge
from bot.content.notices import load_notices
from bot.storage.sqlite.store import DATABASE_NAME
from tests.bot_process import TOKEN, BotProcess, wait_quiet
from tests.conftest import run_bot
from tests.fake_telegram.server import FakeTelegramServer

KNOWLEDGE_DIR = load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir
KNOWLEDGE = load_knowledge(KNOWLEDGE_DIR)
NOTICES = load_notices(KNOWLEDGE_DIR)
CB = KNOWLEDGE.callback
SECRET = "hardening-secret"
_chats = itertools.count(93_001)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------------------------- webhook


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeTelegramServer, BotProcess, int]]:
    base = tmp_path_factory.mktemp("hook")
    port = free_port()
    with FakeTelegramServer(token=TOKEN) as server:
        bot = BotProcess(
            server,
            base / "data",
            KEY_FILE=str(base / "data.key"),
            WEBHOOK_URL=f"http://127.0.0.1:{port}/tg",
            WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(port),
            WEBHOOK_SECRET=SECRET,
        )
        bot.start(wait=False)
        try:
            server.wait_for(lambda: server.webhook.get("url"), timeout=30, what="setWebhook")

            def listening() -> bool:
                with socket.socket() as sock:
                    return sock.connect_ex(("127.0.0.1", port)) == 0

            server.wait_for(listening, timeout=10, what="the webhook server")
            yield server, bot, port
        finally:
            bot.stop()


def post_raw(port: int, secret: str | None, size: int, body: bytes | None = None) -> int | None:
    """POST `size` bytes (or `body`) to the webhook; the HTTP status, or None when the server
    closed the connection without one."""
    body = body if body is not None else b"x" * size
    head = [
        "POST /tg HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if secret is not None:
        head.append(f"X-Telegram-Bot-Api-Secret-Token: {secret}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            for start in range(0, len(body), 1 << 20):
                sock.sendall(body[start : start + (1 << 20)])
        except OSError:
            pass  # the server stopped reading: the answer (if any) is already there
        try:
            answer = sock.recv(200)
        except OSError:
            return None
    if not answer.startswith(b"HTTP/1."):
        return None
    return int(answer.split()[1])


def test_webhook_refuses_a_wrong_secret_without_reading_the_body(
    webhook: tuple[FakeTelegramServer, BotProcess, int],
) -> None:
    _, bot, port = webhook
    assert bot.process is not None
    before = rss_mb(bot.process.pid)
    with ThreadPoolExecutor(4) as pool:  # at the same time, as an attacker would
        statuses = list(pool.map(lambda _: post_raw(port, "wrong", 60 << 20), range(4)))
    grown = rss_mb(bot.process.pid) - before
    assert all(status in (403, None) for status in statuses), statuses
    assert grown < 40, f"peak RSS grew by {grown:.0f} MB on four parallel 60 MB posts with a wrong secret"


def test_webhook_caps_the_body_even_with_the_right_secret(
    webhook: tuple[FakeTelegramServer, BotProcess, int],
) -> None:
    server, bot, port = webhook
    assert bot.process is not None
    before = rss_mb(bot.process.pid)
    status = post_raw(port, SECRET, 60 << 20)
    assert status in (413, None), status
    assert rss_mb(bot.process.pid) - before < 40
    chat = next(_chats)  # and a real update still works
    ok = post_raw(port, SECRET, 0, json.dumps(server.make_text_update(chat, "/start")).encode())
    assert ok == 200
    server.wait_for_bot_messages(chat, 1, timeout=10)


# ---------------------------------------------------------------------------------- start-up advice


def _errors(stderr: str) -> list[str]:
    """The error lines (the start-up warnings about placeholder clinic settings aside)."""
    return [line for line in stderr.splitlines() if line.strip() and " WARNING " not in line]


def test_a_corrupt_database_gets_its_own_advice(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DATABASE_NAME).write_bytes(b"this is not a database, it was overwritten " * 200)
    run = run_bot(
        "run",
        TELEGRAM_BOT_TOKEN=TOKEN,
        DATA_DIR=str(data),
        KEY_FILE=str(tmp_path / "key"),
        TELEGRAM_BASE_URL="http://127.0.0.1:9/bot",
    )
    lines = _errors(run.stderr)
    assert run.returncode == 2, run.stderr
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "damaged" in lines[0] and "backup" in lines[0], lines[0]
    assert "disk is not full" not in lines[0]


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbfCLINIC_NAME=Spine Clinic Tokyo\n",
        b"CLINIC_NAME=Spine Clinic Tokyo\r\nCLINIC_HOURS=Mon-Fri 9-18\r\n",
    ],
    ids=["utf8-bom", "crlf"],
)
def test_a_dotenv_with_a_bom_is_read(tmp_path: Path, raw: bytes) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(raw)
    run = run_bot("check", ENV_FILE=str(env_file))
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"CLINIC_NAME=Clinique du Caf\xe9\n", "UTF-8"),
        ("CLINIC_NAME=Spine\n".encode("utf-16"), "UTF-16"),
        (b"CLINIC_NAME=Spine\x00\n", "NUL"),
    ],
    ids=["latin-1", "utf-16", "nul"],
)
def test_a_dotenv_in_another_encoding_gives_one_line(tmp_path: Path, raw: bytes, says: str) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(raw)
    run = run_bot("check", ENV_FILE=str(env_file))
    lines = _errors(run.stderr)
    assert run.returncode == 2, run.stderr
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert says in lines[0] and ".env" in lines[0], lines[0]


@pytest.mark.parametrize(
    "url",
    ["https://", "https://clinic example.com", "https://clinic.example.com:99999/book", "ftp://clinic.example.com"],
)
@pytest.mark.parametrize("command", ["check", "run"])
def test_an_invalid_booking_url_is_refused_with_one_line(tmp_path: Path, url: str, command: str) -> None:
    run = run_bot(
        command,
        BOOKING_URL=url,
        TELEGRAM_BOT_TOKEN=TOKEN,
        DATA_DIR=str(tmp_path / "data"),
        KEY_FILE=str(tmp_path / "key"),
        TELEGRAM_BASE_URL="http://127.0.0.1:9/bot",
    )
    lines = _errors(run.stderr)
    assert run.returncode != 0, f"{command} accepted BOOKING_URL={url!r}"
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "BOOKING_URL" in lines[0], lines[0]


# ---------------------------------------------------------------------------------- an edit inside a flow


def test_an_edited_old_message_inside_a_flow_is_not_taken_as_an_answer(tmp_path: Path) -> None:
    with FakeTelegramServer(token=TOKEN) as server:
        bot = BotProcess(server, tmp_path / "data", KEY_FILE=str(tmp_path / "key"))
        chat = next(_chats)
        try:
            bot.start()
            server.push_command(chat, "/start")
            server.wait_for_bot_messages(chat, 1, timeout=10)
            wait_quiet(server)
            server.press_inline_button(chat, CB.buttons["request"])
            server.wait_for(lambda: "What name" in (server.last_bot_message(chat).text or ""), timeout=10)  # type: ignore[union-attr]
            name = server.push_text(chat, "Kenji Edit")
            server.wait_for(lambda: "What number" in (server.last_bot_message(chat).text or ""), timeout=10)  # type: ignore[union-attr]
            wait_quiet(server)
            count = len(server.bot_messages(chat))
            # The patient corrects their name... which the bot must not take as the phone number.
            server.push_edited_text(chat, name["message"]["message_id"], "090 1111 2222")
            server.wait_for_bot_messages(chat, count + 1, timeout=10)
            wait_quiet(server)
            newest = server.last_bot_message(chat)
            assert newest is not None
            assert "When is a good time" not in (newest.text or ""), "the edit was taken as the phone number"
            assert (newest.text or "").startswith(to_plain_text(NOTICES.edited_in_flow)[:40])
            # The flow is where it was: the phone number is still asked for.
            server.push_text(chat, "090-1234-5678")
            server.wait_for(
                lambda: "When is a good time" in (server.last_bot_message(chat).text or ""),  # type: ignore[union-attr]
                timeout=10,
            )
        finally:
            bot.stop()
