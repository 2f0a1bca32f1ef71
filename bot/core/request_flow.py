"""Asking for a call back: name, phone, best time, an optional note, a summary, then consent.

Nothing is saved until the patient agrees, after being told what is kept, why, for how long
and how to delete it; then the core returns a `SaveRequest` effect that the service stores
(encrypted) in the same transaction as the reply saying it was received. Bad input gets a clear
re-ask and keeps what was already given. The booking link stays one tap away throughout.
"""

from __future__ import annotations

import phonenumbers

from bot.content.loader import Knowledge
from bot.core.actions import RequestChoice
from bot.core.keyboards import booking_button, menu_only
from bot.core.replies import Button, Event, EventKind, Keyboard, Reply, SaveRequest
from bot.core.results import FlowResult
from bot.core.state import ConversationState, RequestDraft
from bot.understanding.text import normalise

MAX_NAME_CHARS = 80
MAX_NOTE_CHARS = 500
DEFAULT_PHONE_REGION = "JP"  # the clinic is in Tokyo: "090-1234-5678" is a Japanese number
TIMES = ("morning", "afternoon", "evening", "any")
# How long a handled request is kept: the consent and /privacy texts say so, the store purges
# after it. REQUEST_RETENTION_DAYS overrides it (bot/config.py).
DEFAULT_RETENTION_DAYS = 30


def parse_phone(text: str, region: str = DEFAULT_PHONE_REGION) -> str | None:
    """A valid phone number in international form (+81...), or None. Uses libphonenumber's
    rules, so +44, +1 and Japanese domestic numbers are all understood."""
    if len(text) > 40:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class RequestFlow:
    def __init__(self, knowledge: Knowledge, retention_days: int) -> None:
        self.knowledge = knowledge
        self.texts = knowledge.request
        self.buttons = knowledge.request.buttons
        self.retention_days = retention_days
        self._cancel_words = {normalise(self.buttons["cancel"])}

    def start(self, state: ConversationState) -> FlowResult:
        draft = RequestDraft(step="name")
        return FlowResult(state.with_request(draft), (self._ask_name(),), events=(Event(EventKind.REQUEST_STARTED),))

    def cancel(self, state: ConversationState) -> FlowResult:
        reply = Reply(self.texts.text("cancelled"), menu_only(self.knowledge), remove_keyboard=True)
        return FlowResult(state.with_request(None), (reply,), events=(Event(EventKind.REQUEST_CANCELLED),))

    def typed(self, state: ConversationState, text: str) -> FlowResult | None:
        """Typed text while the flow waits for a name, a phone number or a note; None when the
        flow does not take typed text at this step (the text is then a normal question)."""
        draft = state.request
        if draft is None:
            return None
        if normalise(text) in self._cancel_words:
            return self.cancel(state)
        clean = " ".join(text.split())
        if draft.step == "name":
            if not clean or len(clean) > MAX_NAME_CHARS or not any(ch.isalpha() for ch in clean):
                return FlowResult(state, (Reply(self.texts.text("bad_name"), self._cancel_row()),))
            updated = RequestDraft("phone", name=clean)
            return FlowResult(state.with_request(updated), (self._ask_phone(updated),))
        if draft.step == "phone":
            return self.contact(state, clean)
        if draft.step == "note":
            if len(clean) > MAX_NOTE_CHARS:
                reply = Reply(
                    self.texts.text("note_too_long", length=str(len(clean)), limit=str(MAX_NOTE_CHARS)),
                    self._note_buttons(),
                )
                return FlowResult(state, (reply,))
            return self._summary(state, RequestDraft("summary", draft.name, draft.phone, draft.time, clean))
        return None

    def contact(self, state: ConversationState, phone_text: str) -> FlowResult:
        """A typed or shared phone number at the phone step."""
        draft = state.request
        if draft is None or draft.step != "phone":
            return FlowResult(state, (), stale=True)
        phone = parse_phone(phone_text)
        if phone is None:
            reply = Reply(self.texts.text("bad_phone"), share_contact=self.buttons["share_phone"])
            return FlowResult(state, (reply,))
        updated = RequestDraft("time", draft.name, phone)
        replies = (
            Reply(self.texts.text("phone_ok", patient_phone=phone), remove_keyboard=True),
            Reply(self.texts.text("ask_time"), self._time_buttons()),
        )
        return FlowResult(state.with_request(updated), replies)

    def press(self, state: ConversationState, press: RequestChoice) -> FlowResult:
        draft = state.request
        if draft is None:
            return FlowResult(state, (), stale=True)
        if press.choice == "cancel":
            return self.cancel(state)
        if press.step != draft.step:
            return FlowResult(state, (), stale=True)
        if draft.step == "time" and press.choice in TIMES:
            updated = RequestDraft("note", draft.name, draft.phone, press.choice)
            return FlowResult(
                state.with_request(updated), (Reply(self.texts.text("ask_note"), self._note_buttons(), True),)
            )
        if draft.step == "note" and press.choice == "skip":
            return self._summary(state, RequestDraft("summary", draft.name, draft.phone, draft.time, ""), edit=True)
        if draft.step == "summary" and press.choice == "restart":
            return FlowResult(state.with_request(RequestDraft("name")), (self._ask_name(),))
        if draft.step == "summary" and press.choice == "confirm":
            updated = RequestDraft("consent", draft.name, draft.phone, draft.time, draft.note)
            buttons = (
                (Button(self.buttons["agree"], action=RequestChoice("consent", "agree").encode()),),
                self._cancel_row()[0],
            )
            consent = self.texts.text("consent", retention_days=str(self.retention_days))
            return FlowResult(state.with_request(updated), (Reply(consent, buttons, True),))
        if draft.step == "consent" and press.choice == "agree":
            time_label = self.buttons[draft.time]
            received_text = self.texts.text("received", name=draft.name, time=time_label)
            received = Reply(received_text, menu_only(self.knowledge), replaces_pressed=True)
            effect = SaveRequest(draft.name, draft.phone, draft.time, draft.note)
            return FlowResult(state.with_request(None), (received,), (effect,), (Event(EventKind.REQUEST_MADE),))
        return FlowResult(state, (), stale=True)

    # ------------------------------------------------------------------ replies

    def _ask_name(self) -> Reply:
        return Reply(self.texts.text("ask_name"), self._cancel_row())

    def _ask_phone(self, draft: RequestDraft) -> Reply:
        return Reply(self.texts.text("ask_phone", name=draft.name), share_contact=self.buttons["share_phone"])

    def _summary(self, state: ConversationState, draft: RequestDraft, edit: bool = False) -> FlowResult:
        text = self.texts.text(
            "summary",
            name=draft.name,
            patient_phone=draft.phone,
            time=self.buttons[draft.time],
            note=draft.note or self.texts.texts["no_note"],
        )
        buttons = (
            (Button(self.buttons["confirm"], action=RequestChoice("summary", "confirm").encode()),),
            (Button(self.buttons["restart"], action=RequestChoice("summary", "restart").encode()),),
            self._cancel_row()[0],
        )
        return FlowResult(state.with_request(draft), (Reply(text, buttons, edit),))

    def _time_buttons(self) -> Keyboard:
        times = tuple(Button(self.buttons[t], action=RequestChoice("time", t).encode()) for t in TIMES)
        return (times[:2], times[2:], self._cancel_row()[0])

    def _note_buttons(self) -> Keyboard:
        return ((Button(self.buttons["skip"], action=RequestChoice("note", "skip").encode()),), self._cancel_row()[0])

    def _cancel_row(self) -> Keyboard:
        return (
            (
                Button(self.buttons["cancel"], action=RequestChoice("any", "cancel").encode()),
                booking_button(self.knowledge),
            ),
        )
