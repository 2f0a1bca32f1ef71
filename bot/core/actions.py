"""Typed button actions, encoded in a few bytes: a button's "callback data".

Every action a button can carry is one of these; anything else (a forged or very old button)
decodes to None and the core answers it politely instead of guessing. Telegram allows 64 bytes
of callback data, so every `encode()` refuses to pack more (as aiogram's `CallbackData.pack()`
does): a too-long id fails where the button is made, not as a rejected message later.

Naming: "callback data" is only ever this, the payload of a button. The patient's request to be
called back is a "request" (`RequestChoice`, the `request` action). Buttons already sent before
that rename carried `callback` and `c:...`; they still decode, to the same actions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CALLBACK_BYTES = 64
SELFCHECK_CHOICES = {"y": "yes", "n": "no", "u": "unsure", "b": "back", "x": "stop", "c": "continue"}
SIMPLE_ACTIONS = ("menu", "ask", "urgent", "book", "selfcheck", "none", "request", "forget", "keep")
LEGACY_SIMPLE_ACTIONS = {"callback": "request"}  # on buttons sent before the rename
REQUEST_STEP_CODES = {"t": "time", "n": "note", "s": "summary", "k": "consent", "a": "any"}
REQUEST_CHOICES = {
    "m": "morning",
    "f": "afternoon",
    "e": "evening",
    "a": "any",
    "s": "skip",
    "c": "confirm",
    "r": "restart",
    "y": "agree",
    "x": "cancel",
}
_ANSWER = re.compile(r"a:([a-z][a-z0-9_]{0,23})")
_SELFCHECK = re.compile(r"s:([0-9a-z]{1,8}):(\d{1,2}):([ynubxc])")
_REQUEST = re.compile(r"[rc]:([tnska]):([mfeascryx])")  # "c:" on buttons sent before the rename
_STAFF = re.compile(r"st:([cu]):(\d{1,12})")
_SAFETY = re.compile(r"q:(\d{1,8}):([a-z][a-z0-9_]{0,23}):([yn])")


class CallbackDataTooLong(ValueError):
    """An action would pack into more callback data than Telegram accepts."""


def _packed(data: str) -> str:
    size = len(data.encode("utf-8"))
    if size > MAX_CALLBACK_BYTES:
        raise CallbackDataTooLong(
            f"callback data {data[:24]!r}... is {size} bytes; Telegram accepts at most {MAX_CALLBACK_BYTES}"
        )
    return data


@dataclass(frozen=True)
class Simple:
    """menu, ask, urgent, book, selfcheck (start it), none ("none of these"), request (start a
    call-back request), forget and keep (the /forget confirmation)."""

    name: str

    def encode(self) -> str:
        return _packed(self.name)


@dataclass(frozen=True)
class ShowAnswer:
    entry_id: str

    def encode(self) -> str:
        return _packed(f"a:{self.entry_id}")


@dataclass(frozen=True)
class SelfCheckAnswer:
    """A press in the self-check: which run and step it belongs to, so late presses are seen."""

    run: str
    step: int
    choice: str  # one of SELFCHECK_CHOICES' values

    def encode(self) -> str:
        code = next(key for key, value in SELFCHECK_CHOICES.items() if value == self.choice)
        return _packed(f"s:{self.run}:{self.step}:{code}")


@dataclass(frozen=True)
class RequestChoice:
    """A press in the call-back request; `step` is the step it was shown at ("any": any step)."""

    step: str
    choice: str

    def encode(self) -> str:
        step = next(k for k, v in REQUEST_STEP_CODES.items() if v == self.step)
        choice = next(k for k, v in REQUEST_CHOICES.items() if v == self.choice)
        return _packed(f"r:{step}:{choice}")


@dataclass(frozen=True)
class StaffAction:
    """A staff member marks a call-back request: contacted, or could not reach (unreachable)."""

    request_id: int
    outcome: str  # contacted | unreachable

    def encode(self) -> str:
        return _packed(f"st:{'c' if self.outcome == 'contacted' else 'u'}:{self.request_id}")


@dataclass(frozen=True)
class SafetyAnswer:
    """A press on a safety question: which question (run and id) and the answer, so a late
    "Yes" still gives the urgent reply and a late "No" is recognised as late."""

    run: str
    question: str
    answer: str  # "yes" | "no"

    def encode(self) -> str:
        return _packed(f"q:{self.run}:{self.question}:{self.answer[0]}")


Action = Simple | ShowAnswer | SelfCheckAnswer | RequestChoice | StaffAction | SafetyAnswer


def decode(data: str) -> Action | None:
    """The action behind callback data, or None when it is not one this bot makes."""
    if data in SIMPLE_ACTIONS:
        return Simple(data)
    if data in LEGACY_SIMPLE_ACTIONS:
        return Simple(LEGACY_SIMPLE_ACTIONS[data])
    if match := _ANSWER.fullmatch(data):
        return ShowAnswer(match.group(1))
    if match := _SELFCHECK.fullmatch(data):
        return SelfCheckAnswer(match.group(1), int(match.group(2)), SELFCHECK_CHOICES[match.group(3)])
    if match := _REQUEST.fullmatch(data):
        return RequestChoice(REQUEST_STEP_CODES[match.group(1)], REQUEST_CHOICES[match.group(2)])
    if match := _SAFETY.fullmatch(data):
        return SafetyAnswer(match.group(1), match.group(2), "yes" if match.group(3) == "y" else "no")
    if match := _STAFF.fullmatch(data):
        return StaffAction(int(match.group(2)), "contacted" if match.group(1) == "c" else "unreachable")
    return None
