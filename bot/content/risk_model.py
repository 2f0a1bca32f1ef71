"""Loads `knowledge/triage/model.tsv`: the weights of triage's statistical safety net.

The file is generated (`python -m benchmarks.train_risk_model`) and read at start, so it is
checked like any other content: a hand edit or a stale file comes back as one line naming the
file, the line or field, never as a traceback or a silently weaker triage.

Why a line-per-feature text file and not JSON: it is read line by line into compact arrays, so
starting the bot costs a few MB for ~18,000 features instead of the ~40 MB a parsed JSON tree
held (the load benchmark holds the bot to 1.5x the memory of a bare echo bot).

    language  en                      head: one field a line, name TAB value(s)
    classes   none crisis bladder ...
    ...
    features                          then one line per feature:
    cant pee  2.31  -1.2 0.3 2.9 ...  feature TAB gate weight TAB one weight per class
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

MODEL_FILE = Path("triage") / "model.tsv"
ORDINARY_CLASS = "none"
HEAD_FIELDS = ("language", "classes", "ask_above", "min_words", "trained_on", "gate_bias", "bias")
FEATURES_MARK = "features"


class Problems(Protocol):
    def add(self, file: Path, message: str, entry: str | None = None, field: str | None = None) -> None: ...


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
    rows: Mapping[str, array]  # feature -> array('f'): the gate weight, then one weight per class
    ask_above: float
    min_words: int  # shorter messages are left to the rules: too few words to read a description
    trained_on: str  # a fingerprint of the labelled messages it was trained on


def load_risk_model(
    root: Path, language: str, question_levels: Mapping[str, str], report: Problems
) -> RiskModelSpec | None:
    """The model, or None when the content ships none (triage then runs on its rules alone)."""
    file = root / MODEL_FILE
    if not file.exists():
        return None
    checked = _Counted(report, file)
    try:
        with file.open(encoding="utf-8") as handle:
            lines = enumerate(handle, 1)  # one count across the head and the features
            head = _read_head(lines, checked)
            if checked.count:
                return None
            classes = _classes(head, language, question_levels, checked)
            if checked.count:
                return None
            rows = _read_features(lines, len(classes), checked)
    except (OSError, UnicodeDecodeError) as error:
        report.add(file, f"cannot be read: {error}")
        return None
    if checked.count:
        return None
    return RiskModelSpec(
        language=language,
        classes=classes,
        levels={name: question_levels[name] for name in classes if name != ORDINARY_CLASS},
        gate_bias=head["gate_bias"][0],
        bias=tuple(head["bias"]),
        rows=rows,
        ask_above=head["ask_above"][0],
        min_words=int(head["min_words"][0]),
        trained_on=head["trained_on"][0],
    )


def read_trained_on(file: Path) -> str | None:
    """The fingerprint in a model file's head, without loading the rest (for `--check`)."""
    if not file.exists():
        return None
    with file.open(encoding="utf-8") as lines:
        for line in lines:
            name, _, value = line.rstrip("\n").partition("\t")
            if name == "trained_on":
                return value
            if name == FEATURES_MARK:
                break
    return None


class _Counted:
    """Passes problems on for one file, counting them: the model is only built from a file without any."""

    def __init__(self, report: Problems, file: Path) -> None:
        self.report = report
        self.file = file
        self.count = 0

    def add(self, message: str, field: str | None = None) -> None:
        self.count += 1
        self.report.add(self.file, message, None, field)


def _read_head(lines, checked: _Counted) -> dict:
    """The fields before the `features` line, each checked for its kind of value."""
    head: dict = {}
    for number, line in lines:
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        if line == FEATURES_MARK:
            break
        name, _, value = line.partition("\t")
        if name not in HEAD_FIELDS:
            checked.add(f"line {number}: unknown field", name)
            continue
        head[name] = value.split("\t") if name not in ("trained_on", "language") else [value]
    else:
        checked.add(f"no '{FEATURES_MARK}' line before the weights")
    for name in HEAD_FIELDS:
        if name not in head:
            checked.add("missing", name)
    if checked.count:
        return head
    for name in ("ask_above", "gate_bias", "bias", "min_words"):
        numbers = [_number(value) for value in head[name]]
        if any(number is None for number in numbers):
            checked.add("must be a number" + ("s" if name == "bias" else ""), name)
        else:
            head[name] = numbers
    if checked.count:
        return head
    if not 0 < head["ask_above"][0] <= 1 or len(head["ask_above"]) != 1:
        checked.add("must be a number above 0 and at most 1", "ask_above")
    minimum = head["min_words"]
    if len(minimum) != 1 or minimum[0] != int(minimum[0]) or minimum[0] < 1:
        checked.add("must be a whole number of at least 1", "min_words")
    return head


def _classes(head: dict, language: str, question_levels: Mapping[str, str], checked: _Counted) -> tuple[str, ...]:
    if head["language"][0] != language:
        checked.add(f"is for language '{head['language'][0]}', the content is '{language}'", "language")
    classes = tuple(head["classes"])
    if ORDINARY_CLASS not in classes or len(set(classes)) != len(classes):
        checked.add(f"must name '{ORDINARY_CLASS}' once, and each class once", "classes")
    for name in classes:
        if name != ORDINARY_CLASS and name not in question_levels:
            have = ", ".join(sorted(question_levels))
            checked.add(f"'{name}' names no question of safety.yaml (have: {have})", "classes")
    if len(head["bias"]) != len(classes):
        checked.add(f"must be {len(classes)} numbers, one per class", "bias")
    return classes


def _read_features(lines, classes: int, checked: _Counted) -> dict[str, array]:
    """One compact array a feature (the gate weight first): about 200 bytes each in memory."""
    rows: dict[str, array] = {}
    for number, line in lines:
        feature, *values = line.rstrip("\n").split("\t")
        weights = values[1].split(" ") if len(values) == 2 else []
        numbers = [_number(value) for value in (values[0], *weights)] if len(values) == 2 else []
        if len(weights) != classes or any(value is None for value in numbers) or not feature:
            checked.add(f"line {number}: needs a feature, its gate weight and {classes} class weights", "features")
            return {}
        rows[feature] = array("f", numbers)
    return rows


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
