"""A fake Telegram Bot API server for driving a real python-telegram-bot bot over HTTP.

Why: mocking ``Bot`` methods hides exactly the bugs that bite in production (bad HTML, a
64-byte callback_data overflow, "message is not modified", un-answered callback queries,
429s).  This server speaks the real wire protocol on 127.0.0.1, validates like Telegram,
records everything, and lets tests push updates and inject faults.

Everything public is thread-safe.  Sync waits (``wait_for``...) block the calling thread, so
asyncio code must use the ``*_async`` variants; the ``push_*`` helpers only take a short lock
and are fine to call from a coroutine.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import email.parser
import email.policy
import itertools
import json
import re
import socket
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from . import objects
from .entities import (
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    EntityParseError,
    detect_entities,
    finalize,
    parse_formatted,
    utf16_len,
)
from .errors import ApiError, bad_request
from .markup import reply_buttons, validate_reply_markup

T = TypeVar("T")

DEFAULT_TOKEN = "123456:TEST-token"
DEFAULT_USER_IN_GROUPS = 1001
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip
# Sent only when explicitly listed in allowed_updates, like on the real server.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MESSAGE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post",
                 "business_message", "edited_business_message")  # fmt: skip
# Form values PTB sends verbatim (not JSON-encoded); everything else is JSON-decoded.
RAW_STRING_PARAMS = frozenset(
    {
        "text", "caption", "parse_mode", "callback_query_id", "url", "secret_token",
        "inline_message_id", "action", "language_code", "file_id", "photo", "document",
        "voice", "video", "audio", "animation", "sticker", "emoji", "name", "description",
        "short_description", "business_connection_id", "message_effect_id", "ip_address",
        "title", "question", "phone_number", "first_name", "last_name", "vcard", "address",
        "custom_emoji_id",
    }
)  # fmt: skip
FAULT_KINDS = ("http", "retry_after", "drop", "stall", "blocked", "duplicate")
_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# --------------------------------------------------------------------------- records


@dataclass
class UploadedFile:
    """A multipart file part the bot uploaded."""

    field: str
    filename: str | None
    content_type: str | None
    content: bytes


@dataclass
class RecordedRequest:
    """One HTTP call the bot made; ``status`` is None while in flight or if dropped."""

    seq: int
    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    http_method: str
    content_type: str
    started: float
    status: int | None = None
    response: Any = None
    fault: str | None = None
    finished: float | None = None

    @property
    def ok(self) -> bool:
        """True for a 200 reply."""
        return self.status == 200

    @property
    def description(self) -> str | None:
        """Error description if the reply was an error."""
        if isinstance(self.response, dict):
            return self.response.get("description")
        return None

    @property
    def result(self) -> Any:
        """The ``result`` field of a successful reply."""
        if isinstance(self.response, dict):
            return self.response.get("result")
        return None


@dataclass
class ChatMessage:
    """Current state of one message in a chat (after edits), as the user would see it."""

    chat_id: int
    message_id: int
    from_bot: bool
    raw: dict[str, Any]
    seq: int
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = None
    source_text: str | None = None
    link_preview_options: dict[str, Any] | None = None
    deleted: bool = False
    edits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """Main content type: text, photo, document, contact, ..."""
        for key in ("text", "photo", "document", "voice", "sticker", "contact", "location",
                    "video", "audio", "animation", "video_note", "poll", "venue"):  # fmt: skip
            if key in self.raw:
                return key
        return "other"

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        """Inline keyboard rows currently attached (empty list if none)."""
        markup = self.raw.get("reply_markup") or {}
        return markup.get("inline_keyboard", [])

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Inline buttons flattened row by row."""
        return [button for row in self.inline_keyboard for button in row]

    @property
    def button_texts(self) -> list[str]:
        """Labels of the inline buttons."""
        return [button["text"] for button in self.buttons]


@dataclass
class CallbackQueryRecord:
    """A pushed callback query and whether/how the bot answered it."""

    id: str
    chat_id: int
    message_id: int
    data: str | None
    user_id: int
    pushed_at: float
    answered: bool = False
    answer: dict[str, Any] | None = None
    answered_at: float | None = None


@dataclass
class Fault:
    """A queued misbehaviour; ``count=None`` means it never runs out."""

    method: str
    kind: str
    count: int | None = 1
    chat_id: int | str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    triggered: int = 0


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    mime_type: str | None = None
    file_name: str | None = None


_DROP = object()


# --------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a bot opens dozens of connections at once (the default is 5)
    fake: FakeTelegramServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like PTB's httpx pool expects
    # One buffered write per response + TCP_NODELAY: otherwise Nagle and delayed ACKs add
    # ~40 ms to every call.
    disable_nagle_algorithm = True
    wbufsize = -1
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.fake._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track_connection(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr logging."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes | None:
        """The request body, or None when the client went away before sending all of it (a bot
        killed mid-request): Telegram never sees half a request, so neither does this server."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline()
                if not line:
                    return None
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    return None
                chunks.append(chunk)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        return body if len(body) == length else None

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            self.close_connection = True
            return
        reply = self.server.fake._handle_http(self.command, self.path, dict(self.headers), body)
        if reply is _DROP:
            self.close_connection = True
            return
        status, payload, content_type = reply
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _json_reply(status: int, body: Any) -> tuple[int, bytes, str]:
    return status, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"


def _decode_value(name: str, raw: str) -> Any:
    if name in RAW_STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def decode_params(
    headers: dict[str, str], body: bytes, query: str = ""
) -> tuple[dict[str, Any], dict[str, UploadedFile], str]:
    """Decode a Bot API request the way Telegram does: query string, urlencoded, multipart
    or JSON body.  PTB sends strings verbatim and everything else JSON-encoded per field."""
    lower = {k.lower(): v for k, v in headers.items()}
    content_type = lower.get("content-type", "")
    params: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = _decode_value(key, value)
    mime = content_type.split(";")[0].strip().lower()
    if not body:
        return params, files, mime
    if mime == "application/json":
        try:
            data = json.loads(body.decode("utf-8"))
        except ValueError:
            raise bad_request("can't parse JSON encoded request") from None
        if not isinstance(data, dict):
            raise bad_request("JSON object expected")
        params.update(data)
    elif mime == "multipart/form-data":
        parser = email.parser.BytesParser(policy=email.policy.HTTP)
        message = parser.parsebytes(f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None or part.get_content_type() == "application/octet-stream":
                files[name] = UploadedFile(name, filename, part.get_content_type(), payload)
            else:
                params[name] = _decode_value(name, payload.decode("utf-8"))
    else:  # application/x-www-form-urlencoded, or no header at all
        for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
            params[key] = _decode_value(key, value)
    return params, files, mime


# --------------------------------------------------------------------------- the server


class FakeTelegramServer:
    """Local fake of https://api.telegram.org for one bot token.

    Use as ``with FakeTelegramServer() as server: Bot(server.token, base_url=server.base_url)``.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "fake_test_bot",
        bot_first_name: str = "Fake Test Bot",
        strict_html: bool = True,
        max_long_poll: float = 50.0,
    ) -> None:
        self.token = token
        self.host = host
        self.strict_html = strict_html
        self.max_long_poll = max_long_poll
        prefix = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(prefix) if prefix.isdigit() else 123456,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stop_event = threading.Event()
        self._connections: set[socket.socket] = set()
        self._handlers: dict[str, Callable[[dict[str, Any], dict[str, UploadedFile],
                                            RecordedRequest], Any]] = {
            "getMe": self._api_get_me,
            "logOut": self._api_true,
            "close": self._api_true,
            "getUpdates": self._api_get_updates,
            "setWebhook": self._api_set_webhook,
            "deleteWebhook": self._api_delete_webhook,
            "getWebhookInfo": self._api_get_webhook_info,
            "sendMessage": self._api_send_message,
            "sendPhoto": self._api_send_photo,
            "sendDocument": self._api_send_document,
            "editMessageText": self._api_edit_message_text,
            "editMessageCaption": self._api_edit_message_caption,
            "editMessageReplyMarkup": self._api_edit_message_reply_markup,
            "deleteMessage": self._api_delete_message,
            "answerCallbackQuery": self._api_answer_callback_query,
            "setMyCommands": self._api_set_my_commands,
            "getMyCommands": self._api_get_my_commands,
            "deleteMyCommands": self._api_delete_my_commands,
            "setChatMenuButton": self._api_set_chat_menu_button,
            "getChatMenuButton": self._api_get_chat_menu_button,
            "sendChatAction": self._api_send_chat_action,
            "getChat": self._api_get_chat,
            "getFile": self._api_get_file,
            "setMyDescription": self._api_true,
            "setMyShortDescription": self._api_true,
            "setMyName": self._api_true,
        }  # fmt: skip
        self._methods_lc = {name.lower(): name for name in self._handlers}
        self._reset_state()

    # ------------------------------------------------------------------ lifecycle

    def _reset_state(self) -> None:
        with self._lock:
            self._seq = itertools.count(1)
            self._update_ids = itertools.count(100_000_001)
            self._callback_ids = itertools.count(4_200_000_000_000_000_001)
            self._requests: list[RecordedRequest] = []
            self._chats: dict[int, dict[str, Any]] = {}
            self._users: dict[int, dict[str, Any]] = {}
            self._next_message_id: dict[int, int] = {}
            self._messages: dict[int, dict[int, ChatMessage]] = {}
            self._message_seq = itertools.count(1)
            self._reply_keyboards: dict[int, dict[str, Any] | None] = {}
            self._queue: list[dict[str, Any]] = []
            self._redeliver: list[dict[str, Any]] = []
            self._deliveries: dict[int, int] = {}
            self._allowed_updates: list[str] = []
            self._poll_generation = 0
            self._active_polls = 0
            self._webhook: dict[str, Any] = {}
            self.webhook_deliveries: list[tuple[int | None, int]] = []
            self._callbacks: dict[str, CallbackQueryRecord] = {}
            self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
            self._menu_buttons: dict[int | None, dict[str, Any]] = {}
            self._chat_actions: list[tuple[int, str]] = []
            self._faults: list[Fault] = []
            self._blocked: set[int] = set()
            self._files: dict[str, _StoredFile] = {}
            self._internal_errors: list[str] = []
            self._unsupported: list[str] = []
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget all chats, messages, updates, recordings and faults (keeps the port)."""
        self._reset_state()

    def start(self) -> FakeTelegramServer:
        """Bind 127.0.0.1:<ephemeral> and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._stop_event.clear()
        httpd = _HTTPServer((self.host, self._requested_port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"fake-telegram:{self.port}", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes long polls and closes keep-alive connections."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stop_event.set()
        with self._cond:
            self._cond.notify_all()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeTelegramServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _track_connection(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    @property
    def port(self) -> int:
        """The bound port (after start())."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:PORT."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``; PTB appends
        the token and then "/<method>"."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``base_file_url``; PTB appends the token and then "/<file_path>"."""
        return f"{self.url}/file/bot"

    def make_bot(self, token: str | None = None, **kwargs: Any) -> Any:
        """A ``telegram.Bot`` wired to this server (PTB imported lazily: the fake itself is
        stdlib-only).  Its HTTPX clients skip TLS set-up, which saves ~50 ms per Bot."""
        from telegram import Bot
        from telegram.request import HTTPXRequest

        fast = {"httpx_kwargs": {"verify": False}}
        kwargs.setdefault("request", HTTPXRequest(**fast))
        kwargs.setdefault("get_updates_request", HTTPXRequest(**fast))
        kwargs.setdefault("base_url", self.base_url)
        kwargs.setdefault("base_file_url", self.base_file_url)
        return Bot(token or self.token, **kwargs)

    def application_builder(self) -> Any:
        """A ``telegram.ext.ApplicationBuilder`` with token, base URLs and fast requests set;
        add handlers/persistence and call ``.build()``."""
        from telegram.ext import ApplicationBuilder
        from telegram.request import HTTPXRequest

        fast = {"httpx_kwargs": {"verify": False}}
        return (
            ApplicationBuilder()
            .token(self.token)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
            .request(HTTPXRequest(**fast))
            .get_updates_request(HTTPXRequest(**fast))
        )

    # ------------------------------------------------------------------ HTTP entry

    def _handle_http(self, http_method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Any:
        split = urlsplit(raw_path)
        path = unquote(split.path)
        if path.startswith("/_fake/"):
            return self._handle_control(http_method, path, split.query, body)
        if path.startswith("/file/bot"):
            return self._serve_file(path)
        match = re.fullmatch(r"/bot([^/]*)/([^/]*)", path)
        if match is None:
            return _json_reply(404, ApiError(404, "Not Found").body())
        token, method_name = match.groups()
        decode_error: ApiError | None = None
        try:
            params, files, content_type = decode_params(headers, body, split.query)
        except (ApiError, UnicodeDecodeError) as exc:
            params, files, content_type = {}, {}, ""
            decode_error = exc if isinstance(exc, ApiError) else bad_request("invalid UTF-8")
        canonical = self._methods_lc.get(method_name.lower())
        with self._lock:
            record = RecordedRequest(
                seq=next(self._seq), method=canonical or method_name, params=params,
                files=files, http_method=http_method, content_type=content_type,
                started=time.time(),
            )  # fmt: skip
            self._requests.append(record)
            self._cond.notify_all()
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if canonical is None:
                with self._lock:
                    self._unsupported.append(method_name)
                raise ApiError(404, "Not Found")
            if decode_error is not None:
                raise decode_error
            fault = self._take_fault(canonical, params)
            process_then_drop = False
            if fault is not None:
                record.fault = fault.kind
                if fault.kind == "drop":
                    if not fault.params.get("process"):
                        return self._finish(record, None, None)
                    process_then_drop = True
                elif fault.kind == "stall":
                    self._stop_event.wait(float(fault.params.get("seconds", 1.0)))
                else:
                    raise self._fault_error(fault, params)
            handler = self._handlers[canonical]
            with self._cond:
                result = handler(params, files, record)
            if process_then_drop:
                return self._finish(record, None, {"ok": True, "result": result})
            return self._finish(record, 200, {"ok": True, "result": result})
        except _RawFault as exc:
            self._finish(record, exc.status, exc.raw_body)
            return exc.status, exc.raw_body.encode("utf-8"), "text/html"
        except ApiError as exc:
            return self._finish(record, exc.status, exc.body())
        except Exception:  # a bug in the fake itself; surface it loudly
            trace = traceback.format_exc()
            with self._lock:
                self._internal_errors.append(f"{record.method}: {trace}")
            return self._finish(record, 500, {"ok": False, "error_code": 500, "description": f"fake: {trace}"})

    def _finish(self, record: RecordedRequest, status: int | None, body: Any) -> Any:
        with self._cond:
            record.status = status
            record.response = body
            record.finished = time.time()
            self._cond.notify_all()
        if status is None:
            return _DROP
        return _json_reply(status, body)

    def _serve_file(self, path: str) -> tuple[int, bytes, str]:
        prefix = f"/file/bot{self.token}/"
        if not path.startswith(prefix):
            return _json_reply(401, ApiError(401, "Unauthorized").body())
        file_path = path[len(prefix) :]
        with self._lock:
            for stored in self._files.values():
                if stored.file_path == file_path:
                    return 200, stored.content, stored.mime_type or "application/octet-stream"
        return _json_reply(404, ApiError(404, "Not Found").body())

    # ------------------------------------------------------------------ faults

    def inject_fault(
        self,
        method: str,
        kind: str,
        count: int | None = 1,
        chat_id: int | str | None = None,
        **params: Any,
    ) -> Fault:
        """Queue a misbehaviour for the next ``count`` matching calls (None = forever).

        method: API method name (case-insensitive) or "*" for any.
        kind:
          "http"        status=502, description=..., retry_after=..., parameters={...},
                        raw_body="<html>..." (non-JSON body, like nginx error pages)
          "retry_after" 429 "Too Many Requests: retry after N" with parameters.retry_after
                        (retry_after=1)
          "drop"        close the socket without replying; process=True applies the call
                        first (the bot's side effect happened but the response was lost)
          "stall"       wait seconds=1.0 before answering normally
          "blocked"     403 "Forbidden: bot was blocked by the user"
          "duplicate"   getUpdates only: the next non-empty batch is delivered again on the
                        following call regardless of offset (same_batch=True: twice in the
                        same response)
        chat_id: only calls whose chat_id parameter equals this match.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        fault = Fault(method=method, kind=kind, count=count, chat_id=chat_id, params=params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Drop all queued faults."""
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """Faults not yet used up."""
        with self._lock:
            return list(self._faults)

    def block_chat(self, chat_id: int) -> None:
        """Persistently answer 403 "bot was blocked by the user" for this chat."""
        with self._lock:
            self._blocked.add(int(chat_id))

    def unblock_chat(self, chat_id: int) -> None:
        """Undo block_chat."""
        with self._lock:
            self._blocked.discard(int(chat_id))

    def _take_fault(self, method: str, params: dict[str, Any], kind: str | None = None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method != "*" and fault.method.lower() != method.lower():
                    continue
                if (fault.kind == "duplicate") != (kind == "duplicate"):
                    continue
                if fault.chat_id is not None and str(params.get("chat_id")) != str(fault.chat_id):
                    continue
                fault.triggered += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _fault_error(self, fault: Fault, params: dict[str, Any]) -> ApiError:
        p = fault.params
        if fault.kind == "blocked":
            return ApiError(403, p.get("description", "Forbidden: bot was blocked by the user"))
        if fault.kind == "retry_after":
            seconds = int(p.get("retry_after", 1))
            return ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
        status = int(p.get("status", 500))
        if "raw_body" in p:
            return _RawFault(status, str(p["raw_body"]))
        parameters = dict(p.get("parameters") or {})
        if "retry_after" in p:
            parameters["retry_after"] = int(p["retry_after"])
        default = _STATUS_TEXT.get(status, "Error")
        if status == 429:
            default = f"Too Many Requests: retry after {parameters.get('retry_after', 1)}"
        return ApiError(status, p.get("description", default), parameters or None)

    # ------------------------------------------------------------------ param helpers

    @staticmethod
    def _str(p: dict[str, Any], name: str) -> str | None:
        value = p.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)

    @staticmethod
    def _int(p: dict[str, Any], name: str, *, missing: str | None = None) -> int | None:
        value = p.get(name)
        if value is None or value == "":
            if missing:
                raise bad_request(missing)
            return None
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise bad_request(f'field "{name}" must be of type Integer')

    @staticmethod
    def _bool(p: dict[str, Any], name: str) -> bool:
        return p.get(name) in (True, "true", "True", "1", 1)

    @staticmethod
    def _json(p: dict[str, Any], name: str) -> Any:
        value = p.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def _resolve_chat(self, p: dict[str, Any]) -> dict[str, Any]:
        value = p.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        chat: dict[str, Any] | None = None
        if isinstance(value, str) and value.startswith("@"):
            chat = next((c for c in self._chats.values() if c.get("username") == value[1:]), None)
        else:
            try:
                chat = self._chats.get(int(value))
            except (TypeError, ValueError):
                chat = None
        if chat is None:
            raise bad_request("chat not found")
        if chat["id"] in self._blocked:
            if chat["type"] == "private":
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            raise ApiError(403, "Forbidden: bot was kicked from the group chat")
        return chat

    def _formatted(
        self, p: dict[str, Any], name: str, *, limit: int, allow_empty: bool, too_long: str
    ) -> tuple[str, list[dict[str, Any]]]:
        raw = self._str(p, name) or ""
        explicit = self._json(p, "entities" if name == "text" else "caption_entities")
        if explicit is not None:
            if not isinstance(explicit, list) or not all(isinstance(e, dict) for e in explicit):
                raise bad_request("can't parse entities JSON object")
            text, entities = finalize(raw, explicit)
        else:
            try:
                text, entities = parse_formatted(raw, self._str(p, "parse_mode"), strict=self.strict_html)
            except EntityParseError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
            except ValueError:
                raise bad_request(f'unsupported parse_mode "{p.get("parse_mode")}"') from None
        if not text and not allow_empty:
            raise bad_request("message text is empty")
        if utf16_len(text) > limit:
            raise bad_request(too_long)
        return text, entities

    # ------------------------------------------------------------------ state helpers

    def _user(self, user_id: int) -> dict[str, Any]:
        if user_id not in self._users:
            self._users[user_id] = objects.make_user(user_id)
        return self._users[user_id]

    def _ensure_chat(
        self,
        chat_id: int,
        chat_type: str = "private",
        user_id: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        chat_id = int(chat_id)
        if chat_id not in self._chats:
            user = self._user(user_id if user_id is not None else chat_id)
            chat = objects.make_chat(chat_id, chat_type, user=user, title=fields.pop("title", None))
            chat.update(fields)
            self._chats[chat_id] = chat
            self._messages.setdefault(chat_id, {})
        return self._chats[chat_id]

    def _new_message_id(self, chat_id: int) -> int:
        next_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = next_id + 1
        return next_id

    def _store_message(self, raw: dict[str, Any], *, from_bot: bool, **meta: Any) -> ChatMessage:
        chat_id = raw["chat"]["id"]
        stored = ChatMessage(
            chat_id=chat_id, message_id=raw["message_id"], from_bot=from_bot, raw=raw,
            seq=next(self._message_seq), text=raw.get("text"),
            entities=list(raw.get("entities") or raw.get("caption_entities") or []),
            caption=raw.get("caption"), **meta,
        )  # fmt: skip
        self._messages.setdefault(chat_id, {})[stored.message_id] = stored
        current = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = max(current, stored.message_id + 1)
        self._cond.notify_all()
        return stored

    def _find_message(self, chat_id: int, message_id: int) -> ChatMessage | None:
        stored = self._messages.get(chat_id, {}).get(message_id)
        if stored is None or stored.deleted:
            return None
        return stored

    def _send_bot_message(
        self,
        p: dict[str, Any],
        chat: dict[str, Any],
        content: dict[str, Any],
        *,
        source_text: str | None = None,
    ) -> dict[str, Any]:
        markup = validate_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(p, chat)
        raw: dict[str, Any] = {
            "message_id": self._new_message_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
        }
        raw.update({k: v for k, v in content.items() if v not in (None, [])})
        if markup and markup.get("inline_keyboard"):
            raw["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        if reply_to is not None:
            raw["reply_to_message"] = {k: v for k, v in reply_to.raw.items() if k != "reply_to_message"}
        preview = self._json(p, "link_preview_options")
        if preview is None and self._bool(p, "disable_web_page_preview"):
            preview = {"is_disabled": True}
        if markup is not None and "keyboard" in markup:
            self._reply_keyboards[chat["id"]] = markup
        elif markup is not None and "remove_keyboard" in markup:
            self._reply_keyboards[chat["id"]] = None
        stored = self._store_message(
            raw, from_bot=True, reply_markup=markup, parse_mode=self._str(p, "parse_mode"),
            source_text=source_text, link_preview_options=preview,
        )  # fmt: skip
        return copy.deepcopy(stored.raw)

    def _reply_target(self, p: dict[str, Any], chat: dict[str, Any]) -> ChatMessage | None:
        params = self._json(p, "reply_parameters")
        if params is None:
            message_id = self._int(p, "reply_to_message_id")
            if message_id is None:
                return None
            params = {
                "message_id": message_id,
                "allow_sending_without_reply": self._bool(p, "allow_sending_without_reply"),
            }
        if not isinstance(params, dict):
            raise bad_request("can't parse reply parameters JSON object")
        message_id = self._int(params, "message_id", missing="message to be replied not found")
        chat_id = chat["id"]
        if params.get("chat_id") is not None:
            chat_id = self._resolve_chat({"chat_id": params["chat_id"]})["id"]
        target = self._find_message(chat_id, message_id or 0)
        if target is None:
            if params.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return target

    def _editable(self, p: dict[str, Any]) -> ChatMessage:
        if p.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._resolve_chat(p)
        message_id = self._int(p, "message_id", missing="message identifier is not specified")
        stored = self._find_message(chat["id"], message_id or 0)
        if stored is None:
            raise bad_request("message to edit not found")
        if not stored.from_bot:
            raise bad_request("message can't be edited")
        return stored

    def _edit_markup(self, p: dict[str, Any]) -> dict[str, Any] | None:
        markup = validate_reply_markup(p.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        return markup if markup and markup["inline_keyboard"] else None

    def _apply_edit(
        self, stored: ChatMessage, changes: dict[str, Any], markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        current_markup = stored.raw.get("reply_markup")
        new_markup = {"inline_keyboard": markup["inline_keyboard"]} if markup else None
        unchanged = all(stored.raw.get(k) == (v or None) for k, v in changes.items())
        if unchanged and current_markup == new_markup:
            raise bad_request(NOT_MODIFIED)
        stored.edits.append(
            {
                "text": stored.text,
                "caption": stored.caption,
                "entities": stored.entities,
                "reply_markup": stored.reply_markup,
                "edit_date": stored.raw.get("edit_date"),
            }
        )
        for key, value in changes.items():
            if value in (None, []):
                stored.raw.pop(key, None)
            else:
                stored.raw[key] = value
        if new_markup is None:
            stored.raw.pop("reply_markup", None)
        else:
            stored.raw["reply_markup"] = new_markup
        stored.raw["edit_date"] = int(time.time())
        stored.text = stored.raw.get("text")
        stored.caption = stored.raw.get("caption")
        stored.entities = list(stored.raw.get("entities") or stored.raw.get("caption_entities") or [])
        stored.reply_markup = new_markup
        self._cond.notify_all()
        return copy.deepcopy(stored.raw)

    def _media(self, p: dict[str, Any], files: dict[str, UploadedFile], name: str) -> _StoredFile:
        value: Any = files.get(name) or p.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = files.get(value[len("attach://") :])
        if value is None:
            raise bad_request(f"there is no {name} in the request")
        if isinstance(value, UploadedFile):
            return self._register_file(value.content, value.filename, value.content_type, name)
        if value in self._files:
            return self._files[value]
        if isinstance(value, str) and re.match(r"https?://", value):
            return self._register_file(b"", value.rsplit("/", 1)[-1] or None, None, name)
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _register_file(self, content: bytes, file_name: str | None, mime_type: str | None, folder: str) -> _StoredFile:
        file_id, unique_id = objects.file_ids()
        suffix = f"_{file_name}" if file_name else ""
        stored = _StoredFile(
            file_id=file_id, file_unique_id=unique_id,
            file_path=f"{folder}s/file_{len(self._files)}{suffix}", content=content,
            mime_type=mime_type, file_name=file_name,
        )  # fmt: skip
        self._files[file_id] = stored
        return stored

    # ------------------------------------------------------------------ API methods

    def _api_true(self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest) -> bool:
        return True

    def _api_get_me(self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest) -> dict[str, Any]:
        return dict(self.bot_user)

    def _api_get_updates(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> list[dict[str, Any]]:
        if self._webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        offset = self._int(p, "offset")
        limit = self._int(p, "limit") or 100
        limit = max(1, min(100, limit))
        timeout = float(p.get("timeout") or 0)
        timeout = max(0.0, min(timeout, self.max_long_poll))
        allowed = self._json(p, "allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        if offset:
            if offset > 0:
                self._queue = [u for u in self._queue if u["update_id"] >= offset]
            else:
                self._queue = self._queue[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        deadline = time.monotonic() + timeout
        self._active_polls += 1
        self._cond.notify_all()
        try:
            while True:
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                if self._redeliver:
                    batch, self._redeliver = self._redeliver[:limit], self._redeliver[limit:]
                    break
                batch = [u for u in self._queue if self._is_allowed(u)][:limit]
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0 or self._stop_event.is_set():
                    break
                self._cond.wait(remaining)
        finally:
            self._active_polls -= 1
        if batch:
            fault = self._take_fault("getUpdates", p, kind="duplicate")
            if fault is not None:
                req.fault = "duplicate"
                if fault.params.get("same_batch"):
                    batch = [u for u in batch for _ in (0, 1)][: max(limit, 2)]
                else:
                    self._redeliver.extend(batch)
        for update in batch:
            self._deliveries[update["update_id"]] = self._deliveries.get(update["update_id"], 0) + 1
        return copy.deepcopy(batch)

    def _is_allowed(self, update: dict[str, Any]) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in OPT_IN_UPDATES

    def _api_set_webhook(self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest) -> bool:
        url = self._str(p, "url") or ""
        if not url:
            return self._api_delete_webhook(p, files, req)
        if not re.match(r"https?://[^/\s]+", url):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = self._str(p, "secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        allowed = self._json(p, "allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        if self._bool(p, "drop_pending_updates"):
            self._queue.clear()
        self._webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": self._int(p, "max_connections") or 40,
            "ip_address": self._str(p, "ip_address"),
            "has_custom_certificate": "certificate" in files or "certificate" in p,
        }
        self._poll_generation += 1  # a pending long poll now conflicts
        self._cond.notify_all()
        return True

    def _api_delete_webhook(self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest) -> bool:
        self._webhook = {}
        if self._bool(p, "drop_pending_updates"):
            self._queue.clear()
        return True

    def _api_get_webhook_info(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook.get("url", ""),
            "has_custom_certificate": bool(self._webhook.get("has_custom_certificate")),
            "pending_update_count": len(self._queue),
        }
        if self._webhook:
            info["max_connections"] = self._webhook["max_connections"]
            if self._webhook.get("ip_address"):
                info["ip_address"] = self._webhook["ip_address"]
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
        return info

    def _api_send_message(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> dict[str, Any]:
        chat = self._resolve_chat(p)
        text, entities = self._formatted(
            p, "text", limit=MAX_TEXT_LENGTH, allow_empty=False, too_long="message is too long"
        )
        return self._send_bot_message(p, chat, {"text": text, "entities": entities}, source_text=self._str(p, "text"))

    def _send_media(self, p: dict[str, Any], files: dict[str, UploadedFile], name: str) -> dict[str, Any]:
        chat = self._resolve_chat(p)
        stored = self._media(p, files, name)
        caption, entities = self._formatted(
            p, "caption", limit=MAX_CAPTION_LENGTH, allow_empty=True, too_long="message caption is too long"
        )
        base = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(stored.content)}
        if name == "photo":
            media: Any = [{**base, "width": 1280, "height": 960}]
        else:
            media = {**base, "file_name": stored.file_name or "file"}
            if stored.mime_type:
                media["mime_type"] = stored.mime_type
        return self._send_bot_message(
            p,
            chat,
            {name: media, "caption": caption or None, "caption_entities": entities},
            source_text=self._str(p, "caption"),
        )

    def _api_send_photo(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> dict[str, Any]:
        return self._send_media(p, files, "photo")

    def _api_send_document(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> dict[str, Any]:
        return self._send_media(p, files, "document")

    def _api_edit_message_text(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> dict[str, Any]:
        stored = self._editable(p)
        if stored.text is None:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(
            p, "text", limit=MAX_TEXT_LENGTH, allow_empty=False, too_long="message is too long"
        )
        markup = self._edit_markup(p)
        stored.source_text = self._str(p, "text")
        stored.parse_mode = self._str(p, "parse_mode")
        return self._apply_edit(stored, {"text": text, "entities": entities}, markup)

    def _api_edit_message_caption(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> dict[str, Any]:
        stored = self._editable(p)
        if stored.text is not None:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._formatted(
            p, "caption", limit=MAX_CAPTION_LENGTH, allow_empty=True, too_long="message caption is too long"
        )
        markup = self._edit_markup(p)
        return self._apply_edit(stored, {"caption": caption, "caption_entities": entities}, markup)

    def _api_edit_message_reply_markup(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> dict[str, Any]:
        stored = self._editable(p)
        return self._apply_edit(stored, {}, self._edit_markup(p))

    def _api_delete_message(self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest) -> bool:
        chat = self._resolve_chat(p)
        message_id = self._int(p, "message_id", missing="message identifier is not specified")
        stored = self._find_message(chat["id"], message_id or 0)
        if stored is None:
            raise bad_request("message to delete not found")
        stored.deleted = True
        self._cond.notify_all()
        return True

    def _api_answer_callback_query(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> bool:
        query_id = self._str(p, "callback_query_id") or ""
        record = self._callbacks.get(query_id)
        if record is None or record.answered:
            raise bad_request(QUERY_TOO_OLD)
        text = self._str(p, "text")
        if text is not None and utf16_len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        url = self._str(p, "url")
        record.answered = True
        record.answered_at = time.time()
        record.answer = {
            "text": text,
            "show_alert": self._bool(p, "show_alert"),
            "url": url,
            "cache_time": self._int(p, "cache_time"),
        }
        self._cond.notify_all()
        return True

    def _commands_key(self, p: dict[str, Any]) -> tuple[str, str]:
        scope = self._json(p, "scope") or {"type": "default"}
        valid_scopes = (
            "default",
            "all_private_chats",
            "all_group_chats",
            "all_chat_administrators",
            "chat",
            "chat_administrators",
            "chat_member",
        )
        if not isinstance(scope, dict) or scope.get("type") not in valid_scopes:
            raise bad_request("can't parse BotCommandScope: unsupported type")
        if scope["type"].startswith("chat"):
            self._resolve_chat(scope)
        language = self._str(p, "language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code specified")
        return json.dumps(scope, sort_keys=True), language

    def _api_set_my_commands(self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest) -> bool:
        commands = self._json(p, "commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand JSON object")
            name = command.get("command")
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(p)
        self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _api_get_my_commands(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> list[dict[str, Any]]:
        return copy.deepcopy(self._commands.get(self._commands_key(p), []))

    def _api_delete_my_commands(self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest) -> bool:
        self._commands.pop(self._commands_key(p), None)
        return True

    def _api_set_chat_menu_button(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> bool:
        chat_id = self._resolve_chat(p)["id"] if p.get("chat_id") not in (None, "") else None
        button = self._json(p, "menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in ("default", "commands", "web_app"):
            raise bad_request("can't parse menu button: unsupported type")
        if button["type"] == "web_app":
            web_app = button.get("web_app") or {}
            if not button.get("text") or not str(web_app.get("url", "")).startswith("https://"):
                raise bad_request("can't parse menu button: web_app needs text and an HTTPS url")
        self._menu_buttons[chat_id] = button
        return True

    def _api_get_chat_menu_button(
        self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest
    ) -> dict[str, Any]:
        chat_id = self._resolve_chat(p)["id"] if p.get("chat_id") not in (None, "") else None
        button = self._menu_buttons.get(chat_id) or self._menu_buttons.get(None)
        return dict(button or {"type": "default"})

    def _api_send_chat_action(self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest) -> bool:
        chat = self._resolve_chat(p)
        action = self._str(p, "action")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._chat_actions.append((chat["id"], action))
        return True

    def _api_get_chat(self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest) -> dict[str, Any]:
        chat = self._resolve_chat(p)
        gifts = {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        }
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    def _api_get_file(self, p: dict[str, Any], files: dict[str, UploadedFile], req: RecordedRequest) -> dict[str, Any]:
        stored = self._files.get(self._str(p, "file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    # ------------------------------------------------------------------ pushing updates

    def add_chat(
        self,
        chat_id: int,
        chat_type: str = "private",
        *,
        user_id: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Make a chat known without an update (so sends to it don't give "chat not found")."""
        with self._lock:
            return copy.deepcopy(self._ensure_chat(chat_id, chat_type, user_id, **fields))

    def set_user(self, user_id: int, **fields: Any) -> dict[str, Any]:
        """Override a user's fields (first_name, username, language_code, ...)."""
        with self._lock:
            user = self._user(user_id)
            user.update(fields)
            return dict(user)

    def add_file(self, content: bytes, file_name: str | None = None, mime_type: str | None = None) -> dict[str, Any]:
        """Register downloadable content; returns file_id/file_unique_id/file_size."""
        with self._lock:
            stored = self._register_file(content, file_name, mime_type, "document")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(content)}

    def make_message(
        self,
        chat_id: int,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        **fields: Any,
    ) -> dict[str, Any]:
        """Build and store a user message (not queued); fields become Message fields."""
        with self._lock:
            chat = self._ensure_chat(chat_id, chat_type, user_id)
            sender_id = (
                user_id
                if user_id is not None
                else (chat["id"] if chat["type"] == "private" else DEFAULT_USER_IN_GROUPS)
            )
            message: dict[str, Any] = {
                "message_id": self._new_message_id(chat["id"]),
                "from": dict(self._user(sender_id)),
                "chat": dict(chat),
                "date": int(time.time()),
            }
            message.update(fields)
            self._store_message(message, from_bot=False)
            return copy.deepcopy(message)

    def make_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Wrap a payload as an update with a fresh update_id (not queued)."""
        with self._lock:
            return {"update_id": next(self._update_ids), kind: payload}

    def make_text_update(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        chat_type: str = "private",
        **extra: Any,
    ) -> dict[str, Any]:
        """Like push_text but not queued: for deliver_via_webhook."""
        fields: dict[str, Any] = {"text": text}
        entities = detect_entities(text)
        if entities:
            fields["entities"] = entities
        fields.update(extra)
        message = self.make_message(chat_id, user_id=user_id, chat_type=chat_type, **fields)
        return self.make_update("message", message)

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue any raw update for getUpdates; fills update_id, message_id, date, ids of
        callback queries, and registers chats/messages it mentions."""
        update = copy.deepcopy(update)
        with self._cond:
            update.setdefault("update_id", next(self._update_ids))
            self._absorb(update)
            self._queue.append(update)
            self._queue.sort(key=lambda u: u["update_id"])
            self._cond.notify_all()
        return copy.deepcopy(update)

    def _absorb(self, update: dict[str, Any]) -> None:
        for kind in MESSAGE_KINDS:
            message = update.get(kind)
            if not isinstance(message, dict):
                continue
            chat = message.get("chat")
            if not isinstance(chat, dict) or "id" not in chat:
                raise ValueError(f"{kind} needs a chat with an id")
            known = self._ensure_chat(chat["id"], chat.get("type", "private"))
            for key, value in chat.items():
                known.setdefault(key, value)
            if isinstance(message.get("from"), dict):
                self._users.setdefault(message["from"]["id"], dict(message["from"]))
            message.setdefault("date", int(time.time()))
            if kind.startswith("edited_"):
                stored = self._messages.get(chat["id"], {}).get(message.get("message_id", -1))
                message.setdefault("edit_date", int(time.time()))
                if stored is not None:
                    stored.raw = message
                    stored.text = message.get("text")
                    stored.caption = message.get("caption")
                continue
            if "message_id" not in message:
                message["message_id"] = self._new_message_id(chat["id"])
            if self._messages.get(chat["id"], {}).get(message["message_id"]) is None:
                self._store_message(message, from_bot=False)
        query = update.get("callback_query")
        if isinstance(query, dict):
            query.setdefault("id", str(next(self._callback_ids)))
            query.setdefault("chat_instance", str(abs(hash(self.token)) % 10**18))
            sender = query.get("from") or {}
            message = query.get("message") or {}
            self._callbacks.setdefault(str(query["id"]), CallbackQueryRecord(
                id=str(query["id"]), chat_id=(message.get("chat") or {}).get("id", 0),
                message_id=message.get("message_id", 0), data=query.get("data"),
                user_id=sender.get("id", 0), pushed_at=time.time(),
            ))  # fmt: skip
        for kind in ("my_chat_member", "chat_member", "chat_join_request"):
            payload = update.get(kind)
            if isinstance(payload, dict) and isinstance(payload.get("chat"), dict):
                chat = payload["chat"]
                self._ensure_chat(chat["id"], chat.get("type", "private"))

    def push_message(
        self,
        chat_id: int,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        **fields: Any,
    ) -> dict[str, Any]:
        """Queue a user message with arbitrary content fields (photo=..., sticker=...)."""
        message = self.make_message(chat_id, user_id=user_id, chat_type=chat_type, **fields)
        return self.push_update(self.make_update("message", message))

    def push_text(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        chat_type: str = "private",
        **extra: Any,
    ) -> dict[str, Any]:
        """Queue a text message; commands/mentions/URLs get entities like on Telegram."""
        return self.push_update(self.make_text_update(chat_id, text, user_id, chat_type, **extra))

    def push_command(
        self,
        chat_id: int,
        command: str,
        payload: str | None = None,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        mention_bot: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        """Queue "/command [payload]" with the bot_command entity CommandHandler needs."""
        command = command if command.startswith("/") else f"/{command}"
        if mention_bot:
            command = f"{command}@{self.bot_user['username']}"
        text = command if payload is None else f"{command} {payload}"
        return self.push_text(chat_id, text, user_id=user_id, chat_type=chat_type, **extra)

    def push_contact(
        self,
        chat_id: int,
        phone_number: str = "+15550100",
        *,
        user_id: int | None = None,
        own: bool = True,
        first_name: str | None = None,
        chat_type: str = "private",
        **extra: Any,
    ) -> dict[str, Any]:
        """Queue a shared contact; own=True means the sender shared their own number (what a
        request_contact button produces), so contact.user_id == from.id."""
        sender = user_id if user_id is not None else chat_id
        with self._lock:
            name = first_name or self._user(sender)["first_name"]
        contact = objects.contact(phone_number, name, user_id=sender if own else None)
        return self.push_message(chat_id, user_id=user_id, chat_type=chat_type, contact=contact, **extra)

    def push_photo(
        self,
        chat_id: int,
        content: bytes = b"\xff\xd8fake-jpeg",
        *,
        caption: str | None = None,
        user_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Queue a photo; the largest size is downloadable via getFile."""
        sizes = objects.photo_sizes(file_size=len(content))
        with self._lock:
            stored = self._register_file(content, "photo.jpg", "image/jpeg", "photo")
            stored_id = sizes[-1]["file_id"]
            self._files[stored_id] = dataclasses.replace(stored, file_id=stored_id)
        fields: dict[str, Any] = {"photo": sizes, **extra}
        if caption is not None:
            fields["caption"] = caption
        return self.push_message(chat_id, user_id=user_id, **fields)

    def push_document(
        self,
        chat_id: int,
        content: bytes = b"hello",
        file_name: str = "file.txt",
        mime_type: str = "text/plain",
        *,
        caption: str | None = None,
        user_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Queue a document whose bytes the bot can download."""
        info = self.add_file(content, file_name, mime_type)
        doc = objects.document(file_name, mime_type, len(content), info["file_id"], info["file_unique_id"])
        fields: dict[str, Any] = {"document": doc, **extra}
        if caption is not None:
            fields["caption"] = caption
        return self.push_message(chat_id, user_id=user_id, **fields)

    def push_voice(
        self,
        chat_id: int,
        content: bytes = b"OggS-fake",
        duration: int = 2,
        *,
        user_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Queue a voice note whose bytes the bot can download."""
        info = self.add_file(content, "voice.ogg", "audio/ogg")
        note = objects.voice(duration, "audio/ogg", len(content), info["file_id"], info["file_unique_id"])
        return self.push_message(chat_id, user_id=user_id, voice=note, **extra)

    def push_location(
        self,
        chat_id: int,
        latitude: float = 52.52,
        longitude: float = 13.405,
        *,
        user_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Queue a location message."""
        return self.push_message(chat_id, user_id=user_id, location=objects.location(latitude, longitude), **extra)

    def push_sticker(
        self, chat_id: int, emoji: str = "😀", *, user_id: int | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Queue a sticker message."""
        return self.push_message(chat_id, user_id=user_id, sticker=objects.sticker(emoji), **extra)

    def push_edited_text(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        """Queue an edited_message update for an earlier user message."""
        with self._lock:
            stored = self._messages.get(int(chat_id), {}).get(message_id)
            if stored is None or stored.from_bot:
                raise ValueError(f"no user message {message_id} in chat {chat_id}")
            message = copy.deepcopy(stored.raw)
        message["text"] = text
        message["edit_date"] = int(time.time())
        message.pop("entities", None)
        entities = detect_entities(text)
        if entities:
            message["entities"] = entities
        return self.push_update({"edited_message": message})

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        check_button: bool = True,
    ) -> dict[str, Any]:
        """Queue a callback_query for a bot message, as if a user pressed its button.

        check_button=True insists that the message currently has a button with this
        callback_data (catches tests pressing buttons the bot never offered)."""
        with self._lock:
            stored = self._find_message(int(chat_id), message_id)
            if stored is None or not stored.from_bot:
                raise ValueError(f"no bot message {message_id} in chat {chat_id}")
            if check_button and data not in [b.get("callback_data") for b in stored.buttons]:
                raise ValueError(f"message {message_id} has no button with data {data!r}; buttons: {stored.buttons}")
            chat = self._chats[int(chat_id)]
            sender = (
                user_id
                if user_id is not None
                else (chat["id"] if chat["type"] == "private" else DEFAULT_USER_IN_GROUPS)
            )
            query = {
                "id": str(next(self._callback_ids)),
                "from": dict(self._user(sender)),
                "message": copy.deepcopy(stored.raw),
                "chat_instance": str(abs(chat["id"] * 7919 + 104729)),
                "data": data,
            }
        return self.push_update({"callback_query": query})

    def press_inline_button(
        self,
        chat_id: int,
        text: str,
        *,
        message_id: int | None = None,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """Press the inline button labelled ``text`` on message_id (default: the newest bot
        message that has such a button)."""
        with self._lock:
            candidates = [
                m
                for m in self._messages.get(int(chat_id), {}).values()
                if m.from_bot and not m.deleted and (message_id is None or m.message_id == message_id)
            ]
            for stored in sorted(candidates, key=lambda m: m.seq, reverse=True):
                for button in stored.buttons:
                    if button.get("text") == text and "callback_data" in button:
                        target, data = stored.message_id, button["callback_data"]
                        break
                else:
                    continue
                break
            else:
                raise ValueError(f"no inline button {text!r} in chat {chat_id}")
        return self.push_callback(chat_id, target, data, user_id=user_id)

    def press_reply_button(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        phone_number: str = "+15550100",
    ) -> dict[str, Any]:
        """Tap a button of the reply keyboard currently shown: request_contact buttons send
        the user's own contact, request_location a location, others their text."""
        with self._lock:
            markup = self._reply_keyboards.get(int(chat_id))
            button = next((b for b in reply_buttons(markup) if b.get("text") == text), None)
            if button is None:
                raise ValueError(f"no reply keyboard button {text!r} shown in chat {chat_id}; keyboard: {markup}")
            if markup and markup.get("one_time_keyboard"):
                self._reply_keyboards[int(chat_id)] = None
        if button.get("request_contact"):
            return self.push_contact(chat_id, phone_number, user_id=user_id)
        if button.get("request_location"):
            return self.push_location(chat_id, user_id=user_id)
        return self.push_text(chat_id, text, user_id=user_id)

    # ------------------------------------------------------------------ webhook

    @property
    def webhook(self) -> dict[str, Any]:
        """What setWebhook stored (empty dict if none)."""
        with self._lock:
            return dict(self._webhook)

    def deliver_via_webhook(self, update: dict[str, Any], timeout: float = 10.0) -> int:
        """POST an update to the registered webhook with X-Telegram-Bot-Api-Secret-Token;
        returns the HTTP status.  Blocking: from asyncio use deliver_via_webhook_async."""
        with self._lock:
            url = self._webhook.get("url")
            secret = self._webhook.get("secret_token")
            if isinstance(update.get("callback_query"), dict) or any(k in update for k in MESSAGE_KINDS):
                update = copy.deepcopy(update)
                update.setdefault("update_id", next(self._update_ids))
                self._absorb(update)
        if not url:
            raise RuntimeError("no webhook registered via setWebhook")
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(url, data=json.dumps(update).encode("utf-8"), headers=headers, method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        with self._cond:
            update_id = update.get("update_id")
            self.webhook_deliveries.append((update_id, status))
            if 200 <= status < 300:
                self._queue = [u for u in self._queue if u["update_id"] != update_id]
                if update_id is not None:
                    self._deliveries[update_id] = self._deliveries.get(update_id, 0) + 1
            self._cond.notify_all()
        return status

    async def deliver_via_webhook_async(self, update: dict[str, Any], timeout: float = 10.0) -> int:
        """deliver_via_webhook without blocking the event loop the bot's webhook runs on."""
        return await asyncio.to_thread(self.deliver_via_webhook, update, timeout)

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request in arrival order (including in-flight long polls)."""
        with self._lock:
            return [copy.copy(r) for r in self._requests]

    def calls(self, method: str | None = None) -> list[RecordedRequest]:
        """Requests for one method (case-insensitive), or all."""
        with self._lock:
            return [copy.copy(r) for r in self._requests if method is None or r.method.lower() == method.lower()]

    @property
    def validation_errors(self) -> list[RecordedRequest]:
        """400 replies caused by the bot's own requests (not by injected faults)."""
        with self._lock:
            return [copy.copy(r) for r in self._requests if r.status == 400 and r.fault is None]

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs inside the fake itself (should always be empty)."""
        with self._lock:
            return list(self._internal_errors)

    @property
    def unsupported_methods(self) -> list[str]:
        """Method names the bot called that the fake does not implement (answered 404)."""
        with self._lock:
            return list(self._unsupported)

    def assert_no_validation_errors(self) -> None:
        """Fail if the bot ever got a 400, or the fake hit an internal error/unknown method."""
        problems = [f"{r.method} {r.params!r} -> {r.description}" for r in self.validation_errors]
        problems += [f"unsupported method {name}" for name in self.unsupported_methods]
        problems += self.internal_errors
        if problems:
            raise AssertionError("fake Telegram saw problems:\n" + "\n".join(problems))

    def message(self, chat_id: int, message_id: int) -> ChatMessage | None:
        """Snapshot of one message (bot or user), including deleted ones."""
        with self._lock:
            stored = self._messages.get(int(chat_id), {}).get(message_id)
            return copy.deepcopy(stored) if stored else None

    def conversation(self, chat_id: int, *, include_deleted: bool = True) -> list[ChatMessage]:
        """All messages of a chat (user and bot) in the order they were created."""
        with self._lock:
            messages = sorted(self._messages.get(int(chat_id), {}).values(), key=lambda m: m.seq)
            return [copy.deepcopy(m) for m in messages if include_deleted or not m.deleted]

    def bot_messages(self, chat_id: int, *, include_deleted: bool = True) -> list[ChatMessage]:
        """Messages the bot sent to the chat, in send order, in their current (edited) state."""
        return [m for m in self.conversation(chat_id, include_deleted=include_deleted) if m.from_bot]

    def last_bot_message(self, chat_id: int) -> ChatMessage | None:
        """The newest non-deleted bot message in the chat."""
        messages = self.bot_messages(chat_id, include_deleted=False)
        return messages[-1] if messages else None

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The reply keyboard the user currently sees (None after remove_keyboard)."""
        with self._lock:
            return copy.deepcopy(self._reply_keyboards.get(int(chat_id)))

    def chat_actions(self, chat_id: int | None = None) -> list[tuple[int, str]]:
        """sendChatAction calls as (chat_id, action)."""
        with self._lock:
            return [a for a in self._chat_actions if chat_id is None or a[0] == int(chat_id)]

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        """Commands stored by setMyCommands for a scope (default scope by default)."""
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        with self._lock:
            return copy.deepcopy(self._commands.get(key, []))

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any] | None:
        """What setChatMenuButton stored for the chat (None = default button)."""
        with self._lock:
            return copy.deepcopy(self._menu_buttons.get(chat_id))

    def callback_queries(self) -> list[CallbackQueryRecord]:
        """All pushed callback queries with their answer state."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._callbacks.values()]

    def answered_callbacks(self) -> list[CallbackQueryRecord]:
        """Callback queries the bot answered."""
        return [c for c in self.callback_queries() if c.answered]

    def unanswered_callbacks(self) -> list[CallbackQueryRecord]:
        """Callback queries the bot never answered (the user's button keeps spinning)."""
        return [c for c in self.callback_queries() if not c.answered]

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed through getUpdates' offset."""
        with self._lock:
            return copy.deepcopy(self._queue)

    def delivery_count(self, update_id: int) -> int:
        """How many times an update was handed out (getUpdates or webhook)."""
        with self._lock:
            return self._deliveries.get(update_id, 0)

    @property
    def active_long_polls(self) -> int:
        """getUpdates calls currently waiting (>0 means the bot is polling)."""
        with self._lock:
            return self._active_polls

    # ------------------------------------------------------------------ waiting

    def _timeout_message(self, what: str, timeout: float) -> str:
        recent = "\n".join(
            f"  #{r.seq} {r.method} -> {r.status} {r.description or ''} {r.fault or ''}".rstrip()
            for r in self.requests[-10:]
        )
        return f"timed out after {timeout}s waiting for {what}; last requests:\n{recent}"

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, *, what: str = "condition") -> T:
        """Block until predicate() is truthy and return it; TimeoutError otherwise.
        Do not call from a coroutine (it blocks the loop) - use wait_for_async."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(self._timeout_message(what, timeout))
            with self._cond:
                self._cond.wait(min(remaining, 0.05))

    async def wait_for_async(self, predicate: Callable[[], T], timeout: float = 5.0, *, what: str = "condition") -> T:
        """wait_for for asyncio code: polls with asyncio.sleep so the bot keeps running."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(what, timeout))
            await asyncio.sleep(0.01)

    def _bot_messages_predicate(self, chat_id: int, count: int) -> Callable[[], list[ChatMessage]]:
        def check() -> list[ChatMessage]:
            messages = self.bot_messages(chat_id)
            return messages if len(messages) >= count else []

        return check

    def wait_for_bot_messages(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[ChatMessage]:
        """Block until the bot has sent at least ``count`` messages to the chat (deleted ones
        included); returns all of them."""
        return self.wait_for(
            self._bot_messages_predicate(chat_id, count), timeout, what=f"{count} bot message(s) in chat {chat_id}"
        )

    async def wait_for_bot_messages_async(
        self, chat_id: int, count: int = 1, timeout: float = 5.0
    ) -> list[ChatMessage]:
        """Async wait_for_bot_messages."""
        return await self.wait_for_async(
            self._bot_messages_predicate(chat_id, count), timeout, what=f"{count} bot message(s) in chat {chat_id}"
        )

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``count`` finished calls of ``method`` were recorded."""

        def check() -> list[RecordedRequest]:
            done = [r for r in self.calls(method) if r.finished is not None]
            return done if len(done) >= count else []

        return self.wait_for(check, timeout, what=f"{count} {method} call(s)")

    async def wait_for_calls_async(self, method: str, count: int = 1, timeout: float = 5.0) -> list[RecordedRequest]:
        """Async wait_for_calls."""

        def check() -> list[RecordedRequest]:
            done = [r for r in self.calls(method) if r.finished is not None]
            return done if len(done) >= count else []

        return await self.wait_for_async(check, timeout, what=f"{count} {method} call(s)")

    # ------------------------------------------------------------------ control API

    _CONTROL_ACTIONS = frozenset({
        "push_text", "push_command", "push_update", "push_callback", "push_contact",
        "push_message", "push_location", "push_sticker", "press_inline_button",
        "press_reply_button", "add_chat", "set_user", "inject_fault", "clear_faults",
        "block_chat", "unblock_chat", "reset",
    })  # fmt: skip
    _CONTROL_QUERIES = frozenset({
        "requests", "validation_errors", "callback_queries", "pending_updates",
        "bot_messages", "conversation", "faults", "webhook",
    })  # fmt: skip

    def _handle_control(self, http_method: str, path: str, query: str, body: bytes) -> tuple[int, bytes, str]:
        """Tiny JSON API (/_fake/<name>) so other processes can drive the standalone server."""
        name = path[len("/_fake/") :].strip("/")
        try:
            kwargs: dict[str, Any] = dict(parse_qsl(query))
            if body:
                kwargs.update(json.loads(body.decode("utf-8")))
            if "chat_id" in kwargs:
                kwargs["chat_id"] = int(kwargs["chat_id"])
            if name in self._CONTROL_ACTIONS and http_method == "POST":
                result: Any = getattr(self, name)(**kwargs)
            elif name in self._CONTROL_QUERIES:
                attribute = getattr(self, name)
                result = attribute(**kwargs) if callable(attribute) else attribute
            else:
                return _json_reply(404, {"ok": False, "description": f"unknown control {name}"})
        except Exception as exc:  # report to the caller, this is a debugging aid
            return _json_reply(400, {"ok": False, "description": repr(exc)})
        return _json_reply(200, {"ok": True, "result": _jsonable(result)})


class _RawFault(ApiError):
    """An injected error whose body is not JSON (e.g. an nginx 502 page)."""

    def __init__(self, status: int, raw_body: str):
        super().__init__(status, raw_body)
        self.raw_body = raw_body


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value
