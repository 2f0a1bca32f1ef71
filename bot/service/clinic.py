"""The clinic service: one patient's or staff member's input -> a committed turn in the store.

Between the channel adapters and the dialogue core. It loads the state, asks the core, and
applies what the core asks for (save a call-back request, forget a patient) in the same
transaction as the new state and the queued replies, so a crash never leaves half a turn.
Staff commands and staff buttons are answered here, only for the staff's chats and users, and
`access` decides which inputs a group chat may make at all: every channel asks it first.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.content.loader import Knowledge
from bot.content.notices import Notices
from bot.core.actions import StaffAction, decode
from bot.core.dialogue import Dialogue, Turn
from bot.core.replies import Button, Event, Forget, Reply, SaveRequest, UserInput
from bot.core.request_flow import DEFAULT_RETENTION_DAYS
from bot.core.state import ConversationState
from bot.storage import CallbackRequest, Storage

log = logging.getLogger("bot.service")

STAFF_COMMANDS = ("requests", "stats")
TELEGRAM_CHAT = "tg:"  # STAFF_CHAT_ID holds Telegram's ids (see staff_chat_key)
MAX_LISTED_REQUESTS = 20


@dataclass(frozen=True)
class Handled:
    """What the adapter still has to do itself: answer the button press with `toast`."""

    toast: str | None
    events: tuple[Event, ...] = ()
    staff_queued: bool = False


@dataclass(frozen=True)
class Access:
    """Whether an input from a chat is served. When it is not: `refusal` answers a refused
    button press (a short pop-up), `invite` answers a command with an invitation to a private
    chat; neither, it is ignored."""

    serve: bool
    refusal: str | None = None
    invite: bool = False


SERVE = Access(True)


class ClinicService:
    def __init__(
        self,
        knowledge: Knowledge,
        store: Storage,
        staff_chat_ids: Iterable[int | str] = (),
        staff_user_ids: Iterable[int] = (),
        request_retention_days: int = DEFAULT_RETENTION_DAYS,
        timezone: str = "Asia/Tokyo",
        dialogue: Dialogue | None = None,
        notices: Notices | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.store = store
        self.staff_chat_ids = tuple(staff_chat_key(chat) for chat in staff_chat_ids)
        self.staff_user_ids = frozenset(staff_user_ids)
        self.dialogue = dialogue or Dialogue(knowledge, request_retention_days=request_retention_days)
        self.texts = knowledge.request
        self.timezone = ZoneInfo(timezone)
        self.notices = notices

    def notice(self, key: str) -> str:
        """A notice from knowledge/notices.yaml with the clinic's emergency number filled in."""
        assert self.notices is not None, "notices are loaded for the Telegram adapter"
        number = html.escape(self.knowledge.settings.emergency_number, quote=False)
        return str(getattr(self.notices, key)).replace("{emergency_number}", number)

    def is_staff(self, chat_id: str, user_id: int | None) -> bool:
        return chat_id in self.staff_chat_ids or (user_id is not None and user_id in self.staff_user_ids)

    def access(self, chat_id: str, user_input: UserInput, group: bool) -> Access:
        """The staff and group policy, for every channel, before `handle`. A private chat is
        served (staff commands in it are checked against STAFF_USER_IDS by `handle`). In a
        group: only a staff chat's buttons are served (any other press there is forged or
        stale, and refused); only a staff chat's staff commands are served (a staff user's
        /requests in any other group would show patients' names and phones to everyone
        there); other commands get an invitation to a private chat; the rest is ignored."""
        if not group:
            return SERVE
        staff_chat = self.is_staff(chat_id, None)
        if user_input.kind == "action":
            return SERVE if staff_chat else Access(False, refusal=self.texts.staff["not_available"])
        if user_input.kind == "command" and user_input.value in STAFF_COMMANDS and staff_chat:
            return SERVE
        return Access(False, invite=user_input.kind == "command")

    def handle(
        self,
        chat_id: str,
        user_input: UserInput,
        update_id: int | None = None,
        user_id: int | None = None,
        pressed_message_id: int | None = None,
        press_id: str | None = None,
        edited: bool = False,
    ) -> Handled | None:
        """Commit one input's turn; None when this update was already handled (a redelivery).
        `press_id`, a button press's callback query id, is kept until the press is answered.
        `edited`: the patient edited an earlier message; inside a flow that is not a new answer
        (it would be taken for the step the flow is at now), so they get a note instead."""
        with self.store.transaction():
            if update_id is not None:
                if self.store.is_processed(update_id):
                    self.store.discard_received(update_id)
                    return None
                self.store.mark_processed(update_id, press_id)
            if user_input.kind == "command" and user_input.value in STAFF_COMMANDS:
                return self._staff_command(chat_id, user_id, user_input.value)
            action = decode(user_input.value) if user_input.kind == "action" else None
            if isinstance(action, StaffAction):
                return self._staff_action(chat_id, user_id, action, pressed_message_id)
            state = ConversationState.from_json(self.store.load_state(chat_id))
            in_flow = state.selfcheck or state.request or state.forgetting or state.safety
            if edited and self.notices is not None and in_flow:
                self.store.queue(chat_id, Reply(self.notice("edited_in_flow")))
                return Handled(None, (Event("edit_in_flow"),))
            turn = self.dialogue.handle(state, user_input)
            staff_queued = self._apply_effects(chat_id, turn)
            if turn.state == ConversationState():
                self.store.clear_state(chat_id)
            else:
                self.store.save_state(chat_id, turn.state.to_json())
            for reply in turn.replies:
                self.store.queue(chat_id, reply, pressed_message_id if reply.replaces_pressed else None)
            self.store.record(turn.events, chat_id)
            return Handled(turn.toast, turn.events, staff_queued)

    def handle_unsaved(self, chat_id: str, user_input: UserInput) -> tuple[Reply, ...]:
        """Replies when the database cannot be written (disk full, read-only): the patient still
        gets an answer, safety replies included, but nothing is stored, so a call-back request
        is never reported as received."""
        try:
            state = ConversationState.from_json(self.store.load_state(chat_id))
        except Exception:  # the database may be unreadable too
            state = ConversationState()
        turn = self.dialogue.handle(state, user_input)
        if turn.effects:  # saving a request or forgetting needs the database
            return (Reply(self.knowledge.ui.texts["storage_error"]),)
        return turn.replies

    # ------------------------------------------------------------------ effects

    def _apply_effects(self, chat_id: str, turn: Turn) -> bool:
        staff_queued = False
        for effect in turn.effects:
            if isinstance(effect, SaveRequest):
                request_id = self.store.save_request(chat_id, effect.name, effect.phone, effect.time, effect.note)
                request = self.store.request(request_id)
                assert request is not None
                for staff_chat in self.staff_chat_ids:
                    self.store.queue(staff_chat, self.staff_message(request), request_id=request_id)
                    staff_queued = True
                if not self.staff_chat_ids:
                    log.warning("call-back request #%d saved, but STAFF_CHAT_ID is not set: nobody is told", request_id)
            elif isinstance(effect, Forget):
                forgotten = self.store.forget(chat_id)
                for shown in forgotten.staff_messages:  # the staff's copies say it is gone
                    deleted = Reply(self.texts.staff_text("deleted", number=str(shown.request_id)))
                    self.store.queue(
                        shown.chat_id, deleted, edit_message_id=shown.message_id, request_id=shown.request_id
                    )
                    staff_queued = True
                done = self.texts.text("forget_done", requests=str(forgotten.requests))
                self.store.queue(chat_id, Reply(done, self.dialogue.main_menu(), replaces_pressed=False))
        return staff_queued

    # ------------------------------------------------------------------ staff

    def requeue_staff_notifications(self) -> int:
        """At start: new-request notifications still waiting for a chat that is no longer in
        STAFF_CHAT_ID go to the current staff chats, and an open request no current staff chat
        has seen (or is waiting for) is queued again. So a request made while STAFF_CHAT_ID was
        wrong or unset reaches staff once the operator fixes it and restarts. Returns how many."""
        if not self.staff_chat_ids:
            return 0
        moved = 0
        with self.store.transaction():
            for item_id, _ in self.store.staff_notifications_elsewhere(self.staff_chat_ids):
                self.store.delete_outbox_item(item_id)
            for request_id in self.store.undelivered_requests(self.staff_chat_ids):
                request = self.store.request(request_id)
                if request is None:
                    continue
                for staff_chat in self.staff_chat_ids:
                    self.store.queue(staff_chat, self.staff_message(request), request_id=request_id)
                moved += 1
        return moved

    def staff_message(self, request: CallbackRequest, status: str | None = None) -> Reply:
        buttons = self.knowledge.request.buttons
        text = self.texts.staff_text(
            "request",
            number=str(request.id),
            name=request.name,
            patient_phone=request.phone,
            time=buttons.get(request.preferred_time, request.preferred_time),
            note=request.note or self.texts.texts["no_note"],
            received=self.local_time(request.created_at),
        )
        if status:
            text += "\n" + status
        staff = self.texts.staff
        keyboard = (
            (
                Button(staff["button_contacted"], action=StaffAction(request.id, "contacted").encode()),
                Button(staff["button_unreachable"], action=StaffAction(request.id, "unreachable").encode()),
            ),
        )
        return Reply(text, keyboard)

    def _staff_command(self, chat_id: str, user_id: int | None, command: str) -> Handled:
        if not self.is_staff(chat_id, user_id):
            self.store.queue(chat_id, Reply(self.texts.staff_text("not_available")))
            return Handled(None)
        if command == "stats":
            counts = self.store.counts()
            text = self.texts.staff_text(
                "stats",
                conversations=str(counts.get("conversation_started", 0)),
                selfchecks=str(counts.get("selfcheck_finished", 0)),
                bookings=str(counts.get("booking_shown", 0)),
                requests=str(counts.get("callback_requested", 0)),
                unanswered=str(counts.get("unanswered", 0)),
            )
            self.store.queue(chat_id, Reply(text))
            return Handled(None)
        open_requests = self.store.requests("open")
        if not open_requests:
            self.store.queue(chat_id, Reply(self.texts.staff_text("no_open_requests")))
            return Handled(None)
        self.store.queue(chat_id, Reply(self.texts.staff_text("open_requests", count=str(len(open_requests)))))
        for request in open_requests[:MAX_LISTED_REQUESTS]:
            self.store.queue(chat_id, self.staff_message(request))
        return Handled(None)

    def _staff_action(
        self, chat_id: str, user_id: int | None, action: StaffAction, pressed_message_id: int | None
    ) -> Handled:
        if not self.is_staff(chat_id, user_id):
            return Handled(self.texts.staff_text("not_available"))
        by = self.store.log_tag(str(user_id) if user_id else chat_id)  # keyed: the database holds no staff ids
        if not self.store.mark_request(action.request_id, action.outcome, by):
            return Handled(self.texts.staff_text("deleted", number=str(action.request_id)))
        request = self.store.request(action.request_id)
        assert request is not None
        key = "status_contacted" if action.outcome == "contacted" else "status_unreachable"
        status = self.texts.staff_text(key, when=self.local_time(request.handled_at or 0))
        updated = self.staff_message(request, status)
        places = set(self.store.request_messages(action.request_id))
        if pressed_message_id is not None:
            places.add((chat_id, pressed_message_id))  # pressed on a /requests listing
        for staff_chat, message_id in sorted(places):
            self.store.queue(staff_chat, updated, edit_message_id=message_id, request_id=action.request_id)
        self.store.record((Event(f"request_{action.outcome}"),))
        return Handled(status, staff_queued=True)

    def local_time(self, timestamp: float) -> str:
        """A time as staff read it: the clinic's time zone."""
        return datetime.fromtimestamp(timestamp, self.timezone).strftime("%Y-%m-%d %H:%M %Z")


def staff_chat_key(chat: int | str) -> str:
    """A staff chat id as the store keeps it: STAFF_CHAT_ID holds Telegram chat ids (integers),
    which become "tg:<id>"; an id already namespaced by its channel is kept."""
    return chat if isinstance(chat, str) else f"{TELEGRAM_CHAT}{chat}"
