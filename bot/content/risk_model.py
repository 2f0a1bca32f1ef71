"""Loads `knowledge/triage/model.json`: the weights of triage's statistical safety net.

The file is generated (`python -m benchmarks.train_risk_model`) and read at start, so it is
checked like any other content: a hand edit or a stale file comes back as one line naming the
file and the field, never as a traceback or a silently weaker triage.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

MODEL_FILE = Path("triage") / "model.json"
ORDINARY_CLASS = "none"
FIELDS = (
    "language",
    "classes",
    "gate_bias",
    "gate",
    "bias",
    "weights",
    "ask_above",
    "min_words",
    "trained_on",
)

Weights = Mapping[str, tuple[tuple[int, float], ...]]


class Problems(Protocol):
    def add(self, file: Path, message: str, entry: str | None = None, field: str | None = None) -> None: ...


@dataclass(frozen=True)
class RiskModelSpec:
    """Two linear models over message features.

    The gate (one weight per feature) says how likely the message needs a safety question at
    all; it runs on every message, so it is kept to one addition a feature. The kinds model (per
    feature, (class index, weight) pairs) picks which question, and runs only when one is asked.
    `classes` are "none" and ids of safety questions; `levels` gives each question's level."""

    language: str
    classes: tuple[str, ...]
    levels: Mapping[str, str]
    gate_bias: float
    gate: Mapping[str, float]
    bias: tuple[float, ...]
    weights: Weights
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
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        report.add(file, f"cannot be read: {error}")
        return None
    except json.JSONDecodeError as error:
        report.add(file, f"malformed JSON: line {error.lineno}, column {error.colno}: {error.msg}")
        return None
    if not isinstance(data, dict):
        report.add(file, f"must be a JSON object, got {type(data).__name__}")
        return None
    checked = _Counted(report)
    for name in sorted(set(data) - set(FIELDS)):
        checked.add(file, "unknown field", field=name)
    for name in FIELDS:
        if name not in data:
            checked.add(file, "missing", field=name)
    if checked.count:
        return None
    if data["language"] != language:
        checked.add(file, f"is for language '{data['language']}', the content is '{language}'", field="language")
    classes = _classes(data["classes"], question_levels, file, checked)
    gate_bias = data["gate_bias"]
    if not _finite(gate_bias):
        checked.add(file, "must be a number", field="gate_bias")
    gate = _gate(data["gate"], file, checked)
    bias = _numbers(data["bias"], len(classes), file, checked, "bias")
    weights = _weights(data["weights"], len(classes), file, checked)
    ask_above = _share(data["ask_above"], file, checked, "ask_above")
    min_words = data["min_words"]
    if not isinstance(min_words, int) or isinstance(min_words, bool) or min_words < 1:
        checked.add(file, "must be a whole number of at least 1", field="min_words")
    if not isinstance(data["trained_on"], str):
        checked.add(file, "must be a string", field="trained_on")
    if checked.count:
        return None
    levels = {name: question_levels[name] for name in classes if name != ORDINARY_CLASS}
    return RiskModelSpec(
        language,
        classes,
        levels,
        float(gate_bias),
        gate,
        bias,
        weights,
        ask_above,
        min_words,
        str(data["trained_on"]),
    )


class _Counted:
    """Passes problems on, counting them: the model is only built from a file without any."""

    def __init__(self, report: Problems) -> None:
        self.report = report
        self.count = 0

    def add(self, file: Path, message: str, entry: str | None = None, field: str | None = None) -> None:
        self.count += 1
        self.report.add(file, message, entry, field)


def _classes(value: Any, question_levels: Mapping[str, str], file: Path, report: Problems) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        report.add(file, "must be a list of class names", field="classes")
        return ()
    if ORDINARY_CLASS not in value or len(set(value)) != len(value):
        report.add(file, f"must name '{ORDINARY_CLASS}' once, and each class once", field="classes")
    for name in value:
        if name != ORDINARY_CLASS and name not in question_levels:
            have = ", ".join(sorted(question_levels))
            report.add(file, f"'{name}' names no question of safety.yaml (have: {have})", field="classes")
    return tuple(value)


def _numbers(value: Any, count: int, file: Path, report: Problems, field: str) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != count or not all(_finite(number) for number in value):
        report.add(file, f"must be a list of {count} numbers, one per class", field=field)
        return ()
    return tuple(float(number) for number in value)


def _gate(value: Any, file: Path, report: Problems) -> dict[str, float]:
    if not isinstance(value, dict) or not all(_finite(weight) for weight in value.values()):
        report.add(file, "must map features to one number each", field="gate")
        return {}
    return {str(feature): float(weight) for feature, weight in value.items()}


def _weights(value: Any, count: int, file: Path, report: Problems) -> dict[str, tuple[tuple[int, float], ...]]:
    if not isinstance(value, dict):
        report.add(file, "must map features to [class index, weight] pairs", field="weights")
        return {}
    weights: dict[str, tuple[tuple[int, float], ...]] = {}
    for feature, pairs in value.items():
        ok = isinstance(pairs, list) and all(
            isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], int)
            and 0 <= pair[0] < count
            and _finite(pair[1])
            for pair in pairs
        )
        if not ok:
            report.add(file, f"feature '{feature}': needs [class index below {count}, weight] pairs", field="weights")
            return {}
        weights[feature] = tuple((pair[0], float(pair[1])) for pair in pairs)
    return weights


def _share(value: Any, file: Path, report: Problems, field: str) -> float:
    if not _finite(value) or not 0 < value <= 1:
        report.add(file, "must be a number above 0 and at most 1", field=field)
        return 1.0
    return float(value)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
