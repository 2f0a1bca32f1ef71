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

from bot.content.loader import Language

# "100,000 yen" is one number, not "100" (an age triage reads) and "000".
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_APOSTROPHES = str.maketrans("", "", "'’‘`´")  # deleted: "can't" -> "cant"
_DIGIT = re.compile(r"\d")


def _combining_marks() -> str:
    """Ranges of the combining marks `\\w` leaves out: the vowel signs of Devanagari, Thai,
    Bengali... ("मर्न" is one word, not "मर" + "न"), so triage can read those languages' words."""
    word = re.compile(r"\w")
    marks = [
        code
        for code in range(0x300, 0x20000)
        if unicodedata.category(chr(code)).startswith("M") and not word.match(chr(code))
    ]
    ranges, start = [], None
    for index, code in enumerate(marks):
        if start is None:
            start = code
        if index + 1 == len(marks) or marks[index + 1] != code + 1:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code))}" if code != start else re.escape(chr(code)))
            start = None
    return "".join(ranges)


_NON_WORD = re.compile(rf"[^\w*{_combining_marks()}]+|_")
_NUMBER_UNIT = re.compile(r"(?<=\d)(?=[^\W\d])|(?<=[^\W\d])(?=\d)")  # "8kg" -> "8 kg"
MIN_CORRECTABLE_LENGTH = 4
LONG_WORD_LENGTH = 8
CORRECTION_CACHE_SIZE = 50_000
MAX_GENERATED_ALPHABET = 64
COMMON_ZIPF = 33  # Zipf 3.3 in tenths, about twice in a million words: a word this common is never a typo
RARER_BY = 10  # a rarer real word stays unless the correction is ten times as common (Zipf +1.0)
SCAN_PER_VARIANT = 3  # words scanned in the time one variant is made and looked up (measured: 2.7)


def normalise(text: str) -> str:
    """Lower-case, unify Unicode forms, drop apostrophes ("can't" -> "cant") and thousands separators
    ("100,000" -> "100000"), punctuation to space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if "," in text:
        text = _THOUSANDS.sub("", text)
    text = text.translate(_APOSTROPHES)
    if _DIGIT.search(text):  # each regex pass costs; most sentences have no number, no comma
        text = _NUMBER_UNIT.sub(" ", text)
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


_INFLECTIONS = ("s", "es", "ed", "d", "ing", "ly")

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

    def __init__(
        self,
        language: Language,
        vocabulary: Iterable[str],
        keep_prefixes: Iterable[str] = (),
        keep_words: Iterable[str] = (),
        alarm_words: Iterable[str] = (),
    ) -> None:
        self.language = language
        self._keep_words = frozenset(keep_words)  # never corrected, never a correction
        # A real word is never corrected into a word of a red flag or a crisis, even one it starts
        # with: "heroine" is not "heroin", "bloody" not "blood". A false alarm there costs a
        # patient a fright; a misspelt alarm word ("shiverring") is still corrected.
        self._alarm_words = frozenset(alarm_words)
        # Words that start like a triage pattern ("dribbl*") are kept as typed: correcting
        # "dribbling" towards some known word would hide it from the pattern that wants it.
        self._keep_prefixes = tuple(sorted(set(keep_prefixes)))
        counts: Counter[str] = Counter(vocabulary)
        for word in (*language.stop_words, *language.negations, *language.known_words):
            counts[word] += 1
        self.counts = counts
        self._by_length: dict[int, list[str]] = {}
        for word in counts:
            self._by_length.setdefault(len(word), []).append(word)
        letters = {character for word in counts for character in word}
        # Generating every one-edit variant is quick for a small alphabet (English); for a large
        # one (Japanese kana and kanji) it is not, and the scan takes over.
        self._alphabet = "".join(sorted(letters)) if len(letters) <= MAX_GENERATED_ALPHABET else ""
        self._replacements = _compile_replacements(language.replacements)
        self._cached_correction = lru_cache(maxsize=CORRECTION_CACHE_SIZE)(self._correct_unknown)
        # The whole decision for a word not in the vocabulary, not only its nearest word: a long
        # story has dozens, and the checks around `nearest` cost as much as the cached lookup.
        self._unknown_word = lru_cache(maxsize=CORRECTION_CACHE_SIZE)(self.correct)

    def tokens(self, text: str) -> list[str]:
        """Normalised, slang-expanded, typo-corrected words of a patient's message."""
        expanded = self._expand(words(text))
        known = self.counts
        unknown_word = self._unknown_word
        corrected = [word if word in known else unknown_word(word) for word in expanded]
        return self._expand(corrected) if corrected != expanded else corrected

    def correct(self, word: str) -> str:
        """`word`, or the known word it is most likely a slip for; but another form of a known
        word, or a word a triage pattern wants as typed ("dribbling"), stays as it is."""
        if word in self.counts or len(word) < MIN_CORRECTABLE_LENGTH or not word.isalpha():
            return word
        if word in self._keep_words or self._inflects_known(word):
            return word
        corrected = self.nearest(word)
        if corrected != word and not word.startswith(corrected) and self._is_real_word(word, corrected):
            return word  # "cash" stays; "risky" may still become "risk"
        if corrected in self._alarm_words and self._is_real_word(word, corrected):
            return word  # "bloody" stays, though "risky" may become "risk"
        if self._keep_prefixes and word.startswith(self._keep_prefixes):
            kept = [prefix for prefix in self._keep_prefixes if word.startswith(prefix)]
            if not any(corrected.startswith(prefix) for prefix in kept):
                return word
        return corrected

    def nearest(self, word: str) -> str:
        """The known word within one edit (two for long words) that `word` is likeliest a slip
        for, or `word`. Known words skip the cache, so they never push out its corrections."""
        if word in self.counts or len(word) < MIN_CORRECTABLE_LENGTH or not word.isalpha():
            return word
        return self._cached_correction(word)

    def _is_real_word(self, word: str, corrected: str) -> bool:
        """A common word ("cash", "fridge", "dull") is what the patient meant, not a slip for a
        known word a letter away ("crash", "bridge", "full"); a rare one ("hurst", "paine") is
        kept only if it is about as common as the correction."""
        frequencies = self.language.frequencies
        zipf = frequencies.get(word)
        if zipf is None:
            return False
        return zipf >= COMMON_ZIPF or zipf >= frequencies.get(corrected, 0) - RARER_BY

    def _inflects_known(self, word: str) -> bool:
        """Another form of a known word ("kinds", "tablets") is not a typo: it stays as typed
        rather than becoming a different word one letter away ("kids")."""
        for suffix in _INFLECTIONS:
            base = word[: -len(suffix)]
            if word.endswith(suffix) and len(base) >= 3 and (base in self.counts or base + "e" in self.counts):
                return True
        return False

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

    def _correct_unknown(self, word: str) -> str:
        """The nearest known word: one edit first (all of them, found by generating the word's
        one-edit variants, not by scanning the vocabulary); two edits, for long words only,
        by scanning the words of nearby lengths."""
        near = self._one_edit_away(word) if self._generating_is_quicker(word) else self._scan(word, 1)
        if near:
            return self._likeliest(word, near)
        if len(word) >= LONG_WORD_LENGTH:
            far = self._scan(word, 2)
            if far:
                return self._likeliest(word, far)
        return word

    def _generating_is_quicker(self, word: str) -> bool:
        """Scanning compares in C, generating builds Python strings: a scan wins until the words
        of nearby lengths outnumber the variants about three to one."""
        if not self._alphabet:
            return False
        variants = len(self._alphabet) * (2 * len(word) + 1) + 2 * len(word)
        nearby = sum(len(self._by_length.get(length, ())) for length in range(len(word) - 1, len(word) + 2))
        return nearby > SCAN_PER_VARIANT * variants

    def _one_edit_away(self, word: str) -> list[str]:
        """Known words one insertion, deletion, substitution or swap of neighbours away."""
        splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
        variants = {left + right[1:] for left, right in splits if right}
        variants.update(left + right[1] + right[0] + right[2:] for left, right in splits if len(right) > 1)
        for letter in self._alphabet:
            variants.update(left + letter + right[1:] for left, right in splits if right)
            variants.update(left + letter + right for left, right in splits)
        variants.discard(word)
        return [variant for variant in variants if variant in self.counts]

    def _scan(self, word: str, distance: int) -> list[str]:
        """Known words exactly `distance` edits (optimal string alignment) away."""
        found = []
        for length in range(len(word) - distance, len(word) + distance + 1):
            candidates = self._by_length.get(length)
            if candidates:
                found.extend(
                    candidate
                    for candidate, score, _ in process.extract_iter(
                        word, candidates, scorer=OSA.distance, score_cutoff=distance
                    )
                    if score == distance
                )
        return found

    def _likeliest(self, word: str, candidates: list[str]) -> str:
        """Ties go to the likelier slip: a dropped letter ("fevr" -> fever, not fear) before a
        wrong one ("sleap" -> sleep) before an extra one (not "slap"), then the closer, then
        the commoner word."""
        return min(candidates, key=lambda c: slip_rank(word, c, self.counts[c]))


def slip_rank(word: str, candidate: str, count: int) -> tuple[int, float, int, str]:
    """How unlikely `candidate` is as what `word` meant: smaller is likelier."""
    length = 0 if len(candidate) > len(word) else 1 if len(candidate) == len(word) else 2
    return (length, -fuzz.ratio(word, candidate), -count, candidate)


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
