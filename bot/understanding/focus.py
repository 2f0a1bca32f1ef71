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


class Part(tuple):  # type: ignore[type-arg]
    """A sentence's words and the weight matching gives them, unpacking as `(words, share)`;
    `asked` says whether it is a question, `lead` how many words open it before the question
    proper ("thanks, and what about sleep?": "thanks and" are a lead-in, not the question)."""

    asked: bool
    lead: int

    def __new__(cls, words: Sequence[str], share: float, asked: bool = False, lead: int = 0) -> Part:
        part = super().__new__(cls, (words, share))
        part.asked = asked
        part.lead = lead
        return part

    @property
    def question(self) -> Sequence[str]:
        """The words of the question proper, without its lead-in."""
        return self[0][self.lead :] if self.asked else ()


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
    return opening(words, mark, question_words, lead_ins) is not None


def opening(words: Sequence[str], mark: str, question_words: frozenset[str], lead_ins: frozenset[str]) -> int | None:
    """Where the question proper starts in a question sentence (after "ok thanks, so"), or None
    when the sentence is not a question."""
    for number, word in enumerate(words):
        if word in question_words:
            return number
        if word not in lead_ins:
            break
    if any(sign in mark for sign in QUESTION_MARKS):
        return 0
    return None


def weigh(
    sentences: Sequence[Sequence[str]],
    marks: Sequence[str],
    question_words: frozenset[str],
    lead_ins: frozenset[str] = frozenset(),
) -> list[Part]:
    """Each sentence's words with the weight matching gives them (see the module's docstring)."""
    story = len(sentences) >= 2 and sum(len(words) for words in sentences) >= STORY_MIN_WORDS
    last = max((number for number, words in enumerate(sentences) if words), default=0)
    parts: list[Part] = []
    for number, (words, mark) in enumerate(zip(sentences, marks, strict=True)):
        start = opening(words, mark, question_words, lead_ins)
        share = 1.0 if not story or start is not None or number == last else NARRATIVE_SHARE
        parts.append(Part(words, share, start is not None, start or 0))
    return parts
