"""A learned reading of which entry a message asks for, next to the matcher's own scores.

Why: the matcher's scores (coverage, examples, synonyms, closeness) were written and tuned by
hand on a few hundred messages; on messages nobody tuned for it got about nine in ten right and
took many near misses ("does stress cause eczema?") for article questions. A linear model
trained on a few thousand labelled patient messages (`benchmarks/train_topic_model.py`) learns
what the ways of asking for each entry have in common, and, from messages the article does not
answer, what asking for something else looks like. The matcher blends the two
(`bot.understanding.matcher`); the model alone never picks an entry the matcher did not score.

The model is content (`knowledge/matching_model.tsv`), in the content's language.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from itertools import pairwise

from bot.content.topic_model import OUT_OF_SCOPE_CLASS, TopicModelSpec
from bot.content.weights_file import column_sums
from bot.understanding.text import stem

PREFIX_LENGTH = 5  # long words also count by their start: "breathing", "breaths" share "breat~"
SHORT_CONTENT = 3  # a question with at most this many content words is read by all its words too
UNKNOWN_MAX = 3  # "?unknown1".."?unknown3": how many of its words the knowledge base never uses


def features(
    parts: Iterable[tuple[Sequence[str], float]], stop_words: Collection[str], known: Collection[str] = ()
) -> set[str]:
    """The features of the question part of a message (`bot.understanding.focus` weighs it):
    stems of its content words, long stems' prefixes, pairs of neighbouring stems, and the word
    each question sentence opens with ("^how", "^what"). A short question ("what are you") is
    read by all its words and word pairs too, the small ones included.

    Training and scoring must use this one function, on the same parts, or the model reads
    different features than it learnt."""
    found: set[str] = set()
    plain: list[str] = []
    unknown = content = 0
    for words, share in parts:
        if share < 1.0 or not words:
            continue  # the story around the question
        found.add("^" + words[0])
        stems = [stem(word) for word in words if word not in stop_words]
        content += len(stems)
        plain.extend(words)
        for position, word in enumerate(stems):
            found.add(word)
            unknown += bool(known) and word not in known
            if len(word) > PREFIX_LENGTH:
                found.add(word[:PREFIX_LENGTH] + "~")
            if position + 1 < len(stems):
                found.add(f"{word} {stems[position + 1]}")
    if content <= SHORT_CONTENT:
        # In a short message the small words decide: "what are you" is not "what can you do"
        found.update("_" + word for word in plain)
        found.update(f"_{word} {after}" for word, after in pairwise(plain))
    found.update(f"?unknown{count}" for count in range(1, min(unknown, UNKNOWN_MAX) + 1))
    return found


class TopicModel:
    """Scores a message's features against `knowledge/matching_model.tsv`."""

    def __init__(self, spec: TopicModelSpec) -> None:
        self.spec = spec
        self.classes = spec.classes
        self.share = spec.share
        self.out_above = spec.out_above
        self._rows = spec.rows

    def probabilities(self, found: Iterable[str]) -> dict[str, float]:
        """Each class's chance (softmax over the summed weights): entry ids and `out_of_scope`."""
        scores = list(self.spec.bias)
        sums = column_sums(self._rows, found)
        if sums:
            scores = [bias + total for bias, total in zip(scores, sums, strict=True)]
        top = max(scores)
        exps = [math.exp(score - top) for score in scores]
        total = sum(exps)
        return {name: value / total for name, value in zip(self.classes, exps, strict=True)}

    @staticmethod
    def not_covered(probabilities: dict[str, float], out_of_scope_entries: Collection[str]) -> float:
        """The chance that the article does not answer the message: no entry, or an entry that
        says the article does not cover it (prices, other conditions...)."""
        return probabilities.get(OUT_OF_SCOPE_CLASS, 0.0) + sum(
            probabilities.get(entry, 0.0) for entry in out_of_scope_entries
        )
