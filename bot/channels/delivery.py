"""The delivery worker every channel shares: from the store's outbox to the messenger.

The service commits a turn (state, replies, staff notifications) in one transaction; this worker
then sends what it queued, through the channel contract (`bot.channels.contract.Channel`) and
the storage contract (`bot.storage.Storage`), so a new messenger needs only its adapter:

- a chat's replies go out in order, under the chat's lock; the first that must wait stops the
  chat's flush (the next round or the next turn continues);
- failed sends are retried with backoff (`Storage.mark_failed`), every `RETRY_SECONDS`; a
  patient's reply the messenger refuses in every form is dropped, a staff notification never;
- a staff notification whose last attempt was cut off may already be in the chat: sent again,
  it says so (messengers have no idempotency key);
- after a send the item is removed from the outbox; if that write fails it is remembered as
  sent (never sent again every round) and recorded later;
- at start: button presses a crash left unanswered are answered, staff notifications for chats
  no longer in STAFF_CHAT_ID are re-targeted and each staff chat is checked, the outbox is
  flushed, and updates kept in the inbox but not handled are replayed;
- every hour, what the privacy notice says is not kept is purged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from bot.channels.chat_locks import ChatLocks
from bot.channels.contract import (
    Channel,
    ChatBlocked,
    ChatMoved,
    ChatUnusable,
    MessageRejected,
    SendFailed,
    native_id,
    owns,
)
from bot.core.replies import Reply, UserInput
from bot.core.request_flow import DEFAULT_RETENTION_DAYS
from bot.service.clinic import ClinicService
from bot.storage import OutboxItem, Storage, StorageError

log = logging.getLogger("bot.delivery")

RETRY_SECONDS = 2.0
RETENTION_CHECK_SECONDS = 3600.0
TYPING_DELAY_SECONDS = 1.0
OWED_PRESS_SECONDS = 600.0  # older presses are past answering (Telegram stops accepting answers)
KEEP_FAILED_LOG_EVERY = 10.0


class DeliveryWorker:
    """Sends one channel's share of the outbox. `service` may be None for a worker that only
    holds the chat locks (tests); everything that sends needs it."""

    def __init__(
        self,
        channel: Channel,
        store: Storage,
        service: ClinicService | None,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        clock: Callable[[], float] | None = None,  # monotonic seconds (rate-limits a log line)
    ) -> None:
        self.channel = channel
        self.store = store
        self.service = service
        self.retention_days = retention_days
        self.locks = ChatLocks()
        self._clock = clock or time.monotonic
        self._tasks: set[asyncio.Task[None]] = set()
        self._background: asyncio.Task[None] | None = None
        self._unrecorded: dict[int, tuple[OutboxItem, int | None]] = {}  # sent, record failed
        self._keep_failed_logged = -KEEP_FAILED_LOG_EVERY

    def chat_tag(self, chat_id: str) -> str:
        """A keyed pseudonym of a chat for logs (see Storage.log_tag)."""
        return self.store.log_tag(chat_id)

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        """At start: answer owed presses (first: messengers accept answers for a short while),
        re-target and check the staff chats, send what a crash left queued, replay the inbox,
        then retry and purge in the background until `stop`."""
        await self.answer_owed_presses()
        await self.check_staff_chats()
        await self.flush_all()
        await self.replay_inbox()
        self._background = asyncio.create_task(self.run())

    def stop(self) -> None:
        if self._background is not None:
            self._background.cancel()
            self._background = None

    async def run(self) -> None:
        """The retry loop: every RETRY_SECONDS send what is due; every hour purge."""
        since_purge = RETENTION_CHECK_SECONDS
        while True:
            await asyncio.sleep(RETRY_SECONDS)
            since_purge += RETRY_SECONDS
            try:
                await self.flush_all()
                if since_purge >= RETENTION_CHECK_SECONDS:
                    since_purge = 0.0
                    self.purge()
            except Exception:  # the loop must survive anything; the next round retries
                log.exception("outbox retry round failed")

    def purge(self) -> dict[str, int]:
        removed = self.store.purge(self.retention_days)
        log.info("retention: removed %s", removed)
        return removed

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background, kept referenced until done."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ start-up

    async def answer_owed_presses(self) -> None:
        """Presses handled just before a crash but never answered: the messenger will not
        deliver them again (their offset was confirmed), so answer them at start."""
        owed = self.store.unanswered_presses(within_seconds=OWED_PRESS_SECONDS)
        for update_id, press_id in owed:
            await self.answer_press(update_id, press_id)
        if owed:
            log.info("answered %d button press(es) left unanswered by a restart", len(owed))

    async def check_staff_chats(self) -> None:
        """Re-target staff notifications to the current STAFF_CHAT_ID, then ask the messenger
        about each of this channel's staff chats, so a wrong STAFF_CHAT_ID is reported now and
        not when a patient's request fails to arrive; then send what waits for it."""
        assert self.service is not None
        requeued = self.service.requeue_staff_notifications()
        if requeued:
            log.warning("%d open call-back request(s) queued again for the staff chat(s) in STAFF_CHAT_ID", requeued)
        for staff_chat in self.service.staff_chat_ids:
            if not owns(self.channel, staff_chat):
                continue  # another channel's staff chat
            try:
                await self.channel.check_chat(staff_chat)
            except (ChatUnusable, ChatBlocked, ChatMoved, MessageRejected) as error:
                log.error(
                    "STAFF_CHAT_ID %s cannot be used (%s says: %s): call-back requests cannot reach staff "
                    "until it is fixed; %d open request(s) waiting. Add the bot to the staff group and put the "
                    "group's id in STAFF_CHAT_ID, then restart",
                    native_id(staff_chat),
                    self.channel.name,
                    error.reason,
                    self.store.open_requests(),
                )
                continue
            except Exception as error:  # unreachable now (or an answer it cannot read): the sends will tell
                log.warning("could not check STAFF_CHAT_ID %s at start (%s)", native_id(staff_chat), _name(error))
                continue
            self.store.retry_now(staff_chat)

    async def replay_inbox(self) -> None:
        """Updates that arrived but were not handled before a crash: handle them first."""
        waiting = self.store.inbox()
        for update_id, payload in waiting:
            await self.channel.replay(update_id, payload)
        if waiting:
            log.info("replaying %d update(s) received before a restart", len(waiting))

    # ------------------------------------------------------------------ incoming (for the adapters)

    def keep(self, update_id: int, payload: Callable[[], str]) -> None:
        """Save an update in the inbox the moment it arrives (replayed at start if a crash
        comes before it is handled). A failing write is logged (at most every 10 s) and the
        update is handled anyway, only not crash-safe."""
        try:
            if not self.store.is_processed(update_id):
                self.store.receive(update_id, payload())
        except StorageError as error:
            now = self._clock()
            if now - self._keep_failed_logged > KEEP_FAILED_LOG_EVERY:
                self._keep_failed_logged = now
                log.error(
                    "could not keep update %s in the inbox (%s): it is handled now, but not crash-safe. %s",
                    update_id,
                    error,
                    error.advice,
                )

    async def answer_press(self, update_id: int, press_id: str, toast: str | None = None) -> None:
        """Stop the button's spinner, once: recorded, so that after a restart only the presses
        the bot died before answering are answered."""
        try:
            await self.channel.answer_press(press_id, toast)
        except SendFailed as error:  # too old after a restart: nothing more to do
            log.info("callback answer failed: %s", error.reason)
        try:
            self.store.press_answered(update_id)
        except StorageError as error:
            log.warning("could not record a button press as answered (%s)", error)

    async def answer_unsaved(
        self, chat_id: str, user_input: UserInput, error: StorageError, press_id: str | None = None
    ) -> None:
        """The database cannot be written: answer anyway, straight from the core, store nothing."""
        assert self.service is not None
        log.error(
            "DATA_DIR database write failed (%s: %s): answering without saving. %s",
            type(error).__name__,
            error,
            error.advice,
        )
        if press_id is not None:
            with contextlib.suppress(SendFailed):
                await self.channel.answer_press(press_id)
        for reply in self.service.handle_unsaved(chat_id, user_input):
            with contextlib.suppress(SendFailed):
                await self.channel.send(chat_id, reply)

    async def typing_after_delay(self, chat_id: str) -> None:
        """Show "typing…" only when an answer takes a while (queued behind a rate limit, a
        slow network): answers are local and usually go out in milliseconds, and an early
        typing action would use up a slot of the messenger's rate limit for nothing."""
        await asyncio.sleep(TYPING_DELAY_SECONDS)
        with contextlib.suppress(SendFailed):
            await self.channel.show_typing(chat_id)

    # ------------------------------------------------------------------ sending

    async def flush_chat(self, chat_id: str) -> None:
        """Send a chat's queued replies in order; stop at the first that must wait. The caller
        holds the chat's lock (see `flush_chat_locked`)."""
        for item in self.store.pending(chat_id):
            if item.id in self._unrecorded:
                continue  # sent already; only its record failed (see _record_sent)
            if not item.due or not await self.deliver(item):
                break

    async def flush_chat_locked(self, chat_id: str) -> None:
        async with self.locks.hold(chat_id):
            await self.flush_chat(chat_id)

    async def flush_all(self) -> None:
        """Every chat of this channel with something due; one chat's trouble never stops the others."""
        self._record_unrecorded()
        due = [
            item
            for item in self.store.pending()
            if item.due and item.id not in self._unrecorded and owns(self.channel, item.chat_id)
        ]
        for chat_id in dict.fromkeys(item.chat_id for item in due):
            try:
                await self.flush_chat_locked(chat_id)
            except Exception:
                log.exception("sending to chat %s failed", self.chat_tag(chat_id))

    async def flush_staff(self) -> None:
        """The staff chats' queue (run in the background after a turn queued for them: a staff
        group's rate limit must never keep a patient waiting)."""
        assert self.service is not None
        for staff_chat in self.service.staff_chat_ids:
            if not owns(self.channel, staff_chat):
                continue
            try:
                await self.flush_chat_locked(staff_chat)
            except Exception:
                log.exception("sending to the staff chat failed; the retry loop will try again")

    async def deliver(self, item: OutboxItem) -> bool:
        """Send one outbox item; True when it is done with (sent, or can never be sent)."""
        reply = item.reply
        if item.for_staff and item.edit_message_id is None and self.store.start_attempt(item.id):
            reply = self._maybe_repeated(item, reply)
        try:
            if item.edit_message_id is not None and self.channel.capabilities.edits_in_place:
                message_id = await self.channel.edit(item.chat_id, item.edit_message_id, reply)
            else:
                message_id = await self.channel.send(item.chat_id, reply)
        except ChatBlocked as error:
            if item.for_staff:
                self._staff_chat_failed(item, error)
                self.store.mark_failed(item)
                return False
            dropped = self.store.drop_chat_outbox(item.chat_id)
            log.warning("chat %s blocked the bot: %d replies dropped", self.chat_tag(item.chat_id), dropped)
            return False
        except ChatMoved as error:
            log.error(
                "chat %s has a new id now (%s; new id %s): update STAFF_CHAT_ID; will retry",
                self.chat_tag(item.chat_id),
                error.reason,
                error.new_id,
            )
            self.store.mark_failed(item)
            return False
        except MessageRejected as error:
            if item.for_staff:  # a patient's request: never dropped, whatever the messenger says
                self._staff_chat_failed(item, error)
                self.store.mark_failed(item)
                return False
            log.error(
                "a reply to chat %s was rejected by %s in every form (%s): dropped",
                self.chat_tag(item.chat_id),
                self.channel.name,
                error.reason,
            )
            self._record_sent(item, None)
            return True
        except SendFailed as error:
            if self.store.mark_failed(item, outcome_unknown=error.may_have_arrived):
                log.warning("sending failed (%s): will retry", error.reason)
            else:
                log.error("reply to chat %s kept failing: given up", self.chat_tag(item.chat_id))
            return False
        self._record_sent(item, message_id)
        return True

    def _staff_chat_failed(self, item: OutboxItem, error: SendFailed) -> None:
        """The staff chat refused a message: alert loudly, naming the setting and how many
        patients are waiting; the item stays queued and is retried with backoff."""
        log.error(
            "call-back request #%s could not be delivered to STAFF_CHAT_ID %s (%s says: %s): "
            "%d open request(s) waiting; will retry. Check that the bot is in the staff group and may "
            "send messages there, and that STAFF_CHAT_ID is the group's id",
            item.request_id,
            native_id(item.chat_id),
            self.channel.name,
            error.reason,
            self.store.open_requests(),
        )

    def _record_sent(self, item: OutboxItem, message_id: int | None) -> None:
        """Remove a sent item from the outbox. If that write fails (a full disk), the message
        must not be sent again every round: it is remembered here as sent and its record is
        retried each round; only a crash before then could send it once more."""
        try:
            gone_meanwhile = not self.store.mark_sent(item.id, message_id)
        except StorageError as error:
            if not self._unrecorded:
                log.error(
                    "a message was sent but could not be recorded as sent (%s): it is not sent again; "
                    "recording is retried. %s",
                    error,
                    error.advice,
                )
            self._unrecorded[item.id] = (item, message_id)
            return
        self._unrecorded.pop(item.id, None)
        if gone_meanwhile and item.for_staff and item.edit_message_id is None and message_id is not None:
            # The patient used /forget while this notification was on its way: replace it now.
            assert self.service is not None
            deleted = Reply(self.service.texts.staff_text("deleted", number=str(item.request_id)))
            with self.store.transaction():
                self.store.queue(item.chat_id, deleted, edit_message_id=message_id, request_id=item.request_id)

    def _record_unrecorded(self) -> None:
        for item, message_id in list(self._unrecorded.values()):
            self._record_sent(item, message_id)
            if item.id in self._unrecorded:
                return  # still failing: try again next round

    def unrecorded(self) -> int:
        """How many sent messages wait for their record (a failing disk)."""
        return len(self._unrecorded)

    def _maybe_repeated(self, item: OutboxItem, reply: Reply) -> Reply:
        """A staff notification whose last attempt never came back may already be in the chat:
        say so, so that staff do not call the patient twice."""
        assert self.service is not None
        log.warning("request %s: sent again after an attempt whose outcome is unknown", item.request_id)
        marked = self.service.texts.staff_text("maybe_repeated", number=str(item.request_id)) + "\n" + reply.text
        if len(marked) > self.channel.capabilities.max_message_chars:
            return reply
        return dataclasses.replace(reply, text=marked)


def _name(error: BaseException) -> str:
    return error.reason if isinstance(error, SendFailed) else type(error).__name__
