"""The dialogue core: (a patient's state, what they did) -> (replies, new state).

It knows nothing about Telegram or terminals; both adapters, and the tests, drive this one
function. Every text comes from `knowledge/`. Order of concerns for typed text: safety triage
first (an emergency never gets an FAQ answer or an offer), then a typed self-check answer,
then the knowledge base, then an honest fallback.
"""

from __future__ import annotations

from dataclasses import replace

from bot.content.loader import Entry, Knowledge
from bot.core.actions import RequestChoice, SafetyAnswer, SelfCheckAnswer, ShowAnswer, Simple, decode
from bot.core.keyboards import booking_button, menu_button, menu_only, request_button
from bot.core.replies import Button, Event, EventKind, Forget, Keyboard, Reply, UserInput
from bot.core.request_flow import DEFAULT_RETENTION_DAYS, RequestFlow
from bot.core.results import FlowResult, Turn
from bot.core.safety_flow import SafetyFlow
from bot.core.selfcheck import SelfCheck
from bot.core.state import ConversationState
from bot.understanding.matcher import MatchResult
from bot.understanding.text import normalise
from bot.understanding.understander import Understander, Understanding

MAX_MATCH_CHARS = 1000  # long stories are matched on their start; triage reads everything
MAX_SUGGESTIONS = 2
MAX_FOLLOW_UPS = 4  # an answer's follow-up buttons: same-subject neighbours first, then its own
SUGGESTION_SHARE = 0.6  # a second suggestion must score at least this share of the best
DEEP_LINKS = ("selfcheck", "book")


class Dialogue:
    def __init__(
        self,
        knowledge: Knowledge,
        understander: Understander | None = None,
        request_retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        self.knowledge = knowledge
        self.ui = knowledge.ui
        self.understander = understander or Understander(knowledge)
        self.selfcheck = SelfCheck(knowledge)
        self.request = RequestFlow(knowledge, request_retention_days)
        self.safety = SafetyFlow(knowledge)
        self.retention_days = request_retention_days
        spec = knowledge.selfcheck
        self._typed_choices = {
            normalise(spec.buttons[choice]): choice for choice in ("yes", "no", "unsure", "back", "stop")
        }
        self._typed_safety = {normalise(knowledge.triage.buttons[answer]): answer for answer in ("yes", "no")}

    def handle(self, state: ConversationState, user_input: UserInput) -> Turn:
        if user_input.kind == "text":
            return self._text(state, user_input.value)
        if user_input.kind == "command":
            return self._command(state, user_input.value, user_input.payload)
        if user_input.kind == "action":
            return self._action(state, user_input.value)
        if user_input.kind == "contact" and state.request is not None and state.request.step == "phone":
            return self._flow(self.request.contact(state, user_input.value))
        return Turn((Reply(self.ui.texts["non_text"], self.main_menu()),), state)

    def _flow(self, result: FlowResult) -> Turn:
        """A flow's result as a turn: a stale press gets the "that button is old" pop-up."""
        if result.stale:
            return Turn((), result.state, toast=self.ui.texts["stale_button"])
        return Turn(result.replies, result.state, events=result.events, effects=result.effects)

    # ------------------------------------------------------------------ typed text

    def _text(self, state: ConversationState, text: str, checked: bool = False) -> Turn:
        """Typed text. `checked`: the patient already answered "No" to this message's safety
        question, so triage does not ask again."""
        if not normalise(text):
            return Turn((Reply(self.ui.texts["empty"], self.main_menu()),), state)
        pending = state.safety
        if pending is not None and not checked and (answer := self._typed_safety.get(normalise(text))):
            return self._safety_answer(state, SafetyAnswer(pending.run, pending.question, answer))
        if checked:
            understanding = Understanding(None, self.understander.match(text[:MAX_MATCH_CHARS]))
        else:
            understanding = self.understander.understand(text, max_match_chars=MAX_MATCH_CHARS)
        triage = understanding.triage
        if triage is not None and triage.action == "alarm":
            return self._flow(self.safety.alarm(state, triage))
        if triage is not None and triage.action == "ask":
            return self._flow(self.safety.ask(state, triage, text[:MAX_MATCH_CHARS]))
        if triage is not None and triage.action == "info":
            return self._flow(self.safety.info(state, triage, menu_only(self.knowledge)))
        if state.request is not None and (flow := self.request.typed(state, text)) is not None:
            return self._flow(flow)
        if state.selfcheck is not None and (choice := self._typed_choices.get(normalise(text))):
            progress = state.selfcheck
            if progress.step == 0 and progress.screening_unsure and choice == "unsure":
                choice = "continue"  # typed "not sure" again on the urgent-signs screen
            result = self.selfcheck.press(state, SelfCheckAnswer(progress.run, progress.step, choice), edit=False)
            if not result.stale:
                return self._flow(result)
            if (current := self.selfcheck.current_question(state)) is not None:
                return Turn((current,), state)
        match = understanding.match
        assert match is not None
        prefix = self.ui.text("too_long", limit=str(MAX_MATCH_CHARS)) if len(text) > MAX_MATCH_CHARS else ""
        if match.outcome == "answer" and match.best is not None:
            entry = self.knowledge.entries[match.best.entry_id]
            event = Event(EventKind.ANSWERED, {"entry": entry.id, "score": match.best.score})
            return Turn(self._with_prefix(prefix, self.answer(entry, match.neighbours)), state, events=(event,))
        if match.outcome == "partial" and match.best is not None:
            return self._partial(state, text, match, prefix)
        if match.outcome == "did_you_mean" and match.best is not None:
            best = match.best.score
            suggestions = [
                self.knowledge.entries[candidate.entry_id]
                for candidate in match.candidates[:MAX_SUGGESTIONS]
                if candidate.score >= best * SUGGESTION_SHARE
            ]
            rows = tuple((Button(entry.title, action=ShowAnswer(entry.id).encode()),) for entry in suggestions)
            buttons = (*rows, (Button(self.ui.buttons["none_of_these"], action=Simple("none").encode()),))
            event = Event(EventKind.DID_YOU_MEAN, {"entries": [e.id for e in suggestions], "score": best})
            reply = Reply(self.ui.texts["did_you_mean"], buttons)
            return Turn(self._with_prefix(prefix, (reply,)), state, events=(event,))
        score = match.best.score if match.best else 0.0
        event = Event(EventKind.UNANSWERED, {"text": text[:MAX_MATCH_CHARS], "score": score})
        reply = Reply(self.ui.texts["fallback"], self.main_menu())
        return Turn(self._with_prefix(prefix, (reply,)), state, events=(event,))

    def _partial(self, state: ConversationState, text: str, match: MatchResult, prefix: str) -> Turn:
        """A near miss: say what the article does not cover, in the patient's own word, then
        offer the related entries as buttons (nothing from the article is passed off as the answer)."""
        matching = self.knowledge.matching
        word = match.missing or ""
        reply_text = matching.text("partial", topic=word) if word else matching.text("partial_general")
        related = [self.knowledge.entries[c.entry_id] for c in match.candidates if c.entry_id in self.knowledge.entries]
        rows = tuple((Button(entry.title, action=ShowAnswer(entry.id).encode()),) for entry in related)
        buttons = (*rows, *menu_only(self.knowledge))
        related_ids = [entry.id for entry in related]
        event = Event(EventKind.PARTIAL, {"entries": related_ids, "missing": word[:MAX_MATCH_CHARS]})
        return Turn(self._with_prefix(prefix, (Reply(reply_text, buttons),)), state, events=(event,))

    def _with_prefix(self, prefix: str, replies: tuple[Reply, ...]) -> tuple[Reply, ...]:
        return ((Reply(prefix), *replies)) if prefix else replies

    # ------------------------------------------------------------------ commands

    def _command(self, state: ConversationState, name: str, payload: str) -> Turn:
        if name == "start":
            started = Event(EventKind.CONVERSATION_STARTED, {"payload": payload if payload in DEEP_LINKS else ""})
            if payload == "selfcheck":
                turn = self._start_selfcheck(state)
                return Turn(turn.replies, turn.state, events=(started, *turn.events))
            if payload == "book":
                return Turn((self.book(),), state, events=(started, Event(EventKind.BOOKING_SHOWN)))
            return Turn((Reply(self.ui.texts["start"], self.main_menu()),), state, events=(started,))
        if name == "help":
            return Turn((Reply(self.ui.texts["help"], self.main_menu()),), state)
        if name == "selfcheck":
            return self._start_selfcheck(state)
        if name == "book":
            return Turn((self.book(),), state, events=(Event(EventKind.BOOKING_SHOWN),))
        if name == "privacy":
            privacy = self.ui.text("privacy", retention_days=str(self.retention_days))
            return Turn((Reply(privacy, menu_only(self.knowledge)),), state)
        if name == "forget":
            buttons = (
                (Button(self.knowledge.request.buttons["forget"], action=Simple("forget").encode()),),
                (Button(self.knowledge.request.buttons["keep"], action=Simple("keep").encode()),),
            )
            forget = Reply(self.knowledge.request.text("forget_confirm"), buttons)
            return Turn((forget,), replace(state, forgetting=True))
        if name == "menu":
            return Turn((Reply(self.ui.texts["menu"], self.main_menu()),), state)
        if name == "cancel":
            if state.request is not None:
                return self._flow(self.request.cancel(state))
            if state.selfcheck is not None:
                stopped = Reply(self.knowledge.selfcheck.texts["stopped"], menu_only(self.knowledge))
                return Turn((stopped,), state.with_selfcheck(None), events=(Event(EventKind.SELFCHECK_STOPPED),))
            return Turn((Reply(self.ui.texts["nothing_to_cancel"], self.main_menu()),), state)
        return Turn((Reply(self.ui.texts["unknown_command"], self.main_menu()),), state)

    # ------------------------------------------------------------------ buttons

    def _action(self, state: ConversationState, data: str) -> Turn:
        action = decode(data)
        if isinstance(action, SelfCheckAnswer):
            if state.selfcheck is not None and not self.selfcheck.is_valid(state.selfcheck):
                state = state.with_selfcheck(None)  # the questions changed under it: start over
            elif state.selfcheck is not None or self.selfcheck.was_started(state, action):
                # A late or repeated press is stale: the newest message is right there.
                return self._flow(self.selfcheck.press(state, action))
        if isinstance(action, RequestChoice):
            return self._flow(self.request.press(state, action))
        if isinstance(action, SafetyAnswer):
            return self._safety_answer(state, action)
        if isinstance(action, ShowAnswer) and action.entry_id in self.knowledge.entries:
            entry = self.knowledge.entries[action.entry_id]
            answered = Event(EventKind.ANSWERED, {"entry": entry.id, "score": None})
            return Turn(self.answer(entry), state, events=(answered,))
        if isinstance(action, Simple):
            return self._simple(state, action.name)
        menu = Reply(self.ui.texts["menu"], self.main_menu())
        return Turn((menu,), state, toast=self.ui.texts["unknown_button"], events=(Event(EventKind.UNKNOWN_BUTTON),))

    def _simple(self, state: ConversationState, name: str) -> Turn:
        if name == "selfcheck":
            return self._start_selfcheck(state)
        if name == "book":
            return Turn((self.book(),), state, events=(Event(EventKind.BOOKING_SHOWN),))
        if name == "ask":
            return Turn((Reply(self.ui.texts["ask_prompt"]),), state)
        if name == "urgent":
            return Turn((Reply(self.ui.texts["urgent_info"], menu_only(self.knowledge)),), state)
        if name == "none":
            return Turn((Reply(self.ui.texts["fallback"], self.main_menu()),), state)
        if name == "request":
            return self._flow(self.request.start(state))
        if name in ("forget", "keep"):
            if not state.forgetting:
                return Turn((), state, toast=self.ui.texts["stale_button"])
            if name == "keep":
                kept_text = self.knowledge.request.text("forget_kept")
                kept = Reply(kept_text, menu_only(self.knowledge), replaces_pressed=True)
                return Turn((kept,), replace(state, forgetting=False))
            # The service deletes everything in the same transaction and says what it deleted.
            return Turn((), ConversationState(), effects=(Forget(),), events=(Event(EventKind.FORGOTTEN),))
        return Turn((Reply(self.ui.texts["menu"], self.main_menu()),), state)

    def _safety_answer(self, state: ConversationState, action: SafetyAnswer) -> Turn:
        """Yes: the urgent reply. No: thanks, then the answer to the message that was asked about."""
        result, waiting = self.safety.press(state, action)
        turn = self._flow(result)
        if not waiting:
            return turn  # a "Yes", a stale press, or a question asked after an alarm's reply
        answered = self._text(result.state, waiting, checked=True)
        return Turn(
            (*turn.replies, *answered.replies),
            answered.state,
            events=(*turn.events, *answered.events),
            effects=answered.effects,
        )

    def _start_selfcheck(self, state: ConversationState) -> Turn:
        return self._flow(self.selfcheck.start(state))

    # ------------------------------------------------------------------ building replies

    def answer(self, entry: Entry, neighbours: tuple[str, ...] = ()) -> tuple[Reply, ...]:
        """An entry's answer with its source line, its follow-ups and its next steps as buttons.
        `neighbours`: entries on the same subject that scored almost as well, offered first."""
        text = entry.answer
        if entry.source:
            text += "\n\n" + self.ui.text("source", section=entry.source)
        if entry.menu:
            return (Reply(text, self.main_menu()),)
        offers = []
        if "selfcheck" in entry.offers:
            offers.append(Button(self.ui.buttons["selfcheck"], action=Simple("selfcheck").encode()))
        if "book" in entry.offers:
            offers.append(booking_button(self.knowledge))
        if "callback" in entry.offers:  # the content's name for the call-back request
            offers.append(request_button(self.knowledge))
        offer_labels = {button.label for button in offers}
        targets = [t for t in dict.fromkeys((*neighbours, *entry.follow_ups)) if t in self.knowledge.entries]
        rows: list[tuple[Button, ...]] = [
            (Button(self.knowledge.entries[target].title, action=ShowAnswer(target).encode()),)
            for target in targets[:MAX_FOLLOW_UPS]
            if target != entry.id
            and self.knowledge.entries[target].title not in offer_labels  # the offer does the same, in one tap
        ]
        if offers:
            rows.append(tuple(offers))
        rows.append((menu_button(self.knowledge),))
        return (Reply(text, tuple(rows)),)

    def book(self) -> Reply:
        buttons = ((booking_button(self.knowledge),), (request_button(self.knowledge),), *menu_only(self.knowledge))
        return Reply(self.ui.texts["book"], buttons)

    def main_menu(self) -> Keyboard:
        buttons = self.ui.buttons
        return (
            (
                Button(buttons["ask"], action=Simple("ask").encode()),
                Button(buttons["selfcheck"], action=Simple("selfcheck").encode()),
            ),
            (Button(buttons["book"], action=Simple("book").encode()),),
            (request_button(self.knowledge),),
            (Button(buttons["urgent"], action=Simple("urgent").encode()),),
        )
