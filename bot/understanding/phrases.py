"""The phrase index under triage: every phrase of the triage content in one word trie, so a
sentence is scanned once for all of them.

A phrase is a sequence of word patterns: a word, "prefix*", "*" for any one word, or a number
("<number>", "<70+>", "<70-105>"). Each list of phrases (a concept's group of words, a kind of
context cue, the idioms) is a `PhraseGroup`; `PhraseIndex.scan` returns, for each group, where
its phrases occur in a sentence's words. Triage (`bot.understanding.triage`) decides what the
occurrences mean; this module only finds them, fast and in little memory.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.understanding.text import words

ANY_WORD = "*"
NUMBER = "<"  # "<number>": any number in digits ("lost 8 kg"); "<70+>": at least 70; "<70-105>". The
# bounded ones (ages, counts of pills) never take a quantity: a number followed by a unit, "100 km"
QUANTITY = 2  # a number followed by a unit ("100 km"): never an age

_NUMBER_PATTERN = re.compile(r"<(?:number|(\d+)\+|(\d+)-(\d+))>")

Span = tuple[int, int]


def is_word(pattern: str) -> bool:
    """Whether a pattern is a plain word (not "prefix*", "*" or a number)."""
    return pattern != ANY_WORD and not pattern.startswith(NUMBER) and not pattern.endswith("*")


@dataclass(frozen=True, slots=True)
class Phrase:
    patterns: tuple[str, ...]  # a word, "prefix*", "*" for any one word, "<number>" for a number


@dataclass(frozen=True)
class PhraseGroup:
    """One list of phrases (any of them will do); `id` is its place in the shared index."""

    id: int
    phrases: tuple[Phrase, ...]

    def patterns(self) -> Iterable[str]:
        for phrase in self.phrases:
            yield from phrase.patterns


class _Node:
    """A trie node: phrases continue by an exact word, a "prefix*", or a number / any word.

    Most of the ~11,000 nodes are leaves or have one kind of child, so a node shares one empty
    table until it gets a child of that kind: three empty dicts a node cost about 1.6 MB. A node
    with one exact child (4,000 of them: "not" -> "able" -> "to") keeps it in two slots, not in a
    table of its own: about 0.5 MB less."""

    __slots__ = ("any", "ends", "exact", "next", "numbers", "prefix", "simple", "word")

    def __init__(self) -> None:
        self.word: str | None = None  # the one exact child's word, while there is only one
        self.next: _Node | None = None  # and that child
        self.exact: dict[str, _Node] = _NO_CHILDREN  # two or more exact children
        self.prefix: dict[str, _Node] = _NO_CHILDREN
        self.numbers: dict[str, _Node] = _NO_CHILDREN  # "<number>", "<70+>", "<70-105>"
        self.any: _Node | None = None  # "*"
        self.ends: tuple[int, ...] = ()  # ids of the groups that have a phrase ending here
        self.simple = True  # only exact-word children: the scan's quick path

    def exact_child(self, word: str) -> _Node | None:
        return self.next if self.word == word else self.exact.get(word)

    def child(self, pattern: str) -> _Node:
        if is_word(pattern):
            if self.exact is _NO_CHILDREN:
                if self.word is None:
                    self.word, self.next = pattern, _Node()
                if self.word == pattern:
                    return self.next
                self.exact = {self.word: self.next}  # a second exact child: both go to a table
                self.word = self.next = None
            return self.exact.setdefault(pattern, _Node())
        self.simple = False
        if pattern == ANY_WORD:
            if self.any is None:
                self.any = _Node()
            return self.any
        if pattern.startswith(NUMBER):
            self.numbers = table = _own(self.numbers)
        else:
            self.prefix = table = _own(self.prefix)
            pattern = pattern[:-1]
        return table.setdefault(pattern, _Node())


# The one empty table every node starts with. Only `_Node.child` writes tables, and it never
# writes this one (a plain dict, not a read-only proxy: lookups in the scan stay at dict speed).
_NO_CHILDREN: dict[str, _Node] = {}


def _own(table: dict[str, _Node]) -> dict[str, _Node]:
    """A node's own table, made at its first child of that kind."""
    return {} if table is _NO_CHILDREN else table


class PhraseIndex:
    """Every group's phrases in one trie: a sentence is scanned once for all of them.

    The scan returns, for each group, the spans of its phrases (at each start only the longest),
    so concepts, context cues, terminators and idioms all read from one pass, and the cost grows
    with the words that match, not with the number of phrases.
    """

    def __init__(self, units: Iterable[str] = ()) -> None:
        self.groups: list[PhraseGroup] = []
        self._root = _Node()
        self._units = frozenset(units)
        # Phrases in scripts written without spaces (死にたい, 小便解不出来): the message's "word"
        # may be a whole sentence, so these are found inside words, not as whole words.
        self._unspaced: list[tuple[str, int]] = []
        self._prefixes: tuple[str, ...] = ()
        self.prefixes_of = lru_cache(maxsize=20_000)(self._matching_prefixes)

    def add(self, phrases: Iterable[str]) -> PhraseGroup:
        group = PhraseGroup(len(self.groups), tuple(p for p in map(_compile_phrase, phrases) if p.patterns))
        self.groups.append(group)
        for phrase in group.phrases:
            if len(phrase.patterns) == 1 and _unspaced(phrase.patterns[0]):
                self._unspaced.append((phrase.patterns[0], group.id))
                continue
            node = self._root
            for pattern in phrase.patterns:
                node = node.child(pattern)
            if group.id not in node.ends:
                node.ends = (*node.ends, group.id)
        self._prefixes = tuple(sorted({*self._prefixes, *_stems(group)}))
        self.prefixes_of.cache_clear()
        return group

    @property
    def stems(self) -> tuple[str, ...]:
        return self._prefixes

    def _matching_prefixes(self, word: str) -> tuple[str, ...]:
        return tuple(prefix for prefix in self._prefixes if word.startswith(prefix))

    def scan(self, tokens: Sequence[str]) -> dict[int, list[Span]]:
        """Spans of every group's phrases in `tokens`, by group id."""
        found: dict[int, list[Span]] = {}
        length = len(tokens)
        prefixes_of, step = self.prefixes_of, self._step
        prefixes = [prefixes_of(word) for word in tokens]  # once per word, not per node
        numbers: list[int] = [_is_number(word) for word in tokens]  # 0 no, 1 a number, 2 a quantity
        units = self._units
        for position in range(length - 1):
            if numbers[position] and tokens[position + 1] in units:
                numbers[position] = QUANTITY
        root = self._root
        root_exact, root_any = root.exact, root.any
        root_plain = root.word is None  # the root has its exact children in its table
        for start in range(length):
            word, word_prefixes, number = tokens[start], prefixes[start], numbers[start]
            if word_prefixes or number or root_any is not None or not root_plain:
                frontier = step(root, word, word_prefixes, number)
                if not frontier:
                    continue
            else:
                child = root_exact.get(word)
                if child is None:
                    continue  # most words start no phrase at all
                frontier = [child]
            best: dict[int, int] | None = None
            position = start + 1
            while True:
                for node in frontier:
                    if node.ends:
                        best = best if best is not None else {}
                        for group_id in node.ends:
                            best[group_id] = position
                if position >= length:
                    break
                word = tokens[position]
                following: list[_Node] = []
                for node in frontier:
                    if node.simple:  # most nodes go on by exact words only
                        if node.word is not None:
                            if node.word == word:
                                following.append(node.next)
                        else:
                            child = node.exact.get(word)
                            if child is not None:
                                following.append(child)
                    else:
                        following.extend(step(node, word, prefixes[position], numbers[position]))
                if not following:
                    break
                frontier = following
                position += 1
            if best:
                for group_id, end in best.items():
                    found.setdefault(group_id, []).append((start, end))
        if self._unspaced:
            for position, word in enumerate(tokens):
                if not word.isascii() and _unspaced(word):
                    for text, group_id in self._unspaced:
                        spans = found.setdefault(group_id, [])
                        if text in word and (position, position + 1) not in spans:
                            spans.append((position, position + 1))
                            spans.sort()
        return found

    def _step(self, node: _Node, word: str, word_prefixes: tuple[str, ...], is_number: int) -> list[_Node]:
        children = []
        exact = node.exact_child(word)
        if exact is not None:
            children.append(exact)
        if node.prefix and word_prefixes:
            children.extend(node.prefix[p] for p in word_prefixes if p in node.prefix)
        if node.numbers and is_number:
            number = int(word)
            quantity = is_number == QUANTITY
            children.extend(child for pattern, child in node.numbers.items() if _number_fits(pattern, number, quantity))
        if node.any is not None:
            children.append(node.any)
        return children


def _stems(group: PhraseGroup) -> set[str]:
    return {p[:-1] for p in group.patterns() if len(p) > 1 and p.endswith("*") and not p.startswith(NUMBER)}


def _unspaced(text: str) -> bool:
    """Whether text has characters of a script written without spaces (kana, kanji, hangul)."""
    return any("\u3040" <= character <= "\u9fff" or "\uac00" <= character <= "\ud7af" for character in text)


def _is_number(word: str) -> int:
    """1 for digits 0-9 only: "❶" and "²" are digits to str.isdigit() but not numbers to int()."""
    return int(word.isascii() and word.isdigit())


def _number_fits(pattern: str, value: int, quantity: bool = False) -> bool:
    """ "<number>" takes any number, "<70+>" at least 70, "<70-105>" 70 to 105; the bounded ones
    are ages and counts, so never a quantity such as "100 km" or "500 mg"."""
    bounds = _NUMBER_PATTERN.fullmatch(pattern)
    if bounds is None:
        return False
    least, low, high = bounds.groups()
    if least is not None:
        return not quantity and value >= int(least)
    if low is not None:
        return not quantity and int(low) <= value <= int(high)
    return True


def _compile_phrase(phrase: str) -> Phrase:
    """The phrase's words, each one shared string: "my", "back" and "pain" recur in thousands of
    phrases, and one copy each saves about 1 MB (the load benchmark has little headroom)."""
    patterns: list[str] = []
    for part in phrase.lower().split():
        if part == ANY_WORD or _NUMBER_PATTERN.fullmatch(part):
            patterns.append(part)
        elif part.endswith("*"):
            patterns.append("".join(words(part[:-1])) + "*")
        else:
            patterns.extend(words(part))
    return Phrase(tuple(map(sys.intern, patterns)))
