"""Loads `knowledge/matching_model.tsv`: the weights of the matcher's topic model.

The file is generated (`python -m benchmarks.train_topic_model`) and checked like any other
content (see `bot.content.weights_file` for the format):

    language  en
    classes   about_article breathing ... out_of_scope
    share     0.5                       how much the model counts in an entry's score
    out_above 0.5                       the chance of "not covered" from which the bot says so
    ...
    features
    cellgel work  -0.2 ... 1.9 ...      feature TAB one weight per class
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.content.weights_file import Checked, Kind, Problems, Rows, read_field, read_model

MODEL_FILE = Path("matching_model.tsv")
OUT_OF_SCOPE_CLASS = "out_of_scope"  # a message the article does not answer, no entry named
HEAD_FIELDS: Mapping[str, Kind] = {
    "language": "text",
    "classes": "names",
    "share": "share",
    "out_above": "share",
    "trained_on": "text",
    "bias": "numbers",
}


@dataclass(frozen=True)
class TopicModelSpec:
    """A linear model that reads which entry a message asks for, or that it asks for none.

    `classes` are entry ids and `out_of_scope`. The knowledge base may have moved on since the
    model was trained: an entry added since has no class and is found by the matcher's own scores
    alone; a class whose entry was removed is never offered. (`make model` retrains; the tests
    fail while the shipped model names other entries than the shipped content.)"""

    language: str
    classes: tuple[str, ...]
    bias: tuple[float, ...]
    rows: Rows  # feature -> its weights (one weight per class), packed: WeightTable
    share: float  # an entry's score is (1 - share) x the matcher's own + share x 100 x the model's chance
    out_above: float  # from this chance that the article does not answer, the bot says so
    trained_on: str  # a fingerprint of the labelled messages it was trained on


def load_topic_model(root: Path, language: str, report: Problems) -> TopicModelSpec | None:
    """The model, or None when the content ships none (the matcher then runs on its own scores)."""
    file = root / MODEL_FILE
    if not file.exists():
        return None
    read = read_model(file, HEAD_FIELDS, report, lambda head, checked: _classes(head, language, checked))
    if read is None:
        return None
    head, classes, rows = read
    return TopicModelSpec(
        language=language,
        classes=classes,
        bias=tuple(head["bias"]),
        rows=rows,
        share=head["share"],
        out_above=head["out_above"],
        trained_on=head["trained_on"],
    )


def read_trained_on(file: Path) -> str | None:
    """The fingerprint in a model file's head, without loading the rest (for `--check`)."""
    return read_field(file, "trained_on")


def _classes(head: dict, language: str, checked: Checked) -> tuple[str, ...]:
    if head["language"] != language:
        checked.add(f"is for language '{head['language']}', the content is '{language}'", "language")
    classes = head["classes"]
    if OUT_OF_SCOPE_CLASS not in classes or len(set(classes)) != len(classes):
        checked.add(f"must name '{OUT_OF_SCOPE_CLASS}' once, and each class once", "classes")
    if len(head["bias"]) != len(classes):
        checked.add(f"must be {len(classes)} numbers, one per class", "bias")
    return classes
