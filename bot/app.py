"""The composition root: builds the store and the service every channel and tool uses.

Channels (Telegram, the terminal) and the command-line tools get their service from here, so
none of them imports another channel, and a second storage backend is chosen in one place.
"""

from __future__ import annotations

from bot.config import Config
from bot.content.loader import Knowledge
from bot.content.notices import load_notices
from bot.service.clinic import ClinicService
from bot.storage import Storage
from bot.storage.sqlite.store import SqliteStore


def build_service(config: Config, knowledge: Knowledge) -> tuple[Storage, ClinicService]:
    """The store and service from the configuration (persistent, encrypted at rest)."""
    key = config.data_key.encode("ascii") if config.data_key else None  # checked in load_config
    store = SqliteStore(config.data_dir, key=key, key_file=config.key_file)
    service = ClinicService(
        knowledge,
        store,
        config.staff_chat_ids,
        config.staff_user_ids,
        config.request_retention_days,
        config.timezone,
        notices=load_notices(config.knowledge_dir),
    )
    return store, service


def build_chat_service(config: Config, knowledge: Knowledge) -> ClinicService:
    """A service for the terminal chat: an in-memory store, nothing written to disk."""
    return ClinicService(
        knowledge, SqliteStore(None), request_retention_days=config.request_retention_days, timezone=config.timezone
    )
