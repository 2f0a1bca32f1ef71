"""The staff and group policy, in the service for every channel: who may use staff commands and
staff buttons, and what a group may do at all (`ClinicService.access`, then `handle`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.content.loader import load_knowledge
from bot.core.actions import Simple, StaffAction
from bot.core.replies import UserInput
from bot.service.clinic import ClinicService
from bot.storage.sqlite.store import SqliteStore

KNOWLEDGE = load_knowledge(load_config(env={}, env_file=Path("/nonexistent")).knowledge_dir)
STAFF_GROUP = "tg:-1001"
OTHER_GROUP = "tg:-2002"
PATIENT = "tg:5150"
STAFF_USER = 77
REQUESTS = UserInput.command("requests")
PRESS = UserInput.action(Simple("book").encode())
STAFF_PRESS = UserInput.action(StaffAction(1, "contacted").encode())


@pytest.fixture
def service() -> ClinicService:
    return ClinicService(KNOWLEDGE, SqliteStore(None), staff_chat_ids=(-1001,), staff_user_ids=(STAFF_USER,))


def test_private_chats_are_served(service: ClinicService) -> None:
    for user_input in (UserInput.text("hi"), PRESS, STAFF_PRESS, REQUESTS, UserInput.command("start")):
        assert service.access(PATIENT, user_input, group=False).serve


def test_in_the_staff_group_buttons_and_staff_commands_are_served(service: ClinicService) -> None:
    for user_input in (STAFF_PRESS, PRESS, REQUESTS, UserInput.command("stats")):
        assert service.access(STAFF_GROUP, user_input, group=True).serve, user_input


def test_in_the_staff_group_other_commands_get_the_invitation_and_talk_is_ignored(service: ClinicService) -> None:
    start = service.access(STAFF_GROUP, UserInput.command("start"), group=True)
    assert not start.serve and start.invite and start.refusal is None
    talk = service.access(STAFF_GROUP, UserInput.text("lunch?"), group=True)
    assert not talk.serve and not talk.invite and talk.refusal is None


def test_in_another_group_presses_are_refused_and_staff_commands_are_not_served(service: ClinicService) -> None:
    for press in (PRESS, STAFF_PRESS):
        refused = service.access(OTHER_GROUP, press, group=True)
        assert not refused.serve and refused.refusal == KNOWLEDGE.request.staff["not_available"]
    # A staff user's /requests in any other group would show patients' data to everyone there.
    listing = service.access(OTHER_GROUP, REQUESTS, group=True)
    assert not listing.serve and listing.invite
    assert not service.access(OTHER_GROUP, UserInput.text("hello"), group=True).serve


def test_staff_commands_need_a_staff_chat_or_a_staff_user(service: ClinicService) -> None:
    store = service.store
    assert service.handle(PATIENT, REQUESTS, user_id=1) is not None
    refused = [item.reply.text for item in store.pending(PATIENT)]
    assert refused == [service.texts.staff_text("not_available")]
    service.handle(PATIENT, REQUESTS, user_id=STAFF_USER)
    assert [item.reply.text for item in store.pending(PATIENT)][1:] == [service.texts.staff_text("no_open_requests")]
    service.handle(STAFF_GROUP, REQUESTS)
    assert [item.reply.text for item in store.pending(STAFF_GROUP)] == [service.texts.staff_text("no_open_requests")]


def test_staff_buttons_need_a_staff_chat_or_a_staff_user(service: ClinicService) -> None:
    handled = service.handle(PATIENT, STAFF_PRESS, user_id=1)
    assert handled is not None and handled.toast == service.texts.staff_text("not_available")
    handled = service.handle(PATIENT, STAFF_PRESS, user_id=STAFF_USER)  # request 1 does not exist
    assert handled is not None and handled.toast == service.texts.staff_text("deleted", number="1")
