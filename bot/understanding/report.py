"""Groups the questions the bot could not answer, so staff see what to add to the knowledge base.

Similar wordings ("price of cellgel?", "how much is cellgel") land in one group, most frequent
first; rapidfuzz's token-set similarity on normalised words decides what is similar.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from bot.understanding.text import normalise

SIMILAR = 75.0


def group_questions(questions: list[str]) -> list[list[str]]:
    """Groups of similar questions, largest first; each group starts with its commonest wording."""
    groups: list[tuple[str, list[str]]] = []  # (normalised representative, members)
    for question in questions:
        key = normalise(question)
        if not key:
            continue
        for representative, members in groups:
            if fuzz.token_set_ratio(key, representative) >= SIMILAR:
                members.append(question)
                break
        else:
            groups.append((key, [question]))
    ordered = []
    for _, members in groups:
        counts: dict[str, int] = {}
        for member in members:
            counts[member] = counts.get(member, 0) + 1
        ordered.append(sorted(members, key=lambda m: -counts[m]))
    return sorted(ordered, key=len, reverse=True)
