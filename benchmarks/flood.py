"""One chat floods the bot; how long do the other patients wait? `python -m benchmarks.flood`

The real `python -m bot run` process against the fake Bot API server on 127.0.0.1. Each run
starts a fresh bot; one chat sends N questions at once (0, 500, 2,000), then OTHERS patients
each ask one question; their wait (question pushed -> answer in their chat) is measured, next
to the same run without a flood. The figure that matters is the ratio to the no-flood run, not
the milliseconds (they depend on the machine).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bot.config import load_config
from bot.content.html import to_plain_text
from bot.content.notices import load_notices
from tests.bot_process import TOKEN, BotProcess, wait_quiet
from tests.fake_telegram.server import FakeTelegramServer

OTHERS = 5
FLOODER = 5_000_001
QUESTION = "how does stress cause back pain"
SLOW_DOWN = to_plain_text(load_notices(load_config(env={}).knowledge_dir).slow_down)[:40]


def run(flood: int, base: Path) -> dict[str, float]:
    """One run: the flood, then the other patients' questions; their waits in seconds."""
    with FakeTelegramServer(token=TOKEN) as server:
        (base / f"flood-{flood}").mkdir(parents=True, exist_ok=True)
        bot = BotProcess(server, base / f"flood-{flood}" / "data", KEY_FILE=str(base / f"flood-{flood}.key"))
        bot.start()
        try:
            others = [6_000_001 + n for n in range(OTHERS)]
            with server._cond:  # the whole flood is queued before anyone else's question
                for number in range(flood):
                    server.push_text(FLOODER, f"{QUESTION} {number}")
                pushed = time.monotonic()
                for chat in others:
                    server.push_text(chat, QUESTION)
            waits = []
            for chat in others:
                server.wait_for_bot_messages(chat, 1, timeout=300)
                waits.append(time.monotonic() - pushed)
            wait_quiet(server, 1.0)
            flooder = [m.text or "" for m in server.bot_messages(FLOODER)]
        finally:
            bot.stop()
    return {
        "max": max(waits),
        "median": statistics.median(waits),
        "flooder_replies": float(len(flooder)),
        "slow_down": float(sum(1 for text in flooder if text.startswith(SLOW_DOWN))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floods", default="0,500,2000", help="flood sizes, comma-separated (0 = no flood)")
    args = parser.parse_args()
    floods = [int(n) for n in args.floods.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        results = {flood: run(flood, Path(folder)) for flood in floods}
    calm = results.get(0)
    print(f"{OTHERS} other patients ask one question each right after one chat's flood (fresh bot per run)\n")
    print(
        "| flood from one chat | others' wait, median | others' wait, max | max / no flood | flooder's replies "
        "| 'slow down' notices |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for flood, result in results.items():
        ratio = f"{result['max'] / calm['max']:.1f}x" if calm else "-"
        print(
            f"| {flood} | {result['median'] * 1000:.0f} ms | {result['max'] * 1000:.0f} ms | {ratio} "
            f"| {result['flooder_replies']:.0f} | {result['slow_down']:.0f} |"
        )


if __name__ == "__main__":
    main()
