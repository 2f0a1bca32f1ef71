"""Tests of the fake Telegram server, driven by a real python-telegram-bot ``Bot`` over HTTP.

They pin down that the fake fails the way real Telegram does, so bot tests built on it can be
trusted.  pytest-asyncio is not installed: each test runs its coroutine with asyncio.run.
"""

from __future__ import annotations

import asyncio
import html
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonCommands,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fake_telegram import FakeTelegramServer, parse_html, parse_markdown_v2, utf16_len
from tests.fake_telegram.entities import EntityParseError

CHAT = 42


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as fake:
        fake.add_chat(CHAT)
        yield fake
        assert fake.internal_errors == []


def run_with_bot(server: FakeTelegramServer, scenario: Callable[[Bot], Awaitable[Any]], **bot_kwargs: Any) -> Any:
    """Run one async scenario against a freshly initialised Bot pointed at the fake."""

    async def main() -> Any:
        async with server.make_bot(**bot_kwargs) as bot:
            return await scenario(bot)

    return asyncio.run(main())


def bad_request(server: FakeTelegramServer, scenario: Callable[[Bot], Awaitable[Any]]) -> str:
    """Run a scenario that must fail with BadRequest; return the server-side description."""
    before = len(server.validation_errors)
    with pytest.raises(BadRequest) as info:
        run_with_bot(server, scenario)
    errors = server.validation_errors
    assert len(errors) == before + 1
    description = errors[-1].description or ""
    # PTB strips "Bad Request: " and capitalize()s the rest (lower-casing it).
    assert info.value.message.lower() == description.removeprefix("Bad Request: ").lower()
    return description


# --------------------------------------------------------------------------- basics


def test_get_me_and_url_shape(server: FakeTelegramServer) -> None:
    me = run_with_bot(server, lambda bot: bot.get_me())
    assert me.username == "fake_test_bot" and me.id == 123456 and me.is_bot
    assert server.base_url == f"http://127.0.0.1:{server.port}/bot"
    assert all(r.method == "getMe" and r.ok for r in server.requests)


def test_send_message_returns_realistic_message_and_records_state(
    server: FakeTelegramServer,
) -> None:
    server.push_text(CHAT, "hi")  # user message gets id 1
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])

    async def scenario(bot: Bot) -> Any:
        first = await bot.send_message(
            CHAT, "<b>Hello</b> 😀 <i>there</i>", parse_mode="HTML", reply_markup=keyboard,
            reply_parameters=ReplyParameters(message_id=1),
        )  # fmt: skip
        second = await bot.send_message(CHAT, "plain", disable_web_page_preview=True)
        return first, second

    first, second = run_with_bot(server, scenario)
    assert (first.message_id, second.message_id) == (2, 3)
    assert first.text == "Hello 😀 there"
    assert [(e.type, e.offset, e.length) for e in first.entities] == [
        ("bold", 0, 5), ("italic", 9, 5),  # 😀 is two UTF-16 units
    ]  # fmt: skip
    assert first.from_user.id == 123456 and first.chat.id == CHAT
    assert first.reply_markup == keyboard
    assert first.reply_to_message.message_id == 1

    sent = server.wait_for_bot_messages(CHAT, 2, timeout=1)
    assert [m.text for m in sent] == ["Hello 😀 there", "plain"]
    assert sent[0].button_texts == ["Yes"] and sent[0].parse_mode == "HTML"
    assert sent[1].link_preview_options == {"is_disabled": True}
    assert [m.from_bot for m in server.conversation(CHAT)] == [False, True, True]
    server.assert_no_validation_errors()


def test_unknown_chat_is_chat_not_found(server: FakeTelegramServer) -> None:
    assert bad_request(server, lambda bot: bot.send_message(999, "x")) == ("Bad Request: chat not found")


# --------------------------------------------------------------------------- text validation


@pytest.mark.parametrize(
    ("text", "parse_mode", "expected"),
    [
        ("", None, "Bad Request: message text is empty"),
        ("  \n ", None, "Bad Request: message text is empty"),
        ("<b></b>", "HTML", "Bad Request: message text is empty"),
        ("x" * 4097, None, "Bad Request: message is too long"),
        ("😀" * 2049, None, "Bad Request: message is too long"),  # 2049 chars, 4098 units
        ("<foo>x</foo>", "HTML",
         'Bad Request: can\'t parse entities: Unsupported start tag "foo" at byte offset 0'),
        ("a<br>b", "HTML",
         'Bad Request: can\'t parse entities: Unsupported start tag "br" at byte offset 1'),
        ("<b>bold", "HTML",
         "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
         '"b"'),
        ("<b><i>x</b></i>", "HTML",
         "Bad Request: can't parse entities: Unmatched end tag at byte offset 7, expected "
         '"</i>", found "</b>"'),
        ("x</b>", "HTML", "Bad Request: can't parse entities: Unexpected end tag at byte offset 1"),
        ("1 < 2", "HTML",
         'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 2'),
        ("é <b", "HTML", "Bad Request: can't parse entities: Unclosed start tag at byte offset 3"),
        ('<b class="x">y</b>', "HTML",
         'Bad Request: can\'t parse entities: Unsupported attribute "class" in the tag "b" at '
         "byte offset 0"),
        ('<span class="bold">y</span>', "HTML",
         'Bad Request: can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte '
         "offset 0"),
        ("Tom &nbsp; Jerry", "HTML",
         'Bad Request: can\'t parse entities: Unsupported HTML entity "&nbsp;" at byte offset 4; '
         "only &lt; &gt; &amp; &quot; and numeric references are allowed"),
        ("1.5", "MarkdownV2",
         "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with "
         "the preceding '\\'"),
        ("*bold", "MarkdownV2",
         "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 0"),
        ("x", "HTMLX", 'Bad Request: unsupported parse_mode "HTMLX"'),
    ],
)  # fmt: skip
def test_text_validation_errors(server: FakeTelegramServer, text: str, parse_mode: str | None, expected: str) -> None:
    assert bad_request(server, lambda bot: bot.send_message(CHAT, text, parse_mode=parse_mode)) == expected
    assert server.bot_messages(CHAT) == []


@pytest.mark.parametrize(
    "text",
    [
        "<b>" + "x" * 4096 + "</b>",  # 4096 visible characters after parsing is fine
        '<a href="https://example.com/?a=1&amp;b=2">link</a> Tom & Jerry',
        '<tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">s</span> <s>x</s> <u>u</u>',
        '<pre><code class="language-python">print("&lt;hi&gt;")</code></pre>',
        "<blockquote expandable>quote</blockquote> &#128512; &#x1F600; &quot;",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> <B>caps</B>',
        html.escape("if a < b && c > d: print('x')"),
    ],
)
def test_valid_html_is_accepted(server: FakeTelegramServer, text: str) -> None:
    run_with_bot(server, lambda bot: bot.send_message(CHAT, text, parse_mode="HTML"))
    server.assert_no_validation_errors()


def test_html_entities_and_pre_language() -> None:
    text, entities = parse_html('😀 <pre><code class="language-py">x</code></pre> <a href="tg://user?id=1">u</a>')
    assert text == "😀 x u"
    assert entities == [
        {"type": "pre", "offset": 3, "length": 1, "language": "py"},
        {"type": "text_link", "offset": 5, "length": 1, "url": "tg://user?id=1"},
    ]


def test_markdown_v2_parses_nested_entities_and_links() -> None:
    text, entities = parse_markdown_v2(r"*bold _it_* [l](https://e\.x) 1\.5 __u__ ||s||")
    assert text == "bold it l 1.5 u s"
    assert [e["type"] for e in entities] == [
        "bold", "italic", "text_link", "underline", "spoiler",
    ]  # fmt: skip
    assert entities[2]["url"] == "https://e.x"
    with pytest.raises(EntityParseError):
        parse_markdown_v2("a-b")


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_escaped_text_always_parses_to_itself(raw: str) -> None:
    """html.escape is the escaping bots use; anything it produces must be accepted."""
    text, entities = parse_html(html.escape(raw))
    assert text == raw.strip() and entities == []
    assert utf16_len(raw) == len(raw.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- keyboards


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ({"inline_keyboard": [[{"text": "A", "callback_data": "x" * 65}]]},
         "Bad Request: BUTTON_DATA_INVALID"),
        ({"inline_keyboard": [[{"text": "A", "callback_data": "é" * 33}]]},  # 66 bytes
         "Bad Request: BUTTON_DATA_INVALID"),
        ({"inline_keyboard": [[{"text": "A", "callback_data": ""}]]},
         "Bad Request: BUTTON_DATA_INVALID"),
        ({"inline_keyboard": [[{"text": "A", "url": "ftp://example.com"}]]},
         "Bad Request: BUTTON_URL_INVALID"),
        ({"inline_keyboard": [[{"text": "A", "url": "example.com"}]]},
         "Bad Request: BUTTON_URL_INVALID"),
        ({"inline_keyboard": [[{"text": "A"}]]},
         "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the "
         "inline keyboard"),
        ({"inline_keyboard": [[{"text": "", "callback_data": "a"}]]},
         "Bad Request: BUTTON_TEXT_INVALID"),
        ({"inline_keyboard": [[{"text": "A", "callback_data": "a", "url": "https://e.x"}]]},
         "Bad Request: can't parse inline keyboard button: exactly one of the optional fields "
         "must be used, got callback_data, url"),
        ({"inline_keyboard": [{"text": "A", "callback_data": "a"}]},
         'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an Array '
         "of Arrays"),
        ({"something": []}, "Bad Request: can't parse reply keyboard markup JSON object"),
    ],
)  # fmt: skip
def test_keyboard_validation_errors(server: FakeTelegramServer, markup: dict[str, Any], expected: str) -> None:
    assert (
        bad_request(
            server,
            lambda bot: bot.send_message(CHAT, "x", reply_markup=markup),  # type: ignore[arg-type]
        )
        == expected
    )


def test_keyboard_limits_are_inclusive(server: FakeTelegramServer) -> None:
    markup = InlineKeyboardMarkup([
        [InlineKeyboardButton("A", callback_data="é" * 32)],  # exactly 64 bytes
        [InlineKeyboardButton("B", url="tg://resolve?domain=x")],
    ])  # fmt: skip
    run_with_bot(server, lambda bot: bot.send_message(CHAT, "x", reply_markup=markup))
    server.assert_no_validation_errors()


def test_reply_keyboard_contact_flow(server: FakeTelegramServer) -> None:
    keyboard = ReplyKeyboardMarkup([[KeyboardButton("Share phone", request_contact=True)]], one_time_keyboard=True)
    run_with_bot(server, lambda bot: bot.send_message(CHAT, "Phone?", reply_markup=keyboard))
    assert server.reply_keyboard(CHAT)["keyboard"][0][0]["request_contact"] is True
    update = server.press_reply_button(CHAT, "Share phone", phone_number="+491701234567")
    contact = update["message"]["contact"]
    assert contact["user_id"] == update["message"]["from"]["id"] == CHAT
    assert server.reply_keyboard(CHAT) is None  # one_time keyboard hides after use

    run_with_bot(server, lambda bot: bot.send_message(CHAT, "ok", reply_markup=ReplyKeyboardRemove()))
    assert server.reply_keyboard(CHAT) is None
    assert "reply_markup" not in server.last_bot_message(CHAT).raw  # only inline is echoed


# --------------------------------------------------------------------------- edits, callbacks


def test_edit_message_text_and_markup(server: FakeTelegramServer) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])

    async def scenario(bot: Bot) -> list[str]:
        sent = await bot.send_message(CHAT, "one", reply_markup=markup)
        errors = []
        for attempt in (
            lambda: bot.edit_message_text("one", CHAT, sent.message_id, reply_markup=markup),
            lambda: bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=markup),
            lambda: bot.edit_message_text("x", CHAT, 999),
        ):
            try:
                await attempt()
            except BadRequest as exc:
                errors.append(exc.message)
        edited = await bot.edit_message_text("<b>two</b>", CHAT, sent.message_id, parse_mode="HTML")
        assert edited.text == "two" and edited.reply_markup is None and edited.edit_date
        await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=markup)
        return errors

    errors = run_with_bot(server, scenario)
    not_modified = (
        "Message is not modified: specified new message content and reply markup are exactly "
        "the same as a current content and reply markup of the message"
    ).lower()
    assert [e.lower() for e in errors] == [not_modified, not_modified, "message to edit not found"]
    [message] = server.bot_messages(CHAT)
    assert message.text == "two" and message.button_texts == ["A"]
    assert [e["text"] for e in message.edits] == ["one", "two"]
    assert [r.description for r in server.validation_errors] == [
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message",
    ] * 2 + ["Bad Request: message to edit not found"]


def test_answer_callback_query_once_only(server: FakeTelegramServer) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    sent = run_with_bot(server, lambda bot: bot.send_message(CHAT, "menu", reply_markup=markup))
    update = server.press_inline_button(CHAT, "Go")
    query = update["callback_query"]
    assert query["data"] == "go" and query["message"]["message_id"] == sent.message_id
    assert [c.id for c in server.unanswered_callbacks()] == [query["id"]]

    async def scenario(bot: Bot) -> None:
        with pytest.raises(BadRequest, match=r"(?i)message_too_long"):
            await bot.answer_callback_query(query["id"], text="x" * 201)
        assert await bot.answer_callback_query(query["id"], text="Done")
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query(query["id"])
        with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
            await bot.answer_callback_query("123")

    run_with_bot(server, scenario)
    [answered] = server.answered_callbacks()
    assert answered.answer["text"] == "Done" and server.unanswered_callbacks() == []
    with pytest.raises(ValueError):
        server.push_callback(CHAT, sent.message_id, "not-a-button")


def test_commands_menu_actions_and_delete(server: FakeTelegramServer) -> None:
    async def scenario(bot: Bot) -> None:
        await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
        with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
            await bot.set_my_commands([BotCommand("Start-Now", "x")])
        await bot.delete_my_commands()
        assert await bot.get_my_commands() == ()
        await bot.set_chat_menu_button(CHAT, MenuButtonCommands())
        await bot.send_chat_action(CHAT, "typing")
        sent = await bot.send_message(CHAT, "bye")
        assert await bot.delete_message(CHAT, sent.message_id)
        with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
            await bot.delete_message(CHAT, sent.message_id)
        await bot.log_out()
        await bot.close()

    run_with_bot(server, scenario)
    assert server.menu_button(CHAT) == {"type": "commands"}
    assert server.chat_actions(CHAT) == [(CHAT, "typing")]
    assert server.bot_messages(CHAT)[0].deleted and server.last_bot_message(CHAT) is None


# --------------------------------------------------------------------------- updates


def test_long_poll_returns_promptly_and_offsets_confirm(server: FakeTelegramServer) -> None:
    async def scenario(bot: Bot) -> None:
        started = time.monotonic()
        poll = asyncio.create_task(bot.get_updates(timeout=5))
        await server.wait_for_async(lambda: server.active_long_polls, timeout=2)
        server.push_command(CHAT, "/start", payload="ref42")
        [update] = await poll
        assert time.monotonic() - started < 1.5
        assert update.message.text == "/start ref42"
        assert update.message.entities[0].type == "bot_command"

        for text in ("a", "b", "c"):
            server.push_text(CHAT, text)
        batch = await bot.get_updates(offset=update.update_id + 1, limit=2, timeout=0)
        assert [u.message.text for u in batch] == ["a", "b"]
        assert len(server.pending_updates()) == 3  # nothing confirmed until the next offset
        rest = await bot.get_updates(offset=batch[-1].update_id + 1, timeout=0)
        assert [u.message.text for u in rest] == ["c"]
        assert len(server.pending_updates()) == 1
        assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == ()

        server.push_update(
            {
                "message": {
                    "chat": {"id": -100, "type": "group", "title": "G"},
                    "from": {"id": 7, "is_bot": False, "first_name": "U"},
                    "sticker": {
                        "file_id": "s",
                        "file_unique_id": "u",
                        "type": "regular",
                        "width": 1,
                        "height": 1,
                        "is_animated": False,
                        "is_video": False,
                    },
                }
            }
        )
        server.push_photo(CHAT, b"jpeg", caption="pic")
        server.push_voice(CHAT)
        got = await bot.get_updates(allowed_updates=["message"], timeout=0)
        assert got[0].message.sticker and got[0].effective_chat.type == "group"
        assert got[1].message.photo[-1].file_id and got[1].message.caption == "pic"
        file = await got[2].message.voice.get_file()
        assert await file.download_as_bytearray() == b"OggS-fake"

    run_with_bot(server, scenario)
    server.assert_no_validation_errors()


def test_duplicate_delivery_fault(server: FakeTelegramServer) -> None:
    server.inject_fault("getUpdates", "duplicate")
    update = server.push_text(CHAT, "once")

    async def scenario(bot: Bot) -> None:
        first = await bot.get_updates(timeout=0)
        again = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
        assert [u.update_id for u in first] == [u.update_id for u in again]
        assert await bot.get_updates(offset=first[-1].update_id + 1, timeout=0) == ()

    run_with_bot(server, scenario)
    assert server.delivery_count(update["update_id"]) == 2
    assert [r.fault for r in server.calls("getUpdates")] == ["duplicate", None, None]


def test_application_end_to_end(server: FakeTelegramServer) -> None:
    """The shape a bot test takes: real Application, polling, handlers, buttons."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ping", callback_data="ping")]])
        await update.message.reply_html("<b>Hi</b>", reply_markup=keyboard)

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("pong")
        await update.callback_query.edit_message_text("Pong!")

    async def scenario() -> None:
        app = server.application_builder().build()
        app.add_handler(CommandHandler("start", start))
        app.add_handler(CallbackQueryHandler(button))
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            server.push_command(CHAT, "/start")
            [menu] = await server.wait_for_bot_messages_async(CHAT, 1, timeout=3)
            assert menu.text == "Hi" and menu.button_texts == ["Ping"]
            server.press_inline_button(CHAT, "Ping")
            await server.wait_for_async(lambda: server.last_bot_message(CHAT).text == "Pong!", timeout=3)
            await app.updater.stop()
            await app.stop()

    asyncio.run(scenario())
    assert server.unanswered_callbacks() == []
    assert server.answered_callbacks()[0].answer["text"] == "pong"
    server.assert_no_validation_errors()


# --------------------------------------------------------------------------- auth and faults


def test_wrong_token_is_401_and_unknown_method_404(server: FakeTelegramServer) -> None:
    async def wrong_token() -> None:
        async with server.make_bot("999:WRONG"):
            pass

    with pytest.raises(InvalidToken):
        asyncio.run(wrong_token())
    assert server.requests[-1].status == 401

    for path, status, description in [
        ("/bot999:WRONG/getMe", 401, "Unauthorized"),
        (f"/bot{server.token}/noSuchMethod", 404, "Not Found"),
    ]:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(server.url + path, timeout=2)
        assert info.value.code == status
        assert json.loads(info.value.read()) == {
            "ok": False, "error_code": status, "description": description,
        }  # fmt: skip
    assert server.unsupported_methods == ["noSuchMethod"]


def test_json_and_query_string_bodies_are_accepted(server: FakeTelegramServer) -> None:
    body = json.dumps(
        {"chat_id": CHAT, "text": "123", "reply_markup": {"inline_keyboard": [[{"text": "A", "url": "https://x.y"}]]}}
    )
    request = urllib.request.Request(
        f"{server.base_url}{server.token}/sendMessage", data=body.encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=2) as response:
        result = json.loads(response.read())["result"]
    assert result["text"] == "123" and result["reply_markup"]["inline_keyboard"][0][0]["text"]
    url = f"{server.base_url}{server.token}/SENDMESSAGE?chat_id={CHAT}&text=true"
    with urllib.request.urlopen(url, timeout=2) as response:
        assert json.loads(response.read())["result"]["text"] == "true"  # text stays a string


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PTB's own RetryAfter.__init__
def test_retry_after_and_other_faults(server: FakeTelegramServer) -> None:
    server.inject_fault("sendMessage", "retry_after", retry_after=3)
    server.inject_fault("sendMessage", "http", status=502, raw_body="<html>Bad Gateway</html>")
    server.inject_fault("sendMessage", "drop")
    server.inject_fault("*", "blocked", count=None, chat_id=77)
    server.add_chat(77)

    async def scenario(bot: Bot) -> None:
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(CHAT, "x")
        assert "Retry in 3 seconds" in str(info.value)
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(CHAT, "x")
        with pytest.raises(NetworkError):
            await bot.send_message(CHAT, "x")  # connection closed without a response
        server.inject_fault("getMe", "stall", seconds=0.6)
        with pytest.raises(TimedOut):
            await bot.get_me(read_timeout=0.2)
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(77, "x")
        assert (await bot.send_message(CHAT, "finally")).text == "finally"

    run_with_bot(server, scenario)
    assert [r.fault for r in server.calls("sendMessage")] == [
        "retry_after", "http", "drop", "blocked", None,
    ]  # fmt: skip
    assert server.validation_errors == []  # injected faults are not the bot's fault
    assert [m.text for m in server.bot_messages(CHAT)] == ["finally"]


def test_lost_response_still_applies_side_effect(server: FakeTelegramServer) -> None:
    server.inject_fault("sendMessage", "drop", process=True)
    with pytest.raises(NetworkError):
        run_with_bot(server, lambda bot: bot.send_message(CHAT, "sent but unconfirmed"))
    assert [m.text for m in server.bot_messages(CHAT)] == ["sent but unconfirmed"]


# --------------------------------------------------------------------------- webhook


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, Any], str | None]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((json.loads(body), self.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_webhook_mode(server: FakeTelegramServer) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, args=(0.05,), daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    try:

        async def scenario(bot: Bot) -> None:
            assert await bot.set_webhook(hook, secret_token="s3cret")
            info = await bot.get_webhook_info()
            assert info.url == hook
            with pytest.raises(Conflict):
                await bot.get_updates(timeout=0)
            update = server.make_text_update(CHAT, "via hook")
            assert await server.deliver_via_webhook_async(update) == 200
            await bot.delete_webhook()

        run_with_bot(server, scenario)
    finally:
        receiver.shutdown()
        receiver.server_close()
    [(payload, secret)] = _Receiver.received
    assert payload["message"]["text"] == "via hook" and secret == "s3cret"
    assert server.webhook == {}


def test_standalone_entry_point() -> None:
    """`python -m tests.fake_telegram` prints the base URL first and serves until killed."""
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_telegram", "--port", "0", "--token", "5:T"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/bot")
        with urllib.request.urlopen(f"{base_url}5:T/getMe", timeout=5) as response:
            assert json.loads(response.read())["result"]["id"] == 5
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0


def test_a_request_cut_off_midway_is_not_handled(server: FakeTelegramServer) -> None:
    """A bot killed while sending: Telegram never sees half a request, so the fake must not
    record one as a call (it would look like a call with no chat_id)."""
    import socket

    body = json.dumps({"chat_id": 1, "message_id": 1, "text": "hello"}).encode()
    path = f"/bot{server.token}/editMessageText"
    before = len(server.requests)
    with socket.create_connection((server.host, server.port)) as raw:
        raw.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and len(server.requests) == before:
        time.sleep(0.05)
    assert [r.method for r in server.requests[before:]] == []
    assert server.validation_errors == [] or all(r.method != "editMessageText" for r in server.validation_errors)
