"""Benchmark of the understanding step: quality on the labelled eval set, speed, memory, vs naive.

Run `python -m bot.bench`. It prints one Markdown table so a change to the matcher, the lexicon,
the safety rules or the knowledge base can be judged in one look, and PASS/FAIL per target of the
issue. The eval set (`benchmarks/eval_set.yaml`) was written from the article alone, without
looking at the entries, so it measures how the bot copes with messages nobody tuned it for.

Why each number is measured the way it is:

- Quality goes through `Understander.understand`, exactly what a patient gets: if triage fires on
  an ordinary question, that question was not answered (a false alarm and a miss).
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

import yaml
from rapidfuzz import fuzz, process, utils

from bot.content import Entry, Knowledge, load_knowledge
from bot.understanding import Understander

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = ROOT / "knowledge"
EVAL_SET = ROOT / "benchmarks" / "eval_set.yaml"

IN_SCOPE = "in_scope"
OUT_OF_SCOPE = "out_of_scope"
RED_FLAG = "red_flag"
CRISIS = "crisis"
RED_FLAG_LEVELS = frozenset({"emergency", "urgent"})

TARGET_ACCURACY = 0.95
TARGET_REJECTION = 0.90
TARGET_RECALL = 1.0
TARGET_FALSE_ALARMS = 0.02
TARGET_P99_MS = 1.0
TARGET_SYNTHETIC_P99_MS = 10.0
SYNTHETIC_COPIES = 100
DEFAULT_ROUNDS = 20


@dataclass(frozen=True)
class Item:
    text: str
    expect: str
    position: int  # 0-based place in the eval file: even places tune, odd places check

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
    failures: list[str] = field(default_factory=list)

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
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Item(str(item["text"]), str(item["expect"]), number) for number, item in enumerate(raw)]


def half(items: Sequence[Item], parity: int) -> list[Item]:
    """Items at even (parity 0) or odd (parity 1) places of the eval file."""
    return [item for item in items if item.position % 2 == parity]


def out_of_scope_ids(knowledge: Knowledge) -> frozenset[str]:
    return frozenset(entry.id for entry in knowledge.entries.values() if entry.kind == OUT_OF_SCOPE)


def evaluate(understander: Understander, items: Iterable[Item], oos_ids: frozenset[str]) -> Quality:
    """Quality of `understander` on `items`, judged by what the patient would actually get."""
    quality = Quality()
    for item in items:
        kind = item.kind
        quality.items[kind] += 1
        result = understander.understand(item.text)
        triage = result.triage
        if kind == RED_FLAG:
            if triage is not None and triage.level in RED_FLAG_LEVELS:
                quality.red_flag_hits += 1
            else:
                quality.failures.append(f"red flag missed ({triage}): {item.text}")
            continue
        if kind == CRISIS:
            if triage is not None and triage.level == CRISIS:
                quality.crisis_hits += 1
            else:
                quality.failures.append(f"crisis missed ({triage}): {item.text}")
            continue
        if triage is not None:
            quality.false_alarms += 1
            quality.failures.append(f"false alarm {triage.level}/{triage.rule}: {item.text}")
            continue
        match = result.match
        assert match is not None
        best = match.best.entry_id if match.best else None
        scores = ", ".join(f"{c.entry_id} {c.score}" for c in match.candidates)
        if kind == OUT_OF_SCOPE:
            if match.outcome == "fallback" or best in oos_ids:
                quality.rejected += 1
            else:
                quality.failures.append(f"not rejected [{match.outcome}: {scores}]: {item.text}")
            continue
        if best == item.expect:
            quality.top1 += 1
            if match.outcome == "answer":
                quality.answered += 1
            elif match.outcome == "did_you_mean":
                quality.suggested += 1
        if best != item.expect or match.outcome != "answer":
            quality.failures.append(f"{item.expect} [{match.outcome}: {scores}]: {item.text}")
    return quality


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="timed passes over the eval set")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the 100x knowledge base")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--failures", action="store_true", help="list every miss after the table")
    args = parser.parse_args(argv)

    knowledge = load_knowledge(KNOWLEDGE_DIR)
    items = load_eval_set()
    texts = [item.text for item in items]
    oos_ids = out_of_scope_ids(knowledge)

    speed, understander = measure_speed(knowledge, texts, max(1, args.rounds))
    quality = evaluate(understander, items, oos_ids)
    even = evaluate(understander, half(items, 0), oos_ids)
    odd = evaluate(understander, half(items, 1), oos_ids)
    naive = Naive(knowledge.entries.values())
    naive_accuracy, naive_rejection = naive_quality(naive, items)
    naive_p50, naive_p99 = naive_speed(naive, texts, max(1, args.rounds // 4))

    synthetic: Speed | None = None
    synthetic_entries = 0
    synthetic_naive = (0.0, 0.0)
    if not args.no_synthetic:
        big = synthetic_knowledge(knowledge)
        synthetic_entries = len(big.entries)
        synthetic, _ = measure_speed(big, texts, max(1, args.rounds // 4))
        # The naive scan takes ~0.1 s a message at this size: time every 8th message, once.
        synthetic_naive = naive_speed(Naive(big.entries.values()), texts[::8], 1, warm_up=False)

    lines = [
        f"## Understanding benchmark ({len(items)} eval messages, {len(knowledge.entries)} entries)",
        "",
        "| items | in scope | out of scope | red flag | crisis |",
        "| --- | ---: | ---: | ---: | ---: |",
        "| all / even / odd | "
        + " | ".join(
            f"{quality.items[kind]} / {even.items[kind]} / {odd.items[kind]}"
            for kind in (IN_SCOPE, OUT_OF_SCOPE, RED_FLAG, CRISIS)
        )
        + " |",
        "",
        "| measure | ours (all) | ours (even) | ours (odd) | naive WRatio | target | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]

    def row(name: str, pick: Callable[[Quality], str], naive_value: str, target: str, verdict: str) -> None:
        lines.append(
            f"| {name} | {pick(quality)} | {pick(even)} | {pick(odd)} | {naive_value} | {target} | {verdict} |"
        )

    checks: dict[str, bool] = {
        "accuracy": quality.accuracy >= TARGET_ACCURACY,
        "rejection": quality.rejection >= TARGET_REJECTION,
        "red flag recall": quality.red_flag_recall >= TARGET_RECALL,
        "crisis recall": quality.crisis_recall >= TARGET_RECALL,
        "false alarms": quality.false_alarm_rate <= TARGET_FALSE_ALARMS,
        "p99": speed.p99_ms <= TARGET_P99_MS,
    }
    row(
        "top-1 accuracy in scope",
        lambda q: _pct(q.accuracy),
        _pct(naive_accuracy),
        "≥ 95 %",
        _verdict(checks["accuracy"]),
    )
    row("answered directly and right", lambda q: _pct(q.answered_rate), "—", "high", "")
    row("right but only as 'did you mean'", lambda q: str(q.suggested), "—", "close calls", "")
    row(
        "out-of-scope rejection",
        lambda q: _pct(q.rejection),
        _pct(naive_rejection),
        "≥ 90 %",
        _verdict(checks["rejection"]),
    )
    row(
        "red-flag recall",
        lambda q: _pct(q.red_flag_recall),
        "0 % (no triage)",
        "100 %",
        _verdict(checks["red flag recall"]),
    )
    row("crisis recall", lambda q: _pct(q.crisis_recall), "0 % (no triage)", "100 %", _verdict(checks["crisis recall"]))
    row(
        "false alarms",
        lambda q: f"{q.false_alarms} ({_pct(q.false_alarm_rate)})",
        "—",
        "≤ 2 %",
        _verdict(checks["false alarms"]),
    )
    lines += [
        "",
        "| speed and memory | ours | naive WRatio | ratio naive/ours | target | verdict |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
        f"| latency p50 (ms) | {speed.p50_ms:.3f} | {naive_p50:.3f} | "
        f"{naive_p50 / speed.p50_ms if speed.p50_ms else 0:.1f}x | | |",
        f"| latency p99 (ms) | {speed.p99_ms:.3f} | {naive_p99:.3f} | "
        f"{naive_p99 / speed.p99_ms if speed.p99_ms else 0:.1f}x | ≤ 1 ms | {_verdict(checks['p99'])} |",
        f"| latency p99, cold caches (ms) | {speed.cold_p99_ms:.3f} | | | | |",
        f"| build time (s) | {speed.build_s:.3f} | | | | |",
        f"| tracemalloc peak, build + match (MiB) | {speed.traced_mb:.1f} | | | | |",
    ]
    if synthetic is not None:
        checks["synthetic p99"] = synthetic.p99_ms <= TARGET_SYNTHETIC_P99_MS
        lines += [
            f"| 100x base ({synthetic_entries} entries): latency p50 (ms) | {synthetic.p50_ms:.3f} | "
            f"{synthetic_naive[0]:.3f} | "
            f"{synthetic_naive[0] / synthetic.p50_ms if synthetic.p50_ms else 0:.1f}x | | |",
            f"| 100x base: latency p99 (ms) | {synthetic.p99_ms:.3f} | {synthetic_naive[1]:.3f} | "
            f"{synthetic_naive[1] / synthetic.p99_ms if synthetic.p99_ms else 0:.1f}x | ≤ 10 ms | "
            f"{_verdict(checks['synthetic p99'])} |",
            f"| 100x base: latency p99, cold caches (ms) | {synthetic.cold_p99_ms:.3f} | | | | |",
            f"| 100x base: build time (s) | {synthetic.build_s:.2f} | | | | |",
            f"| 100x base: tracemalloc peak (MiB) | {synthetic.traced_mb:.1f} | | | | |",
        ]
    lines.append(f"| peak RSS of this run (MiB) | {rss_mb():.1f} | | | | |")
    lines += ["", "| target | verdict |", "| --- | :---: |"]
    lines += [f"| {name} | {_verdict(ok)} |" for name, ok in checks.items()]
    print("\n".join(lines))
    if args.failures:
        print("\nMisses and non-direct answers:")
        for failure in quality.failures:
            print(f"- {failure}")
    return 1 if args.check and not all(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
