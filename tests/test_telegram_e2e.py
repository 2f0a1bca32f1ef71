"""End to end: the real `python -m bot run` process against a fake Bot API server over HTTP.

The fake server rejects what Telegram rejects (long texts, bad HTML, oversized callback data,
"message is not modified"), so every test also checks the bot never made an invalid call.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_config
from bot.content.html import to_plain_text
from bot.content.loader import load_knowledge
from tests.bot_process import BOOKING_URL, TOKEN, BotProcess, wait_quiet
from tests.fake_telegram.server import FakeTelegramServer

KNOWLEDGE = load_knowledge(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir)
UI = KNOWLEDGE.ui
SC = KNOWLEDGE.selfcheck
_chat_ids = itertools.count(5001)


@pytest.fixture(scope="module")
def bot(server: FakeTelegramServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    process = BotProcess(server, tmp_path_factory.mktemp("data"))
    with process:
        yield process
    assert TOKEN not in process.output(), "the token leaked into the bot's output"
    assert TOKEN.split(":")[1] not in process.output()


@pytest.fixture
def chat() -> int:
    return next(_chat_ids)


def first_line(entry_id: str) -> str:
    """How the start of an entry's answer looks to the patient (HTML rendered)."""
    return to_plain_text(KNOWLEDGE.entries[entry_id].answer).split("\n")[0][:60]


def messages(server: FakeTelegramServer, chat_id: int, count: int) -> list:
    return server.wait_for_bot_messages(chat_id, count, timeout=15)


def no_invalid_calls(server: FakeTelegramServer, after_crash: bool = False) -> None:
    """No call Telegram would reject, and every button press answered. After a crash, an edit
    that reached Telegram just before the kill is sent again (the outbox cannot know it
    arrived) and Telegram answers "not modified": harmless, and the only error allowed."""
    wait_quiet(server)
    errors = [
        r
        for r in server.validation_errors
        if not (after_crash and r.method == "editMessageText" and "not modified" in (r.description or ""))
    ]
    assert errors == [], [(r.method, r.description) for r in errors]
    assert server.unanswered_callbacks() == [], "a callback query was left unanswered"


def test_start_registers_commands_and_shows_menu(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    names = [command["command"] for command in server.commands()]
    assert names == ["start", "help", "selfcheck", "book", "privacy", "cancel", "forget"]
    server.push_command(chat, "/start")
    [reply] = messages(server, chat, 1)
    assert "not a diagnosis" in reply.text and "119" in reply.text
    assert reply.button_texts == [
        UI.buttons["ask"],
        UI.buttons["selfcheck"],
        UI.buttons["book"],
        KNOWLEDGE.callback.buttons["request"],
        UI.buttons["urgent"],
    ]
    no_invalid_calls(server)


def test_question_gets_answer_with_follow_ups_and_typing(
    server: FakeTelegramServer, bot: BotProcess, chat: int
) -> None:
    server.push_text(chat, "how does stres cause back pain")
    [reply] = messages(server, chat, 1)
    entry = KNOWLEDGE.entries["how_stress_causes_pain"]
    assert reply.text.startswith(first_line(entry.id))
    assert "Source:" in reply.text
    for follow_up in entry.follow_ups:
        assert KNOWLEDGE.entries[follow_up].title in reply.button_texts
    assert not server.chat_actions(chat), "a fast answer needs no typing action (it costs a rate-limit slot)"
    server.press_inline_button(chat, KNOWLEDGE.entries[entry.follow_ups[0]].title)
    second = messages(server, chat, 2)[1]
    assert first_line(entry.follow_ups[0]) in second.text
    no_invalid_calls(server)


def test_slow_answer_shows_typing(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    server.inject_fault("sendMessage", "stall", count=1, chat_id=chat, seconds=2.5)
    server.push_text(chat, "how does sleep help my back")
    messages(server, chat, 1)
    assert any(action == "typing" for _, action in server.chat_actions(chat))


def test_unknown_question_gets_honest_fallback(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    server.push_text(chat, "qwxz vbnmk plorft")
    [reply] = messages(server, chat, 1)
    assert reply.text.startswith(to_plain_text(UI.texts["fallback"]).split("\n")[0])
    assert UI.buttons["book"] in reply.button_texts


def test_whole_self_check_edits_one_message(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    server.push_command(chat, "/selfcheck")
    [check] = messages(server, chat, 1)
    server.press_inline_button(chat, SC.buttons["no"], message_id=check.message_id)  # safety question
    answers = ["yes", "no", "unsure", "yes", "no", "no", "no", "yes"]
    for number, answer in enumerate(answers, start=1):
        server.wait_for(
            lambda n=number: f"{n} of 8" in (server.message(chat, check.message_id).text or ""),
            timeout=10,
            what=f"question {number}",
        )
        server.press_inline_button(chat, SC.buttons[answer], message_id=check.message_id)
    result = server.wait_for(
        lambda: "may" in (server.message(chat, check.message_id).text or "") and server.message(chat, check.message_id),
        timeout=10,
        what="the result",
    )
    assert len(server.bot_messages(chat)) == 1, "the self-check must edit its message, not send new ones"
    yes_signs = [q.summary for q, a in zip(SC.questions, answers, strict=True) if a == "yes"]
    for summary in yes_signs:
        assert summary in result.text
    assert "not a diagnosis" in result.text
    assert any(b.get("url") == BOOKING_URL for b in result.buttons)
    no_invalid_calls(server)


def test_back_and_stale_presses(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    server.push_command(chat, "/start", "selfcheck")
    [check] = messages(server, chat, 1)
    first_screen = server.message(chat, check.message_id).raw["reply_markup"]
    server.press_inline_button(chat, SC.buttons["no"], message_id=check.message_id)
    server.wait_for(lambda: "1 of 8" in server.message(chat, check.message_id).text, timeout=10)
    server.press_inline_button(chat, SC.buttons["yes"], message_id=check.message_id)
    server.wait_for(lambda: "2 of 8" in server.message(chat, check.message_id).text, timeout=10)
    server.press_inline_button(chat, SC.buttons["back"], message_id=check.message_id)
    server.wait_for(lambda: "1 of 8" in server.message(chat, check.message_id).text, timeout=10)
    # An old keyboard (the safety question's "No") pressed again: answered, nothing moves.
    stale_data = first_screen["inline_keyboard"][0][1]["callback_data"]
    server.push_callback(chat, check.message_id, stale_data, check_button=False)
    server.wait_for(
        lambda: [
            c
            for c in server.answered_callbacks()
            if c.data == stale_data and c.chat_id == chat and (c.answer or {}).get("text") == UI.texts["stale_button"]
        ],
        timeout=10,
    )
    wait_quiet(server)
    assert "1 of 8" in server.message(chat, check.message_id).text
    no_invalid_calls(server)


def test_forged_and_unknown_callback_data_is_answered(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    server.push_command(chat, "/start")
    [menu] = messages(server, chat, 1)
    for data in ("xyz", "s:zz:99:y", "a:no_such_entry", "\u0000\u0001", "s:1:1:q"):
        server.push_callback(chat, menu.message_id, data, check_button=False)
    server.wait_for(
        lambda: len([c for c in server.callback_queries() if c.chat_id == chat and c.answered]) == 5,
        timeout=15,
        what="all forged callbacks answered",
    )
    no_invalid_calls(server)


def test_booking_link(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    server.push_command(chat, "/book")
    [reply] = messages(server, chat, 1)
    assert any(button.get("url") == BOOKING_URL for button in reply.buttons)
    server.push_command(chat + 100_000, "/start", "book")
    [deep] = messages(server, chat + 100_000, 1)
    assert any(button.get("url") == BOOKING_URL for button in deep.buttons)


def test_red_flag_gets_urgent_care_without_offer(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    server.push_text(chat, "been peeing myself since my back went yesterday")
    [reply] = messages(server, chat, 1)
    assert "119" in reply.text
    assert reply.buttons == []


def test_everything_else_a_patient_can_send(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    server.push_photo(chat)
    server.push_sticker(chat)
    server.push_voice(chat)
    server.push_document(chat)
    server.push_location(chat)
    server.push_contact(chat)
    server.push_text(chat, "😀😀😀")
    server.push_text(chat, "my back " * 600)  # 4,800 characters
    server.push_text(chat, "<b>hi</b> & <script>alert(1)</script>")
    server.push_text(chat, "/nonsense")
    server.push_message(
        chat,
        text="does stress cause back pain",
        forward_origin={"type": "hidden_user", "sender_user_name": "Someone", "date": 1700000000},
    )
    sent = messages(server, chat, 11)
    assert len(sent) >= 11
    original = server.push_text(chat, "hello")
    messages(server, chat, 12)
    server.push_edited_text(chat, original["message"]["message_id"], "how does sleep help")
    messages(server, chat, 13)
    group = -100_000 - chat
    server.push_text(group, "does stress cause back pain", chat_type="group", user_id=chat)
    server.push_command(group, "/start", chat_type="group", user_id=chat, mention_bot=True)
    [invite] = messages(server, group, 1)
    assert any(b.get("url", "").startswith("https://t.me/") for b in invite.buttons)
    wait_quiet(server)
    assert len(server.bot_messages(group)) == 1, "in groups only commands are answered"
    no_invalid_calls(server)
    for message in server.bot_messages(chat):
        assert "<script>" not in (message.text or "")


def test_sigkill_mid_check_resumes_exactly(tmp_path: Path, chat: int) -> None:
    # Its own server: two bots polling one server knock out each other's polls (409), as on Telegram.
    with FakeTelegramServer(token=TOKEN) as server:
        _sigkill_mid_check(server, tmp_path, chat)


def _sigkill_mid_check(server: FakeTelegramServer, tmp_path: Path, chat: int) -> None:
    process = BotProcess(server, tmp_path / "data").start()
    try:
        server.push_command(chat, "/selfcheck")
        [check] = messages(server, chat, 1)
        server.press_inline_button(chat, SC.buttons["no"], message_id=check.message_id)
        for number, answer in enumerate(["yes", "yes", "no"], start=1):
            server.wait_for(lambda n=number: f"{n} of 8" in server.message(chat, check.message_id).text, timeout=10)
            server.press_inline_button(chat, SC.buttons[answer], message_id=check.message_id)
        server.wait_for(lambda: "4 of 8" in server.message(chat, check.message_id).text, timeout=10)
        process.kill()
        process.start()
        for answer in ["no", "no", "no", "no", "yes"]:
            before = server.message(chat, check.message_id).text
            server.press_inline_button(chat, SC.buttons[answer], message_id=check.message_id)
            server.wait_for(lambda b=before: server.message(chat, check.message_id).text != b, timeout=10)
        result = server.message(chat, check.message_id).text
        assert "3 of 8" in result  # two yes before the kill, one after
        assert SC.questions[0].summary in result and SC.questions[1].summary in result
        assert SC.questions[7].summary in result
        no_invalid_calls(server, after_crash=True)
    finally:
        process.stop()
