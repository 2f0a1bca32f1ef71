"""Language modules: what differs between languages before triage and matching can read a message.

Content (`knowledge/`) names its language; a module for that language must exist, or `check`
refuses the content: triage must never fail silently on a language it cannot split into words
(Japanese has no spaces, and puts negation after the finding: 熱はない).

A module says three things:
- how a message splits into sentences (context cues never reach across a sentence end);
- where context cues usually sit (`cue_position`): before the finding in English ("no fever"),
  after it in Japanese; content can still list cues of the other kind explicitly;
- which words are subject pronouns that start a new clause ("I", "he"), so "I don't have a fever
  and I can't pee" is two findings, not one negated pair, and which words open a clause at all
  ("it", "but"), so a cue can be told to close one ("I'm not, I love my job");
- which words say whose a finding is: the writer's ("I", "me"), a third person's ("he", "her"),
  or anyone's at all ("my", "we" too): a question naming none of them is about a sign in general.
Word normalisation itself (lower case, slang, typos) lives in `bot.understanding.text` and `language.yaml`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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
    clause_openers: frozenset[str]  # words that open a new clause: the subjects, "it", "but", "so"
    first_person: frozenset[str]  # the writer as the subject or object: "I", "me"
    third_person: frozenset[str]  # "he", "her", "they"
    person_words: frozenset[str]  # every word that names somebody in particular, these included

    def sentences(self, text: str) -> list[str]:
        """The message's sentences; empty pieces are dropped."""
        return [piece for piece in self.sentence_end.split(text) if piece.strip()]

    def says_i(self, words: Sequence[str]) -> bool:
        """Whether the writer speaks of themselves in these words."""
        return any(word in self.first_person for word in words)

    def names_somebody(self, words: Sequence[str]) -> bool:
        """Whether these words are about somebody in particular ("I", "my", "we", "he", "her")."""
        return any(word in self.person_words for word in words)


_I = frozenset({"i", "im", "ive", "id", "me", "myself"})
_THEY = frozenset({"he", "she", "his", "her", "him", "hes", "shes", "they", "their", "them"})
_SUBJECTS = frozenset({"i", "im", "ive", "id", "ill", "he", "hes", "she", "shes", "we", "they", "you"})
# Besides a subject, what may open a clause after a denial: "I'm not, it's...", "I didn't lol".
_OPENERS = frozenset({"it", "its", "that", "thats", "this", "and", "but", "so", "just", "because", "honestly"})
_OPENERS |= {"promise", "lol", "haha"}

ENGLISH = LanguageModule(
    code="en",
    cue_position="before",
    # ".", "!", "?", ";", line breaks; a dot between digits ("38.5") is not a sentence end, one after
    # a number before a space is ("I attempted suicide at 17. Now I'm 50").
    sentence_end=re.compile(r"(?<!\d)[.](?!\d)|(?<=\d)[.](?=\s)|[!?;\n]+|\s[-–—]\s"),
    clause_subjects=_SUBJECTS,
    clause_openers=_SUBJECTS | _OPENERS,
    first_person=_I,
    third_person=_THEY,
    person_words=_I | _THEY | {"my", "mine", "mines", "we", "our", "us", "ill", "himself", "herself"},  # "mine's been"
)

LANGUAGES: dict[str, LanguageModule] = {ENGLISH.code: ENGLISH}


def language_module(code: str) -> LanguageModule | None:
    """The module for a language code, or None when the project has none for it."""
    return LANGUAGES.get(code)
