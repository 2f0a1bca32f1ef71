"""Channels: the messengers the bot talks through, each one adapter module behind one contract.

`contract` declares what the channel-neutral code needs from a messenger (`Channel`) and what a
messenger can show (`Capabilities`, with Telegram's and the terminal's values); `delivery` is the
outbox/inbox worker every channel shares (send in order, retry with backoff, record after send,
staff notifications, inbox replay, retention purge). `telegram/` and `terminal` implement the
contract; a new messenger (LINE) is one more adapter module: it converts its updates to
`UserInput` for `ClinicService.access`/`handle`, implements `Channel`, and runs a `DeliveryWorker`.
"""

from bot.channels.contract import (
    TELEGRAM_CAPABILITIES,
    TERMINAL_CAPABILITIES,
    Capabilities,
    Channel,
    ChatBlocked,
    ChatMoved,
    ChatUnusable,
    MessageRejected,
    SendFailed,
    native_id,
    owns,
)

__all__ = [
    "TELEGRAM_CAPABILITIES",
    "TERMINAL_CAPABILITIES",
    "Capabilities",
    "Channel",
    "ChatBlocked",
    "ChatMoved",
    "ChatUnusable",
    "MessageRejected",
    "SendFailed",
    "native_id",
    "owns",
]
