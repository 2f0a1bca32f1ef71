"""Reads a patient's message: safety triage first, then knowledge matching only if it is safe.

The one place that decides the order, so no channel can ever answer an emergency with an FAQ.
Triage reads every sentence of the whole message; matching reads the words (at most
`max_match_chars` of the message).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.content.loader import Knowledge
from bot.understanding import focus
from bot.understanding.language import language_module
from bot.understanding.matcher import Matcher, MatchResult
from bot.understanding.risk import RiskModel
from bot.understanding.text import Lexicon
from bot.understanding.topics import TopicModel
from bot.understanding.triage import Triage, TriageResult


@dataclass(frozen=True)
class Understanding:
    """What a message is: an alarm (then nothing else matters), or a match result, with a
    safety question or warning-signs information to give first when triage asks for one."""

    triage: TriageResult | None
    match: MatchResult | None


class Understander:
    """Built once from the knowledge base; `understand` is pure and fast."""

    def __init__(self, knowledge: Knowledge) -> None:
        language = language_module(knowledge.language.code)
        if language is None:  # load_knowledge refuses such content; this guards direct use
            raise ValueError(f"no language module for '{knowledge.language.code}'")
        self.language = language
        self.triage = Triage(knowledge.triage, language)
        concepts = knowledge.triage.concepts
        doubted = {concept.id: concept.ask for concept in concepts if concept.ask}
        firm = {concept.id for concept in concepts if concept.firm}
        always_asked = {concept.id for concept in concepts if concept.always_ask}
        model = knowledge.triage.model
        self.risk = RiskModel(model, doubted, firm, always_asked) if model is not None else None
        vocabulary = Matcher.vocabulary(knowledge.entries.values()) + self.triage.vocabulary()
        self.lexicon = Lexicon(
            knowledge.language,
            vocabulary,
            keep_prefixes=self.triage.prefixes(),
            keep_words=self.triage.kept_words(),
            alarm_words=self.triage.vocabulary(),
        )
        model = knowledge.matching.model
        self.matcher = Matcher(knowledge.entries.values(), self.lexicon, TopicModel(model) if model else None)
        self.question_words = knowledge.matching.question_words
        self.lead_ins = knowledge.matching.lead_ins

    def understand(self, text: str, max_match_chars: int | None = None) -> Understanding:
        """Triage on the whole message; matching too unless triage raised an alarm."""
        pieces = focus.split(self.language.sentence_end, text)
        sentences = [self.lexicon.tokens(sentence) for sentence, _ in pieces]
        triage = self.assess(sentences)
        if triage is not None and triage.alarms:
            return Understanding(triage, None)
        if max_match_chars is not None and len(text) > max_match_chars:
            return Understanding(triage, self.match(text[:max_match_chars]))
        return Understanding(triage, self._match_sentences(sentences, [mark for _, mark in pieces]))

    def sentences(self, text: str) -> list[list[str]]:
        """The message's normalised words, sentence by sentence, as triage reads them."""
        return [self.lexicon.tokens(sentence) for sentence, _ in focus.split(self.language.sentence_end, text)]

    def assess(self, sentences: list[list[str]]) -> TriageResult | None:
        """The rules' triage, with the statistical safety net's question where the rules are
        silent (when the content ships a model)."""
        rules = self.triage.assess(sentences)
        return rules if self.risk is None else self.risk.review(sentences, rules)

    def match(self, text: str) -> MatchResult:
        """Matching alone: for a message whose safety question the patient has answered "No"."""
        return self.matcher.match_parts(self.parts(text))

    def parts(self, text: str) -> list[focus.Part]:
        """The message's sentences as matching weighs them: the story around the question counts
        less (`bot.understanding.focus`). The topic model's trainer reads messages this way too."""
        pieces = focus.split(self.language.sentence_end, text)
        sentences = [self.lexicon.tokens(sentence) for sentence, _ in pieces]
        return focus.weigh(sentences, [mark for _, mark in pieces], self.question_words, self.lead_ins)

    def _match_sentences(self, sentences: list[list[str]], marks: list[str]) -> MatchResult:
        """Matching on the question part: the story around it counts less (`bot.understanding.focus`)."""
        return self.matcher.match_parts(focus.weigh(sentences, marks, self.question_words, self.lead_ins))
