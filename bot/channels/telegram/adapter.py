"""The Telegram adapter: turns updates into core inputs, and implements the channel contract.

Each update, under a per-chat lock: the service's access policy -> commit the turn (state and
replies to the outbox) -> answer the button press -> send the outbox. Sending, retrying, the
inbox replay and the purge are the shared delivery worker's (bot/channels/delivery.py); this
module holds what is Telegram's own: python-telegram-bot, the durable update queue and flood
admission, markup, the fallbacks for a rejected message, Telegram's errors translated to the
contract's (`may_have_arrived`), and the webhook. A crash between any two steps loses nothing
(see bot/storage/sqlite/store.py). The self-check edits its one message in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
import time
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
from telegram.constants import ChatAction, ChatType, MessageEntityType, ParseMode
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

from bot.channels.contract import (
    TELEGRAM_CAPABILITIES,
    ChatBlocked,
    ChatMoved,
    ChatUnusable,
    MessageRejected,
    SendFailed,
)
from bot.channels.delivery import DeliveryWorker
from bot.config import Config, ConfigError
from bot.content.html import to_plain_text
from bot.content.loader import Knowledge
from bot.core.replies import Button, Keyboard, Reply, UserInput
from bot.core.request_flow import DEFAULT_RETENTION_DAYS
from bot.service.clinic import ClinicService, Handled
from bot.storage import Storage, StorageError

log = logging.getLogger("bot.telegram")

CHAT_PREFIX = "tg:"  # chat ids in the service and the store: "tg:<Telegram chat id>"
COMMANDS = ("start", "help", "selfcheck", "book", "privacy", "cancel", "forget")
# Per-chat fairness: a chat may have this many updates admitted and not yet handled, and is
# admitted at most BURST at once then one every REFILL seconds. Beyond that its messages are
# dropped (one polite "slow down" per SLOW_DOWN_EVERY seconds), so one chat's flood cannot take
# the handler pool or Telegram's 30 messages a second from everyone else. A message triage
# flags is let through beyond both limits, one at a time: a patient in crisis who types fast
# still gets the urgent-care reply.
PER_CHAT_PENDING = 20
BURST = 30
REFILL_SECONDS = 1.0
SLOW_DOWN_EVERY = 60.0
MAX_WEBHOOK_BODY = 1 << 20  # a Telegram update is a few kB; 1 MiB is generous
_CHAT_PROBLEMS = (
    "chat not found",
    "not enough rights",
    "have no rights",
    "need administrator rights",
    "chat_write_forbidden",
    "bot is not a member",
    "chat was deactivated",
    "chat is deactivated",
    "peer_id_invalid",
    "group chat was upgraded",
)
_NOT_MODIFIED = "message is not modified"
_CANNOT_EDIT = ("message to edit not found", "message can't be edited", "message_id_invalid")


def chat_key(telegram_chat_id: int) -> str:
    """A Telegram chat id as the service and the store know it."""
    return f"{CHAT_PREFIX}{telegram_chat_id}"


def telegram_chat_id(chat_id: str) -> int:
    """The Telegram chat id in a "tg:<id>" chat id (ValueError for another channel's chat)."""
    if not chat_id.startswith(CHAT_PREFIX):
        raise ValueError(f"not a Telegram chat: {chat_id!r}")
    return int(chat_id.removeprefix(CHAT_PREFIX))


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


def without_link_buttons(markup: Any) -> Any:
    """An inline keyboard without its URL buttons (Telegram rejected one), or None if empty."""
    if not isinstance(markup, InlineKeyboardMarkup):
        return None
    rows = [[b for b in row if b.url is None] for row in markup.inline_keyboard]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None


def is_chat_problem(error: BadRequest) -> bool:
    """A 400 about the chat itself (unknown, no rights), not about the message."""
    return any(reason in error.message.lower() for reason in _CHAT_PROBLEMS)


class _Bucket:
    """A chat's admission state: updates admitted and not yet handled, and a token bucket."""

    __slots__ = ("dropped", "pending", "safety_pending", "tokens", "updated", "warned_at")

    def __init__(self, now: float) -> None:
        self.pending = 0
        self.safety_pending = False
        self.tokens = float(BURST)
        self.updated = now
        self.warned_at = -SLOW_DOWN_EVERY
        self.dropped = 0


class InboxQueue(asyncio.Queue):  # type: ignore[type-arg]
    """python-telegram-bot's update queue, made durable: the polling loop puts each update of a
    getUpdates batch here before its next getUpdates call confirms the batch to Telegram (and
    the webhook before it answers 200), so keeping the update in `put` means every update is in
    the inbox table before Telegram forgets it, whatever the backlog. Handlers can then run
    later (256 at once) without an update waiting for a handler being lost in a crash. Updates
    a chat's flood makes over its limit are dropped here, before they take a handler slot."""

    def __init__(self, admit: Any) -> None:
        super().__init__()
        self._admit = admit

    def put_nowait(self, item: Any) -> None:
        if isinstance(item, Update) and not self._admit(item):
            return
        super().put_nowait(item)


class TelegramBot:
    """The Telegram channel: python-telegram-bot's updates -> the service, and the `Channel`
    contract (send, edit, answer a press, typing, check a chat, replay) for the shared
    delivery worker (`bot.channels.delivery`), which sends the outbox."""

    name = "Telegram"
    prefix = CHAT_PREFIX
    capabilities = TELEGRAM_CAPABILITIES

    def __init__(
        self,
        knowledge: Knowledge,
        store: Storage,
        service: ClinicService,
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        self.knowledge = knowledge
        self.service = service
        self.store = store
        self.delivery = DeliveryWorker(self, store, service, retention_days)
        self._buckets: dict[int, _Bucket] = {}
        self._admitted: dict[int, tuple[int, bool]] = {}  # update id -> (chat id, let in for safety)
        self._replaying: set[int] = set()
        self.queue = InboxQueue(self.admit)
        self._application: Any = None

    def chat_tag(self, chat_id: str) -> str:
        """A keyed pseudonym of a chat for logs (see Storage.log_tag)."""
        return self.store.log_tag(chat_id)

    # ------------------------------------------------------------------ wiring

    def build(self, config: Config, token: str) -> Application:
        builder = (
            ApplicationBuilder()
            .token(token)
            .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
            .rate_limiter(AIORateLimiter(max_retries=3))
            .concurrent_updates(True)
            .update_queue(self.queue)
            .connection_pool_size(64)
            .post_init(self.post_init)
            .post_shutdown(self.post_shutdown)
        )
        if config.base_url:
            builder = builder.base_url(config.base_url)
        if config.base_file_url:
            builder = builder.base_file_url(config.base_file_url)
        application = builder.build()
        self.use(application)
        application.add_handler(TypeHandler(Update, self.on_update))
        application.add_error_handler(self.on_error)
        return application

    def use(self, application: Any) -> None:
        """The application (its `bot` and `update_queue`) this channel sends and replays through."""
        self._application = application

    async def post_init(self, application: Application) -> None:
        self.use(application)
        commands = [BotCommand(name, self.knowledge.ui.commands[name]) for name in COMMANDS]
        try:
            await application.bot.set_my_commands(commands)
        except TelegramError as error:  # the command menu is a convenience: keep serving patients
            log.warning("could not register the command menu (%s); continuing", type(error).__name__)
        await self.delivery.start()
        log.info("bot started as @%s", application.bot.username)

    async def post_shutdown(self, application: Application) -> None:
        self.delivery.stop()
        self.store.close()

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the failure without patient text; the bot keeps running."""
        update_id = update.update_id if isinstance(update, Update) else None
        error = context.error
        log.error("update %s failed: %s", update_id, type(error).__name__, exc_info=error)

    # ------------------------------------------------------------------ the channel contract

    async def send(self, chat_id: str, reply: Reply) -> int | None:
        return await self._send_variants(chat_id, reply, None)

    async def edit(self, chat_id: str, message_id: int, reply: Reply) -> int | None:
        return await self._send_variants(chat_id, reply, message_id)

    async def answer_press(self, press_id: str, toast: str | None = None) -> None:
        try:
            await self._application.bot.answer_callback_query(press_id, text=toast)
        except TelegramError as error:
            raise _translated(error) from error

    async def show_typing(self, chat_id: str) -> None:
        with contextlib.suppress(TelegramError):
            await self._application.bot.send_chat_action(telegram_chat_id(chat_id), ChatAction.TYPING)

    async def check_chat(self, chat_id: str) -> None:
        try:
            await self._application.bot.get_chat(telegram_chat_id(chat_id))
        except (BadRequest, Forbidden, ChatMigrated) as error:
            raise ChatUnusable(_describe(error)) from error
        except TelegramError as error:
            raise _translated(error) from error

    async def replay(self, update_id: int, payload: str) -> None:
        update = Update.de_json(json.loads(payload), self._application.bot)
        if update is not None:
            self._replaying.add(update_id)
            await self._application.update_queue.put(update)
            self._replaying.discard(update_id)

    # ------------------------------------------------------------------ admission (in the update queue)

    def admit(self, update: Update) -> bool:
        """Called by InboxQueue for each update before Telegram is told it arrived: keep it in
        the inbox, unless its chat is flooding (then drop it here). No await in here."""
        chat = update.effective_chat
        limited = (
            chat is not None and chat.type == ChatType.PRIVATE and chat_key(chat.id) not in self.service.staff_chat_ids
        )
        if update.update_id in self._admitted:  # the same update twice (a redelivery): counted once
            limited = False
        safety = False
        if limited:
            assert chat is not None
            bucket = self._bucket(chat.id)
            if bucket.pending >= PER_CHAT_PENDING or bucket.tokens < 1:
                if bucket.safety_pending or not self._flagged(update):
                    self._drop(update, chat.id, bucket)
                    return False
                safety = True
            if not safety:
                bucket.tokens -= 1
            bucket.pending += 1
            bucket.safety_pending = bucket.safety_pending or safety
            self._admitted[update.update_id] = (chat.id, safety)
        self.delivery.keep(update.update_id, lambda: json.dumps(update.to_dict(), ensure_ascii=False))
        return True

    def _bucket(self, chat_id: int) -> _Bucket:
        now = time.monotonic()
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            bucket = self._buckets[chat_id] = _Bucket(now)
        bucket.tokens = min(float(BURST), bucket.tokens + (now - bucket.updated) / REFILL_SECONDS)
        bucket.updated = now
        return bucket

    def _release(self, update_id: int) -> None:
        """The handler for an admitted update is done: its slot is free again."""
        admitted = self._admitted.pop(update_id, None)
        if admitted is None:
            return
        chat_id, safety = admitted
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            return
        bucket.pending -= 1
        if safety:
            bucket.safety_pending = False
        if bucket.pending <= 0 and bucket.tokens >= BURST - 1 and time.monotonic() - bucket.warned_at > SLOW_DOWN_EVERY:
            del self._buckets[chat_id]  # a quiet chat costs no memory

    def _flagged(self, update: Update) -> bool:
        """Whether triage flags this message (red flag or crisis): never dropped for a flood."""
        message = update.message or update.edited_message
        text = (message.text or message.caption or "") if message is not None else ""
        if not text.strip():
            return False
        try:
            return self.service.dialogue.understander.understand(text, max_match_chars=0).triage is not None
        except Exception:  # triage failing must never drop a message that might be urgent
            log.exception("triage failed while checking a flood: the message is let through")
            return True

    def _drop(self, update: Update, telegram_chat: int, bucket: _Bucket) -> None:
        bucket.dropped += 1
        chat_id = chat_key(telegram_chat)
        if update.update_id in self._replaying:
            with contextlib.suppress(StorageError):
                self.store.mark_processed(update.update_id)
        if update.callback_query is not None:  # stop the button's spinner, nothing more
            self.delivery.spawn(self._quiet_answer(update.callback_query.id))
        now = time.monotonic()
        if now - bucket.warned_at < SLOW_DOWN_EVERY:
            return
        bucket.warned_at = now
        log.warning("chat %s sends faster than it can be answered: extra messages dropped", self.chat_tag(chat_id))
        try:
            with self.store.transaction():
                self.store.queue(chat_id, Reply(self.service.notice("slow_down")))
        except StorageError as error:
            log.error("could not queue the slow-down notice (%s)", error)
            return
        if self._application is not None:
            self.delivery.spawn(self.delivery.flush_chat_locked(chat_id))

    async def _quiet_answer(self, query_id: str) -> None:
        if self._application is not None:
            with contextlib.suppress(SendFailed):
                await self.answer_press(query_id)

    # ------------------------------------------------------------------ updates

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self._on_update(update, context)
        finally:
            self._release(update.update_id)

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return  # e.g. poll updates: nothing to answer
        query = update.callback_query
        message = update.message or update.edited_message
        if query is None and message is None:
            return  # channel posts, membership changes...
        user_input = self._to_input(update)
        user_id = update.effective_user.id if update.effective_user else None
        chat_id = chat_key(chat.id)
        # Who may use what in groups is the service's policy (staff chats, staff commands).
        access = self.service.access(chat_id, user_input, group=chat.type != ChatType.PRIVATE)
        if not access.serve:
            if query is not None and access.refusal is not None:
                with contextlib.suppress(TelegramError):
                    await query.answer(access.refusal)
            elif access.invite:
                await self._group_message(update, message)
            return
        typing = None
        if user_input.kind == "text" and message is not None:
            typing = asyncio.create_task(self.delivery.typing_after_delay(chat_id))
        try:
            async with self.delivery.locks.hold(chat_id):
                await self._handle(update, chat_id, user_id, user_input)
        finally:
            if typing is not None:
                typing.cancel()

    async def _handle(self, update: Update, chat_id: str, user_id: int | None, user_input: UserInput) -> None:
        """One update's turn (the caller holds the chat's lock): commit it, answer the press,
        send the chat's replies; the staff chats' share goes out in the background."""
        query = update.callback_query
        pressed = query.message.message_id if query is not None and query.message else None
        press_id = query.id if query is not None else None
        try:
            edited = getattr(update, "edited_message", None) is not None
            handled = self.service.handle(chat_id, user_input, update.update_id, user_id, pressed, press_id, edited)
        except StorageError as error:
            await self.delivery.answer_unsaved(chat_id, user_input, error, press_id)
            return
        if handled is None:
            # Delivered again (after a restart, or twice by Telegram): handled before; only
            # replies still waiting in the outbox go out, and a button press the bot died
            # before answering is answered now.
            log.info("update %s seen before: not handled again", update.update_id)
            if press_id is not None and self.store.press_unanswered(update.update_id):
                await self.delivery.answer_press(update.update_id, press_id)
        else:
            self._log_turn(update.update_id, chat_id, user_input, handled)
            if press_id is not None:
                await self.delivery.answer_press(update.update_id, press_id, handled.toast)
        await self.delivery.flush_chat(chat_id)
        if handled is not None and handled.staff_queued:
            # In the background: the staff group's rate limit (20 a minute) must never keep this
            # patient, who holds their chat's lock now, waiting.
            self.delivery.spawn(self.delivery.flush_staff())

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

    def _log_turn(self, update_id: int, chat_id: str, user_input: UserInput, handled: Handled) -> None:
        """At INFO a turn is logged by the kinds of its events only, without a chat tag and
        without details: a triage level (or any health detail) next to a per-patient tag would
        tell whoever reads the logs which patient reported what. Details, still without the
        patient's text, only at DEBUG."""
        kinds = " ".join(event.kind for event in handled.events) or "-"
        log.info("update %s: %s -> %s", update_id, user_input.kind, kinds)
        if log.isEnabledFor(logging.DEBUG):
            summary = []
            for event in handled.events:
                details = {k: v for k, v in event.data.items() if k != "text"}
                summary.append(f"{event.kind}{details or ''}")
            log.debug("update %s chat %s: %s", update_id, self.chat_tag(chat_id), " ".join(summary))

    # ------------------------------------------------------------------ sending (for the delivery worker)

    async def _send_variants(self, chat_id: str, reply: Reply, edit_message_id: int | None) -> int | None:
        """Send (or edit) the message; when Telegram rejects it (400), send it again without
        what it may have rejected: first without link buttons, then without any buttons, then
        as plain text. Each fallback is logged at ERROR: a patient never gets silence, and the
        operator learns that a setting or a text is wrong. A 400 about the chat itself (unknown
        chat, no rights) is not the message's fault and is raised at once. Telegram's errors
        leave here as the channel contract's (`SendFailed` and its kinds)."""
        try:
            return await self._try_variants(chat_id, reply, edit_message_id)
        except TelegramError as error:
            raise _translated(error) from error

    async def _try_variants(self, chat_id: str, reply: Reply, edit_message_id: int | None) -> int | None:
        bot = self._application.bot
        text = reply.text
        markup = render_markup(reply)
        html = ParseMode.HTML
        variants: list[tuple[str, str, Any, Any]] = [("", text, markup, html)]
        if isinstance(markup, InlineKeyboardMarkup) and without_link_buttons(markup) != markup:
            variants.append(("without its link buttons", text, without_link_buttons(markup), html))
        if markup is not None:
            variants.append(("without buttons", text, None, html))
        variants.append(("as plain text", to_plain_text(text), None, None))
        last: BadRequest | None = None
        for number, (_, body, keyboard, parse_mode) in enumerate(variants):
            try:
                if edit_message_id is not None:
                    return await self._edit_or_send(bot, chat_id, edit_message_id, body, keyboard, parse_mode)
                sent = await bot.send_message(
                    telegram_chat_id(chat_id), body, reply_markup=keyboard, parse_mode=parse_mode
                )
                return int(sent.message_id)
            except BadRequest as error:
                if is_chat_problem(error):
                    raise
                last = error
                if number + 1 < len(variants):
                    log.error(
                        "a message to chat %s was rejected by Telegram (%s): sending it again %s",
                        self.chat_tag(chat_id),
                        error.message,
                        variants[number + 1][0],
                    )
        assert last is not None
        raise last

    async def _edit_or_send(
        self, bot: Any, chat_id: str, message_id: int, text: str, markup: Any, parse_mode: Any
    ) -> int | None:
        try:
            await bot.edit_message_text(
                text,
                chat_id=telegram_chat_id(chat_id),
                message_id=message_id,
                reply_markup=markup,
                parse_mode=parse_mode,
            )
            return message_id
        except BadRequest as error:
            reason = error.message.lower()
            if _NOT_MODIFIED in reason:
                return message_id
            if any(cannot in reason for cannot in _CANNOT_EDIT):
                sent = await bot.send_message(
                    telegram_chat_id(chat_id), text, reply_markup=markup, parse_mode=parse_mode
                )
                return int(sent.message_id)
            raise


def _translated(error: TelegramError) -> SendFailed:
    """A python-telegram-bot error as the channel contract's: what the delivery worker decides on."""
    if isinstance(error, Forbidden):
        return ChatBlocked(error.message)
    if isinstance(error, ChatMigrated):
        return ChatMoved(error.message, chat_key(error.new_chat_id))
    if isinstance(error, BadRequest):  # (a NetworkError in python-telegram-bot: checked first)
        return MessageRejected(error.message)
    return SendFailed(type(error).__name__, may_have_arrived=may_have_arrived(error))


def _describe(error: TelegramError) -> str:
    return error.message if isinstance(error, TelegramError) else type(error).__name__


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


def run_telegram(config: Config, knowledge: Knowledge, token: str, store: Storage, service: ClinicService) -> int:
    """Run until stopped: long polling, or a webhook when WEBHOOK_URL is set. The store and
    service come from the composition root (`bot.app`)."""
    removed = store.purge(config.request_retention_days)
    log.info("data in %s; retention removed %s", config.data_dir, removed)
    if not config.staff_chat_ids:
        log.warning("STAFF_CHAT_ID is not set: call-back requests are saved but nobody is notified")
    telegram_bot = TelegramBot(knowledge, store, service, config.request_retention_days)
    application = telegram_bot.build(config, token)
    try:
        if config.webhook_url:
            asyncio.run(serve_webhook(application, config))
        else:
            application.run_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
    except InvalidToken:  # its message holds the token: never let it reach the output
        raise ConfigError("Telegram rejected TELEGRAM_BOT_TOKEN: copy it again from @BotFather") from None
    return 0


# ---------------------------------------------------------------------------------- webhook


def _webhook_handler_class() -> type:
    """The webhook's request handler (tornado comes with python-telegram-bot's webhooks extra).

    Why not python-telegram-bot's own: it reads the whole body into memory before it looks at
    the secret header, so anyone who knows the URL can make the bot hold gigabytes. Here the
    secret is checked from the headers alone, the body is streamed and capped, and the update is
    put in the (durable) update queue before Telegram is answered 200."""
    import tornado.web

    @tornado.web.stream_request_body
    class WebhookHandler(tornado.web.RequestHandler):
        SUPPORTED_METHODS = ("POST",)  # type: ignore[assignment]

        def initialize(self, bot: Any, queue: asyncio.Queue, secret: str) -> None:  # type: ignore[type-arg]
            self.bot, self.queue, self.secret = bot, queue, secret
            self.chunks: list[bytes] = []
            self.size = 0

        def prepare(self) -> None:
            given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                raise tornado.web.HTTPError(403)
            declared = self.request.headers.get("Content-Length", "0")
            if not (declared.isascii() and declared.isdigit()) or int(declared) > MAX_WEBHOOK_BODY:
                raise tornado.web.HTTPError(413)
            self.request.connection.set_max_body_size(MAX_WEBHOOK_BODY)  # type: ignore[union-attr]

        def data_received(self, chunk: bytes) -> None:
            self.size += len(chunk)
            if self.size > MAX_WEBHOOK_BODY:
                raise tornado.web.HTTPError(413)
            self.chunks.append(chunk)

        async def post(self) -> None:
            try:
                update = Update.de_json(json.loads(b"".join(self.chunks)), self.bot)
            except Exception as error:  # not an update: say so, keep nothing
                raise tornado.web.HTTPError(400) from error
            if update is not None:
                await self.queue.put(update)
            self.set_status(200)

        def log_exception(self, *args: Any) -> None:  # refusals are expected; never log bodies
            return

    return WebhookHandler


async def serve_webhook(application: Application, config: Config) -> None:
    """python-telegram-bot's run_webhook, with the guarded handler above: initialise (retrying
    while Telegram is unreachable), register the webhook with its secret, serve until SIGINT or
    SIGTERM, then stop cleanly."""
    import tornado.httpserver
    import tornado.web

    assert config.webhook_url and config.webhook_secret  # load_config requires both
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await _with_retries(application.initialize, "initialise")
    try:
        if application.post_init:
            await application.post_init(application)
        await _with_retries(
            lambda: application.bot.set_webhook(
                config.webhook_url, secret_token=config.webhook_secret, allowed_updates=Update.ALL_TYPES
            ),
            "register the webhook",
        )
        path = "/" + urlparse(config.webhook_url).path.lstrip("/")
        routes = [
            (
                rf"{path.rstrip('/')}/?",
                _webhook_handler_class(),
                {"bot": application.bot, "queue": application.update_queue, "secret": config.webhook_secret},
            )
        ]
        server = tornado.httpserver.HTTPServer(
            tornado.web.Application(routes), max_body_size=MAX_WEBHOOK_BODY, max_buffer_size=MAX_WEBHOOK_BODY
        )
        server.listen(config.webhook_port, address=config.webhook_listen)
        await application.start()
        log.info("webhook listening on %s:%s", config.webhook_listen, config.webhook_port)
        await stop.wait()
        server.stop()
        await application.stop()
    finally:
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


async def _with_retries(action: Any, what: str) -> None:
    """Keep trying while Telegram cannot be reached (bootstrap_retries=-1 in run_polling)."""
    delay = 1.0
    while True:
        try:
            await action()
            return
        except (NetworkError, RetryAfter) as error:
            log.warning("could not %s (%s): retrying in %.0f s", what, type(error).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
