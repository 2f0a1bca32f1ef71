"""A statistical safety net under the triage rules: it asks when the rules are silent but the
message reads like an emergency, and asks instead of alarming when the rules read an alarm word
in a message it reads as needing no question at all.

Why: the rules (`bot.understanding.triage`) recognise the phrasings someone wrote down. On
messages nobody tuned for they caught about five red flags in six; lay wording is open-ended.
A linear model over the message's words, trained on a few thousand labelled patient messages
(`benchmarks/train_risk_model.py`), recognises what such messages have in common. It never
raises an alarm and never drops one, and drops only one kind of question:
- when the rules found nothing (or only a question about warning signs) and the model gives a
  message of at least `min_words` words at least `ask_above` chance of being a red flag or a
  crisis, the patient gets the safety question of its likeliest kind (bladder, legs, crisis...)
  before the answer, and "Yes" gives the urgent reply; from the lower `crisis_ask_above`, the
  crisis question when crisis is the likeliest kind (a crisis missed costs most);
- when the rules ask a red-flag question but the model reads the message as a crisis (at least
  `ask_above`, crisis its likeliest kind), the patient gets the crisis question instead: only one
  question is asked, and an overdose that mentions "dizzy" must not get the chest question;
- when the rules raised an alarm but the model gives a message of at least `doubt_min_words`
  words under `doubt_below` chance, the patient gets the alarm's own safety question, and "Yes"
  gives the alarm. Context is open-ended too: on fresh sets most false alarms were such messages
  ("The hangover was so bad I wanted to die... can I drink after Cellgel?"). A firm concept (an
  overdose taken) is never doubted, nor a finding told with a time of now ("since Sunday I have
  to strain to pee", buried in a story the net reads as ordinary), unless their clues were joined
  across sentences ("I took ONE ibuprofen. ...reading too many articles."); nor a short message: the net,
  trained on many safe messages with the very words of "my back hurts and I can't control my
  bladder", reads that at 3 %.
- when the rules ask a red-flag question only because of a weak clue (a concept's `possible`
  pattern: "diabetic", "dizzy", "bum went numb") about the writer, not told with a time of now, and the model gives
  the message (of at least `min_words` words, as for any reading) under `waive_below` chance, no
  question is asked:
  one step down, as an alarm becomes a question. On fresh sets most questions on ordinary messages
  were such ("I get sweaty and shaky when my sugar drops; can I eat a snack in the waiting room?").
  A crisis question is never waived.

The model is content (`knowledge/triage/model.tsv`), in the content's language.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from bot.content.loader import RiskModelSpec
from bot.content.weights_file import column_sums, first_sum
from bot.understanding.triage import TriageResult

ORDINARY = "none"  # the model's class for a message that needs no safety question
CRISIS = "crisis"  # the model's class (and safety question) for a crisis
NUMBER_FEATURE = "<n>"  # every number is one feature: "took 14" and "took 40" are the same clue
PREFIX_LENGTH = 5  # long words also count by their start: "bleeding", "bleeds" share "bleed~"


def features(sentences: Iterable[Sequence[str]]) -> set[str]:
    """The message's words, long words' prefixes, and word pairs within a sentence.

    Training and scoring must use this one function, on the same normalised words
    (`Lexicon.tokens`), or the model reads different features than it learnt."""
    found: set[str] = set()
    for sentence in sentences:
        tokens = [NUMBER_FEATURE if word.isascii() and word.isdigit() else word for word in sentence]
        for position, word in enumerate(tokens):
            found.add(word)
            if len(word) > PREFIX_LENGTH:
                found.add(word[:PREFIX_LENGTH] + "~")
            if position + 1 < len(tokens):
                found.add(f"{word} {tokens[position + 1]}")
    return found


class RiskModel:
    """Scores a message's features against `knowledge/triage/model.tsv`.

    `doubted`: the concepts whose alarm the gate may doubt, each with its safety question;
    `firm`: those of them doubted only when their clues were joined across sentences;
    `always_asked`: the concepts whose weak clue's question is never waived."""

    def __init__(
        self,
        spec: RiskModelSpec,
        doubted: Mapping[str, str] | None = None,
        firm: Iterable[str] = (),
        always_asked: Iterable[str] = (),
    ) -> None:
        self.spec = spec
        self.doubted = dict(doubted or {})
        self.firm = frozenset(firm)
        self.always_asked = frozenset(always_asked)
        self.classes = spec.classes
        self._ordinary = spec.classes.index(ORDINARY)
        self._rows = spec.rows  # the gate weight, then the class weights, one array a feature

    def risk(self, found: Iterable[str]) -> float:
        """The gate's probability that the message needs a safety question."""
        logit = self.spec.gate_bias + first_sum(self._rows, found)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))

    def probabilities(self, found: Iterable[str]) -> list[float]:
        """One probability per class of the kinds model (softmax over the summed weights)."""
        sums = column_sums(self._rows, found)[1:] or [0.0] * len(self.classes)
        scores = [bias + total for bias, total in zip(self.spec.bias, sums, strict=True)]
        top = max(scores)
        exps = [math.exp(score - top) for score in scores]
        total = sum(exps)
        return [value / total for value in exps]

    def likeliest_question(self, found: Iterable[str]) -> str:
        """The safety question that fits the message best (never "none")."""
        probabilities = self.probabilities(found)
        index = max((i for i in range(len(self.classes)) if i != self._ordinary), key=probabilities.__getitem__)
        return self.classes[index]

    def review(self, sentences: Sequence[Sequence[str]], rules: TriageResult | None) -> TriageResult | None:
        """The rules' question as it is unless the gate waives a weak one; their alarm as it is
        unless the gate doubts it (then its safety question); otherwise (nothing, or information
        about warning signs) a safety question when the message reads like a red flag or a crisis."""
        words = sum(map(len, sentences))
        if words < self.spec.min_words:
            return rules  # a name, "thanks, bye": too little to read; short alarms are the rules' job
        found = features(sentences)  # once: every step below reads the same features and gate
        gate = self.risk(found)
        if rules is not None and rules.action == "alarm":
            return self._crisis_after(found, gate, self._doubt(gate, words, rules))
        if rules is not None and rules.action == "ask":
            if rules.level == self.spec.levels.get(CRISIS):
                return rules
            if self._waives(gate, rules):
                return None
            return self._crisis_first(found, gate, rules)
        if gate < self.spec.crisis_ask_above:
            return rules
        # Asked even over the rules' information: "What happens if someone took 50 Lyrica?
        # Because I did." is not a question about warning signs. Between `crisis_ask_above` and
        # `ask_above` only the crisis question is asked: a crisis missed costs most.
        question = self.likeliest_question(found)
        if gate < self.spec.ask_above and question != CRISIS:
            return rules
        return TriageResult(self.spec.levels[question], f"model:{question}", "ask", question=question)

    def _crisis_first(self, found: set[str], gate: float, question: TriageResult) -> TriageResult:
        """The rules' red-flag question, or the crisis question when the net reads the message as
        a crisis: only one question is asked, and "Took a handful of my pills. Dizzy and sick."
        must not get the chest question for its "dizzy" instead."""
        if gate < self.spec.ask_above or self.likeliest_question(found) != CRISIS:
            return question
        return TriageResult(self.spec.levels[CRISIS], f"model:{CRISIS}", "ask", question=CRISIS)

    def _crisis_after(self, found: set[str], gate: float, result: TriageResult) -> TriageResult:
        """A red-flag alarm, with the crisis question after its reply when the net reads the
        message as a crisis the rules did not ask about ("Pain for 6 years since a car accident.
        Every morning I open my eyes and think 'again?'"): the alarm stays, nothing is replaced."""
        if not result.alarms or result.level == self.spec.levels.get(CRISIS) or result.then_ask is not None:
            return result
        if gate < self.spec.ask_above or self.likeliest_question(found) != CRISIS:
            return result
        return replace(result, then_ask=CRISIS)

    def _waives(self, gate: float, question: TriageResult) -> bool:
        """Whether a red-flag question that only a weak clue raised is left out, the way `_doubt`
        turns an alarm into a question, one step down: a long message the net reads as needing
        no question ("I'm diabetic, can I eat a snack in the waiting room?", "my bum goes numb on
        the long bus to Narita"). Never a crisis question, nor a clue told with a time of now, nor
        one of a concept always asked (bladder and bowel control: "my bladder feels a bit strange
        lately, how does stress cause back pain?" reads like the many stress questions), nor a
        question about someone else: a relative who writes about "my lola, 78, her back pain
        started this month" is worried enough to write, and the net has read few such messages."""
        if not question.weak or question.told_now or question.about_other or question.rule in self.always_asked:
            return False
        return gate < self.spec.waive_below

    def _doubt(self, gate: float, words: int, alarm: TriageResult) -> TriageResult:
        """The alarm, or its concept's safety question when the whole message reads as one that
        needs none: "I wanted to die, the hangover was that bad. Can I drink after Cellgel?"
        "Yes" still gives the alarm's level, so nothing is dropped, only asked."""
        question = self.doubted.get(alarm.rule)
        if question is None or words < self.spec.doubt_min_words:
            return alarm
        if not alarm.joined and (alarm.told_now or alarm.rule in self.firm):
            return alarm  # one sentence told it as now, or it is an overdose taken: never doubted
        if gate >= self.spec.doubt_below:
            return alarm
        return TriageResult(alarm.level, f"doubt:{alarm.rule}", "ask", question=question, about_other=alarm.about_other)
