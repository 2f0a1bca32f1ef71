"""Finds the question in a long message, so a story around it does not decide the match.

Patients write 50-120 words of background (a job, a family, a move) and ask at the end. The
question is usually the sentence with a question mark, one that opens like a question ("how",
"can", "could you tell me"), or the last sentence; the narrative around it is mostly noise. So
for matching (never for triage, which reads every sentence in full) each sentence gets a weight:
question sentences and the last sentence count in full, the others `NARRATIVE_SHARE`. Short
messages are left alone: in "bye! gonna try the breathing now" nothing is narrative.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

NARRATIVE_SHARE = 0.25  # a narrative sentence's words count this much next to the question's
STORY_MIN_WORDS = 20  # shorter messages are matched as a whole
QUESTION_MARKS = ("?", "？")

Part = tuple[Sequence[str], float]


def split(sentence_end: re.Pattern[str], text: str) -> list[tuple[str, str]]:
    """The message's sentences, each with the punctuation that ended it ("?" says question).
    The pieces are exactly those of `LanguageModule.sentences`, which triage reads."""
    pieces: list[tuple[str, str]] = []
    start = 0
    for found in sentence_end.finditer(text):
        pieces.append((text[start : found.start()], found.group()))
        start = found.end()
    pieces.append((text[start:], ""))
    return [(piece, mark) for piece, mark in pieces if piece.strip()]


def asks(words: Sequence[str], mark: str, question_words: frozenset[str], lead_ins: frozenset[str]) -> bool:
    """Whether a sentence is a question: a "?" after it, or a question word opening it
    ("so how does...", "excuse me, could you..."), not one in the middle of a story."""
    if any(sign in mark for sign in QUESTION_MARKS):
        return True
    for word in words:
        if word in question_words:
            return True
        if word not in lead_ins:
            return False
    return False


def weigh(
    sentences: Sequence[Sequence[str]],
    marks: Sequence[str],
    question_words: frozenset[str],
    lead_ins: frozenset[str] = frozenset(),
) -> list[Part]:
    """Each sentence's words with the weight matching gives them (see the module's docstring)."""
    if len(sentences) < 2 or sum(len(words) for words in sentences) < STORY_MIN_WORDS:
        return [(words, 1.0) for words in sentences]
    last = max((number for number, words in enumerate(sentences) if words), default=0)
    parts: list[Part] = []
    for number, (words, mark) in enumerate(zip(sentences, marks, strict=True)):
        question = asks(words, mark, question_words, lead_ins)
        parts.append((words, 1.0 if question or number == last else NARRATIVE_SHARE))
    return parts
