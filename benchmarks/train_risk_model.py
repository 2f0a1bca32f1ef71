"""Trains triage's statistical safety net (`knowledge/triage/model.tsv`) from labelled messages.

    python -m benchmarks.train_risk_model          # train on every development set, write the model
    python -m benchmarks.train_risk_model --cv     # leave one set out: what a new set would see
    python -m benchmarks.train_risk_model --check  # is the model trained on today's sets?

What it learns from: the triage development sets (`triage_dev*.yaml`: red flags, crisis messages,
and messages that must not alarm), the first three development sets of patient questions and the knowledge
base's own questions (ordinary messages). The held-out sets (`*heldout*.yaml`) are never read.

The model is multinomial logistic regression over `bot.understanding.risk.features`, fitted with
AdaGrad in plain Python: a few thousand messages train in seconds, and the bot needs no numerical
library to run it. Training is deterministic (a fixed shuffle), so the same sets give the same file.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.sets import ANSWER_DEV, TRIAGE_DEV, read_set
from bot.content.loader import Knowledge, load_knowledge
from bot.content.risk_model import MODEL_FILE, ORDINARY_CLASS, read_trained_on
from bot.understanding.risk import features
from bot.understanding.understander import Understander

HERE = Path(__file__).resolve().parent
KNOWLEDGE = HERE.parent / "knowledge"

# The patient-question sets the net learns "ordinary" from: the first three answer sets only.
# With the four later ones (1,462 messages dense with long stories about back pain and stress) it
# asked less on long messages with a sign buried in them: on two fresh triage sets crisis recall
# fell from 98.9 to 96.7 % and from 100 to 98.9 %, with no fewer false alarms.
ORDINARY_SETS = ANSWER_DEV[:3]

# Which safety question fits each red-flag category of the evaluation sets.
CATEGORY_QUESTION = {
    "cauda_equina_bladder": "bladder",
    "cauda_equina_bowel": "bladder",
    "saddle_anaesthesia": "saddle",
    "sexual_dysfunction": "saddle",
    "leg_weakness": "legs",
    "aortic_cardiac": "chest",
    "fracture": "injury",
    "infection": "fever",
    "cancer": "cancer",
    "weight_loss": "cancer",
    "night_pain": "cancer",
    "age_new_pain": "age",
}
CRISIS_QUESTION = "crisis"
CLASSES = (ORDINARY_CLASS, CRISIS_QUESTION, *dict.fromkeys(CATEGORY_QUESTION.values()))

EPOCHS = 15
LEARNING_RATE = 0.3
L2 = 1e-5
SEED = 1
DIGITS = 3  # weights are stored rounded; smaller ones are dropped
# A feature seen in fewer training messages is left out: the file and its memory shrink by half at 3,
# by a fifth more at 4. Leaving a quarter of the development sets out in turn (4 folds, 86 sets) 4 read
# them as 3 did (red flags asked 96.5 %, crisis 96.1 against 96.2 %, must-not-alarm 1.7 %), and it keeps
# the table's index under 43,690 features, where a dict doubles its table (2 MB).
MIN_COUNT = 4
MIN_WORDS = 6  # shorter messages ("Someone Else", a name typed in a form) are the rules' alone
ASK_ABOVE = 0.5  # the gate's probability from which a message the rules left alone gets a question
# From this, such a message gets the crisis question when crisis is the likeliest kind. On the 65
# development sets left out in turn (8 folds) the net then asked 12 more of the 952 crisis messages the
# rules left alone (36 missed instead of 48), and 33 more of 12,574 must-not-alarm ones; at 0.2, 22 more
# for 60 more, some absurd ("the new reception area looks great").
CRISIS_ASK_ABOVE = 0.3
# The gate's probability under which a rule's alarm becomes its safety question: the rules read an
# alarm word, the net reads the whole message as one that needs no question at all.
DOUBT_BELOW = 0.01
# Never on a shorter message: "my back hurts and I can't control my bladder" is all alarm words,
# and the net, trained on many safe messages with those words, reads it at 3 %.
DOUBT_MIN_WORDS = 15
# Under this a red-flag question that only a weak clue (`possible`) raised is not asked (in a message of
# at least MIN_WORDS words, as for any reading): "I'm diabetic, can I eat a snack in the waiting room?".
# Lower than DOUBT_BELOW, since a question waived is one the patient never sees: on the development sets
# left out in turn (8 folds) it waived 304 of 401 such questions on must-not-alarm messages and 1 of 217
# on red flags; with DOUBT_MIN_WORDS as the floor it waived 246, and lost the same one.
WAIVE_BELOW = 0.005


@dataclass(frozen=True)
class Example:
    text: str
    label: str  # a class of CLASSES
    source: str  # the file it came from
    expect: str  # emergency | urgent | crisis | none
    group: str  # category or context type


def label_of(item: dict) -> str:
    if item["expect"] == "none":
        return ORDINARY_CLASS
    if item["expect"] == "crisis":
        return CRISIS_QUESTION
    return CATEGORY_QUESTION[item["category"]]


def load_examples(knowledge: Knowledge) -> list[Example]:
    """Every labelled message the model may learn from (never a held-out set)."""
    examples: list[Example] = []
    for path in TRIAGE_DEV:
        for item in read_set(path):
            group = str(item.get("category") or item.get("context"))
            examples.append(Example(str(item["text"]), label_of(item), path.name, str(item["expect"]), group))
    for _, path in ORDINARY_SETS:
        for item in read_set(path):
            examples.append(Example(str(item["text"]), ORDINARY_CLASS, path.name, "none", "patient_question"))
    for entry in sorted(knowledge.entries.values(), key=lambda entry: entry.id):
        for question in entry.questions:
            examples.append(Example(question, ORDINARY_CLASS, "knowledge", "none", "patient_question"))
    return examples


def fingerprint(examples: Iterable[Example]) -> str:
    """Names the labelled sets it learnt from, so `--check` can tell a model trained on other sets.

    The entries' own questions are left out: editing the knowledge base must not fail the tests
    (a model a few entry questions behind is as good), while a changed labelled set must."""
    digest = hashlib.sha256()
    for example in examples:
        if example.source == "knowledge":
            continue
        digest.update(f"{example.label}\t{example.text}\n".encode())
    return digest.hexdigest()[:16]


Model = tuple[dict[str, list[float]], list[float]]


def weight_text(value: float) -> str:
    """A weight as the model files store it: rounded to DIGITS, shortest form."""
    return f"{round(value, DIGITS):g}"


def train(rows: Sequence[tuple[set[str], int]], classes: int = len(CLASSES)) -> Model:
    """Softmax regression with AdaGrad and a little L2, in a fixed order."""
    weights: dict[str, list[float]] = {}
    squares: dict[str, list[float]] = {}
    bias = [0.0] * classes
    bias_squares = [1e-8] * classes
    order = list(range(len(rows)))
    rng = random.Random(SEED)
    for _ in range(EPOCHS):
        rng.shuffle(order)
        for row in order:
            found, label = rows[row]
            probabilities = _probabilities(weights, bias, found)
            gradient = [p - (1.0 if index == label else 0.0) for index, p in enumerate(probabilities)]
            for index, g in enumerate(gradient):
                bias_squares[index] += g * g
                bias[index] -= LEARNING_RATE * g / math.sqrt(bias_squares[index])
            for feature in found:
                w = weights.setdefault(feature, [0.0] * classes)
                s = squares.setdefault(feature, [1e-8] * classes)
                for index, g in enumerate(gradient):
                    step = g + L2 * w[index]
                    if step:
                        s[index] += step * step
                        w[index] -= LEARNING_RATE * step / math.sqrt(s[index])
    return weights, bias


def _probabilities(weights: dict[str, list[float]], bias: list[float], found: Iterable[str]) -> list[float]:
    scores = list(bias)
    for feature in found:
        w = weights.get(feature)
        if w is not None:
            for index, value in enumerate(w):
                scores[index] += value
    top = max(scores)
    exps = [math.exp(score - top) for score in scores]
    total = sum(exps)
    return [value / total for value in exps]


@dataclass(frozen=True)
class Trained:
    """The gate (risk or not, one weight a feature) and the kinds model (which question)."""

    gate: dict[str, float]
    gate_bias: float
    kinds: Model

    def risk(self, found: Iterable[str]) -> float:
        logit = self.gate_bias + sum(self.gate.get(feature, 0.0) for feature in found)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))

    def likeliest(self, found: Iterable[str]) -> str:
        probabilities = _probabilities(*self.kinds, found)
        return CLASSES[max(range(1, len(CLASSES)), key=probabilities.__getitem__)]


def train_both(rows: Sequence[tuple[set[str], int]]) -> Trained:
    rows = _common(rows)
    weights, bias = train([(found, int(label != 0)) for found, label in rows], classes=2)
    gate = {feature: w[1] - w[0] for feature, w in weights.items()}
    return Trained(gate, bias[1] - bias[0], train(rows))


def model_file(trained: Trained, language: str, trained_on: str) -> str:
    """The model file (`bot.content.risk_model` reads it): a head of fields, then one line per
    feature with its gate weight and its class weights, sorted, rounded (readable diffs)."""
    weights, bias = trained.kinds
    number = weight_text
    head = [
        "# Triage's statistical safety net. Generated by `python -m benchmarks.train_risk_model`",
        "# (make model) from the development sets; do not edit by hand. See knowledge/README.md.",
        f"language\t{language}",
        "classes\t" + "\t".join(CLASSES),
        f"ask_above\t{ASK_ABOVE}",
        f"crisis_ask_above\t{CRISIS_ASK_ABOVE}",
        f"doubt_below\t{DOUBT_BELOW}",
        f"doubt_min_words\t{DOUBT_MIN_WORDS}",
        f"waive_below\t{WAIVE_BELOW}",
        f"min_words\t{MIN_WORDS}",
        f"trained_on\t{trained_on}",
        f"gate_bias\t{number(trained.gate_bias)}",
        "bias\t" + "\t".join(number(value) for value in bias),
        "features",
    ]
    lines = []
    zero = [0.0] * len(CLASSES)
    for feature in sorted(set(trained.gate) | set(weights)):
        gate = number(trained.gate.get(feature, 0.0))
        row = [number(value) for value in weights.get(feature, zero)]
        if gate != "0" or any(value != "0" for value in row):
            lines.append(f"{feature}\t{gate}\t{' '.join(row)}")
    return "\n".join(head + lines) + "\n"


def _rows(understander: Understander, examples: Iterable[Example]) -> list[tuple[set[str], int]]:
    index = {name: position for position, name in enumerate(CLASSES)}
    return [(features(understander.sentences(example.text)), index[example.label]) for example in examples]


def _common(rows: Sequence[tuple[set[str], int]]) -> list[tuple[set[str], int]]:
    """The rows with only the features at least MIN_COUNT training messages share."""
    counts = Counter(feature for found, _ in rows for feature in found)
    kept = {feature for feature, count in counts.items() if count >= MIN_COUNT}
    return [(found & kept, label) for found, label in rows]


def cross_validate(understander: Understander, examples: Sequence[Example]) -> list[str]:
    """Leave one triage set out: the model alone (no rules), on sets it never saw, as a new set
    would be. The patient questions are split across the folds the same way."""
    rows = _rows(understander, examples)
    triage_sets = sorted({example.source for example in examples if example.source.startswith("triage_dev")})
    others = [i for i, example in enumerate(examples) if not example.source.startswith("triage_dev")]
    scored: list[tuple[Example, float, str]] = []
    for fold, left_out in enumerate(triage_sets):
        held = [i for i, example in enumerate(examples) if example.source == left_out]
        held += [i for n, i in enumerate(others) if n % len(triage_sets) == fold]
        held_set = set(held)
        trained = train_both([rows[i] for i in range(len(rows)) if i not in held_set])
        scored += [(examples[i], trained.risk(rows[i][0]), trained.likeliest(rows[i][0])) for i in held]
    lines = [
        f"Leave one of {len(triage_sets)} triage sets out, model alone:",
        "",
        "| ask above | red flags asked | ...with the fitting question | crisis asked the crisis question "
        "| must-not-alarm asked | patient questions asked |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for threshold in (0.2, 0.3, 0.4, 0.5, 0.6):
        counts: Counter[str] = Counter()
        for example, risk, question in scored:
            kind = _kind(example)
            asked = risk >= threshold and sum(map(len, understander.sentences(example.text))) >= MIN_WORDS
            counts[kind] += 1
            counts[kind + "_asked"] += asked and (kind != "crisis" or question == CRISIS_QUESTION)
            counts[kind + "_fitting"] += asked and question == example.label
        lines.append(
            f"| {threshold} | {_share(counts, 'red')} | {_share(counts, 'red', 'fitting')} | "
            f"{_share(counts, 'crisis')} | {_share(counts, 'none')} | {_share(counts, 'question')} |"
        )
    return lines


def _kind(example: Example) -> str:
    if example.group == "patient_question":
        return "question"
    return {"none": "none", "crisis": "crisis"}.get(example.expect, "red")


def _share(counts: Counter[str], kind: str, what: str = "asked") -> str:
    return f"{100 * counts[f'{kind}_{what}'] / counts[kind]:.1f} %" if counts[kind] else "-"


def check_report(target: Path, shipped: str | None, today: str, trainer: str, current: bool = True) -> int:
    """`--check` of a trainer: 0 when the shipped model file was trained on today's sets (and,
    with `current`, on anything else it depends on), else 1 with the command that retrains it."""
    name = target.relative_to(HERE.parent)
    if shipped == today and current:
        print(f"{name} is trained on today's sets ({today})")
        return 0
    print(
        f"{name} was trained on other sets or content ({shipped}, today {today}): run `python -m {trainer}`",
        file=sys.stderr,
    )
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cv", action="store_true", help="leave-one-set-out figures; writes nothing")
    parser.add_argument("--check", action="store_true", help="exit 1 if the model is not trained on today's sets")
    args = parser.parse_args(argv)
    knowledge = load_knowledge(KNOWLEDGE, models=False)
    examples = load_examples(knowledge)
    trained_on = fingerprint(examples)
    target = KNOWLEDGE / MODEL_FILE
    if args.check:
        return check_report(target, read_trained_on(target), trained_on, "benchmarks.train_risk_model")
    understander = Understander(knowledge)
    if args.cv:
        print("\n".join(cross_validate(understander, examples)))
        return 0
    trained = train_both(_rows(understander, examples))
    target.write_text(model_file(trained, knowledge.language.code, trained_on), encoding="utf-8")
    counts = Counter(example.label for example in examples)
    print(f"wrote {target.relative_to(HERE.parent)}: {len(examples)} messages ({dict(counts)}), data {trained_on}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
