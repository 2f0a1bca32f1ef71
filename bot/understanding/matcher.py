"""Finds the knowledge entry a patient's message asks about, or says honestly that none fits.

Why not `process.extractOne(message, questions, scorer=WRatio)`: against short example questions
WRatio scores almost any long message ~85 (a shared "my" is enough for its partial token set
ratio), so it returns the first entry for nearly everything. Instead each entry scores itself on
four pieces of evidence, all on normalised, typo-corrected, stemmed words without stop words
(stems so "headaches" finds "headache" and "stressed" finds "stress"):

- coverage: how much of the message's known, informative words (IDF-weighted) the entry explains;
- example: how much of its best-matching example question is present in the message;
- synonyms: distinctive words or phrases of the entry found in the message, each weighted by how
  rare its words are (a synonym that boils down to "stress" says little: most entries use it);
- closeness: rapidfuzz similarity to the nearest example, so a near-verbatim question wins.

A message with no content words at all ("see you") is judged on closeness alone, and an
out-of-scope entry whose own words appear in the message gets a small bonus: for "yoga while
pregnant" it is more honest to say the article does not cover pregnancy than to talk about yoga.

When the content ships a topic model (`bot.understanding.topics`), each scored entry's score is
blended with the model's chance that the message asks for it, and a message the model reads as
asking for something the article does not cover gets an honest "not covered" (an out-of-scope
entry, a partial answer, or the fallback) unless the matcher's own reading is clearly sure.

An inverted index picks the candidates and a cheap first score prunes them, so a knowledge base
100 times larger stays fast. The result carries scores for logs and tests, and an outcome:
answer when the best is good and clearly ahead, "did you mean" for a close call, else fallback.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from rapidfuzz import fuzz, process

from bot.content.loader import Entry
from bot.understanding import focus, topics
from bot.understanding.text import Lexicon, stem
from bot.understanding.topics import TopicModel

WEIGHT_COVERAGE = 0.40
WEIGHT_EXAMPLE = 0.30
WEIGHT_EVIDENCE = 0.30  # the larger of synonym evidence and closeness
SYNONYM_HIT = 0.75  # one distinctive synonym found already counts most of the evidence
CLOSENESS_MAX_WORDS = 6  # messages this short are compared with every entry when no word is known
OUT_OF_SCOPE_BONUS = 10.0  # an out-of-scope entry whose own words are in the message wins ties
CLOSENESS_MAX_CHARS = 160  # longer messages are stories: wording similarity says nothing, costs time
STOP_WORD_SHARE = 0.3  # a stop word in a synonym phrase counts this share of the rarest word
PRECISION_SHARE = 0.4  # how much an example loses for message words it does not explain
STORY_WORDS = 10  # beyond this many distinct words, unknown words count less and less
SMALLTALK_SHARE = 0.6  # small talk wins in full only when at least this share of the message is small talk
SMALLTALK_STATEMENT_SHARE = 0.3  # ... or this share of a message that asks nothing
CHAT_TOPIC_SHARE = 0.8  # a topic's score in a message that asks nothing and is largely small talk
AROUND_QUESTION_SHARE = 0.25  # weight of a greeting or thanks next to a question
SHARED_SMALLTALK = 0.75  # a word both small talk and topics use counts this much as small talk
NEAR_VERBATIM = 0.9  # closeness at which a short message is taken as that entry's own wording
VERBATIM_LEAD = 0.05  # ... provided no other entry is about as close
DECISIVE_LEAD = 0.0  # an entry's own synonyms this far ahead of a not-covered topic's still decide
NEIGHBOUR_SHARE = 0.75  # a same-subject runner-up this close to the best is offered as a button

KNOWN_POWER = 0.5  # how strongly words the knowledge base never uses weaken the topic model
MODEL_EXTRA_CHANCE = 0.2  # an entry the model gives this chance is scored even if the first pass missed it
SURE_SCORE = 70.0  # the matcher's own score from which its answer stands against the model's "not covered"


@dataclass(frozen=True)
class Thresholds:
    """Where the scores decide between answering, asking "did you mean" and the fallback."""

    answer: float  # below this the best entry is only a suggestion
    suggest: float  # below this nothing is offered: honest fallback
    margin: float  # the best must lead the next subject by this much to be answered directly
    clear_lead: float  # a suggestion this far ahead of every other subject is answered
    shortlist: int  # entries the cheap first score keeps for full scoring
    related: float  # a near miss offers an article entry scoring this much as the related topic


OWN_SCORES = Thresholds(answer=52.0, suggest=42.0, margin=5.0, clear_lead=10.0, shortlist=24, related=52.0)
# Blended with the topic model the scores spread wider: a "did you mean" costs the patient one
# tap, the fallback a retyped question, so a modest score is rather offered than dropped. The
# model adds the entries it favours itself, so a shorter first shortlist loses nothing (measured
# by `python -m benchmarks.train_topic_model --cv`) and saves a third of the time of long messages.
BLENDED_SCORES = Thresholds(answer=45.0, suggest=30.0, margin=5.0, clear_lead=10.0, shortlist=10, related=30.0)

SOUND_ALIKE_MIN_LETTERS = 6  # names this long are found by their sound too: "selgel", "sell gel"
SOUND_KEY_MIN = 4  # shorter sound keys say too little
SOUND_FIRST_LETTERS = ("cksz", "gj", "pf")  # first letters that can sound alike

Outcome = Literal["answer", "did_you_mean", "partial", "fallback"]

_SOFT_C = re.compile(r"c(?=[eiy])")
_REPEATS = re.compile(r"(.)\1+")


SOUND_CACHE_SIZE = 50_000


@lru_cache(maxsize=SOUND_CACHE_SIZE)
def sound_key(word: str) -> str:
    """How a word sounds, roughly: "cellgel", "selgel", "celljell" and "sellgel" share one key.
    Soft c is s, hard c is k, j is g, double letters are one, and vowels after the first letter
    drop out. Only for long, distinctive names of the knowledge base (see `Matcher`)."""
    word = _SOFT_C.sub("s", word.replace("sch", "sh"))
    word = word.replace("ph", "f").replace("c", "k").replace("j", "g").replace("z", "s")
    word = _REPEATS.sub(r"\1", word)
    return word[:1] + "".join(letter for letter in word[1:] if letter not in "aeiouyh")


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    """What the matcher decided, with the scores behind it."""

    outcome: Outcome
    candidates: tuple[Candidate, ...]  # best first, at most 3; for "did you mean", one per subject
    neighbours: tuple[str, ...] = ()  # same-subject entries to offer first as follow-ups of an answer
    missing: str | None = None  # "partial": the patient's word for what the article does not cover

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


@dataclass(frozen=True)
class _Example:
    words: frozenset[str]
    weight: float
    text: str  # all its words, stop words too: "who are you" is nothing but stop words


class _IndexedEntry:
    """An entry prepared for scoring: its words, weights, examples and synonym phrases."""

    def __init__(
        self,
        entry: Entry,
        examples: list[tuple[list[str], list[str]]],
        synonyms: list[tuple[str, ...]],
    ):
        self.entry = entry
        self.subject = entry.subject or entry.id
        self.raw_examples = examples  # (content words, all words) of each example
        self.synonyms = synonyms
        self.bag: frozenset[str] = frozenset(w for content, _ in examples for w in content)
        self.examples: tuple[_Example, ...] = ()
        self.texts: tuple[str, ...] = ()
        self.word_examples: dict[str, tuple[int, ...]] = {}  # word -> the examples that use it

    def finish(self, idf: dict[str, float]) -> None:
        self.examples = tuple(
            _Example(frozenset(content), sum(idf[w] for w in set(content)) or 1.0, " ".join(full))
            for content, full in self.raw_examples
            if full
        )
        self.texts = tuple(example.text for example in self.examples)
        users: dict[str, list[int]] = defaultdict(list)
        for number, example in enumerate(self.examples):
            for word in example.words:
                users[word].append(number)
        self.word_examples = {word: tuple(numbers) for word, numbers in users.items()}

    def score(
        self, message: _Message, coverage: float, synonym_hits: float, idf: dict[str, float]
    ) -> tuple[float, float]:
        """This entry's 0-100 score for the message, given the first-pass coverage, and how close
        the message's wording is to its nearest example (0-1)."""
        example = 0.0
        # The weight each example shares with the message, gathered from the message's words
        # (a handful) rather than by intersecting every example with the message.
        shared: dict[int, float] = {}
        weighed = message.weighed
        for word in self.bag.intersection(message.word_set):
            value = weighed[word]
            for number in self.word_examples[word]:
                shared[number] = shared.get(number, 0.0) + value
        examples = self.examples
        for number, weight in shared.items():
            recall = weight / examples[number].weight  # how much of the example the message says
            precision = weight / message.weight  # how much of the message the example says
            example = max(example, recall * (1 - PRECISION_SHARE + PRECISION_SHARE * precision))
        evidence = min(1.0, SYNONYM_HIT * synonym_hits)
        closeness = 0.0
        if message.text and self.texts and len(message.text) <= CLOSENESS_MAX_CHARS:
            # Near-verbatim examples win even when the message is long: "how do I know if my
            # back pain is from stress" must go to the entry that has exactly that question.
            nearest = process.extractOne(message.text, self.texts, scorer=fuzz.ratio)
            closeness = nearest[1] / 100
            evidence = max(evidence, closeness)
        share = 1.0
        if self.entry.kind == "smalltalk":
            # "since I started taking care of my mother..." is not a goodbye: small talk wins
            # only in proportion to how much of the message is small talk.
            share = message.smalltalk_share
        elif message.chat and message.smalltalk_share >= 1.0:
            # "bye! gonna go try that breathing now" asks nothing: it closes the chat
            share = CHAT_TOPIC_SHARE
        if not message.content:  # "see you", "who are you": only the wording can decide
            return share * 100 * evidence, closeness
        bonus = 0.0
        if self.entry.kind == "out_of_scope" and synonym_hits:
            # "yoga while pregnant", "pills for insomnia": when the message names a topic the
            # article does not cover, honestly saying so beats answering the part it does.
            bonus = OUT_OF_SCOPE_BONUS * min(1.0, synonym_hits)
        total = bonus + 100 * (WEIGHT_COVERAGE * coverage + WEIGHT_EXAMPLE * example + WEIGHT_EVIDENCE * evidence)
        return share * total, closeness


@dataclass(frozen=True)
class _Message:
    tokens: tuple[str, ...]
    content: tuple[str, ...]
    word_set: frozenset[str]
    text: str  # the words of its question part, for closeness to short examples
    weight: float  # IDF weight of its content words, unknown words included
    weights: dict[str, float]  # each content word's weight: narrative around the question counts less
    weighed: dict[str, float]  # each known content word's IDF times its weight, summed per example
    smalltalk_share: float  # how far small talk may win: 1 when the message is small talk
    chat: bool = False  # the message asks nothing and has words only small talk uses ("bye", "thanks")


class Matcher:
    """Scores every knowledge entry against a message and decides answer / suggest / fallback."""

    def __init__(self, entries: Iterable[Entry], lexicon: Lexicon, model: TopicModel | None = None) -> None:
        self.lexicon = lexicon
        self.model = model
        self._own: dict[int, float] = {}  # the message being matched: each entry's own score
        self.stop_words = lexicon.language.stop_words
        self.entries: list[_IndexedEntry] = []
        for entry in entries:
            examples = []
            for text in (*entry.questions, entry.title, *entry.synonyms):
                tokens = lexicon.tokens(text)
                examples.append((self._content(tokens), tokens))
            synonyms = [tuple(stem(w) for w in lexicon.tokens(s)) for s in entry.synonyms]
            self.entries.append(_IndexedEntry(entry, examples, [s for s in synonyms if s]))
        document_frequency: dict[str, int] = defaultdict(int)
        for indexed in self.entries:
            for word in indexed.bag:
                document_frequency[word] += 1
        total = max(1, len(self.entries))
        self.idf = {word: math.log(1 + total / df) for word, df in document_frequency.items()}
        self.unknown_idf = math.log(1 + total)  # a word no entry uses is as telling as the rarest
        self.postings: dict[str, list[int]] = defaultdict(list)
        self.all_texts: list[str] = []
        self.text_owners: list[int] = []
        for number, indexed in enumerate(self.entries):
            indexed.finish(self.idf)
            self.all_texts.extend(indexed.texts)
            self.text_owners.extend([number] * len(indexed.texts))
            for word in indexed.bag:
                self.postings[word].append(number)
        # A synonym is evidence in proportion to how distinctive its words are: "cellgel" is
        # decisive, while a phrase that normalises to "stress" says little (most entries use it).
        self.synonym_index: dict[str, list[tuple[int, tuple[str, ...], float]]] = defaultdict(list)
        for number, indexed in enumerate(self.entries):
            for phrase in indexed.synonyms:
                weight = sum(self.idf.get(w, STOP_WORD_SHARE * self.unknown_idf) for w in phrase)
                strength = min(1.0, weight / self.unknown_idf)
                self.synonym_index[phrase[0]].append((number, phrase, strength))
        # Long names only the knowledge base uses ("cellgel", "puschmann"), by sound: patients
        # spell the method's name as they hear it ("selgel", "sell gel", "cell jell").
        self.sounds: dict[str, str] = {}
        for indexed in self.entries:
            if indexed.entry.answers_from_article:
                for phrase in indexed.synonyms:
                    word = phrase[0] if len(phrase) == 1 else ""
                    if len(word) >= SOUND_ALIKE_MIN_LETTERS and word.isalpha() and word in self.idf:
                        key = sound_key(word)
                        if len(key) >= SOUND_KEY_MIN:
                            self.sounds.setdefault(key, word)
        lengths = [len(word) for word in self.sounds.values()] or [0]
        self.sound_lengths = (max(SOUND_KEY_MIN, min(lengths) - 2), max(lengths) + 2)
        self.sound_firsts = frozenset(
            letter
            for word in self.sounds.values()
            for group in SOUND_FIRST_LETTERS
            if word[0] in group
            for letter in group
        ) | {word[0] for word in self.sounds.values()}
        # Per word the sound-alike decision, once: a long story has dozens of words, and patients
        # reuse theirs. (Not per word pair: pairs hardly repeat, and their cache only filled memory.)
        self._word_sounds_like = lru_cache(maxsize=SOUND_CACHE_SIZE)(self._word_sound)
        self.other_than = [number for number, indexed in enumerate(self.entries) if indexed.entry.other_than]
        self.numbers = {indexed.entry.id: number for number, indexed in enumerate(self.entries)}
        self.out_of_scope = frozenset(e.entry.id for e in self.entries if e.entry.kind == "out_of_scope")
        # The words small talk uses ("hi", "thanks", "bye", "bot"): the share of a message they
        # make up says whether it is small talk or a question with a greeting in front. A word
        # topics use too ("care" in "take care" and "self-care") counts half.
        topical = {word for indexed in self.entries if indexed.entry.kind != "smalltalk" for word in indexed.bag}
        self.smalltalk_words = {
            word: SHARED_SMALLTALK if word in topical else 1.0
            for indexed in self.entries
            if indexed.entry.kind == "smalltalk"
            for word in indexed.bag
        }

    @property
    def thresholds(self) -> Thresholds:
        return OWN_SCORES if self.model is None else BLENDED_SCORES

    @staticmethod
    def vocabulary(entries: Iterable[Entry]) -> list[str]:
        """Every word the entries use, for the lexicon's typo correction."""
        from bot.understanding.text import words

        return [
            word
            for entry in entries
            for text in (*entry.questions, *entry.synonyms, entry.title)
            for word in words(text)
        ]

    def _content(self, tokens: Sequence[str]) -> list[str]:
        """Stems of the meaningful words: "headaches" and "headache" are one word here."""
        return [stem(word) for word in tokens if word not in self.stop_words]

    def topic_features(self, parts: Sequence[tuple[Sequence[str], float]]) -> set[str]:
        """What the topic model reads of a message: the same words the matcher scores (the
        method's name spelt as heard already replaced). Its trainer calls this too."""
        return topics.features([self._sound_alikes(part) for part in parts], self.stop_words, self.idf)

    def match_parts(self, parts: Sequence[tuple[Sequence[str], float]]) -> MatchResult:
        """Match a message given as weighted parts (sentences): in a long story the question
        sentence counts in full and the narrative around it less (see `bot.understanding.focus`)."""
        parts = [self._sound_alikes(part) for part in parts]
        tokens = [word for words, _ in parts for word in words]
        weights: dict[str, float] = {}
        focused: list[str] = []
        for words, share in parts:
            for word in self._content(words):
                weights[word] = max(weights.get(word, 0.0), share)
            if share >= 1.0:
                focused.extend(words)
        asked = {stem(word) for part in parts for word in getattr(part, "question", ())}
        if asked:
            # "Good morning! How does Cellgel work?": a greeting or thanks around a question
            # is not part of what it asks, so it does not dilute the question's words
            for part in parts:
                around = self._content(
                    part[0][: getattr(part, "lead", 0)] if getattr(part, "asked", False) else part[0]
                )
                if around and sum(word in self.smalltalk_words for word in around) * 2 >= len(around):
                    for word in around:
                        if word not in asked:
                            weights[word] = min(weights[word], AROUND_QUESTION_SHARE)
        content = tuple(self._content(tokens))
        unique = list(dict.fromkeys(content))
        known = [word for word in unique if word in self.idf]
        synonym_hits, named = self._synonym_hits(parts)
        aside = self._step_aside(synonym_hits, named)
        if not known and not synonym_hits and len(tokens) > CLOSENESS_MAX_WORDS:
            return MatchResult("fallback", ())
        # Words no entry knows ("headaches", "mattress") lower every entry's coverage: the
        # message is about something else. In long stories most words are unknown, so their
        # weight fades with length and the buried question still decides.
        unknown = [word for word in unique if word not in self.idf]
        fade = min(1.0, STORY_WORDS / max(1.0, sum(weights.values())))
        unknown_weight = sum(weights[word] for word in unknown) * self.unknown_idf * fade
        weighed = {word: self.idf[word] * weights[word] for word in known}
        known_weight = sum(weighed.values())
        total_weight = known_weight + unknown_weight or 1.0
        smalltalk_share = self._smalltalk_share(parts, known, weights)
        text = " ".join(focused or tokens)
        message = _Message(
            tuple(tokens),
            content,
            frozenset(content),
            text,
            total_weight,
            weights,
            weighed,
            smalltalk_share,
            not any(getattr(part, "asked", True) for part in parts)
            and any(self.smalltalk_words.get(word) == 1.0 for word in known),
        )
        coverage: dict[int, float] = defaultdict(float)
        for word in known:
            weight = self.idf[word] * weights[word] / total_weight
            for number in self.postings[word]:
                coverage[number] += weight
        for number in synonym_hits:
            coverage.setdefault(number, 0.0)
        for number in aside:
            coverage.pop(number, None)
        if not coverage:  # only stop words ("who are you", "ok"): the entries with the closest wording
            nearest = process.extract(text, self.all_texts, scorer=fuzz.ratio, limit=self.thresholds.shortlist)
            coverage = dict.fromkeys((self.text_owners[index] for _, _, index in nearest), 0.0)
        shortlist = heapq.nlargest(
            self.thresholds.shortlist, coverage, key=lambda n: coverage[n] + SYNONYM_HIT * synonym_hits.get(n, 0)
        )
        scored: list[tuple[float, float, int]] = []
        for number in shortlist:
            hits = synonym_hits.get(number, 0)
            score, closeness = self.entries[number].score(message, coverage[number], hits, self.idf)
            scored.append((round(score, 1), closeness, number))
        not_covered = 0.0
        own = scored
        self._own = {number: score for score, _, number in scored}
        if self.model is not None:
            scored, not_covered = self._blend(scored, parts, message, coverage, synonym_hits, aside)
        scored.sort(key=lambda item: -item[0])
        decided = self._decide(scored)
        if self.model is not None and not_covered >= self.model.out_above and not self._sure(decided, own):
            return self._not_covered(scored, named, aside)
        if decided.outcome == "answer" and decided.best is not None:
            return self._partial(decided, scored, named, synonym_hits) or decided
        return decided

    def _blend(
        self,
        scored: list[tuple[float, float, int]],
        parts: Sequence[tuple[Sequence[str], float]],
        message: _Message,
        coverage: dict[int, float],
        synonym_hits: dict[int, float],
        aside: set[int],
    ) -> tuple[list[tuple[float, float, int]], float]:
        """Each entry's score blended with the topic model's chance for it, entries the model
        favours but the first pass missed scored too; and the model's chance that the article
        does not answer the message. An entry the model has no class for (added after it was
        trained) keeps its own score."""
        assert self.model is not None
        chances = self.model.probabilities(topics.features(parts, self.stop_words, self.idf))
        # The model speaks only for the words it has seen: in "what is the capital of France"
        # it reads "what" alone. The share of the question's words the knowledge base knows
        # scales its chances, and the rest counts as not covered.
        asked = [
            stem(word) for words, weight in parts if weight >= 1.0 for word in words if word not in self.stop_words
        ]
        known = (sum(word in self.idf for word in asked) / len(asked)) ** KNOWN_POWER if asked else 1.0
        listed = {number for _, _, number in scored}
        for entry_id, chance in chances.items():
            number = self.numbers.get(entry_id)
            if chance >= MODEL_EXTRA_CHANCE and number is not None and number not in listed and number not in aside:
                score, closeness = self.entries[number].score(
                    message, coverage.get(number, 0.0), synonym_hits.get(number, 0), self.idf
                )
                scored.append((round(score, 1), closeness, number))
        share = self.model.share
        blended = []
        for score, closeness, number in scored:
            entry = self.entries[number].entry
            chance = chances.get(entry.id)
            if chance is not None and entry.kind == "smalltalk":
                # as for its own score: small talk wins only as far as the message is small talk
                chance *= message.smalltalk_share
            mixed = score if chance is None else (1 - share) * score + share * 100 * chance * known
            blended.append((round(mixed, 1), closeness, number))
        return blended, 1 - known * (1 - TopicModel.not_covered(chances, self.out_of_scope))

    def _sure(self, decided: MatchResult, own: Sequence[tuple[float, float, int]]) -> bool:
        """Whether the matcher's own scores clearly answer with the entry it decided on."""
        if decided.outcome != "answer" or decided.best is None:
            return False
        number = self.numbers[decided.best.entry_id]
        return any(item[2] == number and item[0] >= SURE_SCORE for item in own)

    def _not_covered(
        self, scored: Sequence[tuple[float, float, int]], named: dict[int, str], aside: set[int]
    ) -> MatchResult:
        """The article does not answer the message. Its own out-of-scope entry when one fits
        (prices, other conditions: their replies say where to ask); else a partial answer that
        offers the related article entry; else the honest fallback."""
        fitting = next(
            (item for item in scored if self.entries[item[2]].entry.kind == "out_of_scope" and item[2] not in aside),
            None,
        )
        if fitting is not None and fitting[0] >= self.thresholds.suggest:
            answer = MatchResult("answer", self._candidates([fitting]))
            return self._partial(answer, scored, named, {}) or answer
        related = next((item for item in scored if self.entries[item[2]].entry.answers_from_article), None)
        if related is not None and related[0] >= self.thresholds.suggest:
            missing = next((named[number] for number in named), None)
            return MatchResult("partial", self._candidates([related]), (), missing)
        return MatchResult("fallback", self._candidates(scored[:3]))

    def _sound_alikes(self, part: tuple[Sequence[str], float]) -> tuple[Sequence[str], float]:
        """A part with words (or two words run together) the bot does not know replaced by the
        long name they sound like: "what is selgel" -> "what is cellgel"."""
        words = part[0]
        low, high = self.sound_lengths
        firsts = self.sound_firsts
        out: list[str] | None = None
        lead = getattr(part, "lead", 0)
        index = 0
        count = len(words)
        while index < count:
            word = words[index]
            name = None
            if word[:1] in firsts:
                if index + 1 < count and low <= len(word) + len(words[index + 1]) <= high:
                    name = self._sounds_like(word + words[index + 1], word, words[index + 1])
                    if name is not None:
                        out = out if out is not None else list(words[:index])
                        out.append(name)
                        lead -= index < lead
                        index += 2
                        continue
                if low <= len(word) <= high:
                    name = self._word_sounds_like(word)
            if out is None and name is not None:
                out = list(words[:index])
            if out is not None:
                out.append(name or word)
            index += 1
        if out is None:
            return part
        return focus.Part(out, part[1], getattr(part, "asked", False), max(0, lead))

    def _word_sound(self, word: str) -> str | None:
        return self._sounds_like(word, word)

    def _sounds_like(self, sound: str, *words: str) -> str | None:
        """The long name `sound` sounds like, when one of `words` is not a word the entries use."""
        name = self.sounds.get(sound_key(sound))  # first: most sounds are no name, and this is cheap
        if name is None or not sound.isalpha() or all(stem(word) in self.idf for word in words):
            return None
        return name

    def _smalltalk_share(
        self, parts: Sequence[tuple[Sequence[str], float]], known: Sequence[str], weights: dict[str, float]
    ) -> float:
        """How much of the message is small talk, over the words the bot knows. A question
        decides: in "Hello! What is Cellgel?" or "thanks, and what about sleep?" the question
        proper has no small talk at all. A message without a question is small talk when
        enough of it is ("bye! gonna try that breathing now"); in a story the part that counts
        in full decides ("...I just wanted to say hello")."""
        asked = [stem(word) for part in parts for word in getattr(part, "question", ())]
        if asked:
            considered = [word for word in dict.fromkeys(asked) if word in self.idf]
            scale = SMALLTALK_SHARE
        else:
            considered = [word for word in known if weights[word] >= 1.0] or list(known)
            scale = SMALLTALK_STATEMENT_SHARE
        whole = sum(self.idf[word] for word in considered)
        if not whole:
            return 1.0
        small = sum(self.idf[word] * self.smalltalk_words.get(word, 0.0) for word in considered)
        return min(1.0, small / whole / scale)

    def _partial(
        self,
        decided: MatchResult,
        scored: Sequence[tuple[float, float, int]],
        named: dict[int, str],
        synonym_hits: dict[int, float],
    ) -> MatchResult | None:
        """A near miss ("does stress cause eczema?"): the question itself names a topic the
        article does not cover, yet an article entry scored best. Answering it would pass the
        article off as an answer; the honest reply says what is not covered, in the patient's
        own word, and offers the related entry."""
        chosen = next(item for item in scored if self.entries[item[2]].entry.id == decided.best.entry_id)
        best = self.entries[chosen[2]].entry
        if best.near_miss and chosen[2] in named:
            # "does stress cause eczema?": not covered, but stress is; offer what the article says
            related = next((item for item in scored if self.entries[item[2]].entry.answers_from_article), None)
            if related is None or related[0] < self.thresholds.related:
                return None
            return MatchResult("partial", self._candidates([related]), (), named[chosen[2]])
        if not best.answers_from_article:
            return None
        subject = self.entries[chosen[2]].subject
        own = (
            max(hits for number, hits in synonym_hits.items() if self.entries[number].subject == subject)
            if any(self.entries[number].subject == subject for number in synonym_hits)
            else 0.0
        )
        for _, _, number in scored:
            if self.entries[number].entry.kind == "out_of_scope" and number in named:
                if own >= synonym_hits.get(number, 0.0) + DECISIVE_LEAD:
                    return None  # "is cellgel surgery?": the entry's own name decides
                return MatchResult("partial", decided.candidates[:1], decided.neighbours, named[number])
        return None

    def _decide(self, scored: Sequence[tuple[float, float, int]]) -> MatchResult:
        """Answer when one subject clearly wins; "did you mean" only between different subjects.

        Neighbours on one subject ("Can stress cause back pain?" / "How stress causes pain") do
        not compete: the best is answered and the other offered as a follow-up button."""
        limits = self.thresholds
        if not scored or scored[0][0] < limits.suggest:
            return MatchResult("fallback", self._candidates(scored[:3]))
        best_score, _, best = scored[0]
        subject = self.entries[best].subject
        # A short message that is almost one entry's own wording (its title, an example) is
        # that entry, whatever the scores of its neighbours.
        closest = max(scored, key=lambda item: item[1])
        if closest[1] >= NEAR_VERBATIM and all(
            item[1] < closest[1] - VERBATIM_LEAD for item in scored if item[2] != closest[2]
        ):
            return self._answer(closest, scored)
        rival = next((item[0] for item in scored if self.entries[item[2]].subject != subject), 0.0)
        if best_score >= limits.answer and best_score - rival >= limits.margin:
            return self._answer(scored[0], scored)
        if best_score - rival >= limits.clear_lead:
            # a modest score far ahead of every other subject: asking would only repeat it
            return self._answer(scored[0], scored)
        seen: set[str] = set()
        distinct = []
        for item in scored:
            if self.entries[item[2]].subject not in seen:
                seen.add(self.entries[item[2]].subject)
                distinct.append(item)
        return MatchResult("did_you_mean", self._candidates(distinct[:3]))

    def _answer(self, chosen: tuple[float, float, int], scored: Sequence[tuple[float, float, int]]) -> MatchResult:
        subject = self.entries[chosen[2]].subject
        # Neighbours are judged on the matcher's own scores: how close two entries' wording is
        # to the message, not how sure the topic model is of the best one.
        own = self._own or {number: score for score, _, number in scored}
        best = own.get(chosen[2], chosen[0])
        neighbours = tuple(
            self.entries[number].entry.id
            for _, _, number in scored
            if number != chosen[2]
            and self.entries[number].subject == subject
            and own.get(number, 0.0) >= NEIGHBOUR_SHARE * best
        )
        ordered = [chosen, *(item for item in scored if item[2] != chosen[2])]
        return MatchResult("answer", self._candidates(ordered[:3]), neighbours[:2])

    def _candidates(self, scored: Iterable[tuple[float, float, int]]) -> tuple[Candidate, ...]:
        return tuple(Candidate(self.entries[number].entry.id, score) for score, _, number in scored)

    def _step_aside(self, synonym_hits: dict[int, float], named: dict[int, str]) -> set[int]:
        """ "Is Cellgel surgery?" asks about Cellgel: an out-of-scope entry about what the
        article is *not* about ("other treatments" than Cellgel) loses its words when the
        message names one of those subjects."""
        subjects = {
            self.entries[number].subject for number in synonym_hits if self.entries[number].entry.answers_from_article
        }
        aside = {number for number in self.other_than if subjects.intersection(self.entries[number].entry.other_than)}
        for number in aside:
            synonym_hits.pop(number, None)
            named.pop(number, None)
        return aside

    def _synonym_hits(self, parts: Sequence[tuple[Sequence[str], float]]) -> tuple[dict[int, float], dict[int, str]]:
        """Summed strength of the synonyms of each entry found in the (stemmed) message, each
        found in a narrative sentence counting at that sentence's share; and, for out-of-scope
        entries, the patient's own words for the first synonym found in a question sentence."""
        hits: dict[int, float] = defaultdict(float)
        named: dict[int, str] = {}
        for words, share in parts:
            stems = [stem(word) for word in words]
            covered: set[int] = set()  # words inside a synonym of an entry the article answers
            found: list[tuple[int, int, int]] = []
            for start, word in enumerate(stems):
                for number, phrase, strength in self.synonym_index.get(word, ()):
                    if tuple(stems[start : start + len(phrase)]) == phrase:
                        hits[number] += strength * share
                        if self.entries[number].entry.kind == "out_of_scope":
                            found.append((number, start, start + len(phrase)))
                        elif len(phrase) > 1:
                            covered.update(range(start, start + len(phrase)))
            for number, start, end in found:
                # "eastern medicine" is a topic of the clinic's articles, not a medicine question
                if share >= 1.0 and not covered.issuperset(range(start, end)):
                    named.setdefault(number, " ".join(words[start:end]))
        return hits, named
