"""Loads `knowledge/triage/model.tsv`: the weights of triage's statistical safety net.

The file is generated (`python -m benchmarks.train_risk_model`) and read at start, checked like
any other content (see `bot.content.weights_file` for the format and why it is not JSON):

    language  en
    classes   none crisis bladder ...
    ...
    features
    cant pee  2.31  -1.2 0.3 2.9 ...  feature TAB gate weight TAB one weight per class
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.content.weights_file import Checked, Kind, Problems, Rows, read_field, read_model

MODEL_FILE = Path("triage") / "model.tsv"
ORDINARY_CLASS = "none"
HEAD_FIELDS: Mapping[str, Kind] = {
    "language": "text",
    "classes": "names",
    "ask_above": "share",
    "crisis_ask_above": "share",
    "doubt_below": "share",
    "doubt_min_words": "count",
    "waive_below": "share",
    "min_words": "count",
    "trained_on": "text",
    "gate_bias": "number",
    "bias": "numbers",
}


@dataclass(frozen=True)
class RiskModelSpec:
    """Two linear models over message features.

    The gate (the first weight of each feature's row) says how likely the message needs a safety
    question at all; it runs on every message. The kinds model (the other weights: one per class)
    picks which question, and runs only when one is asked.
    `classes` are "none" and ids of safety questions; `levels` gives each question's level."""

    language: str
    classes: tuple[str, ...]
    levels: Mapping[str, str]
    gate_bias: float
    bias: tuple[float, ...]
    rows: Rows  # feature -> its weights (the gate weight, then one weight per class), packed: WeightTable
    ask_above: float
    # from this the gate asks the crisis question when crisis is its likeliest kind: lower than
    # `ask_above`, since a crisis missed costs most and the question is one kind "No" away
    crisis_ask_above: float
    doubt_below: float  # below this the gate doubts a rule's alarm: its safety question is asked instead
    doubt_min_words: int  # an alarm in a shorter message is never doubted: too few words to read its context
    # below this the gate waives a red-flag question only a weak clue raised (`possible`); lower than
    # `doubt_below`, since a waived question is one the patient never sees
    waive_below: float
    min_words: int  # shorter messages are left to the rules: too few words to read a description
    trained_on: str  # a fingerprint of the labelled messages it was trained on


def load_risk_model(
    root: Path, language: str, question_levels: Mapping[str, str], report: Problems
) -> RiskModelSpec | None:
    """The model, or None when the content ships none (triage then runs on its rules alone)."""
    file = root / MODEL_FILE
    if not file.exists():
        return None
    read = read_model(
        file,
        HEAD_FIELDS,
        report,
        lambda head, checked: _classes(head, language, question_levels, checked),
        "its gate weight",
    )
    if read is None:
        return None
    head, classes, rows = read
    return RiskModelSpec(
        language=language,
        classes=classes,
        levels={name: question_levels[name] for name in classes if name != ORDINARY_CLASS},
        gate_bias=head["gate_bias"],
        bias=tuple(head["bias"]),
        rows=rows,
        ask_above=head["ask_above"],
        crisis_ask_above=head["crisis_ask_above"],
        doubt_below=head["doubt_below"],
        doubt_min_words=int(head["doubt_min_words"]),
        waive_below=head["waive_below"],
        min_words=int(head["min_words"]),
        trained_on=head["trained_on"],
    )


def read_trained_on(file: Path) -> str | None:
    """The fingerprint in a model file's head, without loading the rest (for `--check`)."""
    return read_field(file, "trained_on")


def _classes(head: dict, language: str, question_levels: Mapping[str, str], checked: Checked) -> tuple[str, ...]:
    if head["language"] != language:
        checked.add(f"is for language '{head['language']}', the content is '{language}'", "language")
    classes = head["classes"]
    if ORDINARY_CLASS not in classes or len(set(classes)) != len(classes):
        checked.add(f"must name '{ORDINARY_CLASS}' once, and each class once", "classes")
    for name in classes:
        if name != ORDINARY_CLASS and name not in question_levels:
            have = ", ".join(sorted(question_levels))
            checked.add(f"'{name}' names no question of safety.yaml (have: {have})", "classes")
    if head["doubt_below"] >= head["ask_above"]:
        checked.add(f"must be below ask_above ({head['ask_above']})", "doubt_below")
    if not head["doubt_below"] < head["crisis_ask_above"] <= head["ask_above"]:
        checked.add(
            f"must be above doubt_below ({head['doubt_below']}) and at most ask_above ({head['ask_above']})",
            "crisis_ask_above",
        )
    if head["waive_below"] > head["doubt_below"]:
        doubt = head["doubt_below"]
        checked.add(f"must be at most doubt_below ({doubt}): a question is waived, an alarm doubted", "waive_below")
    if len(head["bias"]) != len(classes):
        checked.add(f"must be {len(classes)} numbers, one per class", "bias")
    return classes
