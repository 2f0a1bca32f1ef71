"""Safety triage: finds red-flag symptoms and crisis messages before any other handling.

It runs on every typed message, independent of the FAQ matcher, and is tuned for recall. It
works in two steps, both driven by `knowledge/triage/`:

1. **Findings.** Each clinical concept (urinary retention, foot drop, an overdose taken...) lists
   lay phrases that are enough on their own ("only a dribble comes out") and groups of words that
   combine within one sentence (a bladder word + a difficulty word). Figurative idioms ("my
   commute is killing me", "peed myself laughing") are masked first, so their words find nothing.
2. **Context, the ConText way** (Harkema et al., 2009): trigger phrases mark a finding in their
   scope as negated, historical, hypothetical, or someone else's. A scope runs from the trigger
   towards the finding and stops at a terminator ("but", "now"), a new subject ("I", "he") or
   the sentence end. Then:
   - negated, or resolved in the past: no alarm (a concept whose history is itself the red flag,
     such as cancer, still counts when it is past);
   - hypothetical ("what if my legs go numb"): an informational reply with the warning signs;
   - someone else, happening now ("my husband can't move his legs"): the urgent reply worded
     for them; someone else's past or family history: no alarm; an animal, a film, or weight
     lost on purpose: no alarm.
   A concept's `possible` patterns, a crisis finding in the past (unless a recovery is told), and
   a crisis phrase in a message that explicitly denies one ("not suicidal, it's a saying") do not
   alarm: they ask one short safety question with Yes / No buttons (recall first: when unsure,
   ask). A few facts are read from the whole message: someone else's pain now, a recovery, a
   disclaimer ("I don't have any of that"), a reassurance ("I'm fine", "just curious").
3. **When in doubt, ask.** An alarm becomes its concept's question when the message leaves the
   finding in doubt: the writer reassures, a denial closes a clause after it ("...I'm not."), or
   the finding is someone else's and nothing in the message says it is happening now, or others
   already look after them ("he's in hospital", "the ambulance took her"). A cancer
   history told as over asks about the pain now (`ask_if_over`). Cue lists never cover every way
   of saying "it's over" or "it's not me"; a question costs one tap, a wrong alarm costs trust.
   Someone else's crisis and an overdose taken alarm unless others already look after them.

The phrases are found by one scan a sentence (`bot.understanding.phrases`); words in scripts written
without spaces (もう死にたい) are searched inside the message's words, since a whole sentence may
arrive as one word.

The most serious result wins: crisis, then emergency, then urgent, then a question, then info.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from bot.content.loader import SAFETY_LEVELS, ContextRule, SafetyConcept, TriageSpec
from bot.understanding.language import LanguageModule
from bot.understanding.phrases import PhraseGroup, PhraseIndex, Span, is_word

COMBO_WINDOW = 14  # the groups of one combination must fall within this many words of each other
PAIN_NEGATION_SCOPE = 2  # "no back pain", "not much pain": a negation this close before a pain word denies it
_NO_GROUPS: frozenset[int] = frozenset()

Action = Literal["alarm", "ask", "info"]
CRISIS_LEVEL = "crisis"


@dataclass(frozen=True)
class TriageResult:
    """What triage decided: an alarm at `level`, a safety `question` to ask first (whose "Yes"
    gives `level`), or `info` (a question about warning signs). `rule` names the concept."""

    level: str
    rule: str
    action: Action = "alarm"
    question: str | None = None
    reply: str | None = None  # a special reply of the concept (e.g. an overdose taken)
    about_other: bool = False  # the finding is someone else's, happening now
    told_now: bool = False  # a time of now is told with the finding ("since yesterday"): never doubted
    # Its clues sit in different sentences ("I took one ibuprofen. ...too many articles."): weaker
    # evidence than one sentence, so even a firm concept's alarm may be doubted.
    joined: bool = False
    # Only a weak clue asks (a concept's `possible` pattern): the net may waive such a question
    # when it reads the whole message as ordinary (`bot.understanding.risk`).
    weak: bool = False
    # A question asked after a red-flag alarm's reply: the crisis question when the message also
    # reads as a crisis ("I stopped eating to punish my body. Lost 6 kg. Dizzy all the time.").
    then_ask: str | None = None

    @property
    def alarms(self) -> bool:
        return self.action == "alarm"


# --------------------------------------------------------------------------- compiled content


@dataclass(frozen=True)
class _Pattern:
    """One way to find a concept: groups that must all occur within one sentence."""

    groups: tuple[PhraseGroup, ...]
    strong: bool  # False: only enough to ask the concept's safety question

    @property
    def group_ids(self) -> frozenset[int]:
        return frozenset(group.id for group in self.groups)


@dataclass(frozen=True)
class _Concept:
    spec: SafetyConcept
    patterns: tuple[_Pattern, ...]
    rank: int  # lower is more serious


@dataclass(frozen=True)
class _Trigger:
    kind: str
    group: PhraseGroup
    after: bool  # the cue follows the finding (scope runs backwards)
    levels: frozenset[str]
    max_scope: int
    crosses: frozenset[str]  # terminators the scope runs through
    concepts: frozenset[str]  # the concepts it applies to (empty: all)
    opens: bool = False  # counts only where it opens the sentence
    closes: bool = False  # counts only where it closes a clause


@dataclass(frozen=True)
class _Finding:
    concept: _Concept
    parts: tuple[Span, ...]  # where each group of the pattern was found
    strong: bool

    @property
    def span(self) -> Span:
        return (min(start for start, _ in self.parts), max(end for _, end in self.parts))


@dataclass(frozen=True)
class _SentenceContext:
    """Where, in one sentence, each kind of context cue and each boundary sits."""

    triggers: tuple[tuple[_Trigger, Span], ...]
    terminators: tuple[tuple[int, str], ...]  # where scopes end ("but", "now"), with the word
    subjects: tuple[int, ...]  # positions of subject words ("I", "he"): a new clause
    recent: bool  # a cue of now anywhere in the sentence ("since 2 weeks", "yesterday")
    sentence_starts: tuple[int, ...] = ()  # in a joined message: no scope runs into another sentence


@dataclass(frozen=True)
class _MessageFacts:
    """What the whole message says that a finding in one sentence needs to know."""

    their_pain: bool  # someone else's pain now: their history counts for them
    resolved: bool  # a recovery is told somewhere: a past crisis is not a present one
    disclaimed: bool  # "I don't have any of that": a question about a sign, not the sign
    crisis_disclaimed: bool  # "I'm not suicidal, it's just a saying": ask rather than assume
    historical: bool = False  # a past is told somewhere ("That was two years ago.")
    personal: bool = False  # someone's own story is told somewhere ("I", "my", "he")
    reassured: bool = False  # "I'm fine", "just curious", "I meant...": not sure enough to alarm
    now_told: bool = False  # someone else's pain now, or a time of now ("since Sunday") told about them
    in_care: bool = False  # others already look after someone ("he's in hospital"): theirs is no alarm to raise


# Kinds whose scope a new subject ends: "no fever and I can't pee", "my wife says I..."; the
# mood of "if" or "years ago" carries on through the sentence.
_CLAUSE_BOUND_KINDS = frozenset({"negated", "other_person", "recent"})
_DROP_KINDS = frozenset({"negated", "not_patient", "intentional", "passing", "family"})


class Triage:
    """Assesses a message's sentences against `knowledge/triage/`."""

    def __init__(self, spec: TriageSpec, language: LanguageModule) -> None:
        self.language = language
        self._index = index = PhraseIndex(spec.units)
        self.concepts = tuple(_compile_concept(concept, rank, index) for rank, concept in enumerate(_by_severity(spec)))
        self.triggers = tuple(_compile_triggers(spec.context, language, index))
        self.terminators = index.add(spec.terminators)
        self.pseudo = index.add(spec.pseudo_triggers)
        self.idioms = index.add(spec.idioms)
        self.lead_ins = frozenset(spec.lead_ins)
        self._across = tuple(concept for concept in self.concepts if concept.spec.across_sentences)
        # Each pattern, filed under its first group: a sentence only tries the patterns that can start.
        self._by_first_group: dict[int, list[tuple[int, _Concept, _Pattern, frozenset[int]]]] = {}
        order = 0
        for concept in self.concepts:
            for pattern in concept.patterns:
                entry = (order, concept, pattern, pattern.group_ids)
                self._by_first_group.setdefault(pattern.groups[0].id, []).append(entry)
                order += 1
        self._by_kind: dict[str, list[_Trigger]] = {}
        for trigger in self.triggers:
            self._by_kind.setdefault(trigger.kind, []).append(trigger)
        # The groups of each kind's message-wide cues, for `_has_kind`'s one set test a sentence.
        self._groups_of_kind: dict[str, frozenset[int]] = {
            kind: frozenset(trigger.group.id for trigger in triggers if not trigger.concepts)
            for kind, triggers in self._by_kind.items()
        }

    def prefixes(self) -> tuple[str, ...]:
        """The "word*" patterns' stems, so typo correction leaves words that start with them alone."""
        return self._index.stems

    def vocabulary(self) -> list[str]:
        """The findings' words in plain letters: typo correction moves misspellings onto them
        ("numbnes" -> numbness)."""
        return [word for word in self._words(self._concept_groups()) if word.isascii()]

    def kept_words(self) -> set[str]:
        """Words never corrected and never corrected to: context cues and idioms ("essa" must not
        become the cue "essay"), and words in other scripts ("死にたい"), matched as typed."""
        concept_groups = set(self._concept_groups())
        others = [group for group in self._index.groups if group.id not in concept_groups]
        return {*self._words(others), *(word for word in self._words(concept_groups) if not word.isascii())}

    def _concept_groups(self) -> list[PhraseGroup]:
        return [group for concept in self.concepts for pattern in concept.patterns for group in pattern.groups]

    @staticmethod
    def _words(groups: Iterable[PhraseGroup]) -> Iterable[str]:
        for group in groups:
            for pattern in group.patterns():
                if is_word(pattern):
                    yield pattern

    def assess(self, sentences: Sequence[Sequence[str]]) -> TriageResult | None:
        """The most serious result over the message's sentences (each a list of normalised words)."""
        sentences = [tokens for tokens in sentences if tokens]
        scans = [self._index.scan(tokens) for tokens in sentences]
        about_other = []
        someone_else = False  # "My dad is 80. He can't lift his foot": the subject carries over
        for tokens, found in zip(sentences, scans, strict=True):
            someone_else = not self.language.says_i(tokens) and (someone_else or self._has_kind(found, "other_person"))
            about_other.append(someone_else)
        # Someone else's pain now ("her back hurts", or a sentence about "her" with a pain word)
        # makes their history count for them: "Mum had breast cancer. Now her back hurts."
        their_pain = any(
            self._has_kind(found, "their_pain")
            or (
                other
                and self._tells_pain(found)
                and not (self.language.third_person.isdisjoint(tokens) and self._has_kind(found, "hypothetical"))
                # "he had back pain before they found it": their past pain, not their pain now;
                # "operated last year and now the back pain came" is theirs now
                and (
                    self._has_kind(found, "recent")
                    or not (self._has_kind(found, "their_past") or self._has_kind(found, "historical"))
                )
            )
            for tokens, found, other in zip(sentences, scans, about_other, strict=True)
        )
        # "Suicidal thoughts during my divorce five years ago. Got help, doing great now.": the
        # recovery may sit in another sentence than the past crisis it resolves.
        facts = _MessageFacts(
            their_pain,
            resolved=any(self._has_kind(found, "resolved") for found in scans),
            disclaimed=any(self._has_kind(found, "disclaimer") for found in scans),
            crisis_disclaimed=any(self._has_kind(found, "crisis_disclaimer") for found in scans),
            historical=any(self._has_kind(found, "historical") for found in scans),
            personal=any(map(self.language.names_somebody, sentences)),
            reassured=any(self._has_kind(found, "reassurance") for found in scans),
            in_care=any(self._has_kind(found, "in_care") for found in scans),
            # A time of now told about them ("He's been like this since Sunday"), not the writer's
            # "can I book today?"; the finding's own sentence is read in `_judge`.
            now_told=any(
                self._has_kind(found, "their_pain") or (other and self._has_kind(found, "recent"))
                for found, other in zip(scans, about_other, strict=True)
            ),
        )
        # "Fever? No. Numb? No.": a sentence that is only a "no" answers the one before it.
        answered_no = [self._answers_no(found, tokens) for tokens, found in zip(sentences, scans, strict=True)]
        # "My son says I'm killing myself. I'm not.": a denial after a finding, in its sentence or
        # the next, puts it in doubt.
        denials = [self._denials(tokens, found) for tokens, found in zip(sentences, scans, strict=True)]
        results: list[TriageResult] = []
        for number, (tokens, found, other) in enumerate(zip(sentences, scans, about_other, strict=True)):
            answered = number + 1 < len(sentences) and answered_no[number + 1]
            later = number + 1 < len(sentences) and bool(denials[number + 1])
            denied_from = len(tokens) if later else max(denials[number], default=None)
            results.extend(
                self._assess_sentence(
                    tokens, found, self.concepts, other, facts, answered_no=answered, denied_from=denied_from
                )
            )
        # Some concepts join clues across sentences: "I'm 78. The pain started last week."
        if len(sentences) > 1 and self._across:
            # The sentences' own scans, moved to their place in the message: a phrase never
            # spans a sentence end, and scanning the message again would cost a third of triage.
            joined = [word for tokens in sentences for word in tokens]
            found, bounds, start = {}, [], 0
            for tokens, sentence_found in zip(sentences, scans, strict=True):
                bounds.append((start, start + len(tokens)))
                for group_id, spans in sentence_found.items():
                    found.setdefault(group_id, []).extend((a + start, b + start) for a, b in spans)
                start += len(tokens)
            across = self._assess_sentence(joined, found, self._across, False, facts, bounds)
            results.extend(replace(result, joined=True) for result in across)
        if not results:
            return None
        chosen = min(results, key=_seriousness)
        if chosen.weak and not all(result.weak for result in results if result.action == "ask"):
            chosen = replace(chosen, weak=False)  # another question in the message is no weak clue
        if chosen.alarms and chosen.level != CRISIS_LEVEL:
            # A red-flag alarm wins, yet a crisis sign in the same message is still asked about.
            crisis = next((r.question for r in results if r.level == CRISIS_LEVEL and r.action == "ask"), None)
            chosen = replace(chosen, then_ask=crisis)
        return chosen

    def _assess_sentence(
        self,
        tokens: Sequence[str],
        found: Mapping[int, list[Span]],
        concepts: Iterable[_Concept],
        someone_else: bool,
        facts: _MessageFacts,
        sentence_bounds: Sequence[Span] = (),
        answered_no: bool = False,
        denied_from: int | None = None,
    ) -> list[TriageResult]:
        """`denied_from`: a finding that ends by this position is followed by a denial (the
        sentence's length when the next sentence denies)."""
        findings = self._findings(found, concepts)
        if sentence_bounds:
            # Clues joined across sentences: a finding within one sentence was judged there.
            findings = [f for f in findings if not any(a <= f.span[0] and f.span[1] <= b for a, b in sentence_bounds)]
        if not findings:
            return []
        context = self._context(tokens, found, sentence_bounds)
        judged = (
            self._judge(
                finding,
                tokens,
                context,
                someone_else,
                facts,
                answered_no,
                denied=denied_from is not None and finding.span[1] <= denied_from,
            )
            for finding in findings
        )
        return [result for result in judged if result is not None]

    # ------------------------------------------------------------------ findings

    def _findings(self, found: Mapping[int, list[Span]], concepts: Iterable[_Concept]) -> list[_Finding]:
        idioms = found.get(self.idioms.id, ())
        present = found.keys()
        wanted = {id(concept) for concept in concepts}
        # Only patterns whose first group found something, in concept order (the most serious first).
        candidates = sorted(
            (entry for group_id in present for entry in self._by_first_group.get(group_id, ())),
            key=lambda entry: entry[0],
        )
        findings = []
        for _, concept, pattern, needed in candidates:
            if id(concept) in wanted and present >= needed:
                spans = [found[group.id] for group in pattern.groups]
                if idioms:
                    spans = [[span for span in matched if not _masked(span, idioms)] for matched in spans]
                    if not all(spans):
                        continue
                window = COMBO_WINDOW * 3 if concept.spec.across_sentences else COMBO_WINDOW
                findings.extend(_Finding(concept, parts, pattern.strong) for parts in _combined(spans, window))
        return findings

    # ------------------------------------------------------------------ context

    def _context(
        self, tokens: Sequence[str], found: Mapping[int, list[Span]], sentence_bounds: Sequence[Span] = ()
    ) -> _SentenceContext:
        """`sentence_bounds`: the sentences of a joined message; a scope never runs from one into
        another, as in a single sentence ("He didn't slip. First time for him": the "didn't" is
        not about "first time")."""
        pseudo = found.get(self.pseudo.id, ())
        opening = next((i for i, word in enumerate(tokens) if word not in self.lead_ins), len(tokens))
        triggers = [
            (trigger, span)
            for trigger in self.triggers
            for span in found.get(trigger.group.id, ())
            if not _overlaps(span, pseudo)
            and (not trigger.opens or span[0] == opening)
            and (not trigger.closes or self._closes_clause(tokens, span))
        ]
        trigger_spans = [span for _, span in triggers]
        terminators = tuple(
            (start, tokens[start])
            for start, end in found.get(self.terminators.id, ())
            if not _overlaps((start, end), trigger_spans) and not _overlaps((start, end), pseudo)
        )
        subjects = tuple(i for i, word in enumerate(tokens) if word in self.language.clause_subjects)
        # "I'm 45 now" (an age, a pseudo-trigger), "in a good place now" (a recovery): a "now" inside
        # them says nothing is happening now. A time ("since last month") still does.
        recovery = [span for trigger, span in triggers if trigger.kind == "resolved"]
        triggers = [(t, span) for t, span in triggers if not (t.kind == "recent" and _overlaps(span, recovery))]
        recent = any(trigger.kind == "recent" for trigger, _ in triggers)
        starts = tuple(start for start, _ in sentence_bounds if start)
        return _SentenceContext(tuple(triggers), terminators, subjects, recent, starts)

    def _closes_clause(self, tokens: Sequence[str], span: Span) -> bool:
        """Whether a cue ends its sentence or a new clause follows it: "I'm not, I love my job"."""
        return span[1] == len(tokens) or tokens[span[1]] in self.language.clause_openers

    def _denials(self, tokens: Sequence[str], found: Mapping[int, list[Span]]) -> list[int]:
        """Where denials that close a clause start in a sentence ("...killing myself. I'm not.")."""
        return [
            span[0]
            for trigger in self._by_kind.get("denial", ())
            for span in found.get(trigger.group.id, ())
            if not trigger.closes or self._closes_clause(tokens, span)
        ]

    def _answers_no(self, found: Mapping[int, list[Span]], tokens: Sequence[str]) -> bool:
        """Whether the sentence is a "no" answer to the one before: only the cue ("No."), or the
        cue and then a new clause ("No, I sleep like a baby"); never a cue inside a pseudo-trigger
        ("Nothing I do makes it better" answers nothing)."""
        pseudo = found.get(self.pseudo.id, ())
        return any(
            span[0] == 0
            and self._closes_clause(tokens, span)
            and not any(start <= span[0] and span[1] <= end for start, end in pseudo)
            for trigger in self._by_kind.get("answer_no", ())
            for span in found.get(trigger.group.id, ())
        )

    def _tells_pain(self, found: Mapping[int, list[Span]]) -> bool:
        """Whether a pain word is in the sentence and not right after a red-flag negation: "she
        has no back pain" tells no pain of hers."""
        pains = [span for group in self._groups_of_kind.get("pain", _NO_GROUPS) for span in found.get(group, ())]
        if not pains:
            return False
        negations = [
            span
            for trigger in self._by_kind.get("negated", ())
            if not trigger.after and "emergency" in trigger.levels
            for span in found.get(trigger.group.id, ())
        ]
        return any(
            not any(end <= start and start - end <= PAIN_NEGATION_SCOPE for _, end in negations) for start, _ in pains
        )

    def _has_kind(self, found: Mapping[int, list[Span]], kind: str) -> bool:
        """Whether a cue of `kind` for every concept is in the sentence. A rule kept to some
        concepts ("cancer-free", "free for" tell a recovery from cancer only) says nothing about
        the message as a whole: "I want to die and be free for once" is no crisis recovered from.
        A cue inside a pseudo-trigger counts for nothing here: "none of it eases the pain at night"
        disclaims nothing (one that only overlaps it still counts: "just want to know if")."""
        groups = self._groups_of_kind.get(kind, _NO_GROUPS)
        if groups.isdisjoint(found):
            return False
        pseudo = found.get(self.pseudo.id)
        if not pseudo:
            return True
        return any(
            not any(start <= span[0] and span[1] <= end for start, end in pseudo)
            for group in groups & found.keys()
            for span in found[group]
        )

    def _kinds(self, finding: _Finding, context: _SentenceContext) -> set[str]:
        """The context kinds whose trigger scope covers any part of the finding."""
        level, concept = finding.concept.spec.level, finding.concept.spec.id
        kinds = set()
        for trigger, cue in context.triggers:
            if (
                trigger.kind not in kinds
                and (not trigger.levels or level in trigger.levels)
                and (not trigger.concepts or concept in trigger.concepts)
                and not any(start <= cue[0] and cue[1] <= end for start, end in finding.parts)
                and any(self._in_scope(trigger, cue, part, context) for part in finding.parts)
            ):
                kinds.add(trigger.kind)
        return kinds

    def _in_scope(self, trigger: _Trigger, cue: Span, part: Span, context: _SentenceContext) -> bool:
        (t_start, t_end), (start, end) = cue, part
        if start <= t_start and t_end <= end:
            return False  # the cue is part of the finding itself: "no feeling", "never wake up"
        if not trigger.after and t_start < start:
            gap = (min(t_end, start), start)
        elif trigger.after and t_end > end:
            gap = (end, max(t_start, end))
        else:
            return False
        if gap[1] - gap[0] > trigger.max_scope:
            return False
        # A terminator inside the gap ends the scope; so does a new subject for the kinds bound
        # to a clause, except one right after the cue ("if I can't pee" is still "if").
        if any(gap[0] <= b < gap[1] and word not in trigger.crosses for b, word in context.terminators):
            return False
        if any(gap[0] <= b <= gap[1] for b in context.sentence_starts):
            return False  # the cue and the finding sit in different sentences
        if trigger.kind in _CLAUSE_BOUND_KINDS:
            return not any(gap[0] < b < gap[1] or (trigger.after and b == gap[0]) for b in context.subjects)
        return True

    def _judge(
        self,
        finding: _Finding,
        tokens: Sequence[str],
        context: _SentenceContext,
        someone_else: bool,
        facts: _MessageFacts,
        answered_no: bool = False,
        denied: bool = False,
    ) -> TriageResult | None:
        """`answered_no`: the next sentence is only "No" ("Fever? No."): no alarm, but a crisis
        word is still worth its safety question. `denied`: a denial that closes a clause follows
        the finding ("My son says I'm killing myself. I'm not."): ask rather than alarm."""
        kinds = self._kinds(finding, context)
        result = self._judge_kinds(finding, kinds, tokens, context, someone_else, facts)
        if result is None or result.action == "info":
            return result
        spec = finding.concept.spec
        if answered_no:
            crisis_question = spec.level == "crisis" and spec.ask
            return TriageResult(spec.level, spec.id, "ask", question=spec.ask) if crisis_question else None
        if not result.alarms:
            return result
        if (
            "general_question" in kinds
            and "recent" not in kinds
            and not self.language.names_somebody(tokens)
            and not self._names_someone(context, someone_else)
        ):
            # "Can fever and back pain together be serious?": a question about a sign, nobody's
            # sign. Alone, it gets the warning signs; after a story of one's own ("I hurt my back
            # on Monday. Is it normal not to be able to pee?") it may be the patient's, so ask.
            # A crisis word is always worth the question.
            if spec.level != "crisis" and not facts.personal:
                return TriageResult(spec.level, spec.id, "info")
            if spec.ask:
                return TriageResult(spec.level, spec.id, "ask", question=spec.ask)
        if spec.ask and result.about_other and facts.in_care:
            # "My husband is in hospital after the crash, recovering well": others already look
            # after him, so the 119 reply would help nobody; one question still catches "...and
            # now he can't feel his legs and nobody listens". Crisis and overdose alike.
            return TriageResult(spec.level, spec.id, "ask", question=spec.ask, about_other=True)
        if spec.ask and not spec.always_current and (denied or self._unsure(result, spec, facts, context)):
            return TriageResult(spec.level, spec.id, "ask", question=spec.ask, about_other=result.about_other)
        return result

    @staticmethod
    def _unsure(result: TriageResult, spec: SafetyConcept, facts: _MessageFacts, context: _SentenceContext) -> bool:
        """Whether the message leaves an alarm's finding in doubt, so one question beats guessing:
        the writer reassures ("I'm fine", "just curious", "I meant..."), or the finding is someone
        else's and nothing in the message says it is happening now ("my coworker lost a lot of
        weight on that injection"), or it is a red flag only with back pain and nothing says they
        have any ("my daughter has a fever and a cold"). Someone else's crisis stays an alarm: a
        parent who reports a child at risk needs the help lines, not a question."""
        if facts.reassured:
            return True
        if not result.about_other or result.level == "crisis":
            return False
        return not (facts.now_told or context.recent) or (spec.with_pain and not facts.their_pain)

    def _judge_kinds(
        self,
        finding: _Finding,
        kinds: set[str],
        tokens: Sequence[str],
        context: _SentenceContext,
        someone_else: bool,
        facts: _MessageFacts,
    ) -> TriageResult | None:
        spec = finding.concept.spec
        if spec.info_only:
            return None if kinds & _DROP_KINDS else TriageResult(spec.level, spec.id, "info")
        if spec.only_negated:
            if "negative" not in kinds:
                return None  # "I want to live without this pain"
            kinds -= {"negative", "negated"}  # "I can't see any reason to live"
        if kinds & _DROP_KINDS:
            return None
        other = "other_person" in kinds or (someone_else and not self.language.says_i(tokens))
        crisis = spec.level == "crisis"
        if facts.disclaimed and not crisis and not other:
            if "recent" in kinds and spec.ask:
                # "I haven't peed since this morning, just curious": a sign of now, whatever the
                # tone around it; one question rather than the warning signs.
                return TriageResult(spec.level, spec.id, "ask", question=spec.ask)
            return TriageResult(spec.level, spec.id, "info")
        if crisis and facts.crisis_disclaimed and not spec.always_current:
            return TriageResult(spec.level, spec.id, "ask", question=spec.ask) if spec.ask else None
        past = "historical" in kinds
        recovered = "resolved" in kinds or (past and facts.resolved)
        # An overdose stays current even when the patient feels fine ("took all my pills, I'm
        # fine now": "fine now" reads as the past for other signs). Only one placed long ago by a
        # time ("once, at 19", "years ago") and recovered from ("well since") is not.
        placed_long_ago = "long_ago" in kinds and "recent" not in kinds
        long_ago = placed_long_ago and recovered
        if spec.always_current and other and "their_past" in kinds and not context.recent:
            return None  # "a colleague overdosed last year": someone else's past, nothing now
        if spec.always_current and "hypothetical" not in kinds and not long_ago:
            if placed_long_ago and not context.recent and spec.ask:
                # "I took too many pills once when I was 19. I'm 45 now.": long ago, but no
                # recovery is told: one question rather than the overdose emergency reply.
                return TriageResult(spec.level, spec.id, "ask", question=spec.ask, about_other=other)
            return TriageResult(spec.level, spec.id, "alarm", reply=spec.reply, about_other=other)
        if other:
            if spec.history_counts:
                if not facts.their_pain:
                    return None  # "my mother had breast cancer", and nothing about her pain now
                # "Mum had breast cancer and now her back hurts": her history, her pain.
                return TriageResult(spec.level, spec.id, "alarm", reply=spec.reply, about_other=True)
            elif past or ("their_past" in kinds and not context.recent):
                return None  # someone else's past: "my boss had bladder problems after surgery"
        if crisis and recovered and (long_ago if spec.always_current else True):
            return None  # "suicidal thoughts in my twenties, but I've been well for ten years"
        if crisis and spec.ask and facts.resolved and facts.historical:
            # "I thought about ending it. That was two years ago. Treatment changed everything."
            # The past and the recovery sit in other sentences: likely over, but only a question
            # can tell it from "...and now it is back", so ask rather than drop or alarm.
            return TriageResult(spec.level, spec.id, "ask", question=spec.ask, about_other=other)
        if past and not spec.history_counts:
            # A crisis in the past is still worth one question; a resolved red flag is not.
            return TriageResult(spec.level, spec.id, "ask", question=spec.ask) if crisis and spec.ask else None
        if "hypothetical" in kinds:
            return TriageResult(spec.level, spec.id, "info")  # the warning signs, or the help lines
        if "asked_about" in kinds and not ("recent" in kinds and self.language.says_i(tokens)):
            # "what does saddle anaesthesia mean?"; but "what does it mean that I can't pee since
            # this morning?" is happening now, whatever the question around it.
            return TriageResult(spec.level, spec.id, "info")
        if spec.ask_if_over and (recovered or self._told_as_over(kinds, facts)):
            # "Cancer-free 12 years, discharged from oncology": the history still matters, but only
            # with back pain that is new, getting worse or waking them at night; one question about
            # now tells that apart, where the alarm would send every survivor to a doctor today. A
            # recovery told with the history ("all clear ... now a back ache after gardening") makes
            # a "now" the pain's, not the cancer's: still the question.
            return TriageResult(spec.level, spec.id, "ask", question=spec.ask_if_over, about_other=other)
        if not finding.strong or (self._told_as_over(kinds, facts) and spec.ask is not None):
            # A weak clue; or a sign in a message that tells a past and a recovery in other words
            # ("Two summers ago my bottom went numb after a long ride. Never again, all fine."):
            # most likely over, yet only the patient can tell it from "and now it is back".
            if spec.ask is None:
                return None
            return TriageResult(
                spec.level,
                spec.id,
                "ask",
                question=spec.ask,
                about_other=other,
                told_now="recent" in kinds,
                weak=not finding.strong,
            )
        told_now = "recent" in kinds
        return TriageResult(spec.level, spec.id, "alarm", reply=spec.reply, about_other=other, told_now=told_now)

    @staticmethod
    def _names_someone(context: _SentenceContext, someone_else: bool) -> bool:
        """Whether the sentence is about a particular other person: named in it ("mum"), or
        carried over from the sentence before ("My dad is 80. Is new pain at that age serious?").
        "Someone", "a person" make a finding someone else's, yet name nobody."""
        kinds = {trigger.kind for trigger, _ in context.triggers}
        own = "other_person" in kinds
        return (someone_else and not own) or (own and "generic_person" not in kinds)

    @staticmethod
    def _told_as_over(kinds: set[str], facts: _MessageFacts) -> bool:
        """The message places something in the past and tells a recovery, and nothing marks
        this finding as happening now."""
        return facts.historical and facts.resolved and "recent" not in kinds


_ACTION_ORDER = {"alarm": 0, "ask": 1, "info": 2}


def _seriousness(result: TriageResult) -> tuple[int, int, bool]:
    """Alarms first, then questions, then info; within each, crisis before emergency before
    urgent; the patient's own finding before someone else's."""
    return (_ACTION_ORDER[result.action], SAFETY_LEVELS.index(result.level), result.about_other)


def _by_severity(spec: TriageSpec) -> list[SafetyConcept]:
    return sorted(spec.concepts, key=lambda concept: SAFETY_LEVELS.index(concept.level))


def _compile_concept(concept: SafetyConcept, rank: int, index: PhraseIndex) -> _Concept:
    patterns = []
    if concept.phrases:
        patterns.append(_Pattern((index.add(concept.phrases),), strong=True))
    for groups in concept.together:
        patterns.append(_Pattern(tuple(index.add(group) for group in groups), strong=True))
    for groups in concept.possible:
        patterns.append(_Pattern(tuple(index.add(group) for group in groups), strong=False))
    return _Concept(concept, tuple(patterns), rank)


def _compile_triggers(rules: Iterable[ContextRule], language: LanguageModule, index: PhraseIndex) -> Iterable[_Trigger]:
    for rule in rules:
        levels = frozenset(rule.levels)
        default_after = language.cue_position == "after"
        crosses, concepts = frozenset(rule.crosses), frozenset(rule.concepts)
        for phrases, after in ((rule.cues, default_after), (rule.before, False), (rule.after, True)):
            if phrases:
                group = index.add(phrases)
                yield _Trigger(
                    rule.kind, group, after, levels, rule.max_scope, crosses, concepts, rule.opens, rule.closes
                )


def _overlaps(span: Span, others: Iterable[Span]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in others)


def _masked(span: Span, idioms: Iterable[Span]) -> bool:
    """Whether an idiom hides the phrase found at `span`. A phrase that holds a whole idiom and
    more is the wider reading: "I wish the crash had killed me" is no "the commute killed me"."""
    return any(
        span[0] < end and start < span[1] and not (span[0] <= start and end <= span[1] and span != (start, end))
        for start, end in idioms
    )


def _combined(spans: list[list[Span]], window: int) -> list[tuple[Span, ...]]:
    """Placings of one span per group within `window` words, one per starting span (which is
    all the context step needs), each as the spans of its parts in group order."""
    if len(spans) == 1:
        return [(span,) for span in spans[0]]
    matches = sorted((start, end, group) for group, found in enumerate(spans) for start, end in found)
    out = []
    for index, (start, _, _) in enumerate(matches):
        chosen: dict[int, Span] = {}
        for s, e, group in matches[index:]:
            if s - start > window:
                break
            if e - start <= window and group not in chosen and not _overlaps((s, e), chosen.values()):
                chosen[group] = (s, e)
        if len(chosen) == len(spans):
            out.append(tuple(chosen[group] for group in range(len(spans))))
    return out
