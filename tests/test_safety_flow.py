"""The safety question in the dialogue core, and the triage content's validation.

Yes gives the urgent reply (in place of the question), No thanks the patient and answers the
message that was asked about, a late or repeated No changes nothing, a late Yes still alarms.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.content.loader import ContentError, Knowledge, load_knowledge
from bot.core.actions import MAX_CALLBACK_BYTES, SafetyAnswer, decode
from tests.conftest import KNOWLEDGE_DIR, Chat, buttons_of
from tests.test_content import assert_problem, edit, problems_of

UNSURE = "my bladder feels a bit strange lately, how does stress cause back pain?"


def test_an_unsure_message_gets_one_question_with_yes_and_no(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.text(UNSURE)
    [question] = turn.replies
    assert question.text == knowledge.triage.questions["bladder"].text
    assert [b.label for b in buttons_of(turn)] == [knowledge.triage.buttons["yes"], knowledge.triage.buttons["no"]]
    assert chat.state.safety is not None and chat.state.safety.text == UNSURE
    assert [event.kind for event in turn.events] == ["safety_question"]


def test_yes_gives_the_urgent_reply_in_place_of_the_question(chat: Chat, knowledge: Knowledge) -> None:
    chat.text(UNSURE)
    turn = chat.tap(knowledge.triage.buttons["yes"])
    [reply] = turn.replies
    assert reply.text == knowledge.safety["emergency"].reply
    assert reply.replaces_pressed and reply.buttons == ()
    assert chat.state.safety is None
    assert ("triage", "emergency") in [(e.kind, e.data.get("level")) for e in turn.events]


def test_no_thanks_then_answers_the_message(chat: Chat, knowledge: Knowledge) -> None:
    chat.text(UNSURE)
    turn = chat.tap(knowledge.triage.buttons["no"])
    assert turn.replies[0].text == knowledge.triage.texts["after_no"] and turn.replies[0].replaces_pressed
    assert len(turn.replies) >= 2, "the message asked about is answered after the thanks"
    assert all("119" not in reply.text for reply in turn.replies[1:])
    assert chat.state.safety is None


PUNISHED = "I stopped eating on purpose to punish my body. Lost 6 kg in a month and my back hurts."


def test_a_red_flag_alarm_with_a_crisis_sign_gets_the_crisis_question_after_its_reply(
    chat: Chat, knowledge: Knowledge
) -> None:
    """The urgent reply stays; the crisis sign in the same message is still asked about."""
    turn = chat.text(PUNISHED)
    alarm, question = turn.replies
    assert alarm.text == knowledge.safety["urgent"].reply and alarm.buttons == ()
    assert question.text == knowledge.triage.questions["crisis"].text
    assert [button.label for row in question.buttons for button in row] == [
        knowledge.triage.buttons["yes"],
        knowledge.triage.buttons["no"],
    ]
    assert chat.state.safety is not None and chat.state.safety.text == ""  # nothing left to answer
    yes = chat.tap(knowledge.triage.buttons["yes"])
    assert [reply.text for reply in yes.replies] == [knowledge.safety["crisis"].reply]


def test_no_to_the_crisis_question_after_an_alarm_only_thanks(chat: Chat, knowledge: Knowledge) -> None:
    chat.text(PUNISHED)
    turn = chat.tap(knowledge.triage.buttons["no"])
    assert [reply.text for reply in turn.replies] == [knowledge.triage.texts["after_no"]]
    assert chat.state.safety is None


def test_a_red_flag_alarm_alone_asks_nothing_after_it(chat: Chat, knowledge: Knowledge) -> None:
    turn = chat.text("Lost 6 kg in a month without trying and my back hurts at night.")
    [alarm] = turn.replies
    assert alarm.text == knowledge.safety["urgent"].reply and chat.state.safety is None


def test_a_repeated_no_is_stale_and_changes_nothing(chat: Chat, knowledge: Knowledge) -> None:
    chat.text(UNSURE)
    no = chat.button(knowledge.triage.buttons["no"]).action
    assert no is not None
    chat.press(no)
    state = chat.state
    again = chat.press(no)
    assert again.replies == () and again.toast == knowledge.ui.texts["stale_button"]
    assert chat.state == state


def test_a_late_yes_still_alarms(chat: Chat, knowledge: Knowledge) -> None:
    chat.text(UNSURE)
    yes = chat.button(knowledge.triage.buttons["yes"]).action
    chat.tap(knowledge.triage.buttons["no"])
    chat.text("how does breathing help?")
    assert yes is not None
    turn = chat.press(yes)
    assert [reply.text for reply in turn.replies] == [knowledge.safety["emergency"].reply]


def test_a_yes_or_no_typed_answers_the_question(chat: Chat, knowledge: Knowledge) -> None:
    chat.text(UNSURE)
    turn = chat.text("yes")
    assert turn.replies[0].text == knowledge.safety["emergency"].reply
    chat.text(UNSURE)
    turn = chat.text("No")
    assert turn.replies[0].text == knowledge.triage.texts["after_no"]


def test_another_message_while_a_question_waits_is_handled_normally(chat: Chat) -> None:
    chat.text(UNSURE)
    turn = chat.text("what is the cellgel method?")
    assert all("119" not in reply.text for reply in turn.replies)
    assert chat.state.safety is not None, "the question can still be answered with its buttons"


def test_the_question_survives_a_restart(chat: Chat, knowledge: Knowledge) -> None:
    """The state is stored as JSON before anything is sent: check_turn round-trips every state,
    and the pending question (with the patient's message) is part of it."""
    chat.text(UNSURE)
    restored = type(chat.state).from_json(chat.state.to_json())
    assert restored.safety == chat.state.safety


def test_someone_else_gets_the_other_wording(chat: Chat, knowledge: Knowledge) -> None:
    [reply] = chat.text("my husband can't move his legs since this morning").replies
    assert reply.text == knowledge.safety["emergency"].reply_other


def test_an_overdose_taken_gets_119_and_help_lines(chat: Chat, knowledge: Knowledge) -> None:
    [reply] = chat.text("i took all my sleeping pills with wine an hour ago").replies
    assert reply.text == knowledge.triage.replies["overdose"]
    assert knowledge.settings.emergency_number in reply.text
    assert all(line.number in reply.text for line in knowledge.settings.crisis_lines)


def test_warning_sign_questions_get_information_not_an_alarm(chat: Chat, knowledge: Knowledge) -> None:
    [reply] = chat.text("what if my legs go numb after the injection?").replies
    assert reply.text == knowledge.triage.texts["info"]
    [reply] = chat.text("if someone says they feel suicidal, what number should they call?").replies
    assert reply.text == knowledge.triage.texts["crisis_info"]


def test_safety_answers_fit_in_callback_data() -> None:
    longest = SafetyAnswer("99999999", "q" * 24, "yes").encode()
    assert len(longest.encode()) <= MAX_CALLBACK_BYTES
    assert decode(longest) == SafetyAnswer("99999999", "q" * 24, "yes")


# --------------------------------------------------------------------------- content


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target)
    return target


def test_a_language_without_a_module_is_refused(copy: Path) -> None:
    edit(copy, "language.yaml", lambda data: data.update(code="ja"))
    line = assert_problem(problems_of(copy), "knowledge/language.yaml", "field 'code'", "no language module")
    assert "'ja'" in line


def test_a_concept_naming_no_question_is_refused(copy: Path) -> None:
    def change(data: dict) -> None:
        data["concepts"][0]["ask"] = "nowhere"

    edit(copy, "triage/concepts.yaml", change)
    assert_problem(problems_of(copy), "knowledge/triage/concepts.yaml", "field 'ask'", "names no question")


def test_an_unknown_context_kind_is_refused(copy: Path) -> None:
    edit(copy, "triage/context.yaml", lambda data: data["context"][0].update(kind="maybe"))
    assert_problem(problems_of(copy), "knowledge/triage/context.yaml", "context[0]", "field 'kind'")


def test_a_context_rule_naming_no_concept_is_refused(copy: Path) -> None:
    edit(copy, "triage/context.yaml", lambda data: data["context"][0].update(concepts=["no_such"]))
    assert_problem(problems_of(copy), "knowledge/triage/context.yaml", "no_such")


def test_a_context_rule_with_an_empty_max_scope_takes_the_default(copy: Path) -> None:
    """`max_scope:` left empty is no scope given (the fuzzer found it crashed the loader)."""
    edit(copy, "triage/context.yaml", lambda data: data["context"][0].update(max_scope=None))
    assert load_knowledge(copy).triage.concepts  # loads, no traceback
    edit(copy, "triage/context.yaml", lambda data: data["context"][0].update(max_scope="far"))
    assert_problem(problems_of(copy), "knowledge/triage/context.yaml", "context[0]", "field 'max_scope'")


def test_a_context_rule_whose_opens_is_not_true_or_false_is_refused(copy: Path) -> None:
    edit(copy, "triage/context.yaml", lambda data: data["context"][0].update(opens="at the start"))
    assert_problem(problems_of(copy), "knowledge/triage/context.yaml", "context[0]", "field 'opens'")


def test_lead_ins_that_are_not_a_list_of_words_are_refused(copy: Path) -> None:
    edit(copy, "triage/context.yaml", lambda data: data.update(lead_ins="so, and"))
    assert_problem(problems_of(copy), "knowledge/triage/context.yaml", "field 'lead_ins'")


def test_a_question_at_an_unknown_level_is_refused(copy: Path) -> None:
    edit(copy, "safety.yaml", lambda data: data["questions"]["bladder"].update(level="soon"))
    assert_problem(problems_of(copy), "knowledge/safety.yaml", "entry 'bladder'", "field 'level'")


def test_every_question_is_asked_by_some_concept_or_the_safety_net(knowledge: Knowledge) -> None:
    asked = {
        question for concept in knowledge.triage.concepts for question in (concept.ask, concept.ask_if_over) if question
    }
    assert knowledge.triage.model is not None
    asked |= set(knowledge.triage.model.classes) - {"none"}
    assert asked == set(knowledge.triage.questions)


def test_the_shipped_content_loads() -> None:
    try:
        load_knowledge(KNOWLEDGE_DIR)
    except ContentError as error:  # pragma: no cover - the message is the point
        pytest.fail("\n".join(error.problems))


def test_an_overdose_someone_else_took_gets_the_reply_worded_for_them(chat: Chat, knowledge: Knowledge) -> None:
    [reply] = chat.text("my daughter just took a whole packet of my sleeping pills").replies
    assert reply.text == knowledge.triage.replies["overdose_other"]


def test_a_question_about_someone_else_is_worded_for_them(chat: Chat, knowledge: Knowledge) -> None:
    """Someone else's sign with no time of now: the question asks about them, and their Yes
    gives the reply worded for them."""
    [question] = chat.text("my neighbour fainted at the station, is that from his back?").replies
    assert question.text == knowledge.triage.questions["faint"].text_other != knowledge.triage.questions["faint"].text
    [reply] = chat.tap(knowledge.triage.buttons["yes"]).replies
    assert reply.text == knowledge.safety["emergency"].reply_other


def test_a_question_without_its_wording_for_someone_else_is_refused(copy: Path) -> None:
    edit(copy, "safety.yaml", lambda data: data["questions"]["bladder"].pop("text_other"))
    assert_problem(problems_of(copy), "knowledge/safety.yaml", "entry 'bladder'", "field 'text_other'")


def test_a_cancer_history_told_as_over_asks_about_the_pain_now(chat: Chat, knowledge: Knowledge) -> None:
    """A survivor's history still matters with new, worse or night pain: the question asks that,
    and Yes gives the urgent reply."""
    [question] = chat.text("cancer-free 12 years, discharged from oncology. can i have cellgel?").replies
    assert question.text == knowledge.triage.questions["history"].text
    [reply] = chat.tap(knowledge.triage.buttons["yes"]).replies
    assert reply.text == knowledge.safety["urgent"].reply


def test_ask_if_over_naming_no_question_is_refused(copy: Path) -> None:
    edit(copy, "triage/concepts.yaml", lambda data: _concept(data, "cancer").update(ask_if_over="no_such"))
    assert_problem(problems_of(copy), "knowledge/triage/concepts.yaml", "cancer", "field 'ask_if_over'")


def test_ask_if_over_on_a_concept_whose_past_does_not_count_is_refused(copy: Path) -> None:
    edit(copy, "triage/concepts.yaml", lambda data: _concept(data, "infection").update(ask_if_over="history"))
    assert_problem(problems_of(copy), "knowledge/triage/concepts.yaml", "infection", "field 'ask_if_over'")


def test_firm_that_is_not_true_or_false_is_refused(copy: Path) -> None:
    edit(copy, "triage/concepts.yaml", lambda data: _concept(data, "overdose_taken").update(firm="always"))
    assert_problem(problems_of(copy), "knowledge/triage/concepts.yaml", "overdose_taken", "field 'firm'")


def test_a_context_rule_whose_closes_is_not_true_or_false_is_refused(copy: Path) -> None:
    edit(copy, "triage/context.yaml", lambda data: data["context"][0].update(closes="at the end"))
    assert_problem(problems_of(copy), "knowledge/triage/context.yaml", "context[0]", "field 'closes'")


def _concept(data: dict, concept_id: str) -> dict:
    return next(concept for concept in data["concepts"] if concept["id"] == concept_id)


def test_units_that_are_not_a_list_are_refused(copy: Path) -> None:
    edit(copy, "triage/context.yaml", lambda data: data.update(units="km, kg"))
    assert_problem(problems_of(copy), "knowledge/triage/context.yaml", "field 'units'")
