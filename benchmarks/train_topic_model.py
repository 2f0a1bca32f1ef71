"""Trains the matcher's topic model (`knowledge/matching_model.tsv`) from labelled messages.

    python -m benchmarks.train_topic_model          # train on every development set, write the model
    python -m benchmarks.train_topic_model --cv     # leave one set out: what a new set would see
    python -m benchmarks.train_topic_model --check  # is the model trained on today's sets?

What it learns from: the knowledge base's own questions and titles (labelled with their entry),
and the development sets of patient questions (`benchmarks.sets.ANSWER_DEV`: each message
labelled with the entry that answers it, or `out_of_scope`). The held-out sets are never read.

The model is multinomial logistic regression over `bot.understanding.topics.features`, fitted
by the safety net's trainer (`benchmarks.train_risk_model.train`): deterministic, plain Python,
a few seconds. `--cv` scores each left-out set exactly as the benchmark does, through
`Understander.understand`, next to the matcher without the model.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import understanding as bench
from benchmarks.sets import ANSWER_DEV, read_set
from benchmarks.train_risk_model import DIGITS, check_report, train, weight_text
from bot.content.loader import Knowledge, load_knowledge
from bot.content.topic_model import MODEL_FILE, OUT_OF_SCOPE_CLASS, TopicModelSpec, read_trained_on
from bot.content.weights_file import read_field
from bot.understanding.topics import TopicModel
from bot.understanding.understander import Understander

HERE = Path(__file__).resolve().parent
KNOWLEDGE = HERE.parent / "knowledge"
SKIPPED = frozenset({"red_flag", "crisis"})  # triage's business: the safety net learns those

MIN_COUNT = 2  # a feature seen in fewer training messages is left out
SHARE = 0.4  # how much the model counts in an entry's score (see bot.understanding.matcher)
OUT_ABOVE = 0.5  # the chance of "not covered" from which the bot says so


@dataclass(frozen=True)
class Example:
    text: str
    label: str  # an entry id or out_of_scope
    source: str  # the file it came from, or "knowledge"


def load_examples(knowledge: Knowledge, sets: Iterable[Path] = (path for _, path in ANSWER_DEV)) -> list[Example]:
    """Every labelled message the model may learn from (never a held-out set)."""
    examples = [
        Example(text, entry.id, "knowledge")
        for entry in sorted(knowledge.entries.values(), key=lambda entry: entry.id)
        for text in (*entry.questions, entry.title)
    ]
    for path in sets:
        for item in read_set(path):
            if item["expect"] not in SKIPPED:
                label = OUT_OF_SCOPE_CLASS if item["expect"] == bench.OUT_OF_SCOPE else str(item["expect"])
                examples.append(Example(str(item["text"]), label, path.name))
    return examples


def classes_of(knowledge: Knowledge) -> tuple[str, ...]:
    return (*sorted(knowledge.entries), OUT_OF_SCOPE_CLASS)


def fingerprint(examples: Iterable[Example]) -> str:
    """Names the labelled sets it learnt from, so `--check` can tell a model trained on other sets
    (the entries' own questions are left out: editing an entry must not fail the tests)."""
    digest = hashlib.sha256()
    for example in examples:
        if example.source != "knowledge":
            digest.update(f"{example.label}\t{example.text}\n".encode())
    return digest.hexdigest()[:16]


Rows = list[tuple[set[str], int]]


def rows_of(understander: Understander, examples: Iterable[Example], classes: Sequence[str]) -> Rows:
    index = {name: position for position, name in enumerate(classes)}
    return [
        (understander.matcher.topic_features(understander.parts(example.text)), index[example.label])
        for example in examples
    ]


def fit(
    rows: Rows,
    classes: Sequence[str],
    language: str,
    trained_on: str,
    share: float = SHARE,
    out_above: float = OUT_ABOVE,
) -> TopicModelSpec:
    """The model for these rows, only with features at least MIN_COUNT messages share."""
    counts = Counter(feature for found, _ in rows for feature in found)
    kept = {feature for feature, count in counts.items() if count >= MIN_COUNT}
    weights, bias = train([(found & kept, label) for found, label in rows], classes=len(classes))
    rounded = {
        feature: array("f", [round(value, DIGITS) for value in row])
        for feature, row in weights.items()
        if any(round(value, DIGITS) for value in row)
    }
    return TopicModelSpec(
        language, tuple(classes), tuple(round(b, DIGITS) for b in bias), rounded, share, out_above, trained_on
    )


def model_file(spec: TopicModelSpec) -> str:
    """The model file (`bot.content.topic_model` reads it): a head of fields, then one line per
    feature with its class weights, sorted (readable diffs)."""
    number = weight_text

    head = [
        "# The matcher's topic model. Generated by `python -m benchmarks.train_topic_model`",
        "# (make model) from the development sets; do not edit by hand. See knowledge/README.md.",
        f"language\t{spec.language}",
        "classes\t" + "\t".join(spec.classes),
        f"share\t{spec.share}",
        f"out_above\t{spec.out_above}",
        f"trained_on\t{spec.trained_on}",
        "bias\t" + "\t".join(number(value) for value in spec.bias),
        "features",
    ]
    lines = [f"{feature}\t{' '.join(number(v) for v in spec.rows[feature])}" for feature in sorted(spec.rows)]
    return "\n".join(head + lines) + "\n"


def cross_validate(
    knowledge: Knowledge, examples: Sequence[Example], settings: Sequence[tuple[float, float]]
) -> list[str]:
    """Leave one development set out: train on the rest and the entries, score the left-out set
    as the benchmark does, next to the matcher alone."""
    understander = Understander(
        dataclasses.replace(knowledge, matching=dataclasses.replace(knowledge.matching, model=None))
    )
    classes = classes_of(knowledge)
    rows = rows_of(understander, examples, classes)
    oos_ids = bench.out_of_scope_ids(knowledge)
    lines = [
        "Leave one development set out (the model never saw the set it is scored on):",
        "",
        "| left out | model share / out above | all items | answered directly | did you mean | out-of-scope rejection "
        "| long | non-native |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    totals: dict[str, list[bench.Quality]] = {}
    for name, path in ANSWER_DEV:
        items = bench.load_eval_set(path)
        training = [row for row, example in zip(rows, examples, strict=True) if example.source != path.name]
        spec = fit(training, classes, knowledge.language.code, "cv")
        variants = [("matcher alone", None)] + [
            (f"{share} / {out}", dataclasses.replace(spec, share=share, out_above=out)) for share, out in settings
        ]
        for label, variant in variants:
            understander.matcher.model = TopicModel(variant) if variant is not None else None
            quality = bench.evaluate(understander, items, oos_ids)
            totals.setdefault(label, []).append(quality)
            lines.append(_row(name, label, [quality]))
    lines += [_row("**all sets**", label, qualities) for label, qualities in totals.items()]
    return lines


def _row(name: str, label: str, qualities: Sequence[bench.Quality]) -> str:
    merged = bench.Quality()
    for quality in qualities:
        merged.items.update(quality.items)
        merged.tag_items.update(quality.tag_items)
        merged.tag_right.update(quality.tag_right)
        for counter in ("top1", "answered", "rejected", "red_flag_hits", "crisis_hits", "did_you_mean"):
            setattr(merged, counter, getattr(merged, counter) + getattr(quality, counter))
    return (
        f"| {name} | {label} | {100 * merged.all_items:.1f} % | {100 * merged.answered_rate:.1f} % | "
        f"{100 * merged.did_you_mean_rate:.1f} % | {100 * merged.rejection:.1f} % | "
        f"{100 * merged.tag_rate('long'):.1f} % | {100 * merged.tag_rate('nonnative'):.1f} % |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cv", action="store_true", help="leave-one-set-out figures; writes nothing")
    parser.add_argument("--check", action="store_true", help="exit 1 if the model is not trained on today's sets")
    parser.add_argument(
        "--settings", default=f"{SHARE}/{OUT_ABOVE}", help="with --cv: share/out_above pairs, comma separated"
    )
    args = parser.parse_args(argv)
    knowledge = load_knowledge(KNOWLEDGE, models=False)
    examples = load_examples(knowledge)
    trained_on = fingerprint(examples)
    target = KNOWLEDGE / MODEL_FILE
    if args.check:
        entries = read_field(target, "classes") == "\t".join(classes_of(knowledge))
        return check_report(target, read_trained_on(target), trained_on, "benchmarks.train_topic_model", entries)
    if args.cv:
        settings = [tuple(float(x) for x in pair.split("/")) for pair in args.settings.split(",")]
        print("\n".join(cross_validate(knowledge, examples, settings)))  # type: ignore[arg-type]
        return 0
    understander = Understander(knowledge)
    classes = classes_of(knowledge)
    spec = fit(rows_of(understander, examples, classes), classes, knowledge.language.code, trained_on)
    target.write_text(model_file(spec), encoding="utf-8")
    counts = Counter(example.source for example in examples)
    print(
        f"wrote {target.relative_to(HERE.parent)}: {len(examples)} messages ({dict(counts)}), "
        f"{len(spec.rows)} features, data {trained_on}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
