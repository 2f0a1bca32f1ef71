"""The Telegram adapter: turns updates into core inputs and the core's replies into messages.

Each update, under a per-chat lock: load state -> dialogue core -> commit state and replies to
the outbox (SQLite) -> answer the button press -> send the outbox. A crash between any two
steps loses nothing (see bot/store.py). The self-check edits its one message in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sqlite3
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlparse

import httpx
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatAction, ChatType, MessageEntityType, MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults, TypeHandler

from bot.chat_locks import ChatLocks
from bot.config import Config, ConfigError
from bot.content import Knowledge
from bot.replies import Button, Keyboard, Reply, UserInput
from bot.service import STAFF_COMMANDS, ClinicService, Handled
from bot.store import OutboxItem, Store

log = logging.getLogger("bot.telegram")

COMMANDS = ("start", "help", "selfcheck", "book", "privacy", "cancel", "forget")
OUTBOX_RETRY_SECONDS = 2.0
TYPING_DELAY_SECONDS = 1.0
RETENTION_CHECK_SECONDS = 3600.0
OWED_PRESS_SECONDS = 600.0  # older presses are past answering (Telegram stops accepting answers)
_NOT_MODIFIED = "message is not modified"
_CANNOT_EDIT = ("message to edit not found", "message can't be edited", "message_id_invalid")


def render_keyboard(buttons: Keyboard) -> InlineKeyboardMarkup | None:
    """Abstract buttons -> Telegram inline keyboard (actions as callback data, links as URLs)."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.label, url=b.url)
                if b.url
                else InlineKeyboardButton(b.label, callback_data=b.action)
                for b in row
            ]
            for row in buttons
        ]
    )


def render_markup(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    """A reply's buttons; a share-contact button needs Telegram's keyboard under the typing field."""
    if reply.share_contact:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(reply.share_contact, request_contact=True)]], one_time_keyboard=True, resize_keyboard=True
        )
    if reply.remove_keyboard and not reply.buttons:
        return ReplyKeyboardRemove()
    return render_keyboard(reply.buttons)


def chat_tag(chat_id: int) -> str:
    """A short, stable pseudonym of a chat for logs, so logs carry no Telegram ids."""
    return hashlib.sha256(str(chat_id).encode()).hexdigest()[:8]


class TelegramBot:
    def __init__(self, knowledge: Knowledge, store: Store, service: ClinicService) -> None:
        self.knowledge = knowledge
        self.service = service
        self.store = store
        self._locks = ChatLocks()
        self._tasks: set[asyncio.Task[None]] = set()
        self.retention_days = 30
        self._background: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ wiring

    def build(self, config: Config, token: str) -> Application:
        builder = (
            ApplicationBuilder()
            .token(token)
            .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
            .rate_limiter(AIORateLimiter(max_retries=3))
            .concurrent_updates(True)
            .connection_pool_size(64)
            .post_init(self.post_init)
            .post_shutdown(self.post_shutdown)
        )
        if config.base_url:
            builder = builder.base_url(config.base_url)
        if config.base_file_url:
            builder = builder.base_file_url(config.base_file_url)
        application = builder.build()
        application.add_handler(TypeHandler(Update, self.on_update))
        application.add_error_handler(self.on_error)
        return application

    async def post_init(self, application: Application) -> None:
        commands = [BotCommand(name, self.knowledge.ui.commands[name]) for name in COMMANDS]
        try:
            await application.bot.set_my_commands(commands)
        except TelegramError as error:  # the command menu is a convenience: keep serving patients
            log.warning("could not register the command menu (%s); continuing", type(error).__name__)
        await self._answer_owed_presses(application)  # first: Telegram accepts answers for a short while
        await self.flush_all(application)  # replies a crash left behind go out next
        await self._replay_inbox(application)
        self._background.append(asyncio.create_task(self._retry_loop(application)))
        log.info("bot started as @%s", application.bot.username)

    async def post_shutdown(self, application: Application) -> None:
        for task in self._background:
            task.cancel()
        self.store.close()

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the failure without patient text; the bot keeps running."""
        update_id = update.update_id if isinstance(update, Update) else None
        error = context.error
        log.error("update %s failed: %s", update_id, type(error).__name__, exc_info=error)

    # ------------------------------------------------------------------ updates

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return  # e.g. poll updates: nothing to answer
        query = update.callback_query
        message = update.message or update.edited_message
        if query is None and message is None:
            return  # channel posts, membership changes...
        user_input = self._to_input(update)
        user_id = update.effective_user.id if update.effective_user else None
        if chat.type != ChatType.PRIVATE and query is not None and not self.service.is_staff(chat.id, None):
            # Only staff buttons live in groups; anything else there is forged or stale.
            with contextlib.suppress(TelegramError):
                await query.answer(self.knowledge.callback.staff["not_available"])
            return
        if chat.type != ChatType.PRIVATE and query is None:
            staff_command = user_input.kind == "command" and user_input.value in STAFF_COMMANDS
            # In a group only a staff chat may list requests: a staff user's /requests in any
            # other group would show patients' names and phones to everyone there.
            if not (staff_command and self.service.is_staff(chat.id, None)):
                await self._group_message(update, message)
                return
        self._keep(update)
        typing = None
        if user_input.kind == "text" and message is not None:
            typing = asyncio.create_task(self._typing_after_delay(context.bot, chat.id))
        try:
            async with self._locks.hold(chat.id):
                await self._handle(context.application, update, chat.id, user_id, user_input)
        finally:
            if typing is not None:
                typing.cancel()

    def _keep(self, update: Update) -> None:
        """Save the update before the first await (see Store.receive); replayed at start."""
        try:
            if not self.store.is_processed(update.update_id):
                self.store.receive(update.update_id, json.dumps(update.to_dict(), ensure_ascii=False))
        except sqlite3.Error as error:
            log.error("could not keep update %s (%s): it is handled now, but not crash-safe", update.update_id, error)

    async def _replay_inbox(self, application: Application) -> None:
        """Updates that arrived but were not handled before a crash: handle them first."""
        waiting = self.store.inbox()
        for _, payload in waiting:
            update = Update.de_json(json.loads(payload), application.bot)
            if update is not None:
                await application.update_queue.put(update)
        if waiting:
            log.info("replaying %d update(s) received before a restart", len(waiting))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_staff(self, application: Application) -> None:
        for staff_chat in self.service.staff_chat_ids:
            try:
                await self._flush_locked(application, staff_chat)
            except Exception:
                log.exception("sending to the staff chat failed; the retry loop will try again")

    @staticmethod
    async def _typing_after_delay(bot: Any, chat_id: int) -> None:
        """Show "typing…" only when an answer takes a while (queued behind Telegram's rate
        limit, a slow network): answers are local and usually go out in milliseconds, and an
        early typing action would use up a slot of the rate limit for nothing."""
        await asyncio.sleep(TYPING_DELAY_SECONDS)
        with contextlib.suppress(TelegramError):
            await bot.send_chat_action(chat_id, ChatAction.TYPING)

    async def _handle(
        self, application: Application, update: Update, chat_id: int, user_id: int | None, user_input: UserInput
    ) -> None:
        query = update.callback_query
        pressed = query.message.message_id if query is not None and query.message else None
        try:
            press_id = query.id if query is not None else None
            handled = self.service.handle(chat_id, user_input, update.update_id, user_id, pressed, press_id)
        except sqlite3.Error as error:
            await self._answer_unsaved(application, update, chat_id, user_input, error)
            return
        if handled is None:
            # Delivered again (after a restart, or twice by Telegram): handled before; only
            # replies still waiting in the outbox go out, and a button press the bot died
            # before answering is answered now.
            log.info("update %s seen before: not handled again", update.update_id)
            if query is not None and self.store.press_unanswered(update.update_id):
                await self._answer_press(application.bot, update.update_id, query.id)
        else:
            self._log_turn(update.update_id, chat_id, user_input, handled)
            if query is not None:
                await self._answer_press(application.bot, update.update_id, query.id, handled.toast)
        await self.flush_chat(application, chat_id)
        if handled is not None and handled.staff_queued:
            # In the background: the staff group's rate limit (20 a minute) must never keep this
            # patient, who holds their chat's lock now, waiting.
            self._spawn(self._flush_staff(application))

    async def _answer_press(self, bot: Any, update_id: int, query_id: str, toast: str | None = None) -> None:
        """Stop the button's spinner, once: recorded, so that after a restart only the presses
        the bot died before answering are answered."""
        try:
            await bot.answer_callback_query(query_id, text=toast)
        except TelegramError as error:  # too old after a restart: nothing more to do
            log.info("callback answer failed: %s", type(error).__name__)
        try:
            self.store.press_answered(update_id)
        except sqlite3.Error as error:
            log.warning("could not record a button press as answered (%s)", error)

    async def _answer_owed_presses(self, application: Application) -> None:
        """Presses handled just before a crash but never answered: Telegram will not deliver
        them again (their offset was confirmed), so answer them at start."""
        owed = self.store.unanswered_presses(within_seconds=OWED_PRESS_SECONDS)
        for update_id, query_id in owed:
            await self._answer_press(application.bot, update_id, query_id)
        if owed:
            log.info("answered %d button press(es) left unanswered by a restart", len(owed))

    async def _answer_unsaved(
        self, application: Application, update: Update, chat_id: int, user_input: UserInput, error: Exception
    ) -> None:
        """The database cannot be written: answer anyway, straight from the core, store nothing."""
        log.error(
            "DATA_DIR database write failed (%s: %s): answering without saving; check disk space and permissions",
            type(error).__name__,
            error,
        )
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer()
        for reply in self.service.handle_unsaved(chat_id, user_input):
            with contextlib.suppress(TelegramError):
                await application.bot.send_message(chat_id, reply.text, reply_markup=render_markup(reply))

    def _to_input(self, update: Update) -> UserInput:
        if update.callback_query is not None:
            return UserInput.action(update.callback_query.data or "")
        message = update.message or update.edited_message
        assert message is not None
        text = message.text or message.caption or ""
        if message.text and _is_command(message):
            head, _, payload = message.text[1:].partition(" ")
            return UserInput.command(head.split("@", 1)[0], payload.strip())
        if message.contact is not None:
            phone = message.contact.phone_number.strip()
            return UserInput.contact(phone if phone.startswith("+") else f"+{phone}")
        if text.strip():
            return UserInput.text(text)
        if message.text is not None:
            return UserInput.text(text)
        return UserInput.unsupported()

    async def _group_message(self, update: Update, message: Message | None) -> None:
        """In groups only commands get an answer: an invitation to a private chat."""
        if message is None or not message.text or not _is_command(message):
            return
        username = message.get_bot().username
        button = Button(self.knowledge.ui.buttons["open_private"], url=f"https://t.me/{username}")
        with contextlib.suppress(TelegramError):
            await message.reply_text(self.knowledge.ui.texts["group_hint"], reply_markup=render_keyboard(((button,),)))

    def _log_turn(self, update_id: int, chat_id: int, user_input: UserInput, handled: Handled) -> None:
        summary = []
        for event in handled.events:
            details = {k: v for k, v in event.data.items() if k != "text"}
            summary.append(f"{event.kind}{details or ''}")
        log.info("update %s chat %s: %s -> %s", update_id, chat_tag(chat_id), user_input.kind, " ".join(summary))

    # ------------------------------------------------------------------ sending

    async def flush_chat(self, application: Application, chat_id: int) -> None:
        """Send a chat's queued replies in order; stop at the first that must wait."""
        for item in self.store.pending(chat_id):
            if not item.due or not await self._deliver(application, item):
                break

    async def _flush_locked(self, application: Application, chat_id: int) -> None:
        async with self._locks.hold(chat_id):
            await self.flush_chat(application, chat_id)

    async def flush_all(self, application: Application) -> None:
        for chat_id in dict.fromkeys(item.chat_id for item in self.store.pending() if item.due):
            try:
                await self._flush_locked(application, chat_id)
            except Exception:  # one chat's trouble must not stop the others' retries
                log.exception("sending to chat %s failed", chat_tag(chat_id))

    async def _retry_loop(self, application: Application) -> None:
        since_purge = RETENTION_CHECK_SECONDS
        while True:
            await asyncio.sleep(OUTBOX_RETRY_SECONDS)
            since_purge += OUTBOX_RETRY_SECONDS
            try:
                await self.flush_all(application)
                if since_purge >= RETENTION_CHECK_SECONDS:
                    since_purge = 0.0
                    log.info("retention: removed %s", self.store.purge(self.retention_days))
            except Exception:  # the loop must survive anything; the next round retries
                log.exception("outbox retry round failed")

    async def _deliver(self, application: Application, item: OutboxItem) -> bool:
        """Send one outbox item; True when it is done with (sent, or can never be sent)."""
        bot = application.bot
        markup = render_markup(item.reply)
        text = item.reply.text
        if item.for_staff and item.edit_message_id is None and self.store.start_attempt(item.id):
            text = self._maybe_repeated(item, text)
        try:
            if item.edit_message_id is not None:
                message_id = await self._edit_or_send(bot, item, markup)
            else:
                sent = await bot.send_message(item.chat_id, text, reply_markup=markup)
                message_id = sent.message_id
        except Forbidden:
            if item.for_staff:
                log.error("the staff chat refuses messages (Forbidden): will retry; check STAFF_CHAT_ID")
                self.store.mark_failed(item)
                return False
            dropped = self.store.drop_chat_outbox(item.chat_id)
            log.warning("chat %s blocked the bot: %d replies dropped", chat_tag(item.chat_id), dropped)
            return False
        except BadRequest as error:
            log.error("message rejected by Telegram (%s): dropped", error.message)
            self.store.mark_sent(item.id)
            return True
        except ChatMigrated as error:
            log.error(
                "chat %s became a supergroup (new id %s): update STAFF_CHAT_ID; will retry",
                chat_tag(item.chat_id),
                error.new_chat_id,
            )
            self.store.mark_failed(item)
            return False
        except (RetryAfter, NetworkError, TelegramError) as error:
            if self.store.mark_failed(item, outcome_unknown=may_have_arrived(error)):
                log.warning("sending failed (%s): will retry", type(error).__name__)
            else:
                log.error("reply to chat %s kept failing: given up", chat_tag(item.chat_id))
            return False
        if not self.store.mark_sent(item.id, message_id) and item.for_staff and item.edit_message_id is None:
            # The patient used /forget while this notification was on its way: replace it now.
            deleted = Reply(self.service.texts.staff_text("deleted", number=str(item.request_id)))
            with self.store.transaction():
                self.store.queue(item.chat_id, deleted, edit_message_id=message_id, request_id=item.request_id)
        return True

    def _maybe_repeated(self, item: OutboxItem, text: str) -> str:
        """A staff notification whose last attempt never came back may already be in the chat
        (Telegram has no idempotency key): say so, so that staff do not call the patient twice."""
        log.warning("request %s: sent again after an attempt whose outcome is unknown", item.request_id)
        marked = self.service.texts.staff_text("maybe_repeated", number=str(item.request_id)) + "\n" + text
        return marked if len(marked) <= MessageLimit.MAX_TEXT_LENGTH else text

    async def _edit_or_send(self, bot: Any, item: OutboxItem, markup: Any) -> int | None:
        try:
            await bot.edit_message_text(
                item.reply.text, chat_id=item.chat_id, message_id=item.edit_message_id, reply_markup=markup
            )
            return item.edit_message_id
        except BadRequest as error:
            text = error.message.lower()
            if _NOT_MODIFIED in text:
                return item.edit_message_id
            if any(reason in text for reason in _CANNOT_EDIT):
                sent = await bot.send_message(item.chat_id, item.reply.text, reply_markup=markup)
                return sent.message_id
            raise


def may_have_arrived(error: TelegramError) -> bool:
    """Whether a failed call may still have reached Telegram: the connection failed after the
    request went out (a timeout, a dropped answer), or Telegram's front end answered 5xx (it
    may have passed the request on). A connection never made, or an API error such as 400,
    403 or 429, proves that it did not."""
    cause = error.__cause__
    if isinstance(cause, httpx.HTTPError):
        return not isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    return type(error) is NetworkError  # python-telegram-bot's error for a 5xx answer


def _is_command(message: Message) -> bool:
    return bool(
        message.text
        and message.text.startswith("/")
        and any(e.type == MessageEntityType.BOT_COMMAND and e.offset == 0 for e in message.entities or ())
    )


def build_service(config: Config, knowledge: Knowledge) -> tuple[Store, ClinicService]:
    """The store and service both channels use, from the configuration."""
    key = config.data_key.encode("ascii") if config.data_key else None  # checked in load_config
    store = Store(config.data_dir, key=key, key_file=config.key_file)
    service = ClinicService(
        knowledge,
        store,
        config.staff_chat_ids,
        config.staff_user_ids,
        config.request_retention_days,
        config.timezone,
    )
    return store, service


def run_telegram(config: Config, knowledge: Knowledge, token: str) -> int:
    """Run until stopped: long polling, or a webhook when WEBHOOK_URL is set."""
    store, service = build_service(config, knowledge)
    removed = store.purge(config.request_retention_days)
    log.info("data in %s; retention removed %s", config.data_dir, removed)
    if not config.staff_chat_ids:
        log.warning("STAFF_CHAT_ID is not set: call-back requests are saved but nobody is notified")
    telegram_bot = TelegramBot(knowledge, store, service)
    telegram_bot.retention_days = config.request_retention_days
    application = telegram_bot.build(config, token)
    try:
        if config.webhook_url:
            application.run_webhook(
                listen=config.webhook_listen,
                port=config.webhook_port,
                url_path=urlparse(config.webhook_url).path.lstrip("/"),
                webhook_url=config.webhook_url,
                secret_token=config.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
                bootstrap_retries=-1,  # Telegram briefly unreachable at start: keep trying
            )
        else:
            application.run_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
    except InvalidToken:  # its message holds the token: never let it reach the output
        raise ConfigError("Telegram rejected TELEGRAM_BOT_TOKEN: copy it again from @BotFather") from None
    return 0
