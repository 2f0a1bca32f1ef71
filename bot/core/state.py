"""A patient's conversation state: small, immutable, and serialisable to a line of JSON.

It is stored before a reply is sent, so a restart resumes exactly where the patient was.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

# 2: the call-back request is stored under "request" (version 1 called it "callback").
STATE_VERSION = 2
REQUEST_STEPS = ("name", "phone", "time", "note", "summary", "consent")


@dataclass(frozen=True)
class SelfCheckProgress:
    """Where a patient is in the self-check. `run` tells one check from the next, so a button
    left over from an earlier check can never change this one."""

    run: str
    step: int  # 0 is the safety question; 1..N are the signs
    answers: tuple[str, ...] = ()  # "yes", "no" or "unsure" for each sign answered so far
    screening_unsure: bool = False  # they said "not sure" to the safety question


@dataclass(frozen=True)
class RequestDraft:
    """A call-back request being filled in. Personal data: the store keeps states encrypted."""

    step: str  # name, phone, time, note, summary, consent
    name: str = ""
    phone: str = ""
    time: str = ""  # morning, afternoon, evening, any
    note: str = ""


@dataclass(frozen=True)
class SafetyQuestionPending:
    """A safety question asked before answering `text`: "No" answers it, "Yes" gives the alarm.
    `run` tells this question from earlier ones, so a late "No" cannot answer the wrong message.
    Personal data (the patient's words): the store keeps states encrypted."""

    run: str
    question: str  # the id of the question in safety.yaml
    rule: str  # the triage concept that asked, for the event log
    text: str
    about_other: bool = False


@dataclass(frozen=True)
class ConversationState:
    selfcheck: SelfCheckProgress | None = None
    checks_started: int = 0  # also gives each check its run id
    request: RequestDraft | None = None  # a call-back request being filled in
    forgetting: bool = False  # /forget asked; waiting for the confirm button
    safety: SafetyQuestionPending | None = None
    questions_asked: int = 0  # gives each safety question its run id

    def with_selfcheck(self, progress: SelfCheckProgress | None) -> ConversationState:
        return replace(self, selfcheck=progress)

    def with_request(self, draft: RequestDraft | None) -> ConversationState:
        return replace(self, request=draft)

    @property
    def callback(self) -> RequestDraft | None:
        """The former name of `request`, still read outside the core."""
        return self.request

    def to_json(self) -> str:
        data: dict[str, Any] = {"v": STATE_VERSION, **asdict(self)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> ConversationState:
        """Read a stored state of this or an earlier version; anything unreadable becomes a
        fresh state rather than a crash."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            version = int(data.get("v", 1))
            progress = data.get("selfcheck")
            selfcheck = None
            if progress is not None:
                selfcheck = SelfCheckProgress(
                    run=str(progress["run"]),
                    step=int(progress["step"]),
                    answers=tuple(str(answer) for answer in progress.get("answers", ())),
                    screening_unsure=bool(progress.get("screening_unsure", False)),
                )
            draft = data.get("request" if version >= 2 else "callback")
            request = None
            if draft is not None:
                request = RequestDraft(**{key: str(draft.get(key, "")) for key in RequestDraft.__dataclass_fields__})
                if request.step not in REQUEST_STEPS:
                    request = None
            pending = data.get("safety")
            safety = None
            if pending is not None:
                safety = SafetyQuestionPending(
                    run=str(pending["run"]),
                    question=str(pending["question"]),
                    rule=str(pending.get("rule", "")),
                    text=str(pending.get("text", "")),
                    about_other=bool(pending.get("about_other", False)),
                )
            return cls(
                selfcheck=selfcheck,
                checks_started=int(data.get("checks_started", 0)),
                request=request,
                forgetting=bool(data.get("forgetting", False)),
                safety=safety,
                questions_asked=int(data.get("questions_asked", 0)),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()
