"""The channel contract: what the channel-neutral code needs from a messenger.

A channel (Telegram, the terminal chat, LINE next) is one adapter module that implements
`Channel`: it turns the messenger's updates into `UserInput` for the service, and sends what the
service queued through the methods below. Everything between (the outbox flush in order, retries
with backoff, the record after a send, staff notifications, the inbox replay, the retention
purge) is `bot.channels.delivery.DeliveryWorker`, shared by every channel.

Chat ids are namespaced by channel ("tg:123", "term:1"); a channel converts them to its
messenger's own ids at its edge and owns the chats whose id starts with its `prefix`.

A channel reports failed sends with the errors below (never its library's own), so the worker
decides the same way for every messenger what is retried, dropped or reported to the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from bot.core.replies import Reply

# ---------------------------------------------------------------------------------- capabilities


@dataclass(frozen=True)
class Capabilities:
    """What a messenger can show. `edits_in_place`: a sent message can be changed (the
    self-check advances in one message; staff see a request's status on its notification);
    without it the worker sends the new version as a new message. `rich_text`: "html" (the
    knowledge base's subset of HTML) or "plain" (the channel strips it). `share_contact`: a
    button that shares the patient's phone number."""

    edits_in_place: bool
    buttons_per_message: int
    max_button_label_chars: int
    rich_text: Literal["html", "plain"]
    share_contact: bool
    max_message_chars: int


# Telegram: 100 inline buttons a message, 4096 characters of text; button labels are not capped
# by the Bot API, but longer than 64 characters they are cut off on phones.
TELEGRAM_CAPABILITIES = Capabilities(
    edits_in_place=True,
    buttons_per_message=100,
    max_button_label_chars=64,
    rich_text="html",
    share_contact=True,
    max_message_chars=4096,
)

# The terminal chat: buttons are numbered lines (any number, one line each), text is printed plain.
TERMINAL_CAPABILITIES = Capabilities(
    edits_in_place=False,
    buttons_per_message=99,
    max_button_label_chars=200,
    rich_text="plain",
    share_contact=False,
    max_message_chars=100_000,
)


# ---------------------------------------------------------------------------------- errors


class SendFailed(Exception):
    """A send, an edit or a press answer did not succeed and may succeed later (network, rate
    limit, the messenger's server): retried with backoff. `reason`: the messenger's words,
    without patient text. `may_have_arrived`: the call may still have reached the messenger
    (cut off after it went out), so a staff notification sent again says it may be a repeat."""

    def __init__(self, reason: str, may_have_arrived: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.may_have_arrived = may_have_arrived


class ChatBlocked(SendFailed):
    """The chat refuses the bot (a patient blocked it, the bot was removed from a group)."""


class ChatMoved(SendFailed):
    """The chat has a new id now (a Telegram group became a supergroup): `new_id`."""

    def __init__(self, reason: str, new_id: str) -> None:
        super().__init__(reason)
        self.new_id = new_id


class MessageRejected(SendFailed):
    """The messenger refused the message in every form the channel tried (or refused the chat
    itself: unknown, no rights). Sending it again unchanged would fail again."""


class ChatUnusable(SendFailed):
    """`check_chat`: the messenger says this chat cannot be used by the bot."""


# ---------------------------------------------------------------------------------- the contract


@runtime_checkable
class Channel(Protocol):
    """A messenger, as the delivery worker and the service's callers use it.

    `name` appears in the operator's log lines ("Telegram says: ..."); `prefix` namespaces the
    channel's chat ids ("tg:"). Each async method raises `SendFailed` (or a kind of it) when
    the messenger refuses or cannot be reached; any other exception is a bug, logged by the
    worker, and the item is retried in the next round."""

    name: str
    prefix: str
    capabilities: Capabilities

    async def send(self, chat_id: str, reply: Reply) -> int | None:
        """Send a new message; the messenger's id for it (None when it has none)."""
        ...

    async def edit(self, chat_id: str, message_id: int, reply: Reply) -> int | None:
        """Change a message in place (only called when `capabilities.edits_in_place`); when
        the message can no longer be edited, send it as a new one. The id of the message now
        showing the reply."""
        ...

    async def answer_press(self, press_id: str, toast: str | None = None) -> None:
        """Acknowledge a button press (stop its spinner), with a short pop-up text if given."""
        ...

    async def show_typing(self, chat_id: str) -> None:
        """Show that an answer is on its way (best effort: never raises)."""
        ...

    async def check_chat(self, chat_id: str) -> None:
        """Ask the messenger whether the bot can use a (staff) chat; `ChatUnusable` if not."""
        ...

    async def replay(self, update_id: int, payload: str) -> None:
        """Handle again an update kept in the inbox (`Storage.receive`) before a restart."""
        ...


def native_id(chat_id: str) -> str:
    """A namespaced chat id as the messenger (and the operator's settings) write it: "tg:-100" -> "-100"."""
    return chat_id.partition(":")[2] or chat_id


def owns(channel: Channel, chat_id: str) -> bool:
    """Whether a chat belongs to this channel."""
    return chat_id.startswith(channel.prefix)
