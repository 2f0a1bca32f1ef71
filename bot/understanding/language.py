"""Language modules: what differs between languages before triage and matching can read a message.

Content (`knowledge/`) names its language; a module for that language must exist, or `check`
refuses the content: triage must never fail silently on a language it cannot split into words
(Japanese has no spaces, and puts negation after the finding: 熱はない).

A module says three things:
- how a message splits into sentences (context cues never reach across a sentence end);
- where context cues usually sit (`cue_position`): before the finding in English ("no fever"),
  after it in Japanese; content can still list cues of the other kind explicitly;
- which words are subject pronouns that start a new clause ("I", "he"), so "I don't have a fever
  and I can't pee" is two findings, not one negated pair.
Word normalisation itself (lower case, slang, typos) lives in `bot.understanding.text` and `language.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

CuePosition = Literal["before", "after"]


@dataclass(frozen=True)
class LanguageModule:
    """Everything triage needs to know about a language that content cannot say."""

    code: str
    cue_position: CuePosition
    sentence_end: re.Pattern[str]
    clause_subjects: frozenset[str]

    def sentences(self, text: str) -> list[str]:
        """The message's sentences; empty pieces are dropped."""
        return [piece for piece in self.sentence_end.split(text) if piece.strip()]


ENGLISH = LanguageModule(
    code="en",
    cue_position="before",
    # ".", "!", "?", ";", line breaks; a dot between digits ("38.5") is not a sentence end.
    sentence_end=re.compile(r"(?<!\d)[.](?!\d)|[!?;\n]+|\s[-–—]\s"),
    clause_subjects=frozenset({"i", "im", "ive", "id", "ill", "he", "hes", "she", "shes", "we", "they", "you"}),
)

LANGUAGES: dict[str, LanguageModule] = {ENGLISH.code: ENGLISH}


def language_module(code: str) -> LanguageModule | None:
    """The module for a language code, or None when the project has none for it."""
    return LANGUAGES.get(code)
