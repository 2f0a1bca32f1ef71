"""Reads a patient's message: safety triage first, then knowledge matching only if it is safe.

The one place that decides the order, so no channel can ever answer an emergency with an FAQ.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.content import Knowledge
from bot.matcher import Matcher, MatchResult
from bot.text import Lexicon
from bot.triage import Triage, TriageResult


@dataclass(frozen=True)
class Understanding:
    """What a message is: a safety level (then nothing else matters) or a match result."""

    triage: TriageResult | None
    match: MatchResult | None


class Understander:
    """Built once from the knowledge base; `understand` is pure and fast."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.triage = Triage(knowledge.safety, knowledge.language.negations)
        vocabulary = Matcher.vocabulary(knowledge.entries.values()) + self.triage.vocabulary()
        self.lexicon = Lexicon(knowledge.language, vocabulary)
        self.matcher = Matcher(knowledge.entries.values(), self.lexicon)

    def understand(self, text: str, max_match_chars: int | None = None) -> Understanding:
        """Triage reads the whole message; matching reads at most `max_match_chars` of it."""
        tokens = self.lexicon.tokens(text)
        triage = self.triage.assess(tokens)
        if triage is not None:
            return Understanding(triage, None)
        if max_match_chars is not None and len(text) > max_match_chars:
            tokens = self.lexicon.tokens(text[:max_match_chars])
        return Understanding(None, self.matcher.match_tokens(tokens))
