"""The self-check as a small state machine over data from `knowledge/selfcheck.yaml`.

One safety question, then the article's signs one at a time. Each button carries the check's
run id and step, so a late or repeated press (an old keyboard, a double tap, a press after a
restart) is recognised as stale and never moves the check twice.
"""

from __future__ import annotations

from bot.content.loader import Knowledge
from bot.core.actions import SelfCheckAnswer
from bot.core.keyboards import booking_button, menu_only, request_button
from bot.core.replies import Button, Event, EventKind, Keyboard, Reply
from bot.core.results import FlowResult
from bot.core.state import ConversationState, SelfCheckProgress

ANSWERS = ("yes", "no", "unsure")


def _step(state: ConversationState, reply: Reply, *events: Event) -> FlowResult:
    return FlowResult(state, (reply,), events=events)


class SelfCheck:
    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.spec = knowledge.selfcheck
        self.ui = knowledge.ui
        self.total = len(self.spec.questions)

    # ------------------------------------------------------------------ transitions

    def start(self, state: ConversationState) -> FlowResult:
        run = _base36(state.checks_started + 1)
        progress = SelfCheckProgress(run=run, step=0)
        new_state = ConversationState(selfcheck=progress, checks_started=state.checks_started + 1)
        text = f"{self.spec.texts['intro']}\n\n{self.spec.screening}"
        return _step(new_state, Reply(text, self._screening_buttons(progress)), Event(EventKind.SELFCHECK_STARTED))

    def is_current(self, state: ConversationState, press: SelfCheckAnswer) -> bool:
        """True only for a press on the screen the patient is on now (not late, not repeated)."""
        progress = state.selfcheck
        if progress is None or press.run != progress.run or press.step != progress.step:
            return False
        if progress.step == 0 and progress.screening_unsure:
            return press.choice in ("continue", "stop")  # the "not sure" screen has only these
        return self.is_valid(progress)

    def was_started(self, state: ConversationState, press: SelfCheckAnswer) -> bool:
        """True for a button of one of this patient's own checks (so a late press, not a forged one)."""
        try:
            return 1 <= int(press.run, 36) <= state.checks_started
        except ValueError:
            return False

    def is_valid(self, progress: SelfCheckProgress) -> bool:
        """Stored progress still fits the questions (content may change while a check is open)."""
        return (
            0 <= progress.step <= self.total
            and len(progress.answers) == max(0, progress.step - 1)
            and all(answer in ANSWERS for answer in progress.answers)
        )

    def press(self, state: ConversationState, press: SelfCheckAnswer, edit: bool = True) -> FlowResult:
        """Apply a press that `is_current`; any other press is stale and changes nothing."""
        progress = state.selfcheck
        if progress is None or not self.is_current(state, press):
            return FlowResult(state, stale=True)
        if press.choice == "stop":
            return _step(
                state.with_selfcheck(None),
                Reply(self.spec.texts["stopped"], menu_only(self.knowledge), replaces_pressed=edit),
                Event(EventKind.SELFCHECK_STOPPED, {"step": progress.step}),
            )
        if progress.step == 0:
            return self._screening(state, progress, press.choice, edit)
        if press.choice == "back":
            previous = SelfCheckProgress(progress.run, progress.step - 1, progress.answers[:-1])
            return _step(state.with_selfcheck(previous), self._render(previous, edit))
        if press.choice not in ANSWERS:
            return FlowResult(state, stale=True)
        answered = SelfCheckProgress(progress.run, progress.step + 1, (*progress.answers, press.choice))
        if answered.step > self.total:
            return _step(
                state.with_selfcheck(None),
                self._result(answered.answers, edit),
                Event(EventKind.SELFCHECK_FINISHED, {"yes": answered.answers.count("yes")}),
            )
        return _step(state.with_selfcheck(answered), self._render(answered, edit))

    def current_question(self, state: ConversationState) -> Reply | None:
        """The question the patient is on, re-sent as a new message (after /start, say)."""
        if state.selfcheck is None or not self.is_valid(state.selfcheck):
            return None
        return self._render(state.selfcheck, edit=False)

    def _screening(self, state: ConversationState, progress: SelfCheckProgress, choice: str, edit: bool) -> FlowResult:
        if choice == "yes":
            text = f"{self.spec.texts['screening_urgent']}\n{self.ui.texts['urgent_info']}"
            return _step(
                state.with_selfcheck(None),
                Reply(text, menu_only(self.knowledge), replaces_pressed=edit),
                Event(EventKind.SELFCHECK_SCREENED_OUT),
            )
        if choice == "unsure" and not progress.screening_unsure:  # show the urgent signs first
            unsure = SelfCheckProgress(progress.run, 0, (), screening_unsure=True)
            buttons = (
                (Button(self.spec.buttons["continue"], action=self._code(unsure, "continue")),),
                (Button(self.spec.buttons["stop"], action=self._code(unsure, "stop")),),
            )
            signs = Reply(self.ui.texts["urgent_info"], buttons, replaces_pressed=edit)
            return _step(state.with_selfcheck(unsure), signs)
        if choice in ("no", "continue") or (choice == "unsure" and not progress.screening_unsure):
            first = SelfCheckProgress(progress.run, 1, ())
            return _step(state.with_selfcheck(first), self._render(first, edit))
        return FlowResult(state, stale=True)

    # ------------------------------------------------------------------ rendering

    def _render(self, progress: SelfCheckProgress, edit: bool) -> Reply:
        if progress.step == 0:
            return Reply(self.spec.screening, self._screening_buttons(progress), replaces_pressed=edit)
        question = self.spec.questions[progress.step - 1]
        progress_line = self.spec.texts["progress"].format(number=progress.step, total=self.total)
        text = f"{progress_line}\n{question.text}"
        answer_row = tuple(Button(self.spec.buttons[choice], action=self._code(progress, choice)) for choice in ANSWERS)
        control_row = (
            Button(self.spec.buttons["back"], action=self._code(progress, "back")),
            Button(self.spec.buttons["stop"], action=self._code(progress, "stop")),
        )
        return Reply(text, (answer_row, control_row), replaces_pressed=edit)

    def _screening_buttons(self, progress: SelfCheckProgress) -> Keyboard:
        answer_row = tuple(Button(self.spec.buttons[choice], action=self._code(progress, choice)) for choice in ANSWERS)
        return (answer_row, (Button(self.spec.buttons["stop"], action=self._code(progress, "stop")),))

    def _result(self, answers: tuple[str, ...], edit: bool) -> Reply:
        def listed(choice: str) -> str:
            return "\n".join(
                f"• {question.summary}"
                for question, answer in zip(self.spec.questions, answers, strict=True)
                if answer == choice
            )

        yes_count = answers.count("yes")
        texts = self.spec.texts
        if yes_count:
            parts = [texts["result_some"].format(count=str(yes_count), total=str(self.total), signs=listed("yes"))]
        else:
            parts = [texts["result_none"]]
        if "unsure" in answers:
            parts.append(texts["result_unsure"].format(signs=listed("unsure")))
        parts += [texts["self_care"], texts["offer"]]
        buttons = ((booking_button(self.knowledge),), (request_button(self.knowledge),), *menu_only(self.knowledge))
        return Reply("\n\n".join(parts), buttons, replaces_pressed=edit)

    @staticmethod
    def _code(progress: SelfCheckProgress, choice: str) -> str:
        return SelfCheckAnswer(progress.run, progress.step, choice).encode()


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, remainder = divmod(number, 36)
        out = digits[remainder] + out
        if number == 0:
            return out[-8:]
