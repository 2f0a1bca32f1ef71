"""Typed button actions, encoded in a few bytes (Telegram allows 64 bytes of callback data).

Every action a button can carry is one of these; anything else (a forged or very old button)
decodes to None and the core answers it politely instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CALLBACK_BYTES = 64
SELFCHECK_CHOICES = {"y": "yes", "n": "no", "u": "unsure", "b": "back", "x": "stop", "c": "continue"}
SIMPLE_ACTIONS = ("menu", "ask", "urgent", "book", "selfcheck", "none")
_ANSWER = re.compile(r"a:([a-z][a-z0-9_]{0,23})")
_SELFCHECK = re.compile(r"s:([0-9a-z]{1,8}):(\d{1,2}):([ynubxc])")


@dataclass(frozen=True)
class Simple:
    """menu, ask, urgent, book, selfcheck (start it), none ("none of these")."""

    name: str

    def encode(self) -> str:
        return self.name


@dataclass(frozen=True)
class ShowAnswer:
    entry_id: str

    def encode(self) -> str:
        return f"a:{self.entry_id}"


@dataclass(frozen=True)
class SelfCheckAnswer:
    """A press in the self-check: which run and step it belongs to, so late presses are seen."""

    run: str
    step: int
    choice: str  # one of SELFCHECK_CHOICES' values

    def encode(self) -> str:
        code = next(key for key, value in SELFCHECK_CHOICES.items() if value == self.choice)
        return f"s:{self.run}:{self.step}:{code}"


Action = Simple | ShowAnswer | SelfCheckAnswer


def decode(data: str) -> Action | None:
    """The action behind callback data, or None when it is not one this bot makes."""
    if data in SIMPLE_ACTIONS:
        return Simple(data)
    if match := _ANSWER.fullmatch(data):
        return ShowAnswer(match.group(1))
    if match := _SELFCHECK.fullmatch(data):
        return SelfCheckAnswer(match.group(1), int(match.group(2)), SELFCHECK_CHOICES[match.group(3)])
    return None
