"""The floor for the load benchmark: the smallest python-telegram-bot 22 bot that makes the same
Telegram calls per update as ours.

- text or command: one sendMessage with the text echoed back;
- button press: answerCallbackQuery, then editMessageText of the pressed message.

It is set up like `bot/channels/telegram/adapter.py` wherever that changes speed or memory: one TypeHandler,
concurrent_updates(True), the same HTTP connection pool size (read from bot/channels/telegram/adapter.py so
the two cannot drift apart), Defaults with parse_mode HTML and no link previews, long polling
with every update type, and the commands registered at start (which is also how the benchmark
sees that a bot is up). What it does not have is everything that is ours: the SQLite state and
outbox, the dialogue core, the knowledge base, per-chat locks, and the "typing" chat action our
bot sends before answering typed text.

ECHO_RATE_LIMITER=1 adds the same AIORateLimiter(max_retries=3) as ours, to separate the cost
of Telegram's flood limits from the cost of our code.

Run by the benchmark as `python -m benchmarks.echo_bot` with TELEGRAM_BOT_TOKEN and
TELEGRAM_BASE_URL set (see tests/bot_process.py).
"""

from __future__ import annotations

import html
import logging
import os
import re
import sys
from pathlib import Path

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults, TypeHandler

OUR_APP = Path(__file__).resolve().parent.parent / "bot" / "channels" / "telegram" / "adapter.py"
DEFAULT_POOL_SIZE = 64


def our_pool_size() -> int:
    """The connection_pool_size(...) bot/channels/telegram/adapter.py uses (DEFAULT_POOL_SIZE if not found)."""
    try:
        found = re.search(r"\.connection_pool_size\(\s*(\d+)\s*\)", OUR_APP.read_text(encoding="utf-8"))
    except OSError:
        found = None
    return int(found.group(1)) if found else DEFAULT_POOL_SIZE


def our_uses_rate_limiter() -> bool:
    """True when bot/channels/telegram/adapter.py sets an AIORateLimiter."""
    try:
        return ".rate_limiter(AIORateLimiter(" in OUR_APP.read_text(encoding="utf-8")
    except OSError:
        return False


async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer()
        # The update id makes every edit differ from the text before ("message is not modified").
        await query.edit_message_text(f"You pressed <b>{html.escape(query.data or '')}</b> (update {update.update_id})")
        return
    message = update.message or update.edited_message
    if message is None or update.effective_chat is None:
        return
    await context.bot.send_message(update.effective_chat.id, html.escape(message.text or message.caption or "?"))


async def post_init(application: Application) -> None:
    await application.bot.set_my_commands([BotCommand("start", "Start"), BotCommand("selfcheck", "Self-check")])


def build(token: str, base_url: str | None, pool_size: int, rate_limiter: bool) -> Application:
    builder = (
        ApplicationBuilder()
        .token(token)
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .concurrent_updates(True)
        .connection_pool_size(pool_size)
        .post_init(post_init)
    )
    if rate_limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    if base_url:
        builder = builder.base_url(base_url)
    application = builder.build()
    application.add_handler(TypeHandler(Update, on_update))
    return application


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.get("TELEGRAM_BOT_TOKEN")
    if not token:
        print("TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    pool_size = int(os.environ.get("ECHO_POOL_SIZE") or our_pool_size())
    rate_limiter = os.environ.get("ECHO_RATE_LIMITER", "") == "1"
    application = build(token, os.environ.get("TELEGRAM_BASE_URL") or None, pool_size, rate_limiter)
    application.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
