"""What the dialogue core says, described without any channel: text plus abstract buttons.

Adapters (Telegram, terminal) render these; the core never imports a channel library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Event:
    """Something worth counting or logging. Never holds patient text, except `unanswered`
    (kept without any user id, for staff to grow the knowledge base)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Effect:
    """Something the core asks the service to do in the same transaction as the new state:
    `save_request` (data: name, phone, time, note) or `forget` (delete this patient's data)."""

    kind: str
    data: dict[str, str] = field(default_factory=dict)


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
