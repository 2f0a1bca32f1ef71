"""End to end: the safety question in Telegram, against the real bot process and a fake Bot API.

When triage is unsure it asks one question with Yes / No buttons; "Yes" turns that message into
the urgent reply, "No" turns it into a thank-you and answers the message that was asked about;
a late "No" is answered and changes nothing; a late "Yes" still gets the urgent reply.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_config
from bot.content.html import to_plain_text
from bot.content.loader import load_knowledge
from tests.bot_process import BotProcess, wait_quiet
from tests.conftest import ALARM_WORD_IN_AN_ORDINARY_MESSAGE
from tests.fake_telegram.server import FakeTelegramServer

KNOWLEDGE = load_knowledge(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir)
SAFETY = KNOWLEDGE.triage
UNSURE = "my bladder feels a bit strange lately, how does stress cause back pain?"
_chat_ids = itertools.count(7001)


@pytest.fixture(scope="module")
def bot(server: FakeTelegramServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    with BotProcess(server, tmp_path_factory.mktemp("data")) as process:
        yield process


@pytest.fixture
def chat() -> int:
    return next(_chat_ids)


def plain(html: str) -> str:
    return to_plain_text(html).split("\n")[0]


def ask(server: FakeTelegramServer, chat: int):
    server.push_text(chat, UNSURE)
    [question] = server.wait_for_bot_messages(chat, 1, timeout=15)
    assert question.text == plain(SAFETY.questions["bladder"].text)
    assert question.button_texts == [SAFETY.buttons["yes"], SAFETY.buttons["no"]]
    return question


def replaced_by(server: FakeTelegramServer, chat: int, message_id: int, reply: str, what: str):
    """The question's message, once edited in place into `reply` (its first line)."""
    start = plain(reply)
    return server.wait_for(
        lambda: (m := server.message(chat, message_id)) and m.text.startswith(start) and m, timeout=10, what=what
    )


def all_presses_answered(server: FakeTelegramServer) -> None:
    wait_quiet(server)
    assert server.unanswered_callbacks() == []
    assert server.validation_errors == [], [(r.method, r.description) for r in server.validation_errors]


def test_yes_turns_the_question_into_the_urgent_reply(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    question = ask(server, chat)
    server.press_inline_button(chat, SAFETY.buttons["yes"], message_id=question.message_id)
    urgent = KNOWLEDGE.safety["emergency"].reply
    edited = replaced_by(server, chat, question.message_id, urgent, "the urgent reply in place of the question")
    assert edited.buttons == [], "an urgent reply carries no menu and no offer"
    all_presses_answered(server)


def test_no_thanks_and_answers_the_message(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    question = ask(server, chat)
    server.press_inline_button(chat, SAFETY.buttons["no"], message_id=question.message_id)
    server.wait_for(
        lambda: server.message(chat, question.message_id).text == plain(SAFETY.texts["after_no"]),
        timeout=10,
        what="the thank-you in place of the question",
    )
    [_, answer] = server.wait_for_bot_messages(chat, 2, timeout=10)
    assert "119" not in answer.text and answer.text != plain(SAFETY.questions["bladder"].text)
    # The same "No" pressed again: answered, nothing sent.
    server.push_callback(chat, question.message_id, question.buttons[1]["callback_data"], check_button=False)
    wait_quiet(server)
    assert len(server.bot_messages(chat)) == 2
    all_presses_answered(server)


def test_a_late_yes_still_gets_the_urgent_reply(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    first = ask(server, chat)
    server.press_inline_button(chat, SAFETY.buttons["no"], message_id=first.message_id)
    server.wait_for_bot_messages(chat, 2, timeout=10)
    # Later, the patient goes back to the old question and presses "Yes".
    server.push_callback(chat, first.message_id, first.buttons[0]["callback_data"], check_button=False)
    urgent = KNOWLEDGE.safety["emergency"].reply
    replaced_by(server, chat, first.message_id, urgent, "the urgent reply after a late Yes")
    all_presses_answered(server)


def test_someone_else_gets_the_reply_worded_for_them(server: FakeTelegramServer, bot: BotProcess, chat: int) -> None:
    server.push_text(chat, "my husband can't move his legs since this morning")
    [reply] = server.wait_for_bot_messages(chat, 1, timeout=15)
    assert reply.text.startswith(plain(KNOWLEDGE.safety["emergency"].reply_other))
    assert reply.buttons == []


def test_an_alarm_the_safety_net_doubts_is_asked_and_yes_gives_the_crisis_reply(
    server: FakeTelegramServer, bot: BotProcess, chat: int
) -> None:
    """The rules read "wanted to die"; the net reads a question about drinking after Cellgel."""
    server.push_text(chat, ALARM_WORD_IN_AN_ORDINARY_MESSAGE)
    [question] = server.wait_for_bot_messages(chat, 1, timeout=15)
    assert question.text == plain(SAFETY.questions["crisis"].text)
    assert question.button_texts == [SAFETY.buttons["yes"], SAFETY.buttons["no"]]
    server.press_inline_button(chat, SAFETY.buttons["yes"], message_id=question.message_id)
    replaced_by(
        server, chat, question.message_id, KNOWLEDGE.safety["crisis"].reply, "the crisis reply in place of the question"
    )
    all_presses_answered(server)
