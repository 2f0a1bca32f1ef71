"""Runs the real `python -m bot run` process against the fake Bot API server, for tests and
benchmarks: the bot is exercised exactly as deployed, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.fake_telegram.server import FakeTelegramServer

PROJECT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAHfakeTokenForTestsOnly0123456789abc"
BOOKING_URL = "https://clinic.example.org/book"


class BotProcess:
    """One bot process; `kill()` is SIGKILL (no clean shutdown), `start()` starts it again."""

    def __init__(self, server: FakeTelegramServer, data_dir: Path, *, piped: bool = False, **env: str) -> None:
        """`piped`: the bot writes its log to a pipe that this process copies to the log file,
        so a file-size limit put on the bot (a simulated full disk) does not silence it."""
        self.piped = piped
        self.server = server
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"{data_dir.name}-bot.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))},
            "TELEGRAM_BOT_TOKEN": server.token,
            "TELEGRAM_BASE_URL": server.base_url,
            "TELEGRAM_BASE_FILE_URL": server.base_file_url,
            "DATA_DIR": str(data_dir),
            "KEY_FILE": str(data_dir.parent / f"{data_dir.name}.key"),  # never the repo's secrets/
            "BOOKING_URL": BOOKING_URL,
            "ENV_FILE": str(data_dir.parent / "no-such.env"),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> BotProcess:
        commands_before = len(self.server.calls("setMyCommands"))
        log = self.log_path.open("ab")
        if self.piped:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                cwd=PROJECT,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            threading.Thread(target=_copy, args=(self.process.stdout, log), daemon=True).start()
        else:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=PROJECT, env=self.env, stdout=log, stderr=log
            )
            log.close()
        if wait:
            self.server.wait_for(
                lambda: len(self.server.calls("setMyCommands")) > commands_before or self._exited(),
                timeout=30,
                what="the bot to start",
            )
            if self._exited():
                raise RuntimeError(f"bot exited at start:\n{self.output()}")
            self.server.wait_for(lambda: self.server.calls("getUpdates"), timeout=10, what="polling")
        return self

    def _exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to save anything."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> BotProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _copy(source: object, target: object) -> None:
    """Copy the bot's piped output to its log file as it comes."""
    with target:  # type: ignore[attr-defined]
        for line in source:  # type: ignore[attr-defined]
            target.write(line)  # type: ignore[attr-defined]
            target.flush()  # type: ignore[attr-defined]


def wait_quiet(server: FakeTelegramServer, seconds: float = 0.4) -> None:
    """Wait until the bot has made no request (other than polling) for `seconds`."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        before = len([r for r in server.requests if r.method != "getUpdates"])
        time.sleep(seconds)
        if len([r for r in server.requests if r.method != "getUpdates"]) == before:
            return
