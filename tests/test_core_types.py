"""The core's typed vocabulary: events, effects, button actions and stored states.

Event kinds keep the names already stored in the daily counters; effects are typed; every
action refuses to pack more than Telegram's 64 bytes of callback data; buttons and states
written before "callback" was renamed "request" still work."""

from __future__ import annotations

import pytest

from bot.core.actions import (
    MAX_CALLBACK_BYTES,
    REQUEST_CHOICES,
    REQUEST_STEP_CODES,
    SIMPLE_ACTIONS,
    CallbackDataTooLong,
    RequestChoice,
    SafetyAnswer,
    SelfCheckAnswer,
    ShowAnswer,
    Simple,
    StaffAction,
    decode,
)
from bot.core.dialogue import Dialogue
from bot.core.replies import Event, EventKind, Forget, SaveRequest, UserInput
from bot.core.state import STATE_VERSION, ConversationState, RequestDraft
from tests.conftest import Chat

# The names stored in the counters table and shown by /stats: renaming one loses its history.
STORED_EVENT_NAMES = {
    "conversation_started",
    "answered",
    "did_you_mean",
    "partial",
    "unanswered",
    "booking_shown",
    "unknown_button",
    "forgotten",
    "selfcheck_started",
    "selfcheck_stopped",
    "selfcheck_screened_out",
    "selfcheck_finished",
    "callback_started",
    "callback_cancelled",
    "callback_requested",
    "triage",
    "safety_question",
    "safety_answer",
    "warning_signs",
    "edit_in_flow",
    "request_contacted",
    "request_unreachable",
}


# ---------------------------------------------------------------------------------- events


def test_event_kinds_keep_their_stored_names() -> None:
    assert {kind.value for kind in EventKind} == STORED_EVENT_NAMES


def test_an_event_made_from_a_string_is_typed_and_equal_to_it() -> None:
    event = Event("callback_requested")
    assert event.kind is EventKind.REQUEST_MADE
    assert event.kind == "callback_requested" and f"{event.kind}" == "callback_requested"
    assert {"callback_requested": 1}[event.kind] == 1


def test_an_unknown_event_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        Event("answerd")


def test_every_event_the_dialogue_makes_is_typed(dialogue: Dialogue) -> None:
    chat = Chat(dialogue)
    turns = [
        chat.send(UserInput.command("start")),
        chat.send(UserInput.text("how does stress cause back pain")),
        chat.send(UserInput.text("qwzx vbnm")),
        chat.send(UserInput.command("selfcheck")),
        chat.send(UserInput.command("cancel")),
    ]
    events = [event for turn in turns for event in turn.events]
    assert events and all(isinstance(event.kind, EventKind) for event in events)


# ---------------------------------------------------------------------------------- effects


def test_a_request_agreed_to_is_a_save_request_effect(dialogue: Dialogue) -> None:
    chat = Chat(dialogue)
    chat.send(UserInput.action(Simple("request").encode()))
    chat.send(UserInput.text("Hanako Yamada"))
    chat.send(UserInput.text("090-1234-5678"))
    chat.send(UserInput.action(RequestChoice("time", "morning").encode()))
    chat.send(UserInput.action(RequestChoice("note", "skip").encode()))
    chat.send(UserInput.action(RequestChoice("summary", "confirm").encode()))
    turn = chat.send(UserInput.action(RequestChoice("consent", "agree").encode()))
    assert turn.effects == (SaveRequest("Hanako Yamada", "+819012345678", "morning", ""),)
    assert [event.kind for event in turn.events] == [EventKind.REQUEST_MADE]


def test_forgetting_is_a_forget_effect(dialogue: Dialogue) -> None:
    chat = Chat(dialogue)
    chat.send(UserInput.command("forget"))
    turn = chat.send(UserInput.action(Simple("forget").encode()))
    assert turn.effects == (Forget(),)


# ---------------------------------------------------------------------------------- actions


def test_every_action_kind_round_trips() -> None:
    actions = [
        *(Simple(name) for name in SIMPLE_ACTIONS),
        ShowAnswer("how_stress_causes_pain"),
        SelfCheckAnswer("zz", 3, "unsure"),
        *(RequestChoice(step, choice) for step in REQUEST_STEP_CODES.values() for choice in REQUEST_CHOICES.values()),
        StaffAction(123456789012, "contacted"),
        StaffAction(1, "unreachable"),
        SafetyAnswer("12345678", "bladder_change", "yes"),
    ]
    for action in actions:
        assert decode(action.encode()) == action


@pytest.mark.parametrize(
    "action",
    [
        Simple("x" * 65),
        ShowAnswer("e" * 63),
        SelfCheckAnswer("r" * 60, 1, "yes"),
        SafetyAnswer("1", "q" * 60, "no"),
        StaffAction(10**70, "contacted"),
    ],
    ids=lambda action: type(action).__name__,
)
def test_an_action_over_64_bytes_is_refused_where_it_is_packed(action: object) -> None:
    with pytest.raises(CallbackDataTooLong, match="64"):
        action.encode()  # type: ignore[attr-defined]


def test_64_bytes_exactly_is_allowed() -> None:
    data = ShowAnswer("e" * (MAX_CALLBACK_BYTES - 2)).encode()
    assert len(data.encode("utf-8")) == MAX_CALLBACK_BYTES


def test_the_limit_counts_bytes_not_characters() -> None:
    with pytest.raises(CallbackDataTooLong):
        Simple("é" * 33).encode()  # 33 characters, 66 bytes


def test_the_request_side_and_the_callback_data_are_named_apart() -> None:
    assert "request" in SIMPLE_ACTIONS and "callback" not in SIMPLE_ACTIONS
    assert RequestChoice("time", "morning").encode() == "r:t:m"


def test_buttons_sent_before_the_rename_still_work() -> None:
    assert decode("callback") == Simple("request")
    assert decode("c:t:m") == RequestChoice("time", "morning")
    assert decode("c:k:y") == RequestChoice("consent", "agree")


# ---------------------------------------------------------------------------------- states


def test_a_state_is_written_with_its_version_and_read_back() -> None:
    state = ConversationState(request=RequestDraft("phone", name="Hanako Yamada"), checks_started=2)
    text = state.to_json()
    assert f'"v":{STATE_VERSION}' in text and '"request":' in text and '"callback"' not in text
    assert ConversationState.from_json(text) == state


def test_a_version_1_state_with_its_callback_key_still_loads() -> None:
    stored = '{"v":1,"selfcheck":null,"checks_started":0,"callback":{"step":"phone","name":"Hanako Yamada"}}'
    state = ConversationState.from_json(stored)
    assert state.request == RequestDraft("phone", name="Hanako Yamada")
    assert state.callback == state.request  # the former name, still read outside the core


def test_a_version_1_request_goes_on_where_it_was(dialogue: Dialogue) -> None:
    stored = ConversationState.from_json('{"v":1,"callback":{"step":"phone","name":"Hanako Yamada"}}')
    turn = dialogue.handle(stored, UserInput.text("090-1234-5678"))
    assert turn.state.request is not None and turn.state.request.step == "time"
