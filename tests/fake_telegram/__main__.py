"""Run the fake standalone: ``python -m tests.fake_telegram --port 0 --token T``.

Prints the base URL (for ``ApplicationBuilder().base_url``) on stdout and serves until killed.
Other processes can drive it through the JSON control API under ``/_fake/`` (see
``FakeTelegramServer._handle_control``), e.g.
``curl -d '{"chat_id": 42, "text": "hi"}' http://127.0.0.1:PORT/_fake/push_text``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import DEFAULT_TOKEN, FakeTelegramServer


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, start the server and block until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_telegram", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--username", default="fake_test_bot", help="the bot's @username")
    parser.add_argument(
        "--chat", type=int, action="append", default=[], help="pre-register a private chat id (repeatable)"
    )
    args = parser.parse_args(argv)

    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())

    with FakeTelegramServer(args.token, host=args.host, port=args.port, bot_username=args.username) as server:
        for chat_id in args.chat:
            server.add_chat(chat_id)
        print(server.base_url, flush=True)
        print(
            f"token={server.token} file_url={server.base_file_url} control={server.url}/_fake/",
            file=sys.stderr,
            flush=True,
        )
        while not stopped.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
