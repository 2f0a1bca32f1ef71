"""reply_markup validation mirroring what the real Bot API rejects.

Keyboards are the second most common source of 400s after HTML, and the errors only show up
when a user actually opens that screen, so the fake checks them on every send/edit.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from .errors import bad_request

INLINE_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
REPLY_REQUESTS = (
    "request_contact",
    "request_location",
    "request_poll",
    "request_users",
    "request_chat",
    "web_app",
)
MAX_INLINE_BUTTONS = 100


def _button_error(detail: str) -> Exception:
    return bad_request(f"can't parse inline keyboard button: {detail}")


def is_valid_button_url(url: str) -> bool:
    """Only http(s) URLs with a host and tg:// links are accepted (stricter than Telegram)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return bool(parts.netloc) and " " not in url.strip()
    if scheme == "tg":
        return len(url.strip()) > len("tg://")
    return False


def validate_reply_markup(raw: Any) -> dict[str, Any] | None:
    """Validate a reply_markup value (JSON string or object) and return it as a dict."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(raw, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in raw:
        _validate_inline(raw["inline_keyboard"])
    elif "keyboard" in raw:
        _validate_reply_keyboard(raw)
    elif "remove_keyboard" in raw:
        if raw["remove_keyboard"] is not True:
            raise bad_request('field "remove_keyboard" of the ReplyKeyboardRemove must be true')
    elif "force_reply" in raw:
        if raw["force_reply"] is not True:
            raise bad_request('field "force_reply" of the ForceReply must be true')
    else:
        raise bad_request("can't parse reply keyboard markup JSON object")
    return raw


def _validate_inline(keyboard: Any) -> None:
    if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
    total = 0
    for row in keyboard:
        for button in row:
            total += 1
            if not isinstance(button, dict):
                raise _button_error("InlineKeyboardButton should be an Object")
            text = button.get("text")
            if not isinstance(text, str):
                raise _button_error('Field "text" must be of type String')
            if not text.strip():
                raise bad_request("BUTTON_TEXT_INVALID")
            actions = [key for key in INLINE_ACTIONS if button.get(key) is not None]
            if not actions:
                raise _button_error("Text buttons are unallowed in the inline keyboard")
            if len(actions) > 1:
                raise _button_error("exactly one of the optional fields must be used, got " + ", ".join(actions))
            if "callback_data" in actions:
                data = button["callback_data"]
                if not isinstance(data, str):
                    raise _button_error('Field "callback_data" must be of type String')
                if not 1 <= len(data.encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in actions:
                url = button["url"]
                if not isinstance(url, str):
                    raise _button_error('Field "url" must be of type String')
                if not is_valid_button_url(url):
                    raise bad_request("BUTTON_URL_INVALID")
    if total > MAX_INLINE_BUTTONS:
        raise bad_request("REPLY_MARKUP_TOO_LONG")


def _validate_reply_keyboard(markup: dict[str, Any]) -> None:
    keyboard = markup["keyboard"]
    if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
        raise bad_request('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
    for row in keyboard:
        for button in row:
            if isinstance(button, str):
                text = button
            elif isinstance(button, dict):
                text = button.get("text")
                if not isinstance(text, str):
                    raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')
                requests = [key for key in REPLY_REQUESTS if button.get(key)]
                if len(requests) > 1:
                    raise bad_request(
                        "can't parse keyboard button: at most one of the optional fields "
                        "can be used, got " + ", ".join(requests)
                    )
            else:
                raise bad_request("can't parse keyboard button: KeyboardButton should be an Object")
            if not text.strip():
                raise bad_request("can't parse keyboard button: button text is empty")
    placeholder = markup.get("input_field_placeholder")
    if placeholder is not None and not 1 <= len(str(placeholder)) <= 64:
        raise bad_request("can't parse reply keyboard markup: input_field_placeholder is invalid")


def inline_buttons(markup: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Flatten an inline keyboard (empty for any other markup kind)."""
    if not markup or "inline_keyboard" not in markup:
        return []
    return [button for row in markup["inline_keyboard"] for button in row]


def reply_buttons(markup: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Flatten a reply keyboard into KeyboardButton dicts (strings become {"text": ...})."""
    if not markup or "keyboard" not in markup:
        return []
    return [{"text": button} if isinstance(button, str) else button for row in markup["keyboard"] for button in row]
