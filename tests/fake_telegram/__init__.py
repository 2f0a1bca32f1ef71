"""Fake Telegram Bot API server for testing python-telegram-bot bots over real HTTP."""

from . import objects
from .entities import EntityParseError, parse_html, parse_markdown, parse_markdown_v2, utf16_len
from .errors import ApiError
from .server import (
    DEFAULT_TOKEN,
    CallbackQueryRecord,
    ChatMessage,
    FakeTelegramServer,
    Fault,
    RecordedRequest,
    UploadedFile,
)

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "CallbackQueryRecord",
    "ChatMessage",
    "EntityParseError",
    "FakeTelegramServer",
    "Fault",
    "RecordedRequest",
    "UploadedFile",
    "objects",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "utf16_len",
]
