"""Builders for Telegram JSON objects that users send, shaped so PTB's de_json accepts them.

Use them with ``FakeTelegramServer.push_message(chat_id, photo=photo_sizes(), ...)`` or inside
raw dicts for ``push_update``.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from typing import Any

_file_counter = itertools.count(1)


def file_ids(seed: str | None = None) -> tuple[str, str]:
    """A (file_id, file_unique_id) pair that looks like Telegram's opaque ids."""
    seed = seed or f"file-{next(_file_counter)}-{time.time_ns()}"
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"AgAC{digest[:40]}", f"AQAD{digest[40:56]}"


def make_user(
    user_id: int,
    first_name: str | None = None,
    *,
    username: str | None = None,
    last_name: str | None = None,
    language_code: str | None = "en",
    is_bot: bool = False,
) -> dict[str, Any]:
    """A User object; defaults are stable per id so tests can predict them."""
    user: dict[str, Any] = {
        "id": user_id,
        "is_bot": is_bot,
        "first_name": first_name or f"User{user_id}",
        "username": username if username is not None else f"user{user_id}",
    }
    if last_name:
        user["last_name"] = last_name
    if language_code:
        user["language_code"] = language_code
    if not user["username"]:
        del user["username"]
    return user


def make_chat(
    chat_id: int,
    chat_type: str = "private",
    *,
    user: dict[str, Any] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """A Chat object; private chats mirror the user's names like Telegram does."""
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
    if chat_type == "private":
        user = user or make_user(chat_id)
        for key in ("first_name", "last_name", "username"):
            if key in user:
                chat[key] = user[key]
    else:
        chat["title"] = title or f"Test {chat_type} {chat_id}"
    return chat


def photo_sizes(
    width: int = 1280, height: int = 960, file_size: int = 120_000, seed: str | None = None
) -> list[dict[str, Any]]:
    """The `photo` field: several PhotoSize objects, smallest first, like Telegram sends."""
    sizes = []
    for scale in (0.0625, 0.25, 1.0):
        fid, uid = file_ids(f"{seed}-{scale}" if seed else None)
        sizes.append(
            {
                "file_id": fid,
                "file_unique_id": uid,
                "width": max(1, int(width * scale)),
                "height": max(1, int(height * scale)),
                "file_size": max(1, int(file_size * scale * scale)),
            }
        )
    return sizes


def document(
    file_name: str = "file.pdf",
    mime_type: str = "application/pdf",
    file_size: int = 1024,
    file_id: str | None = None,
    file_unique_id: str | None = None,
) -> dict[str, Any]:
    """A Document object."""
    fid, uid = file_ids()
    return {
        "file_id": file_id or fid,
        "file_unique_id": file_unique_id or uid,
        "file_name": file_name,
        "mime_type": mime_type,
        "file_size": file_size,
    }


def voice(
    duration: int = 3,
    mime_type: str = "audio/ogg",
    file_size: int = 8_000,
    file_id: str | None = None,
    file_unique_id: str | None = None,
) -> dict[str, Any]:
    """A Voice object."""
    fid, uid = file_ids()
    return {
        "file_id": file_id or fid,
        "file_unique_id": file_unique_id or uid,
        "duration": duration,
        "mime_type": mime_type,
        "file_size": file_size,
    }


def sticker(emoji: str = "😀", set_name: str = "TestStickers") -> dict[str, Any]:
    """A regular static Sticker object."""
    fid, uid = file_ids()
    return {
        "file_id": fid,
        "file_unique_id": uid,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "set_name": set_name,
        "file_size": 20_000,
    }


def location(latitude: float = 52.52, longitude: float = 13.405) -> dict[str, Any]:
    """A Location object."""
    return {"latitude": latitude, "longitude": longitude}


def contact(
    phone_number: str,
    first_name: str = "Test",
    *,
    last_name: str | None = None,
    user_id: int | None = None,
    vcard: str | None = None,
) -> dict[str, Any]:
    """A Contact object; user_id equal to the sender means "shared own number"."""
    result: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
    if last_name:
        result["last_name"] = last_name
    if user_id is not None:
        result["user_id"] = user_id
    if vcard:
        result["vcard"] = vcard
    return result


def forward_origin_user(user: dict[str, Any], date: int | None = None) -> dict[str, Any]:
    """A MessageOriginUser for `forward_origin` (forwarded messages)."""
    return {"type": "user", "sender_user": user, "date": date or int(time.time()) - 60}


def forward_origin_hidden(name: str = "Hidden User", date: int | None = None) -> dict[str, Any]:
    """A MessageOriginHiddenUser (sender hid their account when forwarding)."""
    return {"type": "hidden_user", "sender_user_name": name, "date": date or int(time.time())}


def forward_origin_channel(
    chat_id: int, message_id: int, title: str = "Test channel", date: int | None = None
) -> dict[str, Any]:
    """A MessageOriginChannel."""
    return {
        "type": "channel",
        "chat": {"id": chat_id, "type": "channel", "title": title},
        "message_id": message_id,
        "date": date or int(time.time()),
    }
