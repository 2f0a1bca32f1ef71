"""Encryption at rest for patients' data, with `cryptography`'s Fernet (AES-128-CBC + HMAC).

Why a library: authenticated encryption is easy to get subtly wrong; Fernet is small, well
reviewed and versioned. The key lives outside DATA_DIR (a stolen data folder alone is
unreadable): DATA_KEY in .env, or a key file (KEY_FILE, default secrets/data.key) created on
first run. If the database already holds encrypted data and the key is missing or different,
the bot refuses to start with a message saying so, instead of silently starting afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

DEFAULT_KEY_FILE = Path("secrets") / "data.key"
TELEGRAM_PREFIX = "tg:"  # see Cipher.reference


class DataKeyError(Exception):
    """The key is missing, unreadable or not the one the data was written with."""


class Cipher:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as error:
            raise DataKeyError("the data key is not a valid Fernet key (44 characters of url-safe base64)") from error
        self._mac_key = hashlib.sha256(b"patient-ref:" + key).digest()
        self._log_key = hashlib.sha256(b"log-tag:" + key).digest()

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as error:
            raise DataKeyError("data cannot be decrypted with this key") from error

    def log_tag(self, chat_id: str) -> str:
        """A keyed pseudonym of a chat (a namespaced id such as "tg:123") for log lines: without
        the data key nobody can test whether a known Telegram id is in the logs (an unkeyed hash
        of an id can be), and it differs from the database's reference, so logs and database
        cannot be joined by it."""
        return hmac.new(self._log_key, chat_id.encode(), hashlib.sha256).hexdigest()[:10]

    def reference(self, chat_id: str) -> str:
        """A keyed pseudonym of a chat, so requests can be found for /forget without storing ids.

        A Telegram chat ("tg:123") keeps the reference of its bare id ("123"): chat ids were
        Telegram integers before they were namespaced, and requests saved then hold that
        reference, which cannot be recomputed (the database has no chat id to recompute it
        from, by design). Other channels' ids are used whole, so no two chats share one."""
        legacy = chat_id.removeprefix(TELEGRAM_PREFIX)
        hashed = legacy if legacy != chat_id and _is_integer(legacy) else chat_id
        return hmac.new(self._mac_key, hashed.encode(), hashlib.sha256).hexdigest()[:32]


def _is_integer(text: str) -> bool:
    digits = text.removeprefix("-")
    return digits.isascii() and digits.isdigit()


def load_key(env_key: str | None, key_file: Path, create: bool) -> bytes | None:
    """The key from DATA_KEY, else from the key file; created there when `create` is true."""
    if env_key:
        return env_key.strip().encode("ascii")
    if key_file.is_file():
        try:
            return key_file.read_bytes().strip()
        except OSError as error:
            raise DataKeyError(f"KEY_FILE {key_file}: cannot read it ({error.strerror})") from error
    if not create:
        return None
    key = Fernet.generate_key()
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key + b"\n")
    except OSError as error:
        raise DataKeyError(f"KEY_FILE {key_file}: cannot create it ({error.strerror})") from error
    return key


def new_key() -> bytes:
    return Fernet.generate_key()
