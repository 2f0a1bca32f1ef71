"""What the core returns: a flow's result inside the core, and a `Turn` to the service.

The three flows (self-check, call-back request, safety question) all return a `FlowResult`;
`Dialogue` turns it into the `Turn` it hands out. They stay two types because a flow only
reports that a press was stale, and what that means depends on where the dialogue is: a late
button gets a short pop-up answer (`Turn.toast`, worded in knowledge/ui.yaml), a typed
self-check answer that no longer fits re-sends the current question instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.replies import Effect, Event, Reply
from bot.core.state import ConversationState


@dataclass(frozen=True)
class FlowResult:
    """A flow's answer to one input: the new state, the replies, what to count and what the
    service must do. `stale`: the input was a late or repeated press; nothing changed."""

    state: ConversationState
    replies: tuple[Reply, ...] = ()
    effects: tuple[Effect, ...] = ()
    events: tuple[Event, ...] = ()
    stale: bool = False


@dataclass(frozen=True)
class Turn:
    """The outcome of one input: replies to send, the state to store first, a short pop-up
    answer for a button press, events to count and effects for the service to apply."""

    replies: tuple[Reply, ...]
    state: ConversationState
    toast: str | None = None
    events: tuple[Event, ...] = ()
    effects: tuple[Effect, ...] = ()
