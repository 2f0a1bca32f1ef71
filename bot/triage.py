"""Safety triage: finds red-flag symptoms and crisis messages before any other handling.

It runs on every typed message, independent of the FAQ matcher and its thresholds, and is tuned
for recall: the rules in `knowledge/safety.yaml` are phrases grouped so that, for example,
"numb" + "between my legs" within a few words is enough. Crisis is checked first, then the
emergency level, then the see-a-doctor-today level.

Two refinements keep recall high without crying wolf:

- Negation ("no fever", "not numb") cancels red-flag phrases, but never crisis phrases: people in
  crisis often write in the negative ("I don't see the point in living", "I don't want to be
  here"), and a missed crisis costs far more than an unneeded help-line message.
- A rule may list idioms that look like its phrases but mean something else ("fell off the
  wagon", "a fall in sleep quality"). A phrase found inside such an idiom does not count; the same
  phrase elsewhere in the message still does, so one idiom cannot hide a real injury.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.content import SAFETY_LEVELS, SafetyLevel, SafetyRule
from bot.text import words

NEGATION_WINDOW = 3  # "I don't have a fever": the cue may sit up to three words before
RULE_WINDOW = 12  # the groups of one rule must fall within this many words of each other
ANY_WORD = "*"


@dataclass(frozen=True)
class TriageResult:
    """Which safety level a message reached, and the rule that caught it (for logs and tests)."""

    level: str
    rule: str


@dataclass(frozen=True)
class _Phrase:
    patterns: tuple[str, ...]  # a word, "prefix*", or "*" for any one word

    @property
    def first(self) -> str:
        return self.patterns[0]


@dataclass(frozen=True)
class _Group:
    """One group's phrases, indexed by their first word so a message is scanned once."""

    phrases: tuple[_Phrase, ...]
    by_first: Mapping[str, tuple[_Phrase, ...]]
    by_prefix: Mapping[str, tuple[_Phrase, ...]]
    any_first: tuple[_Phrase, ...]

    def may_start(self, words: frozenset[str], prefixes: frozenset[str]) -> bool:
        """False when no phrase of this group can start anywhere in the message."""
        return bool(self.any_first) or not words.isdisjoint(self.by_first) or not prefixes.isdisjoint(self.by_prefix)

    @classmethod
    def build(cls, phrases: Iterable[str]) -> _Group:
        compiled = tuple(_compile(phrase) for phrase in phrases)
        by_first: dict[str, list[_Phrase]] = {}
        by_prefix: dict[str, list[_Phrase]] = {}
        any_first = []
        for phrase in compiled:
            if phrase.first == ANY_WORD:
                any_first.append(phrase)
            elif phrase.first.endswith("*"):
                by_prefix.setdefault(phrase.first[:-1], []).append(phrase)
            else:
                by_first.setdefault(phrase.first, []).append(phrase)
        return cls(
            compiled,
            {word: tuple(items) for word, items in by_first.items()},
            {prefix: tuple(items) for prefix, items in by_prefix.items()},
            tuple(any_first),
        )


@dataclass(frozen=True)
class _Rule:
    level: str
    id: str
    groups: tuple[_Group, ...]
    idioms: _Group | None  # phrases that look like a match but are not (none_of)
    negatable: bool


def _build_rule(level: SafetyLevel, rule: SafetyRule) -> _Rule:
    return _Rule(
        level.id,
        rule.id,
        tuple(_Group.build(group) for group in rule.groups),
        _Group.build(rule.none_of) if rule.none_of else None,
        level.negation_cancels,
    )


class Triage:
    """Assesses a message's words against the safety rules of `knowledge/safety.yaml`."""

    def __init__(self, levels: Mapping[str, SafetyLevel], negations: Iterable[str]) -> None:
        self.negations = frozenset(negations)
        self.rules = tuple(
            _build_rule(levels[level], rule)
            for level in SAFETY_LEVELS
            if level in levels
            for rule in levels[level].rules
        )
        self._prefixes = tuple(
            sorted(
                {
                    pattern[:-1]
                    for rule in self.rules
                    for group in _all_groups(rule)
                    for phrase in group.phrases
                    for pattern in phrase.patterns
                    if pattern.endswith("*") and pattern != ANY_WORD
                }
            )
        )
        self._word_prefixes = lru_cache(maxsize=20_000)(self._matching_prefixes)

    def vocabulary(self) -> list[str]:
        """Whole words used by the rules, so typo correction can move misspellings onto them."""
        return [
            pattern
            for rule in self.rules
            for group in _all_groups(rule)
            for phrase in group.phrases
            for pattern in phrase.patterns
            if not pattern.endswith("*")
        ]

    def assess(self, tokens: Sequence[str]) -> TriageResult | None:
        """The first (most serious) level whose rule matches, or None for an ordinary message."""
        present = frozenset(tokens)
        prefixes = frozenset(prefix for word in present for prefix in self._word_prefixes(word))
        for rule in self.rules:
            # Cheap set test first: most rules have a group none of whose first words is here.
            if not all(group.may_start(present, prefixes) for group in rule.groups):
                continue
            spans = [self._find(group, tokens, rule.negatable) for group in rule.groups]
            if not all(spans):
                continue
            if rule.idioms is not None:
                idioms = self._find(rule.idioms, tokens, negatable=False, longest=True)
                spans = [[span for span in found if not _overlaps(span, idioms)] for found in spans]
            if all(spans) and _within_window(spans):
                return TriageResult(rule.level, rule.id)
        return None

    def _find(
        self, group: _Group, tokens: Sequence[str], negatable: bool = True, longest: bool = False
    ) -> list[tuple[int, int]]:
        """Spans (start, end) of the group's phrases in the message, one per start word."""
        found = []
        for start, word in enumerate(tokens):
            candidates = [*group.by_first.get(word, ()), *group.any_first]
            for prefix in self._word_prefixes(word):
                candidates.extend(group.by_prefix.get(prefix, ()))
            for phrase in candidates:
                end = start + len(phrase.patterns)
                if (
                    end <= len(tokens)
                    and all(
                        self._word_matches(pattern, tokens[start + offset])
                        for offset, pattern in enumerate(phrase.patterns)
                    )
                    and not (negatable and self._negated(tokens, start, phrase))
                ):
                    if longest and found and found[-1][0] == start:
                        found[-1] = (start, max(end, found[-1][1]))
                        continue
                    found.append((start, end))
                    if not longest:
                        break
        return found

    def _word_matches(self, pattern: str, word: str) -> bool:
        if pattern == ANY_WORD:
            return True
        if pattern.endswith("*"):
            return pattern[:-1] in self._word_prefixes(word)
        return pattern == word

    def _matching_prefixes(self, word: str) -> frozenset[str]:
        return frozenset(prefix for prefix in self._prefixes if word.startswith(prefix))

    def _negated(self, tokens: Sequence[str], start: int, phrase: _Phrase) -> bool:
        if phrase.first in self.negations:
            return False
        return any(word in self.negations for word in tokens[max(0, start - NEGATION_WINDOW) : start])


def _compile(phrase: str) -> _Phrase:
    patterns = []
    for part in phrase.lower().split():
        if part == ANY_WORD:
            patterns.append(ANY_WORD)
        elif part.endswith("*"):
            patterns.append("".join(words(part[:-1])) + "*")
        else:
            patterns.extend(words(part))
    return _Phrase(tuple(patterns))


def _all_groups(rule: _Rule) -> tuple[_Group, ...]:
    return (*rule.groups, rule.idioms) if rule.idioms is not None else rule.groups


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in others)


def _within_window(spans: list[list[tuple[int, int]]]) -> bool:
    """True when one match of every group falls inside RULE_WINDOW words (a sliding window)."""
    if len(spans) == 1:
        return True
    matches = sorted((start, end, group) for group, found in enumerate(spans) for start, end in found)
    for index, (start, _, _) in enumerate(matches):
        seen = {group for s, e, group in matches[index:] if e - start <= RULE_WINDOW}
        if len(seen) == len(spans):
            return True
    return False
