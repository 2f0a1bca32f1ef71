"""Configuration from the environment and `.env`, checked once at start with clear messages.

The operator should see one line that says what is wrong and how to fix it, never a traceback,
and the bot token must never reach a log line (python-telegram-bot's HTTP logs print request
URLs, and every URL contains the token).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.content.loader import SETTING_ENV
from bot.core.request_flow import DEFAULT_RETENTION_DAYS
from bot.storage.crypto import DEFAULT_KEY_FILE

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOKEN_PATTERN = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{30,64}")
_ENV_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*")


# Settings that are links, and the schemes each may use. BOOKING_URL becomes a button
# (Telegram: http or https); the webhook must be https for Telegram (http is allowed for a
# local test server); a self-hosted Bot API server may be plain http.
URL_SETTINGS: dict[str, tuple[tuple[str, ...], bool]] = {
    "BOOKING_URL": (("https", "http"), True),
    "WEBHOOK_URL": (("https", "http"), True),
    "TELEGRAM_BASE_URL": (("https", "http"), False),
    "TELEGRAM_BASE_FILE_URL": (("https", "http"), False),
}


class ConfigError(Exception):
    """A configuration problem, said in one line the operator can act on."""


@dataclass(frozen=True)
class Config:
    token: str | None
    base_url: str | None
    base_file_url: str | None
    webhook_url: str | None
    webhook_secret: str | None
    webhook_listen: str
    webhook_port: int
    staff_chat_ids: tuple[int, ...]
    data_dir: Path
    knowledge_dir: Path
    log_level: str
    clinic_overrides: Mapping[str, str] = field(default_factory=dict)
    staff_user_ids: tuple[int, ...] = ()
    data_key: str | None = None
    key_file: Path = DEFAULT_KEY_FILE
    request_retention_days: int = DEFAULT_RETENTION_DAYS
    timezone: str = "Asia/Tokyo"

    def require_token(self) -> str:
        """The token, or a ConfigError explaining what to put in .env."""
        if not self.token:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set: put TELEGRAM_BOT_TOKEN=<token from @BotFather> "
                "in .env (see .env.example)"
            )
        if not TOKEN_PATTERN.fullmatch(self.token):
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then 30+ "
                "letters, digits, - or _): copy it again from @BotFather"
            )
        return self.token


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def url_problem(url: str, schemes: tuple[str, ...] = ("https", "http"), public: bool = True) -> str | None:
    """Why Telegram would refuse this URL (for a button, a webhook, an API server), or None.
    Telegram answers "Wrong HTTP URL" and drops the whole message for a button whose link has
    no host, a space, a bad port or another scheme; checked here so `check` and the start
    report it instead of patients getting no reply. `public`: a link on the internet (a
    host name needs a domain); a self-hosted Bot API server may be `http://bot-api:8081`."""
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        return "contains spaces or characters that are not allowed in a link"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"is not a valid link ({error})"
    if parts.scheme.lower() not in schemes:
        return f"must start with {' or '.join(s + '://' for s in schemes)}"
    host = parts.hostname or ""
    if not host:
        return "has no host name after the scheme (e.g. https://clinic.example.jp/booking)"
    if port is not None and not 0 < port < 65536:
        return f"has a port out of range ({port})"
    if parts.username or parts.password:
        return "must not contain a user name or password"
    is_ip = re.fullmatch(r"[\d.]+|\[[0-9a-fA-F:]+\]", parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0] or "x")
    if not public or is_ip:
        return None
    if not all(_HOST_LABEL.fullmatch(label) for label in host.rstrip(".").split(".")):
        return f"has an invalid host name '{host}'"
    if host != "localhost" and "." not in host.rstrip("."):
        return f"has a host name without a domain ('{host}')"
    return None


def _decode_env(path: Path, raw: bytes) -> str:
    """The file as text: UTF-8, with or without a byte-order mark (Notepad writes one)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{path.name} is saved as UTF-16: save it as UTF-8 (plain text) and start again")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"{path.name} line {line}: not UTF-8 text (byte 0x{raw[error.start]:02x}): save the file as UTF-8"
        ) from None
    if "\x00" in text:
        raise ConfigError(f"{path.name} holds NUL bytes: save it as UTF-8 plain text")
    return text


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; # comments, blank lines and optional quotes are allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    for number, line in enumerate(_decode_env(path, raw).splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(line)
        if not match:
            raise ConfigError(f"{path.name} line {number}: expected KEY=VALUE")
        key, value = match.groups()
        quoted = re.fullmatch(r"""(["'])(.*)\1(?:\s+#.*)?""", value)
        if quoted:
            value = quoted.group(2)
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def load_config(env: Mapping[str, str] | None = None, env_file: Path | None = None) -> Config:
    """Settings from `.env` overlaid by the real environment (which wins)."""
    env_file = env_file if env_file is not None else Path(os.environ.get("ENV_FILE", ".env"))
    merged = {**read_env_file(env_file), **(env if env is not None else os.environ)}

    def get(name: str) -> str | None:
        value = merged.get(name, "").strip()
        return value or None

    def ids(name: str) -> list[int]:
        found = []
        for part in (get(name) or "").replace(";", ",").split(","):
            if part.strip():
                try:
                    found.append(int(part.strip()))
                except ValueError as error:
                    raise ConfigError(f"{name}: '{part.strip()}' is not a Telegram id (a number)") from error
        return found

    staff_ids = ids("STAFF_CHAT_ID")
    retention = get("REQUEST_RETENTION_DAYS") or str(DEFAULT_RETENTION_DAYS)
    if not (retention.isascii() and retention.isdigit()) or not 1 <= int(retention) <= 3650:
        raise ConfigError(f"REQUEST_RETENTION_DAYS: '{retention}' is not a number of days (1-3650)")
    webhook_url, webhook_secret = get("WEBHOOK_URL"), get("WEBHOOK_SECRET")
    if webhook_url and not webhook_secret:
        raise ConfigError("WEBHOOK_SECRET must be set with WEBHOOK_URL (Telegram sends it back on every call)")
    if webhook_secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", webhook_secret):
        raise ConfigError("WEBHOOK_SECRET may only use A-Z, a-z, 0-9, _ and - (1 to 256 characters)")
    data_key = get("DATA_KEY")
    if data_key is not None and not re.fullmatch(r"[A-Za-z0-9_-]{43}=", data_key):
        raise ConfigError("DATA_KEY is not a data key (44 characters of url-safe base64, as in secrets/data.key)")
    timezone = get("CLINIC_TIMEZONE") or "Asia/Tokyo"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(f"CLINIC_TIMEZONE: '{timezone}' is not a time zone (e.g. Asia/Tokyo)") from error
    port_text = get("WEBHOOK_PORT") or "8443"
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise ConfigError(f"WEBHOOK_PORT: '{port_text}' is not a port number (1-65535)")
    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL: '{log_level}' is not one of DEBUG, INFO, WARNING, ERROR")
    overrides = {setting: value for setting, name in SETTING_ENV.items() if (value := get(name))}
    for name, (schemes, public) in URL_SETTINGS.items():
        value = get(name)
        if value is not None and (problem := url_problem(value, schemes, public)):
            raise ConfigError(f"{name}: '{value}' {problem}")
    knowledge_dir = Path(get("KNOWLEDGE_DIR") or PROJECT_ROOT / "knowledge")
    return Config(
        token=get("TELEGRAM_BOT_TOKEN"),
        base_url=get("TELEGRAM_BASE_URL"),
        base_file_url=get("TELEGRAM_BASE_FILE_URL"),
        webhook_url=get("WEBHOOK_URL"),
        webhook_secret=get("WEBHOOK_SECRET"),
        webhook_listen=get("WEBHOOK_LISTEN") or "0.0.0.0",  # the webhook must be reachable from outside
        webhook_port=int(port_text),
        staff_chat_ids=tuple(staff_ids),
        data_dir=Path(get("DATA_DIR") or "data"),
        knowledge_dir=knowledge_dir,
        log_level=log_level,
        clinic_overrides=overrides,
        staff_user_ids=tuple(ids("STAFF_USER_IDS")),
        data_key=data_key,
        key_file=Path(get("KEY_FILE") or DEFAULT_KEY_FILE),
        request_retention_days=int(retention),
        timezone=timezone,
    )


class RedactingFilter(logging.Filter):
    """Replaces secrets in every log record, whatever logger or library produced it."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "<redacted>")
            record.msg, record.args = message, None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self._redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text


def setup_logging(level: str, secrets: list[str]) -> None:
    """Log to stderr with secrets redacted; HTTP client chatter (full URLs) only at WARNING."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
