"""The matcher's topic model: what it reads, how the matcher blends it, when it says the article
does not cover a question, how its file is checked, and that the shipped one is current."""

from __future__ import annotations

import dataclasses
import shutil
from array import array
from pathlib import Path

import pytest

from bot.content.loader import Knowledge, load_knowledge
from bot.content.topic_model import MODEL_FILE, OUT_OF_SCOPE_CLASS, TopicModelSpec
from bot.understanding.text import stem
from bot.understanding.topics import TopicModel, features
from bot.understanding.understander import Understander
from tests.conftest import KNOWLEDGE_DIR, assert_broken_last_line_is_named, broken_content_problems, run_module

STOP = frozenset({"the", "is", "a", "my", "i", "are", "you", "who"})

# --------------------------------------------------------------------------- features


def test_features_read_the_question_not_the_story_around_it() -> None:
    found = features([(["my", "boss", "shouts"], 0.25), (["how", "does", "cellgel", "work"], 1.0)], STOP)
    assert {"^how", "cellgel", "cellg~", "cellgel work", "work"} <= found
    assert not {"boss", "shout", "shouts"} & found  # the narrative sentence is left out


def test_a_message_of_stop_words_is_read_by_its_words() -> None:
    assert {"_who", "_are", "_you"} <= features([(["who", "are", "you"], 1.0)], STOP)


def test_words_the_knowledge_base_never_uses_are_counted() -> None:
    known = {stem(word) for word in ("does", "stress", "cause")}
    found = features([(["does", "stress", "cause", "eczema", "rashes"], 1.0)], STOP, known=known)
    assert {"?unknown1", "?unknown2"} <= found and "?unknown3" not in found


# --------------------------------------------------------------------------- the model


def _spec(rows: dict[str, list[float]], bias: tuple[float, ...] = (0.0, 0.0, 0.0)) -> TopicModelSpec:
    return TopicModelSpec(
        language="en",
        classes=("sleep", "oos_medication", OUT_OF_SCOPE_CLASS),
        bias=bias,
        rows={feature: array("f", weights) for feature, weights in rows.items()},
        share=0.4,
        out_above=0.5,
        trained_on="test",
    )


def test_probabilities_are_a_softmax_over_the_summed_weights() -> None:
    model = TopicModel(_spec({"sleep": [2.0, 0.0, 0.0], "pill": [0.0, 3.0, 0.0]}))
    chances = model.probabilities({"sleep", "unheard"})
    assert set(chances) == {"sleep", "oos_medication", OUT_OF_SCOPE_CLASS}
    assert sum(chances.values()) == pytest.approx(1.0)
    assert max(chances, key=chances.__getitem__) == "sleep"
    assert model.probabilities(set()) == pytest.approx({name: 1 / 3 for name in chances})


def test_not_covered_adds_the_out_of_scope_class_and_the_out_of_scope_entries() -> None:
    chances = {"sleep": 0.2, "oos_medication": 0.5, OUT_OF_SCOPE_CLASS: 0.3}
    assert TopicModel.not_covered(chances, {"oos_medication"}) == pytest.approx(0.8)


# --------------------------------------------------------------------------- in the matcher


def test_the_shipped_model_is_loaded_and_blended(knowledge: Knowledge, understander: Understander) -> None:
    model = knowledge.matching.model
    assert model is not None and model.language == knowledge.language.code
    assert understander.matcher.model is not None
    assert set(model.classes) == {*knowledge.entries, OUT_OF_SCOPE_CLASS}


@pytest.mark.parametrize(
    "text",
    [
        "does deep breathing help with panic attacks",
        "is jogging bad for your knees",
        "what is the capital of France",
    ],
)
def test_a_question_the_article_does_not_answer_is_not_answered_from_it(understander: Understander, text: str) -> None:
    match = understander.match(text)
    answered_from_article = (
        match.outcome in ("answer", "did_you_mean")
        and match.best is not None
        and understander.matcher.entries[understander.matcher.numbers[match.best.entry_id]].entry.answers_from_article
    )
    assert not answered_from_article, match


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        ("what else has the clinic written", "related_articles"),
        ("Is stress really one of the causes of back pain, or is that a myth?", "stress_and_back_pain"),
        ("how does the cellgel injection work inside the disc", "cellgel_how"),
        ("hi", "greeting"),
        ("who are you", "who_are_you"),
    ],
)
def test_clear_questions_are_answered_directly(understander: Understander, text: str, entry_id: str) -> None:
    match = understander.match(text)
    assert match.outcome == "answer" and match.best is not None and match.best.entry_id == entry_id, match


def test_the_matcher_without_a_model_still_answers(knowledge: Knowledge) -> None:
    alone = Understander(dataclasses.replace(knowledge, matching=dataclasses.replace(knowledge.matching, model=None)))
    assert alone.matcher.model is None
    match = alone.match("how does cellgel work")
    assert match.outcome == "answer" and match.best is not None and match.best.entry_id == "cellgel_how"


def _file_rows() -> dict[str, list[float]]:
    """The shipped model's rows by feature, read from its file: the packed table keeps only hashes."""
    text = (KNOWLEDGE_DIR / MODEL_FILE).read_text(encoding="utf-8").split("\nfeatures\n", 1)[1]
    return {
        feature: [float(w) for w in weights.split()]
        for feature, _, weights in map(lambda line: line.partition("\t"), text.splitlines())
    }


def test_an_entry_the_model_has_no_class_for_keeps_its_own_score(knowledge: Knowledge) -> None:
    """An entry added after training is still found: the model has no opinion on it."""
    model = knowledge.matching.model
    assert model is not None
    index = model.classes.index("cellgel_how")
    without = dataclasses.replace(
        model,
        classes=tuple(name for name in model.classes if name != "cellgel_how"),
        bias=tuple(b for number, b in enumerate(model.bias) if number != index),
        rows={f: array("f", (w for n, w in enumerate(row) if n != index)) for f, row in _file_rows().items()},
    )
    understander = Understander(
        dataclasses.replace(knowledge, matching=dataclasses.replace(knowledge.matching, model=without))
    )
    match = understander.match("how does the cellgel method work")
    assert match.best is not None and match.best.entry_id == "cellgel_how", match


# --------------------------------------------------------------------------- the file


def test_the_shipped_model_is_trained_on_todays_sets_and_entries() -> None:
    done = run_module("benchmarks.train_topic_model", "--check", timeout=120)
    assert done.returncode == 0, done.stderr


def _problems(tmp_path: Path, change) -> list[str]:
    return broken_content_problems(tmp_path, MODEL_FILE, change)


def _set(name: str, value: str):
    return lambda lines: [f"{name}\t{value}" if line.startswith(name + "\t") else line for line in lines]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (_set("language", "ja"), "language", "is for language 'ja'"),
        (_set("classes", "sleep\tsleep\tout_of_scope"), "classes", "each class once"),
        (_set("bias", "1\t2"), "bias", "one per class"),
        (_set("share", "0"), "share", "above 0 and at most 1"),
        (_set("out_above", "many"), "out_above", "must be a number"),
        (lambda lines: [line for line in lines if not line.startswith("trained_on\t")], "trained_on", "missing"),
        (lambda lines: [*lines, "wee\t1.0 x"], "features", "class weights"),
    ],
)
def test_a_broken_model_file_is_named_by_file_and_field(tmp_path: Path, change, field: str, words: str) -> None:
    problems = _problems(tmp_path, change)
    assert any(
        line.startswith("knowledge/matching_model.tsv: ") and f"field '{field}'" in line and words in line
        for line in problems
    ), problems


def test_a_broken_feature_line_is_named_by_its_line_number(tmp_path: Path) -> None:
    assert_broken_last_line_is_named(tmp_path, MODEL_FILE)


def test_without_a_model_file_the_matcher_runs_on_its_own_scores(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, root)
    (root / MODEL_FILE).unlink()
    knowledge = load_knowledge(root)
    assert knowledge.matching.model is None
    assert Understander(knowledge).matcher.model is None


# --------------------------------------------------------------------------- training


def test_training_is_deterministic_and_learns(understander: Understander) -> None:
    from benchmarks.train_topic_model import fit

    classes = ("sleep", "breathing", OUT_OF_SCOPE_CLASS)

    def rows(texts: list[str], label: str) -> list[tuple[set[str], int]]:
        return [(understander.matcher.topic_features(understander.parts(t)), classes.index(label)) for t in texts]

    data = rows(["how can i sleep better", "tips for good sleep", "sleep and back pain"], "sleep")
    data += rows(["deep breathing to relax", "how do i breathe deeply", "breathing exercise"], "breathing")
    data += rows(["how much is parking", "is there parking nearby", "parking price"], OUT_OF_SCOPE_CLASS)
    first, second = fit(data, classes, "en", "test"), fit(data, classes, "en", "test")
    assert first == second
    model = TopicModel(first)
    chances = model.probabilities(understander.matcher.topic_features(understander.parts("sleep tips please")))
    assert max(chances, key=chances.__getitem__) == "sleep"
