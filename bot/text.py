"""Turns a patient's message into clean words: one normalisation shared by triage and matching.

Patients write "cant kip cuz of my bakc", so before anything compares words we lower-case, drop
apostrophes and punctuation, expand slang from `language.yaml`, and correct typos towards words
the bot knows. Typo correction only ever moves an unknown word to a known one within one edit
(two for long words), so real words are never rewritten into other words.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.content import Language

_APOSTROPHES = re.compile(r"['’‘`´]")
_NON_WORD = re.compile(r"[^\w*]+|_")
_NUMBER_UNIT = re.compile(r"(?<=\d)(?=[^\W\d])|(?<=[^\W\d])(?=\d)")  # "8kg" -> "8 kg"
MIN_CORRECTABLE_LENGTH = 4
LONG_WORD_LENGTH = 8
CORRECTION_CACHE_SIZE = 50_000


def normalise(text: str) -> str:
    """Lower-case, unify Unicode forms, drop apostrophes ("can't" -> "cant"), punctuation to space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NUMBER_UNIT.sub(" ", _APOSTROPHES.sub("", text))
    return " ".join(_NON_WORD.sub(" ", text).split())


@lru_cache(maxsize=CORRECTION_CACHE_SIZE)
def stem(word: str) -> str:
    """A crude English stem so "headaches", "headache"; "stressed", "stress" compare equal.

    It only has to be consistent, not linguistic: both the knowledge base and the message go
    through it before matching, so "caus" standing for cause/causes/caused/causing is fine.
    Triage never sees stems: its phrases are exact on purpose.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, replacement in _SUFFIXES:
        if suffix == "s" and word.endswith(("ss", "us", "is")):
            break
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]  # runn(ing) -> run, stopp(ed) -> stop
    return word


_SUFFIXES = (
    ("ies", "y"),
    ("sses", "ss"),
    ("ness", ""),
    ("ing", ""),
    ("ied", "y"),
    ("ed", ""),
    ("ly", ""),
    ("es", ""),
    ("s", ""),
)


def words(text: str) -> list[str]:
    """The words of `text` after normalisation (no slang expansion or typo correction)."""
    return normalise(text).replace("*", " ").split()


class Lexicon:
    """The vocabulary the bot knows, with slang expansion and typo correction towards it."""

    def __init__(self, language: Language, vocabulary: Iterable[str]) -> None:
        self.language = language
        counts: Counter[str] = Counter(vocabulary)
        for word in (*language.stop_words, *language.negations, *language.known_words):
            counts[word] += 1
        self.counts = counts
        self._by_length: dict[int, list[str]] = {}
        for word in counts:
            self._by_length.setdefault(len(word), []).append(word)
        self._replacements = _compile_replacements(language.replacements)
        self.correct = lru_cache(maxsize=CORRECTION_CACHE_SIZE)(self._correct)

    def tokens(self, text: str) -> list[str]:
        """Normalised, slang-expanded, typo-corrected words of a patient's message."""
        expanded = self._expand(words(text))
        corrected = [self.correct(word) for word in expanded]
        return self._expand(corrected) if corrected != expanded else corrected

    def _expand(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        index = 0
        while index < len(tokens):
            for source, target in self._replacements.get(tokens[index], ()):
                if tuple(tokens[index : index + len(source)]) == source:
                    out.extend(target)
                    index += len(source)
                    break
            else:
                out.append(tokens[index])
                index += 1
        return out

    def _correct(self, word: str) -> str:
        if word in self.counts or len(word) < MIN_CORRECTABLE_LENGTH or not word.isalpha():
            return word
        max_edits = 2 if len(word) >= LONG_WORD_LENGTH else 1
        best: tuple[int, float, int, str] | None = None
        for length in range(len(word) - max_edits, len(word) + max_edits + 1):
            candidates = self._by_length.get(length)
            if not candidates:
                continue
            for candidate, distance, _ in process.extract_iter(
                word, candidates, scorer=OSA.distance, score_cutoff=max_edits
            ):
                # Ties go to the likelier slip: a dropped letter ("fevr" -> fever, not fear),
                # then to the commoner word.
                key = (distance, -fuzz.ratio(word, candidate), -self.counts[candidate], candidate)
                if best is None or key < best:
                    best = key
        return best[3] if best else word


def _compile_replacements(
    replacements: Mapping[str, str],
) -> dict[str, list[tuple[tuple[str, ...], list[str]]]]:
    table: dict[str, list[tuple[tuple[str, ...], list[str]]]] = {}
    for source, target in replacements.items():
        source_words = tuple(words(source))
        if source_words:
            table.setdefault(source_words[0], []).append((source_words, words(target)))
    for options in table.values():
        options.sort(key=lambda option: -len(option[0]))
    return table
