"""Triage's statistical safety net: what it reads, when it asks, that it never weakens the
rules' result, how its file is checked, and that the shipped one is current."""

from __future__ import annotations

import shutil
from array import array
from dataclasses import replace
from pathlib import Path

import pytest

from bot.content.loader import Knowledge, load_knowledge
from bot.content.risk_model import MODEL_FILE, RiskModelSpec
from bot.content.weights_file import Checked, WeightTable, read_rows
from bot.core.dialogue import Dialogue
from bot.understanding.risk import RiskModel, features
from bot.understanding.triage import TriageResult
from bot.understanding.understander import Understander
from tests.conftest import (
    ALARM_WORD_IN_AN_ORDINARY_MESSAGE,
    KNOWLEDGE_DIR,
    Chat,
    assert_broken_last_line_is_named,
    broken_content_problems,
    run_module,
)

# --------------------------------------------------------------------------- features


def test_features_are_words_prefixes_and_pairs_within_a_sentence() -> None:
    found = features([["cant", "urinate"], ["legs", "numb"]])
    assert {"cant", "urinate", "urina~", "cant urinate", "legs", "numb", "legs numb"} <= found
    assert "urinate legs" not in found  # no pair across a sentence end
    assert "cant~" not in found  # short words have no prefix feature


# --------------------------------------------------------------------------- the policy


def _model(
    gate: dict[str, float],
    kinds: dict[str, list[tuple[int, float]]],
    doubted: dict[str, str] | None = None,
    firm: tuple[str, ...] = (),
    always_asked: tuple[str, ...] = (),
) -> RiskModel:
    classes = ("none", "crisis", "bladder")
    rows = {}
    for feature in {*gate, *kinds}:
        row = [gate.get(feature, 0.0), 0.0, 0.0, 0.0]
        for index, weight in kinds.get(feature, []):
            row[1 + index] = weight
        rows[feature] = array("f", row)
    spec = RiskModelSpec(
        language="en",
        classes=classes,
        levels={"crisis": "crisis", "bladder": "emergency"},
        gate_bias=-4.0,
        bias=(1.0, 0.0, 0.0),
        rows=rows,
        ask_above=0.3,
        crisis_ask_above=0.3,
        doubt_below=0.05,
        doubt_min_words=5,
        waive_below=0.01,
        min_words=3,
        trained_on="test",
    )
    return RiskModel(spec, doubted, firm, always_asked)


MODEL = _model({"wee": 8.0, "goodbye": 8.0, "laughing": -6.0}, {"wee": [(2, 3.0)], "goodbye": [(1, 3.0)]})


def test_between_the_two_thresholds_only_the_crisis_question_is_asked() -> None:
    """A crisis missed costs most: from `crisis_ask_above` the net asks the crisis question, but a
    red-flag question only from `ask_above`."""
    model = RiskModel(replace(MODEL.spec, ask_above=0.999, crisis_ask_above=0.9))  # both gates read 0.98
    crisis = model.review([["this", "is", "goodbye"]], None)
    assert crisis is not None and crisis.question == "crisis"
    assert model.review([["no", "wee", "since", "noon"]], None) is None  # likeliest bladder: under ask_above
    assert (
        RiskModel(replace(MODEL.spec, ask_above=0.999, crisis_ask_above=0.99)).review([["this", "is", "goodbye"]], None)
        is None
    )


def test_a_message_the_rules_miss_gets_the_question_of_its_likeliest_kind() -> None:
    result = MODEL.review([["no", "wee", "since", "noon"]], None)
    assert result == TriageResult("emergency", "model:bladder", "ask", question="bladder")
    crisis = MODEL.review([["this", "is", "goodbye"]], None)
    assert crisis is not None and crisis.question == "crisis" and crisis.level == "crisis"


def test_an_ordinary_message_the_rules_miss_stays_ordinary() -> None:
    assert MODEL.review([["how", "long", "is", "a", "session"]], None) is None


def test_a_message_shorter_than_min_words_is_left_to_the_rules() -> None:
    assert MODEL.review([["goodbye", "then"]], None) is None  # two words: a name, a farewell
    assert MODEL.review([["goodbye", "then", "all"]], None) is not None


def test_a_red_flag_question_gives_way_to_the_crisis_question_when_the_net_reads_a_crisis() -> None:
    """One question is asked: "Took a handful of my pills. Dizzy and sick." must get the crisis
    question, not the chest question its "dizzy" found."""
    chest = TriageResult("emergency", "aortic_cardiac", "ask", question="chest")
    assert MODEL.review([["this", "is", "goodbye", "dizzy"]], chest) == TriageResult(
        "crisis", "model:crisis", "ask", question="crisis"
    )
    assert MODEL.review([["no", "wee", "and", "dizzy"]], chest) is chest  # read as a red flag: kept
    assert MODEL.review([["laughing", "and", "dizzy", "today"]], chest) is chest  # read as ordinary: kept
    alarm = TriageResult("emergency", "aortic_cardiac", "alarm")
    kept = MODEL.review([["this", "is", "goodbye", "dizzy"]], alarm)  # an alarm is never replaced...
    assert kept == replace(alarm, then_ask="crisis")  # ...the crisis question only follows it


@pytest.mark.parametrize("action", ["alarm", "ask", "info"])
def test_a_model_that_doubts_no_concept_never_weakens_the_rules(action: str) -> None:
    rules = TriageResult("emergency", "incontinence", action, question="bladder" if action == "ask" else None)  # type: ignore[arg-type]
    assert MODEL.review([["laughing", "about", "it", "all"]], rules) is rules  # read as ordinary: no matter


DOUBTING = _model(
    {"wee": 8.0, "laughing": -6.0},
    {"wee": [(2, 3.0)]},
    doubted={"incontinence": "bladder", "overdose_taken": "crisis"},
    firm=("overdose_taken",),
    always_asked=("urinary_retention",),
)
LAUGHING = [["nearly", "wet", "myself"], ["laughing", "so", "hard", "at", "the", "party"]]


def test_an_alarm_the_gate_doubts_becomes_its_safety_question_at_its_level() -> None:
    alarm = TriageResult("emergency", "incontinence", "alarm", about_other=True)
    result = DOUBTING.review(LAUGHING, alarm)
    assert result == TriageResult("emergency", "doubt:incontinence", "ask", question="bladder", about_other=True)


def test_an_alarm_is_kept_when_the_gate_reads_the_message_as_needing_a_question() -> None:
    alarm = TriageResult("emergency", "incontinence", "alarm")
    assert DOUBTING.review([["wee", "everywhere"], ["laughing", "so", "hard", "at", "the", "party"]], alarm) is alarm


def test_an_alarm_in_a_message_shorter_than_doubt_min_words_is_never_doubted() -> None:
    alarm = TriageResult("emergency", "incontinence", "alarm")
    assert DOUBTING.review([["laughing", "so", "hard"]], alarm) is alarm  # 3 words: the rules' alone


def test_an_alarm_told_with_a_time_of_now_is_never_doubted() -> None:
    """ "Since Sunday I have to strain to pee", buried in a story about work: the rules read a time
    of now with the finding, so the net's reading of the story as ordinary does not count."""
    alarm = TriageResult("emergency", "incontinence", "alarm", told_now=True)
    assert DOUBTING.review(LAUGHING, alarm) is alarm


def test_an_alarm_of_a_concept_without_a_question_is_kept() -> None:
    alarm = TriageResult("emergency", "major_trauma", "alarm")
    assert DOUBTING.review(LAUGHING, alarm) is alarm


def test_a_firm_alarm_told_in_one_sentence_is_kept() -> None:
    """An overdose taken needs 119 now: whatever the story around it, no question first."""
    alarm = TriageResult("crisis", "overdose_taken", "alarm", reply="overdose")
    assert DOUBTING.review(LAUGHING, alarm) is alarm


@pytest.mark.parametrize("told_now", [False, True])
def test_a_firm_or_current_alarm_joined_across_sentences_may_be_doubted(told_now: bool) -> None:
    """ "I didn't overdose lol, I took ONE ibuprofen. Mum's reading too many articles.": "took"
    and "too many" sit in different sentences, weaker evidence than one sentence tells."""
    alarm = TriageResult("crisis", "overdose_taken", "alarm", reply="overdose", told_now=told_now, joined=True)
    assert DOUBTING.review(LAUGHING, alarm) == TriageResult("crisis", "doubt:overdose_taken", "ask", question="crisis")


WEAK = TriageResult("emergency", "incontinence", "ask", question="bladder", weak=True)


def test_a_weak_clue_s_question_is_waived_when_the_gate_reads_the_message_as_ordinary() -> None:
    """One step down, as an alarm becomes a question: "I'm diabetic, can I eat a snack in the
    waiting room?" asks nothing."""
    assert DOUBTING.review(LAUGHING, WEAK) is None


@pytest.mark.parametrize(
    ("question", "sentences"),
    [
        (replace(WEAK, weak=False), LAUGHING),  # a question the rules ask for a strong reason
        (replace(WEAK, told_now=True), LAUGHING),  # told with a time of now: "since this morning"
        (WEAK, [["laughing", "hard"]]),  # shorter than min_words: too little to read
        (WEAK, [["wee", "everywhere"], ["laughing", "so", "hard", "at", "the", "party"]]),  # not ordinary enough
        (TriageResult("crisis", "suicidal_thoughts", "ask", question="crisis", weak=True), LAUGHING),
        (replace(WEAK, rule="urinary_retention"), LAUGHING),  # a concept always asked
        (replace(WEAK, about_other=True), LAUGHING),  # someone else's: "my lola, 78, her pain started"
    ],
)
def test_a_question_is_kept_unless_a_weak_clue_alone_asked_it_in_a_long_ordinary_message(
    question: TriageResult, sentences: list[list[str]]
) -> None:
    assert DOUBTING.review(sentences, question) is question


def test_the_shipped_content_doubts_an_overdose_taken_only_when_joined(knowledge: Knowledge) -> None:
    understander = Understander(knowledge)
    assert understander.risk is not None
    assert understander.risk.firm == {"overdose_taken"}
    assert understander.risk.doubted["overdose_taken"] == "crisis"
    assert understander.risk.doubted["incontinence"] == "bladder"
    assert understander.risk.always_asked == {"urinary_retention", "incontinence"}


def test_an_alarm_of_the_rules_is_kept_with_the_crisis_question_after_it_when_the_model_reads_a_crisis() -> None:
    """ "Pain for 6 years since a car accident. Every morning I think 'again?'": the red-flag reply
    stays, and the crisis question follows it."""
    alarm = TriageResult("emergency", "incontinence", "alarm")
    assert MODEL.review([["goodbye", "goodbye", "goodbye"]], alarm) == replace(alarm, then_ask="crisis")
    assert MODEL.review([["laughing", "about", "it", "all"]], alarm) is alarm  # read as ordinary: nothing after
    crisis = TriageResult("crisis", "goodbye", "alarm")
    assert MODEL.review([["goodbye", "goodbye", "goodbye"]], crisis) is crisis  # already the crisis reply


def test_information_the_rules_give_becomes_a_question_when_the_model_reads_a_crisis() -> None:
    info = TriageResult("crisis", "overdose_taken", "info")
    result = MODEL.review([["what", "if", "someone", "said", "goodbye"]], info)
    assert result is not None and result.action == "ask" and result.question == "crisis"


# --------------------------------------------------------------------------- the shipped model


def test_the_shipped_model_is_packed_and_reads_as_its_file_says(knowledge: Knowledge) -> None:
    """Rows live in one shared array (memory), yet each reads back exactly as its file line."""
    model = knowledge.triage.model
    assert model is not None and isinstance(model.rows, WeightTable)
    width = len(model.classes) + 1
    lines = (KNOWLEDGE_DIR / MODEL_FILE).read_text(encoding="utf-8").split("\nfeatures\n", 1)[1].splitlines()
    for line in lines[:: max(1, len(lines) // 50)]:
        feature, _, text = line.partition("\t")
        expected = [round(float(value) * 1000) for value in text.split()]  # whole thousandths
        assert len(expected) == width and list(model.rows[feature]) == expected, feature
    assert "no such feature" not in model.rows and len(model.rows) == len(lines)


def test_a_repeated_feature_line_reads_as_its_last_line(tmp_path: Path) -> None:
    lines = enumerate(["a\t1 2\n", "b\t3 4\n", "a\t5 6\n"], 1)
    checked = Checked(_Report(), tmp_path / "model.tsv")
    table = read_rows(lines, 2, checked, "2 weights")
    assert len(table) == 2 and list(table["a"]) == [5000, 6000] and list(table["b"]) == [3000, 4000]
    assert table.unit == 0.001


def test_a_weight_with_more_than_3_decimals_is_named_by_line(tmp_path: Path) -> None:
    """The packed table keeps whole thousandths: a hand edit it cannot hold exactly is refused."""
    problems = []

    class Report:
        def add(self, file: Path, message: str, entry: str | None = None, field: str | None = None) -> None:
            problems.append(message)

    lines = enumerate(["a\t1 2\n", "b\t3.0001 4\n"], 1)
    table = read_rows(lines, 2, Checked(Report(), tmp_path / "model.tsv"), "2 weights")
    assert len(table) == 0 and problems == ["line 2: weights need at most 3 decimals, from -32.767 to 32.767"]


class _Report:
    def add(self, file: Path, message: str, entry: str | None = None, field: str | None = None) -> None:
        raise AssertionError(message)


def test_the_shipped_model_is_loaded_and_in_the_contents_language(knowledge: Knowledge) -> None:
    model = knowledge.triage.model
    assert model is not None and model.language == knowledge.language.code
    assert set(model.levels) == set(model.classes) - {"none"}
    assert all(model.levels[name] == knowledge.triage.questions[name].level for name in model.levels)


def test_the_shipped_model_is_trained_on_todays_development_sets() -> None:
    done = run_module("benchmarks.train_risk_model", "--check", timeout=120)
    assert done.returncode == 0, done.stderr


# Each retraining may move the net's reading of one wording; when the rules learn a wording the net
# found alone, this example moves on to another ("legs like cooked noodles", "hold the walls").
LEGS_THE_RULES_DO_NOT_KNOW = "since friday my legs feel strange, i need to hold onto furniture to walk"


@pytest.mark.parametrize(
    "text",
    [
        LEGS_THE_RULES_DO_NOT_KNOW,
        "i have put my things in order and written to my sister. i wont be needing the appointment",
    ],
)
def test_the_shipped_model_asks_about_described_signs_the_rules_do_not_know(
    understander: Understander, text: str
) -> None:
    assert understander.triage.assess(understander.sentences(text)) is None, "the rules should not know this"
    result = understander.understand(text).triage
    assert result is not None and result.action == "ask" and result.rule.startswith("model:")


def test_ordinary_questions_get_no_safety_question(understander: Understander) -> None:
    for text in ("how much does the first consultation cost?", "can stress cause back pain?", "thanks, bye"):
        assert understander.understand(text).triage is None, text


def test_a_model_question_answered_yes_gives_the_urgent_reply(
    chat: Chat, knowledge: Knowledge, understander: Understander
) -> None:
    """Which question the net picks drifts with retraining ("I need to hold onto furniture" once
    read as bladder); the benchmark's "question fits" row watches that. Here: its question, then
    "Yes" gives the reply of that question's level."""
    result = understander.understand(LEGS_THE_RULES_DO_NOT_KNOW).triage
    assert result is not None and result.rule.startswith("model:") and result.question is not None
    turn = chat.text(LEGS_THE_RULES_DO_NOT_KNOW)
    (question,) = turn.replies
    assert question.text == knowledge.triage.questions[result.question].text
    (reply,) = chat.tap(knowledge.triage.buttons["yes"]).replies
    assert reply.text == knowledge.safety[result.level].reply


def test_the_shipped_model_doubts_an_alarm_word_in_an_ordinary_message(understander: Understander) -> None:
    sentences = understander.sentences(ALARM_WORD_IN_AN_ORDINARY_MESSAGE)
    rules = understander.triage.assess(sentences)
    assert rules is not None and rules.alarms and rules.level == "crisis", "the rules should alarm on this"
    result = understander.understand(ALARM_WORD_IN_AN_ORDINARY_MESSAGE).triage
    assert result == TriageResult("crisis", f"doubt:{rules.rule}", "ask", question="crisis")


@pytest.mark.parametrize(
    "text",
    [
        "my back hurts and I can't control my bladder",  # short: the rules' alone, though the net reads it low
        "I took 40 of my sleeping pills an hour ago, and I just wanted to ask about my appointment next week",
    ],
)
def test_the_shipped_model_keeps_short_and_firm_alarms(understander: Understander, text: str) -> None:
    result = understander.understand(text).triage
    assert result is not None and result.alarms, text


def test_a_doubted_alarm_is_asked_and_yes_gives_the_alarm_no_the_answer(chat: Chat, knowledge: Knowledge) -> None:
    (question,) = chat.text(ALARM_WORD_IN_AN_ORDINARY_MESSAGE).replies
    assert question.text == knowledge.triage.questions["crisis"].text
    (reply,) = chat.tap(knowledge.triage.buttons["yes"]).replies
    assert reply.text == knowledge.safety["crisis"].reply
    chat.text(ALARM_WORD_IN_AN_ORDINARY_MESSAGE)
    answer = chat.tap(knowledge.triage.buttons["no"])
    assert answer.replies and all(r.text != knowledge.safety["crisis"].reply for r in answer.replies)


def test_without_a_model_file_triage_runs_on_its_rules(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, root)
    (root / MODEL_FILE).unlink()
    knowledge = load_knowledge(root)
    assert knowledge.triage.model is None
    understander = Understander(knowledge)
    assert understander.risk is None
    assert Dialogue(knowledge) is not None


# --------------------------------------------------------------------------- the file is checked


def _problems(tmp_path: Path, change) -> list[str]:
    return broken_content_problems(tmp_path, MODEL_FILE, change)


def _set(name: str, value: str):
    return lambda lines: [f"{name}\t{value}" if line.startswith(name + "\t") else line for line in lines]


def _drop(name: str):
    return lambda lines: [line for line in lines if not line.startswith(name + "\t")]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (_set("language", "ja"), "language", "is for language 'ja'"),
        (
            _set("classes", "none\tcrisis\tkidneys\tsaddle\tlegs\tchest\tinjury\tfever\tcancer\tage"),
            "classes",
            "'kidneys' names no question of safety.yaml",
        ),
        (_set("bias", "1\t2"), "bias", "one per class"),
        (_set("ask_above", "1.5"), "ask_above", "above 0 and at most 1"),
        (_set("min_words", "0"), "min_words", "at least 1"),
        (_set("doubt_below", "0.6"), "doubt_below", "must be below ask_above"),
        (_set("doubt_min_words", "many"), "doubt_min_words", ""),
        (_set("waive_below", "0.2"), "waive_below", "must be at most doubt_below"),
        (_set("crisis_ask_above", "0.9"), "crisis_ask_above", "at most ask_above"),
        (_set("crisis_ask_above", "0.001"), "crisis_ask_above", "must be above doubt_below"),
        (_set("gate_bias", "high"), "gate_bias", "must be a number"),
        (_drop("trained_on"), "trained_on", "missing"),
        (lambda lines: [*lines[:3], "colour\tblue", *lines[3:]], "colour", "unknown field"),
        (lambda lines: [*lines, "wee\t1.0\t0.5 x"], "features", "class weights"),
        (lambda lines: [line for line in lines if line != "features"], "", "no 'features' line"),
    ],
)
def test_a_broken_model_file_is_named_by_file_and_field(tmp_path: Path, change, field: str, words: str) -> None:
    problems = _problems(tmp_path, change)
    assert any(
        line.startswith("knowledge/triage/model.tsv: ") and (not field or f"field '{field}'" in line) and words in line
        for line in problems
    ), problems


def test_a_broken_feature_line_is_named_by_its_line_number(tmp_path: Path) -> None:
    assert_broken_last_line_is_named(tmp_path, MODEL_FILE)


# --------------------------------------------------------------------------- training


def test_training_is_deterministic_and_learns(understander: Understander) -> None:
    from benchmarks.train_risk_model import CLASSES, MIN_COUNT, train_both

    def rows(texts: list[str], label: str) -> list[tuple[set[str], int]]:
        return [(features([understander.lexicon.tokens(text)]), CLASSES.index(label)) for text in texts]

    bladder = ["i cant pee at all", "no pee since morning cant pee", "pee wont come cant pee", "cant pee today"]
    none = ["how much is it", "when are you open", "how much is a visit", "are you open today", "how much is it now"]
    assert len(bladder) >= MIN_COUNT, "a feature needs MIN_COUNT training messages to be kept"
    data = rows(bladder, "bladder") + rows(none, "none")
    first, second = train_both(data), train_both(data)
    assert first == second
    assert first.risk(features([["cant", "pee"]])) > 0.5 > first.risk(features([["how", "much", "is", "it"]]))
    assert first.likeliest(features([["cant", "pee"]])) == "bladder"


def test_every_number_is_one_feature() -> None:
    """A phone number or an address reads like any other number: "took 14" and "took 40" are one
    clue, and "090 8765 4321" is no pill count."""
    from bot.understanding.risk import features

    assert features([["took", "14", "pills"]]) == features([["took", "40", "pills"]])
    assert not any(feature[0].isdigit() for feature in features([["090", "8765", "4321"]]))
