"""Typo correction: the quick path (one-edit variants generated and looked up) must give exactly
what a full scan of the vocabulary gives, on the real knowledge base and on one 100x larger
(where the quick path is the one taken), for slips of known words and for random strings."""

from __future__ import annotations

import random
import string
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import process
from rapidfuzz.distance import OSA

from benchmarks.understanding import synthetic_knowledge
from bot.config import load_config
from bot.content.loader import load_knowledge
from bot.understanding.text import LONG_WORD_LENGTH, MIN_CORRECTABLE_LENGTH, Lexicon, slip_rank
from bot.understanding.understander import Understander

KNOWLEDGE = load_knowledge(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir)


@cache
def lexicon(size: str) -> Lexicon:
    knowledge = KNOWLEDGE if size == "1x" else synthetic_knowledge(KNOWLEDGE, copies=20)
    return Understander(knowledge).lexicon


def by_scanning(lexicon: Lexicon, word: str) -> str:
    """The reference: every known word within reach compared, best (distance, likely slip,
    commoner word, alphabetical) kept."""
    if word in lexicon.counts or len(word) < MIN_CORRECTABLE_LENGTH or not word.isalpha():
        return word
    max_edits = 2 if len(word) >= LONG_WORD_LENGTH else 1
    vocabulary = list(lexicon.counts)
    found = process.extract_iter(word, vocabulary, scorer=OSA.distance, score_cutoff=max_edits)
    ranked = [(distance, *slip_rank(word, known, lexicon.counts[known])) for known, distance, _ in found]
    return min(ranked)[-1] if ranked else word


def slip(word: str, rng: random.Random) -> str:
    """One or two typing slips: a letter dropped, doubled, swapped with the next or replaced."""
    for _ in range(rng.choice((1, 1, 2))):
        if len(word) < 2:
            break
        i = rng.randrange(len(word) - 1)
        kind = rng.choice(("drop", "double", "swap", "replace"))
        if kind == "drop":
            word = word[:i] + word[i + 1 :]
        elif kind == "double":
            word = word[: i + 1] + word[i:]
        elif kind == "swap":
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        else:
            word = word[:i] + rng.choice(string.ascii_lowercase) + word[i + 1 :]
    return word


@pytest.mark.parametrize("size", ["1x", "20x"])
def test_slips_of_every_known_word_are_corrected_as_a_full_scan_would(size: str) -> None:
    known = lexicon(size)
    rng = random.Random(11)
    words = sorted(word for word in known.counts if word.isalpha() and len(word) >= MIN_CORRECTABLE_LENGTH)
    sample = words if size == "1x" else rng.sample(words, 600)
    differences = [
        (typo, known.nearest(typo), by_scanning(known, typo))
        for typo in (slip(word, rng) for word in sample)
        if known.nearest(typo) != by_scanning(known, typo)
    ]
    assert differences == []


def test_the_quick_path_is_taken_on_a_large_vocabulary() -> None:
    """Otherwise the test above would compare the scan with itself."""
    large, small = lexicon("20x"), lexicon("1x")
    assert large._generating_is_quicker("stresed") and not small._generating_is_quicker("stresed")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase + "áéß", min_size=4, max_size=12))
def test_random_words_are_corrected_as_a_full_scan_would(word: str) -> None:
    known = lexicon("20x")
    assert known.nearest(word) == by_scanning(known, word)


def test_real_slips_find_the_word() -> None:
    slips = ("stresed", "streess", "bakc", "sleap", "exercize", "fevr", "numbnes", "breething")
    expected = ["stressed", "stress", "back", "sleep", "exercise", "fever", "numbness", "breathing"]
    assert [lexicon("1x").correct(word) for word in slips] == expected


def test_other_forms_of_known_words_are_not_typos() -> None:
    """ "kinds" is a plural, not a slip for "kids"; "tablets" stays "tablets"."""
    known = lexicon("1x")
    assert known.correct("kinds") == "kinds"
    assert known.correct("recommended") == "recommended"


def test_words_a_triage_pattern_wants_are_kept_as_typed() -> None:
    """ "dribbl*" wants "dribbling": correcting it to some other known word would hide it."""
    known = lexicon("1x")
    assert known.correct("dribbling") == "dribbling"
    assert known.correct("temprature") == "temperature"  # a correction that keeps the stem is fine


# --------------------------------------------------------------------------- real words stay real


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("cash", "cash"),  # not "crash": triage would have asked about a car accident
        ("fridge", "fridge"),  # not "bridge"
        ("dull", "dull"),  # not "full"
        ("letting", "letting"),  # not "getting"
        ("skipped", "skipped"),  # not "slipped"
        ("kneeling", "kneeling"),  # not "sneezing"
        ("numbnes", "numbness"),  # slips are still corrected
        ("stres", "stress"),
        ("hurst", "hurts"),  # a rare word (a surname) next to a far commoner one is a slip
        ("risky", "risk"),  # a slang-table entry: the entries say "risk"
    ],
)
def test_common_real_words_are_kept_and_slips_corrected(typed: str, meant: str) -> None:
    assert lexicon("1x").tokens(typed) == [meant]


def test_real_words_no_longer_wake_the_triage_rules() -> None:
    understander = Understander(KNOWLEDGE)
    for text in ("do you accept credit card or cash only?", "my flatmate hurt his back lifting a fridge last week"):
        assert understander.triage.assess(understander.sentences(text)) is None, text


def test_a_broken_word_frequency_line_is_named(tmp_path: Path) -> None:
    import shutil

    from bot.content.loader import ContentError

    root = tmp_path / "knowledge"
    shutil.copytree(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir, root)
    path = root / "word_frequencies.txt"
    path.write_text(path.read_text(encoding="utf-8") + "cash lots\n", encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_knowledge(root)
    assert any(
        line.startswith("knowledge/word_frequencies.txt: line ") and "needs a word and its Zipf frequency" in line
        for line in caught.value.problems
    ), caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My budget is 100,000 yen", "my budget is 100000 yen"),
        ("1,500 steps; 38.5 degrees", "1500 steps 38 5 degrees"),
        ("ages 1,2,3 and 12,34", "ages 1 2 3 and 12 34"),
    ],
)
def test_a_thousands_separator_joins_one_number(text: str, expected: str) -> None:
    """ "100,000 yen" is one number: read as "100" and "000", the 100 was an age to triage."""
    from bot.understanding.text import normalise

    assert normalise(text) == expected
