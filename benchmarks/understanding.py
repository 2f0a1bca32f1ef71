"""Benchmark of the understanding step: safety triage and answers, on sets nobody tuned on.

Run `python -m benchmarks.understanding` (or `make bench`). It prints Markdown tables, with the
development sets (tuned on) and the held-out sets (written before the changes, scored only
here) side by side, and PASS/FAIL per target of issues 8 and 9, judged on the held-out sets.

Which sets are development and which are held out is listed once, in `benchmarks/sets.py`.

- Triage: `triage_dev*.yaml` (16 development sets) / `triage_heldout*.yaml` (four held-out
  sets), written category by category from clinical lists (NICE NG59, cauda equina red flags,
  suicide warning signs) and real chat styles by writers who never saw the rules.
  The development sets are also what the statistical safety net learns from, so its development
  figures are in-sample; `python -m benchmarks.train_risk_model --cv` gives the out-of-sample
  view, and the last held-out set (written blind before the last round of changes) is what the
  targets judge.
  A red flag counts as caught when the patient gets the urgent reply or the safety question whose
  "Yes" gives it (one tap away); a false alarm is an urgent reply to a must-not-alarm message; a
  safety question on one is counted apart.
- Answers: `eval_set.yaml` (the first set) and `understanding_dev*.yaml` for development,
  `understanding_heldout*.yaml` held out, each written without looking at the entries. The
  development sets are what the topic model learns from, so their figures are in-sample;
  `python -m benchmarks.train_topic_model --cv` gives each one as a new set would see it, and the
  last held-out set is what the targets judge.
- Quality goes through `Understander.understand`, exactly what a patient gets.
- Latency is the whole understanding step (normalisation + triage + matching) per message, with
  `time.perf_counter_ns`, after a warm-up; the first, cold pass is shown too because the typo
  correction cache is empty then.
- The 100x knowledge base is generated from the real entries with pseudo-words mixed in, so the
  vocabulary, the index and the typo-correction search really grow, not only the entry count.
- The naive baseline is the obvious one-liner, `process.extractOne(message, all_questions,
  scorer=WRatio)`, measured in the same run on the same items, so "ours vs naive" is a fair ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process, utils

from benchmarks.sets import ANSWER_DEV, ANSWER_HELD_OUT, TRIAGE_DEV, TRIAGE_HELD_OUT, read_set
from benchmarks.train_risk_model import CATEGORY_QUESTION
from bot.content.loader import Entry, Knowledge, load_knowledge
from bot.understanding.understander import Understander

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = ROOT / "knowledge"
SETS = Path(__file__).resolve().parent
EVAL_SET = SETS / "eval_set.yaml"
ANSWER_SETS = ANSWER_DEV  # what the topic model learns from, so its figures there are in-sample
IN_SCOPE = "in_scope"
OUT_OF_SCOPE = "out_of_scope"
RED_FLAG = "red_flag"
CRISIS = "crisis"
RED_FLAG_LEVELS = frozenset({"emergency", "urgent"})

TARGET_ACCURACY = 0.95  # the first set's own target (top-1 in scope)
TARGET_REJECTION = 0.90
TARGET_RECALL = 1.0
TARGET_FALSE_ALARMS = 0.02
# Issue 9, on the held-out answer set
TARGET_ALL_ITEMS = 0.92
TARGET_ANSWERED = 0.90
TARGET_DID_YOU_MEAN = 0.05
TARGET_HELD_OUT_REJECTION = 0.92
TARGET_LONG = 0.85
TARGET_NON_NATIVE = 0.88
# Issue 8, on the held-out triage set
TARGET_TRIAGE_RED_FLAG = 0.98
TARGET_TRIAGE_CRISIS = 1.0
TARGET_TRIAGE_FALSE_ALARMS = 0.02
TARGET_TRIAGE_CONTEXT_FALSE_ALARMS = 0.05
TARGET_TRIAGE_QUESTIONS = 0.05
TARGET_P99_MS = 1.0
TARGET_SYNTHETIC_P99_MS = 10.0
SYNTHETIC_COPIES = 100
DEFAULT_ROUNDS = 20


@dataclass(frozen=True)
class Item:
    text: str
    expect: str
    position: int  # 0-based place in the eval file
    tags: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.expect if self.expect in (OUT_OF_SCOPE, RED_FLAG, CRISIS) else IN_SCOPE


@dataclass
class Quality:
    """Counts on one set of items; the rates are what the targets are stated in."""

    items: Counter[str] = field(default_factory=Counter)
    top1: int = 0  # in scope: the best candidate is the right entry
    answered: int = 0  # in scope: answered directly ("answer") with the right entry
    suggested: int = 0  # in scope: right entry first, but as "did you mean"
    rejected: int = 0  # out of scope: fallback, or an out_of_scope entry
    red_flag_hits: int = 0
    crisis_hits: int = 0
    false_alarms: int = 0  # triage fired on an in-scope or out-of-scope message
    asked_first: int = 0  # a safety question came before the answer
    did_you_mean: int = 0  # in scope: the reply was "did you mean", right entry or not
    tag_items: Counter[str] = field(default_factory=Counter)
    tag_right: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def all_items(self) -> float:
        """Right on every message: the right entry first in scope, a rejection out of scope,
        the alarm for a red flag or crisis."""
        total = sum(self.items.values())
        right = self.top1 + self.rejected + self.red_flag_hits + self.crisis_hits
        return self._rate(right, total)

    @property
    def did_you_mean_rate(self) -> float:
        return self._rate(self.did_you_mean, self.items[IN_SCOPE])

    def tag_rate(self, tag: str) -> float:
        return self._rate(self.tag_right[tag], self.tag_items[tag])

    @staticmethod
    def _rate(part: int, whole: int) -> float:
        return part / whole if whole else 1.0

    @property
    def accuracy(self) -> float:
        return self._rate(self.top1, self.items[IN_SCOPE])

    @property
    def answered_rate(self) -> float:
        return self._rate(self.answered, self.items[IN_SCOPE])

    @property
    def rejection(self) -> float:
        return self._rate(self.rejected, self.items[OUT_OF_SCOPE])

    @property
    def red_flag_recall(self) -> float:
        return self._rate(self.red_flag_hits, self.items[RED_FLAG])

    @property
    def crisis_recall(self) -> float:
        return self._rate(self.crisis_hits, self.items[CRISIS])

    @property
    def ordinary(self) -> int:
        return self.items[IN_SCOPE] + self.items[OUT_OF_SCOPE]

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.ordinary if self.ordinary else 0.0

    def meets_quality_targets(self) -> bool:
        return self.accuracy >= TARGET_ACCURACY and self.rejection >= TARGET_REJECTION

    def meets_safety_targets(self) -> bool:
        return (
            self.red_flag_recall >= TARGET_RECALL
            and self.crisis_recall >= TARGET_RECALL
            and self.false_alarm_rate <= TARGET_FALSE_ALARMS
        )


def load_eval_set(path: Path = EVAL_SET) -> list[Item]:
    raw = read_set(path)
    return [
        Item(str(item["text"]), str(item["expect"]), number, tuple(item.get("tags") or ()))
        for number, item in enumerate(raw)
    ]


def out_of_scope_ids(knowledge: Knowledge) -> frozenset[str]:
    return frozenset(entry.id for entry in knowledge.entries.values() if entry.kind == OUT_OF_SCOPE)


def evaluate(understander: Understander, items: Iterable[Item], oos_ids: frozenset[str]) -> Quality:
    """Quality of `understander` on `items`, judged by what the patient would actually get."""
    quality = Quality()
    for item in items:
        right = _judge_item(understander, item, oos_ids, quality)
        for tag in item.tags:
            quality.tag_items[tag] += 1
            quality.tag_right[tag] += right
    return quality


def _judge_item(understander: Understander, item: Item, oos_ids: frozenset[str], quality: Quality) -> bool:
    kind = item.kind
    quality.items[kind] += 1
    result = understander.understand(item.text)
    triage = result.triage
    alarmed = triage is not None and triage.action in ("alarm", "ask")
    if kind == RED_FLAG:
        if alarmed and triage is not None and triage.level in RED_FLAG_LEVELS | {CRISIS}:
            quality.red_flag_hits += 1
            return True
        quality.failures.append(f"red flag missed ({triage}): {item.text}")
        return False
    if kind == CRISIS:
        if alarmed and triage is not None and CRISIS in (triage.level, triage.then_ask):
            quality.crisis_hits += 1
            return True
        quality.failures.append(f"crisis missed ({triage}): {item.text}")
        return False
    if triage is not None and triage.action == "alarm":
        quality.false_alarms += 1
        quality.failures.append(f"false alarm {triage.level}/{triage.rule}: {item.text}")
        return False
    if triage is not None and triage.action == "info":
        quality.failures.append(f"warning signs instead of an answer ({triage.rule}): {item.text}")
        return False
    if triage is not None:
        quality.asked_first += 1  # the answer comes after "No"
    match = result.match
    assert match is not None
    best = match.best.entry_id if match.best else None
    scores = ", ".join(f"{c.entry_id} {c.score}" for c in match.candidates)
    if kind == OUT_OF_SCOPE:
        if match.outcome not in ("answer", "did_you_mean") or best in oos_ids:
            quality.rejected += 1
            return True
        quality.failures.append(f"not rejected [{match.outcome}: {scores}]: {item.text}")
        return False
    if match.outcome == "did_you_mean":
        quality.did_you_mean += 1
    right = best == item.expect and match.outcome in ("answer", "did_you_mean")
    if right:
        quality.top1 += 1
        if match.outcome == "answer" and triage is None:
            quality.answered += 1
        elif match.outcome == "did_you_mean":
            quality.suggested += 1
    if not right or match.outcome != "answer":
        quality.failures.append(f"{item.expect} [{match.outcome}: {scores}]: {item.text}")
    return right


# --------------------------------------------------------------------------- triage sets


@dataclass(frozen=True)
class TriageItem:
    text: str
    expect: str  # emergency | urgent | crisis | none
    group: str  # the category of an alarm, the context type of a must-not-alarm message


def load_triage_set(path: Path) -> list[TriageItem]:
    raw = read_set(path)
    return [
        TriageItem(str(item["text"]), str(item["expect"]), str(item.get("category") or item.get("context")))
        for item in raw
    ]


@dataclass
class TriageQuality:
    """Per category: caught (the urgent reply, or the question one "Yes" away from it); per
    context type of the must-not-alarm messages: alarms, questions, warning-signs replies."""

    categories: dict[str, Counter[str]] = field(default_factory=dict)
    contexts: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def rate(self, kind: str, key: str = "caught") -> float:
        rows = [c for c in self.categories.values() if c["is_" + kind]]
        whole = sum(c["n"] for c in rows)
        return sum(c[key] for c in rows) / whole if whole else 1.0

    def none_rate(self, key: str) -> float:
        whole = sum(c["n"] for c in self.contexts.values())
        return sum(c[key] for c in self.contexts.values()) / whole if whole else 0.0

    def context_rate(self, name: str, key: str) -> float:
        row = self.contexts.get(name, Counter())
        return row[key] / row["n"] if row["n"] else 0.0

    def worst_context(self) -> tuple[str, float]:
        rates = {name: c["alarm"] / c["n"] for name, c in self.contexts.items() if c["n"]}
        name = max(rates, key=lambda key: rates[key]) if rates else ""
        return name, rates.get(name, 0.0)


def evaluate_triage(understander: Understander, items: Iterable[TriageItem]) -> TriageQuality:
    quality = TriageQuality()
    for item in items:
        triage = understander.understand(item.text).triage
        if item.expect == "none":
            row = quality.contexts.setdefault(item.group, Counter())
            row["n"] += 1
            action = triage.action if triage is not None else None
            if action is not None:
                row[action] += 1
                if action != "info":
                    quality.failures.append(f"{action} {triage.level}/{triage.rule} [{item.group}]: {item.text}")
            continue
        row = quality.categories.setdefault(item.group, Counter())
        row["n"] += 1
        crisis = item.expect == CRISIS
        row["is_crisis" if crisis else "is_red_flag"] = 1
        # A crisis is caught by a crisis alarm or question, or by the crisis question asked after a
        # red-flag alarm's reply (`then_ask`).
        crisis_caught = triage is not None and (triage.level == CRISIS or triage.then_ask == CRISIS)
        caught = triage is not None and triage.action in ("alarm", "ask") and (crisis_caught if crisis else True)
        if caught:
            assert triage is not None
            row["caught"] += 1
            row["asked"] += (triage.action == "ask" or triage.level != CRISIS) if crisis else triage.action == "ask"
            # A question only helps if it asks about this sign: "Yes" to the wrong one never comes.
            row["fitting"] += triage.action == "alarm" or triage.question in _fitting_questions(item)
            row["same_level"] += triage.action == "alarm" and triage.level == item.expect
        else:
            quality.failures.append(f"missed [{item.group}] ({triage}): {item.text}")
    return quality


# Questions that also fit a category: a cancer history told as over is asked about the pain now.
ALSO_FITTING = {"cancer": ("history",)}


def _fitting_questions(item: TriageItem) -> tuple[str, ...]:
    if item.expect == CRISIS:
        return (CRISIS,)
    return (CATEGORY_QUESTION.get(item.group, ""), *ALSO_FITTING.get(item.group, ()))


# --------------------------------------------------------------------------- naive baseline


class Naive:
    """`process.extractOne` with WRatio over every example question: the obvious approach."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.questions: list[str] = []
        self.owners: list[Entry] = []
        for entry in entries:
            for question in entry.questions:
                self.questions.append(question)
                self.owners.append(entry)

    def best(self, text: str) -> Entry | None:
        found = process.extractOne(text, self.questions, scorer=fuzz.WRatio, processor=utils.default_process)
        return self.owners[found[2]] if found else None


def naive_quality(naive: Naive, items: Iterable[Item]) -> tuple[float, float]:
    """(top-1 accuracy in scope, out-of-scope rejection); it has no triage and no fallback."""
    right = total = rejected = oos = 0
    for item in items:
        if item.kind == IN_SCOPE:
            total += 1
            best = naive.best(item.text)
            right += best is not None and best.id == item.expect
        elif item.kind == OUT_OF_SCOPE:
            oos += 1
            best = naive.best(item.text)
            rejected += best is None or best.kind == OUT_OF_SCOPE
    return (right / total if total else 1.0, rejected / oos if oos else 1.0)


# --------------------------------------------------------------------------- speed and memory


def latencies_ns(
    understand: Callable[[str], Any], texts: Sequence[str], rounds: int, warm_up: bool = True
) -> list[int]:
    """Per-call wall time of `understand` over `texts`, `rounds` times (after a warm-up pass)."""
    for text in texts if warm_up else ():
        understand(text)
    timings = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for text in texts:
            start = clock()
            understand(text)
            timings.append(clock() - start)
    return timings


def cold_latencies_ns(understand: Callable[[str], Any], texts: Sequence[str]) -> list[int]:
    """One pass on a freshly built understander: typo-correction caches still empty."""
    timings = []
    clock = time.perf_counter_ns
    for text in texts:
        start = clock()
        understand(text)
        timings.append(clock() - start)
    return timings


def percentile_ms(timings: Sequence[int], share: float) -> float:
    if not timings:
        return 0.0
    ordered = sorted(timings)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index] / 1e6


def traced_peak_mb(build: Callable[[], Any], texts: Sequence[str]) -> float:
    """tracemalloc peak while building an understander and matching every text once."""
    gc.collect()
    tracemalloc.start()
    try:
        understander = build()
        for text in texts:
            understander.understand(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / 1024 if sys.platform != "darwin" else usage / 2**20


# --------------------------------------------------------------------------- synthetic 100x base

_CONSONANTS = "bcdfghklmnprstvz"
_VOWELS = "aeiou"


def _pseudo_word(rng: random.Random) -> str:
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 4)))


def _vary(text: str, rng: random.Random) -> str:
    """The text with one word swapped for a pseudo-word and one pseudo-word added."""
    parts = text.split()
    if len(parts) > 1:
        parts[rng.randrange(len(parts))] = _pseudo_word(rng)
    parts.insert(rng.randrange(len(parts) + 1), _pseudo_word(rng))
    return " ".join(parts)


def synthetic_knowledge(knowledge: Knowledge, copies: int = SYNTHETIC_COPIES, seed: int = 7) -> Knowledge:
    """`copies` times the entries: the real ones plus varied copies with unique ids and words."""
    rng = random.Random(seed)
    entries: dict[str, Entry] = dict(knowledge.entries)
    for number in range(1, copies):
        for entry in knowledge.entries.values():
            copy_id = f"{entry.id}_x{number}"
            entries[copy_id] = dataclasses.replace(
                entry,
                id=copy_id,
                title=_vary(entry.title, rng),
                questions=tuple(_vary(question, rng) for question in entry.questions),
                synonyms=tuple(f"{synonym} {_pseudo_word(rng)}" for synonym in entry.synonyms),
                follow_ups=(),
            )
    return dataclasses.replace(knowledge, entries=entries)


# --------------------------------------------------------------------------- the report


@dataclass
class Speed:
    p50_ms: float
    p99_ms: float
    cold_p99_ms: float
    build_s: float
    traced_mb: float


def measure_speed(knowledge: Knowledge, texts: Sequence[str], rounds: int) -> tuple[Speed, Understander]:
    start = time.perf_counter()
    understander = Understander(knowledge)
    build_s = time.perf_counter() - start
    cold = cold_latencies_ns(understander.understand, texts)
    warm = latencies_ns(understander.understand, texts, rounds)
    traced = traced_peak_mb(lambda: Understander(knowledge), texts)
    speed = Speed(percentile_ms(warm, 0.5), percentile_ms(warm, 0.99), percentile_ms(cold, 0.99), build_s, traced)
    return speed, understander


def naive_speed(naive: Naive, texts: Sequence[str], rounds: int, warm_up: bool = True) -> tuple[float, float]:
    timings = latencies_ns(naive.best, texts, rounds, warm_up)
    return percentile_ms(timings, 0.5), percentile_ms(timings, 0.99)


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _answer_table(sets: list[tuple[str, Quality, tuple[float, float]]]) -> list[str]:
    names = " | ".join(name for name, _, _ in sets)
    lines = [
        f"| measure | {names} | target (held-out) |",
        "| --- |" + " ---: |" * len(sets) + " ---: |",
    ]

    def row(label: str, value: Callable[[Quality, tuple[float, float]], str], target: str = "") -> None:
        lines.append(f"| {label} | " + " | ".join(value(q, n) for _, q, n in sets) + f" | {target} |")

    row("messages", lambda q, _: str(sum(q.items.values())))
    row("all items right", lambda q, _: _pct(q.all_items), "≥ 92 %")
    row("in scope: right entry first", lambda q, _: _pct(q.accuracy))
    row("in scope: right entry first, naive WRatio", lambda _, n: _pct(n[0]))
    row("in scope: answered directly and right", lambda q, _: _pct(q.answered_rate), "≥ 90 %")
    row("in scope: 'did you mean' rate", lambda q, _: _pct(q.did_you_mean_rate), "≤ 5 %")
    row("out-of-scope rejection", lambda q, _: _pct(q.rejection), "≥ 92 %")
    row("out-of-scope rejection, naive WRatio", lambda _, n: _pct(n[1]))
    row("long stories", lambda q, _: _pct(q.tag_rate("long")) if q.tag_items["long"] else "—", "≥ 85 %")
    row(
        "non-native English",
        lambda q, _: _pct(q.tag_rate("nonnative")) if q.tag_items["nonnative"] else "—",
        "≥ 88 %",
    )
    row("typos", lambda q, _: _pct(q.tag_rate("typo")) if q.tag_items["typo"] else "—")
    row("safety alarm on these (false alarms)", lambda q, _: str(q.false_alarms))
    row("safety question first", lambda q, _: str(q.asked_first))
    return lines


def _triage_tables(columns: Sequence[tuple[str, TriageQuality]]) -> list[str]:
    names = [name for name, _ in columns]
    lines = [
        "| measure | " + " | ".join(names) + " | target (last held-out) |",
        "| --- |" + " ---: |" * len(columns) + " ---: |",
    ]

    def row(label: str, value: Callable[[TriageQuality], str], target: str = "") -> None:
        lines.append(f"| {label} | " + " | ".join(value(q) for _, q in columns) + f" | {target} |")

    row("red-flag recall (alarm or safety question)", lambda q: _pct(q.rate("red_flag")), "≥ 98 %")
    row("crisis recall (alarm or safety question)", lambda q: _pct(q.rate("crisis")), "100 %")
    row("caught by the safety question (share of red flags)", lambda q: _pct(q.rate("red_flag", "asked")))
    row("caught, and any question asked fits the sign", lambda q: _pct(q.rate("red_flag", "fitting")))
    row("urgent reply at the labelled level (red flags)", lambda q: _pct(q.rate("red_flag", "same_level")))
    row("false alarms (must-not-alarm messages)", lambda q: _pct(q.none_rate("alarm")), "≤ 2 %")
    row("worst context type: false alarms", lambda q: f"{q.worst_context()[0]} {_pct(q.worst_context()[1])}", "≤ 5 %")
    row("safety question on must-not-alarm messages", lambda q: _pct(q.none_rate("ask")))
    row(
        "safety question on ordinary messages (context 'ordinary')",
        lambda q: _pct(q.context_rate("ordinary", "ask")),
        "≤ 5 %",
    )
    row("warning-signs information on must-not-alarm messages", lambda q: _pct(q.none_rate("info")))
    lines += ["", "| category | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(columns)]
    for name in sorted({key for _, quality in columns for key in quality.categories}):
        cells = []
        for _, quality in columns:
            c = quality.categories.get(name, Counter())
            cells.append(f"{c['caught']}/{c['n']}" + (f" ({c['asked']} by question)" if c["asked"] else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| must-not-alarm context: alarms / questions | " + " | ".join(names) + " |"]
    lines.append("| --- |" + " ---: |" * len(columns))
    for name in sorted({key for _, quality in columns for key in quality.contexts}):
        cells = []
        for _, quality in columns:
            c = quality.contexts.get(name, Counter())
            cells.append(f"{c['alarm']} / {c['ask']} of {c['n']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.understanding", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="timed passes over the messages")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the 100x knowledge base")
    parser.add_argument(
        "--time-every",
        type=int,
        default=1,
        metavar="N",
        help="time every Nth message only (the tests' quick run); every message is still scored",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--failures", action="store_true", help="list the development sets' misses (never the held-out ones)"
    )
    parser.add_argument(
        "--dev-only",
        action="store_true",
        help="score the development sets only (while working: keep the held-out unseen)",
    )
    args = parser.parse_args(argv)

    knowledge = load_knowledge(KNOWLEDGE_DIR)
    oos_ids = out_of_scope_ids(knowledge)
    answer_paths = ANSWER_SETS if args.dev_only else (*ANSWER_SETS, *ANSWER_HELD_OUT)
    answer_sets = [(name, load_eval_set(path)) for name, path in answer_paths]
    triage_dev = [item for path in TRIAGE_DEV for item in load_triage_set(path)]
    triage_held = [] if args.dev_only else [(name, load_triage_set(path)) for name, path in TRIAGE_HELD_OUT]
    texts = [item.text for _, items in answer_sets for item in items]
    texts += [item.text for item in triage_dev] + [item.text for _, items in triage_held for item in items]

    timed = texts[:: max(1, args.time_every)]
    speed, understander = measure_speed(knowledge, timed, max(1, args.rounds))
    naive = Naive(knowledge.entries.values())
    answers = [
        (name, evaluate(understander, items, oos_ids), naive_quality(naive, items)) for name, items in answer_sets
    ]
    dev_triage = evaluate_triage(understander, triage_dev)
    triage_columns = [("dev (the model's training data)", dev_triage)]
    triage_columns += [(name, evaluate_triage(understander, items)) for name, items in triage_held]
    naive_p50, naive_p99 = naive_speed(naive, timed[::4], max(1, args.rounds // 4))

    synthetic: Speed | None = None
    synthetic_entries = 0
    synthetic_naive = (0.0, 0.0)
    if not args.no_synthetic:
        big = synthetic_knowledge(knowledge)
        synthetic_entries = len(big.entries)
        synthetic, _ = measure_speed(big, timed[::4], max(1, args.rounds // 4))
        # The naive scan takes ~0.1 s a message at this size: time every 16th message, once.
        synthetic_naive = naive_speed(Naive(big.entries.values()), timed[::16], 1, warm_up=False)

    held = answers[-1][1]
    first = answers[0][1]
    held_triage = triage_columns[-1][1]
    red_name, red_rate = held_triage.worst_context()
    judged = "dev only" if args.dev_only else "held-out"
    checks: dict[str, bool] = {
        f"triage: red-flag recall ≥ 98 % ({judged})": held_triage.rate("red_flag") >= TARGET_TRIAGE_RED_FLAG,
        f"triage: crisis recall 100 % ({judged})": held_triage.rate("crisis") >= TARGET_TRIAGE_CRISIS,
        f"triage: false alarms ≤ 2 % ({judged})": held_triage.none_rate("alarm") <= TARGET_TRIAGE_FALSE_ALARMS,
        f"triage: false alarms ≤ 5 % in every context ({judged}; worst {red_name})": red_rate
        <= TARGET_TRIAGE_CONTEXT_FALSE_ALARMS,
        f"triage: safety question on ≤ 5 % of ordinary messages ({judged})": held_triage.context_rate("ordinary", "ask")
        <= TARGET_TRIAGE_QUESTIONS,
        f"answers: all items ≥ 92 % ({judged})": held.all_items >= TARGET_ALL_ITEMS,
        f"answers: answered directly and right ≥ 90 % ({judged})": held.answered_rate >= TARGET_ANSWERED,
        f"answers: 'did you mean' ≤ 5 % in scope ({judged})": held.did_you_mean_rate <= TARGET_DID_YOU_MEAN,
        f"answers: out-of-scope rejection ≥ 92 % ({judged})": held.rejection >= TARGET_HELD_OUT_REJECTION,
        f"answers: long stories ≥ 85 % ({judged})": held.tag_rate("long") >= TARGET_LONG,
        f"answers: non-native ≥ 88 % ({judged})": held.tag_rate("nonnative") >= TARGET_NON_NATIVE,
        "first set: top-1 ≥ 95 %, rejection ≥ 90 %": first.meets_quality_targets(),
        "first set: red flags and crisis 100 %, false alarms ≤ 2 %": first.meets_safety_targets(),
        "latency p99 ≤ 1 ms": speed.p99_ms <= TARGET_P99_MS,
    }
    lines = [
        f"## Understanding benchmark ({len(knowledge.entries)} entries, {len(knowledge.triage.concepts)} safety "
        "concepts)",
        "",
        f"### Safety triage: dev {len(triage_dev)} messages ({len(TRIAGE_DEV)} sets); "
        + (", ".join(f"{name} {len(items)}" for name, items in triage_held) or "held-out not scored (--dev-only)"),
        "",
        *_triage_tables(triage_columns),
        "",
        "### Answers",
        "",
        *_answer_table(answers),
        "",
        f"### Speed and memory ({len(timed)} messages: "
        + ("every set above)" if len(timed) == len(texts) else f"1 in {args.time_every} of the sets above)"),
        "",
        "| measure | ours | naive WRatio | ratio naive/ours | target |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| latency p50 (ms) | {speed.p50_ms:.3f} | {naive_p50:.3f} | "
        f"{naive_p50 / speed.p50_ms if speed.p50_ms else 0:.1f}x | |",
        f"| latency p99 (ms) | {speed.p99_ms:.3f} | {naive_p99:.3f} | "
        f"{naive_p99 / speed.p99_ms if speed.p99_ms else 0:.1f}x | ≤ 1 ms |",
        f"| latency p99, cold caches (ms) | {speed.cold_p99_ms:.3f} | | | |",
        f"| build time (s) | {speed.build_s:.3f} | | | |",
        f"| tracemalloc peak, build + match (MiB) | {speed.traced_mb:.1f} | | | |",
    ]
    if synthetic is not None:
        checks["100x latency p99 ≤ 10 ms"] = synthetic.p99_ms <= TARGET_SYNTHETIC_P99_MS
        lines += [
            f"| 100x base ({synthetic_entries} entries): latency p50 (ms) | {synthetic.p50_ms:.3f} | "
            f"{synthetic_naive[0]:.3f} | "
            f"{synthetic_naive[0] / synthetic.p50_ms if synthetic.p50_ms else 0:.1f}x | |",
            f"| 100x base: latency p99 (ms) | {synthetic.p99_ms:.3f} | {synthetic_naive[1]:.3f} | "
            f"{synthetic_naive[1] / synthetic.p99_ms if synthetic.p99_ms else 0:.1f}x | ≤ 10 ms |",
            f"| 100x base: latency p99, cold caches (ms) | {synthetic.cold_p99_ms:.3f} | | | |",
            f"| 100x base: build time (s) | {synthetic.build_s:.2f} | | | |",
            f"| 100x base: tracemalloc peak (MiB) | {synthetic.traced_mb:.1f} | | | |",
        ]
    lines.append(f"| peak RSS of this run (MiB) | {rss_mb():.1f} | | | |")
    lines += ["", "| target | verdict |", "| --- | :---: |"]
    lines += [f"| {name} | {_verdict(ok)} |" for name, ok in checks.items()]
    print("\n".join(lines))
    if args.failures:
        print("\nDevelopment sets only (the held-out sets' misses are not shown, so nobody tunes on them):")
        for failure in dev_triage.failures:
            print(f"- triage dev: {failure}")
        for name, quality, _ in answers[: len(ANSWER_SETS)]:
            for failure in quality.failures:
                print(f"- {name}: {failure}")
    return 1 if args.check and not all(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
