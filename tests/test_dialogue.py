"""Dialogue.handle outside the self-check: commands, menu buttons, typed text (safety first,
then answers, then honest fallbacks) and unsupported input. Every turn goes through
conftest.check_turn: valid Telegram HTML, at most 4,096 characters, button data that decodes."""

from __future__ import annotations

import pytest

from bot.content.html import to_plain_text
from bot.content.loader import Knowledge
from bot.core.actions import ShowAnswer, Simple
from bot.core.dialogue import MAX_FOLLOW_UPS, MAX_MATCH_CHARS, Dialogue, Turn
from bot.core.replies import UserInput
from bot.core.state import ConversationState
from bot.understanding.matcher import Candidate, MatchResult
from bot.understanding.understander import Understanding
from tests.conftest import Chat, buttons_of

MAIN_MENU_ACTIONS = ["ask", "selfcheck", "book", "request", "urgent"]


def actions(turn: Turn) -> list[str | None]:
    return [button.action for button in buttons_of(turn)]


def urls(turn: Turn) -> list[str]:
    return [button.url for button in buttons_of(turn) if button.url]


def assert_main_menu(turn: Turn, knowledge: Knowledge) -> None:
    reply = turn.replies[-1]
    assert [b.action for row in reply.buttons for b in row] == MAIN_MENU_ACTIONS
    assert [b.label for row in reply.buttons for b in row] == [
        knowledge.request.buttons["request"] if name == "request" else knowledge.ui.buttons[name]
        for name in MAIN_MENU_ACTIONS
    ]


def kinds(turn: Turn) -> list[str]:
    return [event.kind for event in turn.events]


# --------------------------------------------------------------------------- commands


def test_start(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.command("start")
    (reply,) = turn.replies
    assert reply.text == knowledge.ui.texts["start"]
    assert knowledge.settings.clinic_name in reply.text
    assert_main_menu(turn, knowledge)
    assert len(buttons_of(turn)) == 5
    assert [(e.kind, e.data) for e in turn.events] == [("conversation_started", {"payload": ""})]
    assert chat.state == ConversationState()


def test_start_is_case_insensitive(chat: Chat, knowledge: Knowledge) -> None:
    assert chat.command("START").replies[0].text == knowledge.ui.texts["start"]


def test_start_with_unknown_payload_is_a_plain_start(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.command("start", "utm_source-ad")
    assert turn.replies[0].text == knowledge.ui.texts["start"]
    assert turn.events[0].data == {"payload": ""}  # unknown payloads are not recorded


def test_start_selfcheck_deep_link(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.command("start", "selfcheck")
    assert turn.replies[0].text.startswith(knowledge.selfcheck.texts["intro"])
    assert chat.state.selfcheck is not None and chat.state.selfcheck.step == 0
    assert kinds(turn) == ["conversation_started", "selfcheck_started"]
    assert turn.events[0].data == {"payload": "selfcheck"}


def test_start_book_deep_link(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.command("start", "book")
    assert turn.replies[0].text == knowledge.ui.texts["book"]
    assert urls(turn) == [knowledge.settings.booking_url]
    assert kinds(turn) == ["conversation_started", "booking_shown"]


def test_start_during_a_check_keeps_it(chat: Chat) -> None:
    chat.command("selfcheck")
    before = chat.state
    chat.command("start")
    assert chat.state == before


def test_help(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.command("help")
    assert turn.replies[0].text == knowledge.ui.texts["help"]
    assert_main_menu(turn, knowledge)


def test_book(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.command("book")
    (reply,) = turn.replies
    assert reply.text == knowledge.ui.texts["book"]
    assert knowledge.settings.phone in reply.text
    assert reply.buttons[0][0].url == knowledge.settings.booking_url
    assert reply.buttons[0][0].label == knowledge.ui.buttons["book"]
    assert actions(turn)[-1] == "menu"
    assert kinds(turn) == ["booking_shown"]


def test_privacy(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.command("privacy")
    assert turn.replies[0].text == knowledge.ui.text("privacy", retention_days="30")
    assert "/forget" in turn.replies[0].text
    assert actions(turn) == ["menu"]


def test_cancel_without_a_check(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.command("cancel")
    assert turn.replies[0].text == knowledge.ui.texts["nothing_to_cancel"]
    assert_main_menu(turn, knowledge)
    assert chat.state == ConversationState()


def test_cancel_with_a_check(chat: Chat, knowledge: Knowledge) -> None:
    chat.command("selfcheck")
    chat.tap("No")
    turn = chat.command("cancel")
    assert turn.replies[0].text == knowledge.selfcheck.texts["stopped"]
    assert chat.state == ConversationState(selfcheck=None, checks_started=1)
    assert kinds(turn) == ["selfcheck_stopped"]
    assert actions(turn) == ["menu"]


def test_menu_command(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.command("menu")
    assert turn.replies[0].text == knowledge.ui.texts["menu"]
    assert_main_menu(turn, knowledge)


@pytest.mark.parametrize("name", ["foo", "settings", "startt"])
def test_unknown_command(chat: Chat, knowledge: Knowledge, name: str) -> None:
    turn = chat.command(name)
    assert turn.replies[0].text == knowledge.ui.texts["unknown_command"]
    assert_main_menu(turn, knowledge)
    assert chat.state == ConversationState()


# --------------------------------------------------------------------------- menu buttons


def test_menu_buttons(chat: Chat, knowledge: Knowledge) -> None:
    ui = knowledge.ui.texts
    assert chat.press("ask").replies[0].text == ui["ask_prompt"]
    urgent = chat.press("urgent")
    assert urgent.replies[0].text == ui["urgent_info"]
    assert knowledge.settings.emergency_number in urgent.replies[0].text
    assert urls(chat.press("book")) == [knowledge.settings.booking_url]
    menu = chat.press("menu")
    assert menu.replies[0].text == ui["menu"]
    assert_main_menu(menu, knowledge)
    none = chat.press("none")
    assert none.replies[0].text == ui["fallback"]
    assert chat.state == ConversationState()
    started = chat.press("selfcheck")
    assert kinds(started) == ["selfcheck_started"]
    assert chat.state.selfcheck is not None


def test_menu_button_mid_check_keeps_the_check(chat: Chat) -> None:
    chat.command("selfcheck")
    before = chat.state
    chat.press("menu")
    chat.press("ask")
    assert chat.state == before


# --------------------------------------------------------------------------- safety first


RED_FLAGS = [
    "my back hurts and I can't control my bladder",
    "numbness between my legs since this morning",
    "both legs are weak and getting worse",
]


@pytest.mark.parametrize("text", RED_FLAGS)
def test_red_flag_gets_emergency_reply_without_buttons(chat: Chat, knowledge: Knowledge, text: str) -> None:
    turn = chat.text(text)
    (reply,) = turn.replies
    assert reply.text == knowledge.safety["emergency"].reply
    assert reply.buttons == ()
    assert knowledge.settings.booking_url not in reply.text
    assert knowledge.settings.emergency_number in reply.text
    assert turn.events[0].kind == "triage"
    assert turn.events[0].data["level"] == "emergency"


@pytest.mark.parametrize("step", [0, 1, 5])
def test_red_flag_mid_selfcheck_keeps_state(chat: Chat, knowledge: Knowledge, step: int) -> None:
    chat.command("selfcheck")
    if step:
        chat.tap("No")
    for _ in range(max(step - 1, 0)):
        chat.tap("Yes")
    before = chat.state
    turn = chat.text("Since this morning I cannot control my bladder and my back really hurts")
    (reply,) = turn.replies
    assert reply.text == knowledge.safety["emergency"].reply
    assert reply.buttons == ()
    assert not reply.replaces_pressed
    assert knowledge.settings.booking_url not in reply.text
    assert chat.state == before


def test_urgent_symptom_gets_see_a_doctor_today(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.text("back pain and I have had a fever since yesterday")
    (reply,) = turn.replies
    assert reply.text == knowledge.safety["urgent"].reply
    assert reply.buttons == ()


@pytest.mark.parametrize("text", ["I want to end my life", "sometimes I think about killing myself"])
def test_crisis_reply_has_help_lines_and_no_buttons(chat: Chat, knowledge: Knowledge, text: str) -> None:
    turn = chat.text(text)
    (reply,) = turn.replies
    assert reply.text == knowledge.safety["crisis"].reply
    assert reply.buttons == ()
    for line in knowledge.settings.crisis_lines:
        assert line.name in reply.text
        assert line.number in reply.text
    assert "{help_lines}" not in reply.text
    assert turn.events[0].data["level"] == "crisis"


def test_crisis_mid_selfcheck_keeps_state(chat: Chat, knowledge: Knowledge) -> None:
    chat.command("selfcheck")
    before = chat.state
    turn = chat.text("I don't want to live anymore")
    assert turn.replies[0].text == knowledge.safety["crisis"].reply
    assert chat.state == before


def test_red_flag_at_the_end_of_a_long_message(chat: Chat, knowledge: Knowledge) -> None:
    text = "My week has been long and busy. " * 150 + " and now I can't control my bladder"
    assert len(text) > MAX_MATCH_CHARS * 4
    turn = chat.text(text)
    assert [reply.text for reply in turn.replies] == [knowledge.safety["emergency"].reply]


# --------------------------------------------------------------------------- answers


def test_answer_has_source_line_and_follow_ups(chat: Chat, knowledge: Knowledge) -> None:
    entry = knowledge.entries["how_stress_causes_pain"]
    turn = chat.text("how does stress cause back pain")
    (reply,) = turn.replies
    assert reply.text.startswith(entry.answer)
    source = knowledge.ui.text("source", section=entry.source or "")
    assert reply.text.endswith(source)
    assert "Source:" in to_plain_text(source)
    # Same-subject neighbours that scored almost as well come first, then the entry's own follow-ups.
    match = chat.dialogue.understander.understand("how does stress cause back pain").match
    targets = list(dict.fromkeys((*match.neighbours, *entry.follow_ups)))[:MAX_FOLLOW_UPS]
    expected = [ShowAnswer(target).encode() for target in targets]
    assert actions(turn)[: len(expected)] == expected
    assert [b.label for b in buttons_of(turn)][: len(expected)] == [
        knowledge.entries[target].title for target in targets
    ]
    pressed = chat.press(ShowAnswer(entry.id).encode())  # from a button: its own follow-ups only
    own = [ShowAnswer(target).encode() for target in entry.follow_ups]
    assert actions(pressed)[: len(own)] == own
    assert actions(turn)[-1] == Simple("menu").encode()
    assert turn.events[0].kind == "answered"
    assert turn.events[0].data["entry"] == entry.id
    assert chat.state == ConversationState()


def test_follow_up_button_shows_that_answer(chat: Chat, knowledge: Knowledge) -> None:
    chat.text("how does stress cause back pain")
    target = knowledge.entries["how_stress_causes_pain"].follow_ups[0]
    turn = chat.tap(knowledge.entries[target].title)
    assert turn.replies[0].text.startswith(knowledge.entries[target].answer)
    assert turn.events[0].data == {"entry": target, "score": None}


def test_cellgel_question(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.text("cellgel?")
    assert turn.replies[0].text.startswith(knowledge.entries["cellgel_what"].answer)


def test_smalltalk_with_menu_shows_main_menu(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.text("hi")
    (reply,) = turn.replies
    assert reply.text == knowledge.entries["greeting"].answer  # no source line for small talk
    assert_main_menu(turn, knowledge)


class StubUnderstander:
    """Stands in for the matcher so the dialogue's own rendering is tested on its own."""

    def __init__(self, match: MatchResult) -> None:
        self.match = match

    def understand(self, text: str, max_match_chars: int | None = None) -> Understanding:
        return Understanding(None, self.match)


@pytest.mark.parametrize(
    ("scores", "shown"),
    [
        ((80.0, 70.0, 65.0), ["breathing", "sleep"]),  # at most two suggestions
        ((80.0, 40.0, 30.0), ["breathing"]),  # a weak second one is left out
    ],
)
def test_did_you_mean_offers_candidates(knowledge: Knowledge, scores: tuple[float, ...], shown: list[str]) -> None:
    ids = ("breathing", "sleep", "exercise")
    match = MatchResult("did_you_mean", tuple(map(Candidate, ids, scores)))
    stub = Chat(Dialogue(knowledge, understander=StubUnderstander(match)))  # type: ignore[arg-type]
    turn = stub.text("breathe or sleep")
    (reply,) = turn.replies
    assert reply.text == knowledge.ui.texts["did_you_mean"]
    assert [(e.kind, e.data) for e in turn.events] == [("did_you_mean", {"entries": shown, "score": scores[0]})]
    assert actions(turn) == [*(ShowAnswer(e).encode() for e in shown), "none"]
    assert [b.label for b in buttons_of(turn)] == [
        *(knowledge.entries[e].title for e in shown),
        knowledge.ui.buttons["none_of_these"],
    ]
    turn = stub.tap(knowledge.ui.buttons["none_of_these"])
    assert turn.replies[0].text == knowledge.ui.texts["fallback"]


@pytest.mark.parametrize("text", ["qwzx plorf vrank", "what is the capital of France"])
def test_nonsense_gets_fallback_with_menu(chat: Chat, knowledge: Knowledge, text: str) -> None:
    turn = chat.text(text)
    (reply,) = turn.replies
    assert reply.text == knowledge.ui.texts["fallback"]
    assert_main_menu(turn, knowledge)
    assert turn.events[0].kind == "unanswered"
    assert turn.events[0].data["text"] == text


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "😀", "🙂👍🏽", "???", "..."])
def test_empty_text(chat: Chat, knowledge: Knowledge, text: str) -> None:
    turn = chat.text(text)
    (reply,) = turn.replies
    assert reply.text == knowledge.ui.texts["empty"]
    assert_main_menu(turn, knowledge)
    assert turn.events == ()
    assert chat.state == ConversationState()


def test_very_long_message_gets_the_note_first(chat: Chat, knowledge: Knowledge) -> None:
    text = "how does stress cause back pain? " + "My week has been long and busy. " * 160
    assert len(text) >= 5000
    turn = chat.text(text)
    assert len(turn.replies) == 2
    assert turn.replies[0].text == knowledge.ui.text("too_long", limit=str(MAX_MATCH_CHARS))
    assert turn.replies[0].buttons == ()
    assert turn.replies[1].text.startswith(knowledge.entries["how_stress_causes_pain"].answer)


def test_very_long_nonsense_is_stored_shortened(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.text("zq " * 2000)
    assert turn.replies[0].text == knowledge.ui.text("too_long", limit=str(MAX_MATCH_CHARS))
    assert turn.replies[-1].text == knowledge.ui.texts["fallback"]
    assert len(turn.events[0].data["text"]) == MAX_MATCH_CHARS


def test_unsupported_input(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.send(UserInput.unsupported())
    assert turn.replies[0].text == knowledge.ui.texts["non_text"]
    assert_main_menu(turn, knowledge)
    assert chat.state == ConversationState()


def test_unsupported_input_mid_check_keeps_it(chat: Chat) -> None:
    chat.command("selfcheck")
    before = chat.state
    chat.send(UserInput.unsupported())
    assert chat.state == before


def test_every_entry_answer_is_a_valid_reply(chat: Chat, knowledge: Knowledge) -> None:
    """Each entry shown through its button passes the same Telegram checks as everything else."""
    for entry_id in knowledge.entries:
        turn = chat.press(ShowAnswer(entry_id).encode())
        assert turn.replies[0].text.startswith(knowledge.entries[entry_id].answer)
    assert chat.state == ConversationState()
