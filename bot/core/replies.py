"""What the dialogue core says, described without any channel: text plus abstract buttons.

Adapters (Telegram, terminal) render these; the core never imports a channel library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal


@dataclass(frozen=True)
class Button:
    """A button: `action` is sent back to the core when pressed; `url` opens a link instead."""

    label: str
    action: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.action is None) == (self.url is None):
            raise ValueError("a button has exactly one of action or url")


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Reply:
    """One message. `replaces_pressed` asks the channel to edit the message whose button was
    pressed instead of sending a new one (the self-check advances in one message)."""

    text: str
    buttons: Keyboard = ()
    replaces_pressed: bool = False
    # A button under the typing field that shares the patient's phone number (Telegram only
    # allows it on its own keyboard, not with `buttons`), and whether to remove such a keyboard.
    share_contact: str | None = None
    remove_keyboard: bool = False


class EventKind(StrEnum):
    """Every kind of event, in one place. The values are the names stored in the daily counters
    and written to the logs, so they stay as they were: the call-back request's events keep
    their first name ("callback_...") even though the code now calls the flow a "request"."""

    CONVERSATION_STARTED = "conversation_started"
    ANSWERED = "answered"
    DID_YOU_MEAN = "did_you_mean"
    PARTIAL = "partial"
    UNANSWERED = "unanswered"  # the only event that keeps patient text (see `Event`)
    BOOKING_SHOWN = "booking_shown"
    UNKNOWN_BUTTON = "unknown_button"
    FORGOTTEN = "forgotten"
    SELFCHECK_STARTED = "selfcheck_started"
    SELFCHECK_STOPPED = "selfcheck_stopped"
    SELFCHECK_SCREENED_OUT = "selfcheck_screened_out"
    SELFCHECK_FINISHED = "selfcheck_finished"
    REQUEST_STARTED = "callback_started"
    REQUEST_CANCELLED = "callback_cancelled"
    REQUEST_MADE = "callback_requested"
    TRIAGE = "triage"
    SAFETY_QUESTION = "safety_question"
    SAFETY_ANSWER = "safety_answer"
    WARNING_SIGNS = "warning_signs"
    # Counted by the service, not the dialogue core:
    EDIT_IN_FLOW = "edit_in_flow"
    REQUEST_CONTACTED = "request_contacted"
    REQUEST_UNREACHABLE = "request_unreachable"


@dataclass(frozen=True)
class Event:
    """Something worth counting or logging. Never holds patient text, except `unanswered`
    (kept without any user id, for staff to grow the knowledge base).

    `kind` is an `EventKind`; a plain string naming one is accepted and converted (it compares
    equal to the string either way), and an unknown name is an error rather than a new counter."""

    kind: EventKind
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EventKind(self.kind))


@dataclass(frozen=True)
class SaveRequest:
    """Store this call-back request (the service encrypts it) and tell the clinic's staff, in
    the same transaction as the reply saying it was received."""

    name: str
    phone: str  # international form, +81...
    time: str  # morning, afternoon, evening, any
    note: str = ""


@dataclass(frozen=True)
class Forget:
    """Delete everything held about this patient (the service says what it deleted)."""


# Something the core asks the service to do in the same transaction as the new state.
Effect = SaveRequest | Forget


InputKind = Literal["text", "command", "action", "contact", "unsupported"]


@dataclass(frozen=True)
class UserInput:
    """What the patient did: typed text, a /command (with its deep-link payload), pressed a
    button (its action), or sent something the bot cannot read (a photo, a sticker...)."""

    kind: InputKind
    value: str = ""
    payload: str = ""

    @classmethod
    def text(cls, text: str) -> UserInput:
        return cls("text", text)

    @classmethod
    def command(cls, name: str, payload: str = "") -> UserInput:
        return cls("command", name.lower(), payload)

    @classmethod
    def action(cls, data: str) -> UserInput:
        return cls("action", data)

    @classmethod
    def contact(cls, phone: str) -> UserInput:
        return cls("contact", phone)

    @classmethod
    def unsupported(cls) -> UserInput:
        return cls("unsupported")
