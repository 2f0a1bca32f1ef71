"""The self-check through Dialogue.handle: every path, late and repeated presses, typed answers,
state storage and button data. Every turn is checked by conftest.check_turn (valid Telegram
HTML, at most 4,096 characters, button data that decodes, state that survives storage)."""

from __future__ import annotations

import shutil

import pytest

from bot.content.html import to_plain_text
from bot.content.loader import Knowledge, load_knowledge
from bot.core.actions import (
    MAX_CALLBACK_BYTES,
    SELFCHECK_CHOICES,
    SIMPLE_ACTIONS,
    SelfCheckAnswer,
    ShowAnswer,
    Simple,
    decode,
)
from bot.core.dialogue import Dialogue, Turn
from bot.core.replies import UserInput
from bot.core.state import STATE_VERSION, ConversationState, SelfCheckProgress
from tests.conftest import KNOWLEDGE_DIR, Chat, buttons_of

YES, NO, UNSURE, BACK, STOP, CONTINUE = "Yes", "No", "Not sure", "◀ Back", "Stop", "Continue the check"


@pytest.fixture(autouse=True, scope="module")
def _labels_match_the_knowledge(knowledge: Knowledge) -> None:
    buttons = knowledge.selfcheck.buttons
    assert (buttons["yes"], buttons["no"], buttons["unsure"]) == (YES, NO, UNSURE)
    assert (buttons["back"], buttons["stop"], buttons["continue"]) == (BACK, STOP, CONTINUE)


def plain(turn: Turn) -> str:
    return "\n".join(to_plain_text(reply.text) for reply in turn.replies)


def labels(turn: Turn) -> list[str]:
    return [button.label for button in buttons_of(turn)]


def started(chat: Chat) -> Turn:
    turn = chat.command("selfcheck")
    assert chat.state.selfcheck is not None and chat.state.selfcheck.step == 0
    return turn


def at_question(chat: Chat, number: int, answer: str = NO) -> Turn:
    """Start a check, pass the safety question, answer `answer` up to question `number`."""
    started(chat)
    turn = chat.tap(NO)
    for _ in range(number - 1):
        turn = chat.tap(answer)
    return turn


def total(knowledge: Knowledge) -> int:
    return len(knowledge.selfcheck.questions)


# --------------------------------------------------------------------------- start and screening


def test_start_shows_intro_and_safety_question(chat: Chat, knowledge: Knowledge) -> None:
    turn = started(chat)
    (reply,) = turn.replies
    spec = knowledge.selfcheck
    assert reply.text.startswith(spec.texts["intro"])
    assert spec.screening in reply.text
    assert labels(turn) == [YES, NO, UNSURE, STOP]
    assert not reply.replaces_pressed  # a command sends a new message
    assert [event.kind for event in turn.events] == ["selfcheck_started"]
    assert chat.state.checks_started == 1


def test_screening_yes_gives_urgent_info_and_ends(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    turn = chat.tap(YES)
    (reply,) = turn.replies
    assert knowledge.selfcheck.texts["screening_urgent"] in reply.text
    assert knowledge.ui.texts["urgent_info"] in reply.text
    assert chat.state.selfcheck is None
    assert all(button.url is None for button in buttons_of(turn)), "no booking button"
    assert knowledge.settings.booking_url not in reply.text
    assert labels(turn) == [knowledge.ui.buttons["menu"]]
    assert reply.replaces_pressed
    assert [event.kind for event in turn.events] == ["selfcheck_screened_out"]


def test_screening_not_sure_then_continue(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    turn = chat.tap(UNSURE)
    assert turn.replies[0].text == knowledge.ui.texts["urgent_info"]
    assert labels(turn) == [CONTINUE, STOP]
    assert chat.state.selfcheck == SelfCheckProgress("1", 0, (), screening_unsure=True)
    turn = chat.tap(CONTINUE)
    assert "Question 1 of 8" in plain(turn)
    assert chat.state.selfcheck == SelfCheckProgress("1", 1, ())


def test_screening_not_sure_then_stop(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    chat.tap(UNSURE)
    turn = chat.tap(STOP)
    assert turn.replies[0].text == knowledge.selfcheck.texts["stopped"]
    assert chat.state.selfcheck is None


def test_screening_no_goes_to_question_one(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    turn = chat.tap(NO)
    first = knowledge.selfcheck.questions[0]
    assert plain(turn) == f"Question 1 of 8\n{first.text}"
    assert labels(turn) == [YES, NO, UNSURE, BACK, STOP]
    assert turn.replies[0].replaces_pressed


# --------------------------------------------------------------------------- results


def test_all_no_gives_result_none_self_care_and_booking(chat: Chat, knowledge: Knowledge) -> None:
    turn = at_question(chat, total(knowledge))
    turn = chat.tap(NO)
    (reply,) = turn.replies
    texts = knowledge.selfcheck.texts
    assert reply.text.startswith(texts["result_none"])
    assert texts["self_care"] in reply.text
    assert texts["offer"] in reply.text
    assert texts["result_some"].split("\n")[1].split("{")[0] not in reply.text  # "You said yes to"
    assert texts["result_unsure"].split("\n")[0] not in reply.text
    urls = [button.url for button in buttons_of(turn) if button.url]
    assert urls == [knowledge.settings.booking_url]
    assert labels(turn) == [
        knowledge.ui.buttons["book"],
        knowledge.request.buttons["request"],
        knowledge.ui.buttons["menu"],
    ]
    assert chat.state.selfcheck is None
    assert [(event.kind, event.data) for event in turn.events] == [("selfcheck_finished", {"yes": 0})]


def test_some_yes_lists_exactly_those_signs(chat: Chat, knowledge: Knowledge) -> None:
    questions = knowledge.selfcheck.questions
    yes_at = {1, 4, 7}
    started(chat)
    chat.tap(NO)
    for number in range(1, len(questions) + 1):
        turn = chat.tap(YES if number in yes_at else NO)
    text = turn.replies[0].text
    listed = [line[2:] for line in text.splitlines() if line.startswith("• ")]
    expected = [questions[number - 1].summary for number in sorted(yes_at)]
    assert listed[: len(expected)] == expected
    for number, question in enumerate(questions, start=1):
        if number not in yes_at:
            assert f"• {question.summary}\n" not in text
    assert f"You said yes to 3 of {len(questions)} signs" in to_plain_text(text)
    assert " may " in to_plain_text(text)
    assert knowledge.selfcheck.texts["result_none"] not in text
    assert any(button.url == knowledge.settings.booking_url for button in buttons_of(turn))
    assert turn.events[0].data == {"yes": 3}


def test_unsure_answers_are_listed(chat: Chat, knowledge: Knowledge) -> None:
    questions = knowledge.selfcheck.questions
    started(chat)
    chat.tap(NO)
    for number in range(1, len(questions) + 1):
        turn = chat.tap(UNSURE if number in (2, 8) else NO)
    text = turn.replies[0].text
    unsure = knowledge.selfcheck.texts["result_unsure"].format(
        signs=f"• {questions[1].summary}\n• {questions[7].summary}"
    )
    assert text.startswith(knowledge.selfcheck.texts["result_none"])  # no "yes" at all
    assert unsure in text


def test_yes_and_unsure_together(chat: Chat, knowledge: Knowledge) -> None:
    questions = knowledge.selfcheck.questions
    started(chat)
    chat.tap(NO)
    for number in range(1, len(questions) + 1):
        turn = chat.tap({3: YES, 5: UNSURE}.get(number, NO))
    text = to_plain_text(turn.replies[0].text)
    yes_part, unsure_part = text.split("You were not sure about:")
    assert f"• {questions[2].summary}" in yes_part
    assert f"• {questions[4].summary}" not in yes_part
    assert f"• {questions[4].summary}" in unsure_part
    assert f"• {questions[2].summary}" not in unsure_part


# --------------------------------------------------------------------------- back and stop


@pytest.mark.parametrize("number", range(2, 9))
def test_back_from_each_question(chat: Chat, knowledge: Knowledge, number: int) -> None:
    at_question(chat, number, answer=YES)
    assert chat.state.selfcheck.answers == ("yes",) * (number - 1)
    turn = chat.tap(BACK)
    progress = chat.state.selfcheck
    assert progress.step == number - 1
    assert progress.answers == ("yes",) * (number - 2)
    question = knowledge.selfcheck.questions[number - 2]
    assert plain(turn) == f"Question {number - 1} of 8\n{question.text}"
    assert turn.replies[0].replaces_pressed


def test_back_replaces_the_earlier_answer(chat: Chat, knowledge: Knowledge) -> None:
    at_question(chat, 2, answer=YES)
    chat.tap(BACK)
    for _ in knowledge.selfcheck.questions:
        turn = chat.tap(NO)
    assert turn.replies[0].text.startswith(knowledge.selfcheck.texts["result_none"])


def test_back_from_question_one_returns_to_screening(chat: Chat, knowledge: Knowledge) -> None:
    at_question(chat, 1)
    turn = chat.tap(BACK)
    assert turn.replies[0].text == knowledge.selfcheck.screening
    assert labels(turn) == [YES, NO, UNSURE, STOP]
    assert chat.state.selfcheck == SelfCheckProgress("1", 0, ())


def test_back_twice_from_question_three(chat: Chat) -> None:
    at_question(chat, 3, answer=UNSURE)
    chat.tap(BACK)
    turn = chat.tap(BACK)
    assert "Question 1 of 8" in plain(turn)
    assert chat.state.selfcheck.answers == ()


@pytest.mark.parametrize("number", range(0, 9))
def test_stop_at_each_step(chat: Chat, knowledge: Knowledge, number: int) -> None:
    if number == 0:
        started(chat)
    else:
        at_question(chat, number, answer=YES)
    turn = chat.tap(STOP)
    assert turn.replies[0].text == knowledge.selfcheck.texts["stopped"]
    assert labels(turn) == [knowledge.ui.buttons["menu"]]
    assert chat.state == ConversationState(selfcheck=None, checks_started=1)
    assert turn.events[0].kind == "selfcheck_stopped"
    assert turn.events[0].data == {"step": number}


# --------------------------------------------------------------------------- late and repeated presses


def assert_stale(chat: Chat, data: str, knowledge: Knowledge) -> None:
    before = chat.state
    turn = chat.press(data)
    assert turn.replies == ()
    assert turn.toast == knowledge.ui.texts["stale_button"]
    assert turn.state == before
    assert chat.state == before


def test_old_step_button_after_moving_on(chat: Chat, knowledge: Knowledge) -> None:
    at_question(chat, 1)
    first_no = chat.button(NO).action
    first_yes = chat.button(YES).action
    chat.tap(NO)
    assert chat.state.selfcheck.step == 2
    assert_stale(chat, first_no, knowledge)  # the same button again
    assert_stale(chat, first_yes, knowledge)  # an older step's other button


def test_same_button_twice_counts_once(chat: Chat, knowledge: Knowledge) -> None:
    at_question(chat, 3)
    yes = chat.button(YES).action
    chat.press(yes)
    assert chat.state.selfcheck.answers == ("no", "no", "yes")
    assert_stale(chat, yes, knowledge)
    assert chat.state.selfcheck.answers == ("no", "no", "yes")


def test_double_tap_on_back_and_on_stop(chat: Chat, knowledge: Knowledge) -> None:
    at_question(chat, 4)
    back = chat.button(BACK).action
    chat.press(back)
    assert_stale(chat, back, knowledge)
    assert chat.state.selfcheck.step == 3
    stop = chat.button(STOP).action
    chat.press(stop)
    assert_stale(chat, stop, knowledge)


def test_last_answer_pressed_twice_after_the_result(chat: Chat, knowledge: Knowledge) -> None:
    at_question(chat, 8)
    last = chat.button(NO).action
    chat.press(last)
    assert chat.state.selfcheck is None
    assert_stale(chat, last, knowledge)


def test_screening_button_after_moving_on(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    screening_yes = chat.button(YES).action
    chat.tap(NO)
    assert_stale(chat, screening_yes, knowledge)


def test_buttons_of_an_earlier_run_are_stale(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    old_screening_no = chat.button(NO).action
    chat.tap(NO)
    old_question_yes = chat.button(YES).action
    started(chat)  # /selfcheck again: a new run
    assert chat.state.checks_started == 2
    assert chat.state.selfcheck.run != decode(old_screening_no).run
    assert_stale(chat, old_screening_no, knowledge)  # same step 0, old run
    chat.tap(NO)
    assert_stale(chat, old_question_yes, knowledge)  # same step 1, old run


def test_double_tap_on_not_sure_counts_once(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    not_sure = chat.button(UNSURE).action
    chat.press(not_sure)
    assert_stale(chat, not_sure, knowledge)


# --------------------------------------------------------------------------- forged button data


@pytest.mark.parametrize("data", ["s:zz:99:y", "s:1:1:y", "s:2:0:n"])
def test_forged_selfcheck_data_during_a_check_is_stale(chat: Chat, knowledge: Knowledge, data: str) -> None:
    started(chat)
    assert_stale(chat, data, knowledge)


def test_forged_selfcheck_data_without_a_check_changes_nothing(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.press("s:zz:99:y")
    assert turn.toast
    assert chat.state == ConversationState()


def test_selfcheck_press_without_a_check_shows_the_menu(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.press("s:zz:99:y")
    assert turn.toast
    assert turn.replies and turn.replies[-1].buttons


@pytest.mark.parametrize("data", ["xyz", "a:nope", "a:" + "x" * 63, "s:1:0:q", "", "menu ", "s:1:100:y", "a:Sleep"])
def test_unknown_button_data_gets_toast_and_menu(chat: Chat, knowledge: Knowledge, data: str) -> None:
    started(chat)
    before = chat.state
    turn = chat.press(data)
    assert turn.toast == knowledge.ui.texts["unknown_button"]
    assert turn.replies[0].text == knowledge.ui.texts["menu"]
    assert len(labels(turn)) == 5
    assert turn.state == before
    assert [event.kind for event in turn.events] == ["unknown_button"]


def test_65_bytes_of_data(chat: Chat, knowledge: Knowledge) -> None:
    data = "s:" + "1" * 63
    assert len(data.encode()) == 65
    turn = chat.press(data)
    assert turn.toast == knowledge.ui.texts["unknown_button"]
    assert turn.state == ConversationState()


# --------------------------------------------------------------------------- typed answers


def test_typed_answers_drive_the_check(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    turn = chat.text("no")
    assert "Question 1 of 8" in plain(turn)
    assert not turn.replies[0].replaces_pressed  # typed: a new message, not an edit
    chat.text("Yes")
    chat.text("not sure")
    assert chat.state.selfcheck.answers == ("yes", "unsure")
    turn = chat.text("back")
    assert "Question 2 of 8" in plain(turn)
    assert chat.state.selfcheck.answers == ("yes",)
    turn = chat.text("Stop")
    assert turn.replies[0].text == knowledge.selfcheck.texts["stopped"]
    assert chat.state.selfcheck is None


def test_typed_answers_to_the_end(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    chat.text("NO!")
    for _ in range(total(knowledge)):
        turn = chat.text(" no ")
    assert turn.replies[0].text.startswith(knowledge.selfcheck.texts["result_none"])
    assert chat.state.selfcheck is None


def test_typed_not_sure_at_screening(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    turn = chat.text("Not sure")
    assert turn.replies[0].text == knowledge.ui.texts["urgent_info"]
    turn = chat.text("not sure")
    assert "Question 1 of 8" in plain(turn)


def test_typed_back_at_screening_repeats_it(chat: Chat, knowledge: Knowledge) -> None:
    started(chat)
    before = chat.state
    turn = chat.text("back")
    assert turn.replies[0].text == knowledge.selfcheck.screening
    assert chat.state == before


def test_typed_yes_without_a_check_is_not_an_answer(chat: Chat) -> None:
    chat.text("yes")
    assert chat.state == ConversationState()


def test_red_flag_mid_check_keeps_the_check(chat: Chat, knowledge: Knowledge) -> None:
    at_question(chat, 3)
    before = chat.state
    turn = chat.text("yes and now I can't control my bladder")
    (reply,) = turn.replies
    assert reply.text == knowledge.safety["emergency"].reply
    assert reply.buttons == ()
    assert chat.state == before
    chat.tap(YES)  # the question's buttons still work afterwards
    assert chat.state.selfcheck.answers == ("no", "no", "yes")


# --------------------------------------------------------------------------- state storage


def test_state_round_trips_at_every_step(chat: Chat, knowledge: Knowledge) -> None:
    """The stored state is read back before each press, as after a restart."""
    started(chat)
    for label in [UNSURE, CONTINUE, YES, UNSURE, BACK, NO, NO, YES, NO, NO, NO, NO]:
        chat.state = ConversationState.from_json(chat.state.to_json())
        turn = chat.tap(label)
    assert chat.state.selfcheck is None  # finished
    assert turn.events[0].data == {"yes": 2}  # yes, no, no, yes, no, no, no, no


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "",
        "garbage",
        "{",
        "[]",
        "null",
        '"x"',
        "1e400",
        '{"selfcheck": 5}',
        '{"checks_started": "many"}',
        '{"selfcheck": {"step": 1}}',
        '{"selfcheck": {"run": "1", "step": "x"}}',
    ],
)
def test_garbage_state_becomes_a_fresh_state(stored: str | None) -> None:
    assert ConversationState.from_json(stored) == ConversationState()


def test_json_is_one_line_and_versioned() -> None:
    state = ConversationState(SelfCheckProgress("a", 3, ("yes", "no"), False), checks_started=10)
    text = state.to_json()
    assert "\n" not in text
    assert text.startswith(f'{{"v":{STATE_VERSION},')
    assert ConversationState.from_json(text) == state


@pytest.fixture(scope="module")
def seven_questions(tmp_path_factory: pytest.TempPathFactory) -> Dialogue:
    """The knowledge after staff removed the last self-check question."""
    root = tmp_path_factory.mktemp("k") / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, root)
    path = root / "selfcheck.yaml"
    text = path.read_text(encoding="utf-8")
    end = text.index("\ntexts:")
    last = text.rindex("  - id: ", 0, end)
    path.write_text(text[:last] + text[end:], encoding="utf-8")
    knowledge = load_knowledge(root)
    assert len(knowledge.selfcheck.questions) == 7
    return Dialogue(knowledge)


def test_stored_progress_from_longer_check_does_not_crash(seven_questions: Dialogue) -> None:
    stored = ConversationState(SelfCheckProgress("1", 8, ("yes",) * 7), checks_started=1)
    stored = ConversationState.from_json(stored.to_json())
    turn = seven_questions.handle(stored, UserInput.action("s:1:8:y"))
    assert turn.state.selfcheck is None


# --------------------------------------------------------------------------- button data


def test_every_action_fits_and_decodes(knowledge: Knowledge) -> None:
    actions = [Simple(name) for name in SIMPLE_ACTIONS]
    actions += [ShowAnswer(entry_id) for entry_id in knowledge.entries]
    actions += [
        SelfCheckAnswer(run, step, choice)
        for run in ("1", "zzzzzzzz")
        for step in (0, 1, 8, 99)
        for choice in SELFCHECK_CHOICES.values()
    ]
    for action in actions:
        data = action.encode()
        assert len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES, data
        assert decode(data) == action


def test_many_restarts_keep_run_ids_short(dialogue: Dialogue) -> None:
    state = ConversationState(checks_started=36**9)
    turn = dialogue.handle(state, UserInput.command("selfcheck"))
    run = turn.state.selfcheck.run
    assert 1 <= len(run) <= 8
    for button in buttons_of(turn):
        assert decode(button.action) == SelfCheckAnswer(run, 0, decode(button.action).choice)
