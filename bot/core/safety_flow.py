"""What the patient reads when triage fires: an alarm, or first one short safety question.

Recall first (NHS 111 style): when triage is not sure, it asks one question with Yes / No
buttons instead of guessing. "Yes" gives the urgent reply of the question's level; "No" goes on
to answer the message the patient sent, which the state keeps. A late "Yes" (to an older
question) still gives the urgent reply: nobody who says yes to a warning sign is ignored. A late
or repeated "No" changes nothing. Every word comes from `knowledge/safety.yaml`.
"""

from __future__ import annotations

from dataclasses import replace

from bot.content.loader import Knowledge
from bot.core.actions import SafetyAnswer
from bot.core.replies import Button, Event, EventKind, Keyboard, Reply
from bot.core.results import FlowResult
from bot.core.state import ConversationState, SafetyQuestionPending
from bot.understanding.triage import TriageResult


class SafetyFlow:
    def __init__(self, knowledge: Knowledge) -> None:
        self.levels = knowledge.safety
        self.spec = knowledge.triage

    def alarm(self, state: ConversationState, result: TriageResult) -> FlowResult:
        """The urgent reply for a finding triage is sure of. No buttons: no menu, no offer. When
        the message also reads as a crisis (`then_ask`), the crisis question follows the reply:
        "Yes" gives the crisis reply, "No" only thanks (the message was answered by the alarm)."""
        reply = self._reply(result.level, result.reply, result.about_other)
        event = Event(EventKind.TRIAGE, {"level": result.level, "rule": result.rule})
        alarmed = FlowResult(state, (reply,), events=(event,))
        if result.then_ask is None or result.then_ask not in self.spec.questions:
            return alarmed
        then = replace(result, action="ask", question=result.then_ask, rule=f"after:{result.rule}")
        asked = self.ask(state, then, "")
        return FlowResult(asked.state, (reply, *asked.replies), events=(event, *asked.events))

    def ask(self, state: ConversationState, result: TriageResult, text: str) -> FlowResult:
        """One safety question; the message waits in the state for the answer (none after an
        alarm's reply: `text` is empty, and "No" answers nothing more)."""
        assert result.question is not None
        question = self.spec.questions[result.question]
        run = str(state.questions_asked + 1)
        pending = SafetyQuestionPending(run, question.id, result.rule, text, result.about_other)
        buttons = (
            (
                Button(self.spec.buttons["yes"], action=SafetyAnswer(run, question.id, "yes").encode()),
                Button(self.spec.buttons["no"], action=SafetyAnswer(run, question.id, "no").encode()),
            ),
        )
        new_state = replace(state, safety=pending, questions_asked=state.questions_asked + 1)
        event = Event(EventKind.SAFETY_QUESTION, {"question": question.id, "rule": result.rule})
        return FlowResult(new_state, (Reply(question.worded_for(result.about_other), buttons),), events=(event,))

    def press(self, state: ConversationState, action: SafetyAnswer) -> tuple[FlowResult, str | None]:
        """The answer to a question, and for "No" the patient's message still to be answered."""
        pending = state.safety
        current = pending is not None and pending.run == action.run and pending.question == action.question
        if action.answer == "yes" and action.question in self.spec.questions:
            level = self.spec.questions[action.question].level
            about_other = pending.about_other if current and pending is not None else False
            rule = pending.rule if current and pending is not None else action.question
            reply = replace(self._reply(level, None, about_other), replaces_pressed=True)
            events = (
                Event(EventKind.SAFETY_ANSWER, {"answer": "yes"}),
                Event(EventKind.TRIAGE, {"level": level, "rule": rule}),
            )
            return FlowResult(replace(state, safety=None) if current else state, (reply,), events=events), None
        if not current or pending is None:
            return FlowResult(state, (), stale=True), None
        thanks = Reply(self.spec.texts["after_no"], replaces_pressed=True)
        answered = Event(EventKind.SAFETY_ANSWER, {"answer": "no"})
        result = FlowResult(replace(state, safety=None), (thanks,), events=(answered,))
        return result, pending.text

    def info(self, state: ConversationState, result: TriageResult, menu: Keyboard) -> FlowResult:
        """A question about warning signs ("what if my legs go numb?"): the signs and 119; a
        question about suicide ("what number should someone call?"): the help lines."""
        key = "crisis_info" if result.level == "crisis" else "info"
        return FlowResult(state, (Reply(self.spec.texts[key], menu),), events=(Event(EventKind.WARNING_SIGNS),))

    def _reply(self, level: str, special: str | None, about_other: bool) -> Reply:
        if special is not None and special in self.spec.replies:
            worded_for_them = f"{special}_other"
            if about_other and worded_for_them in self.spec.replies:
                return Reply(self.spec.replies[worded_for_them])  # "my daughter took my pills"
            return Reply(self.spec.replies[special])
        safety_level = self.levels[level]
        return Reply(safety_level.reply_other if about_other else safety_level.reply)
