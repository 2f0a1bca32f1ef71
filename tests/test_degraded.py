"""When the database cannot be written (disk full, read-only), patients are still answered,
safety replies included, and a call-back request is never reported as received."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content.loader import load_knowledge
from bot.core.replies import UserInput
from bot.service.clinic import ClinicService
from bot.storage import StorageFull
from bot.storage.sqlite.store import SqliteStore

KNOWLEDGE = load_knowledge(Path(__file__).resolve().parent.parent / "knowledge")


@pytest.fixture
def broken(tmp_path: Path) -> ClinicService:
    service = ClinicService(KNOWLEDGE, SqliteStore(tmp_path / "data", key_file=tmp_path / "key"), staff_chat_ids=(-1,))
    service.store.db.execute("PRAGMA query_only = ON")  # every write now fails, as on a read-only disk
    return service


def test_writes_fail_loudly(broken: ClinicService) -> None:
    with pytest.raises(StorageFull):
        broken.handle("tg:7", UserInput.text("how does stress cause back pain"), update_id=1)


def test_red_flag_still_gets_urgent_care(broken: ClinicService) -> None:
    [reply] = broken.handle_unsaved("tg:7", UserInput.text("I can't control my bladder since my back went"))
    assert reply.text == KNOWLEDGE.safety["emergency"].reply


def test_questions_are_still_answered(broken: ClinicService) -> None:
    replies = broken.handle_unsaved("tg:7", UserInput.text("how does stress cause back pain"))
    assert replies[0].text.startswith(KNOWLEDGE.entries["how_stress_causes_pain"].answer[:40])


def test_a_request_is_never_reported_as_received(tmp_path: Path) -> None:
    service = ClinicService(KNOWLEDGE, SqliteStore(tmp_path / "data", key_file=tmp_path / "key"), staff_chat_ids=(-1,))
    for step in (
        UserInput.action("callback"),
        UserInput.text("Ken"),
        UserInput.text("090-1234-5678"),
        UserInput.action("c:t:m"),
        UserInput.action("c:n:s"),
        UserInput.action("c:s:c"),
    ):
        service.handle("tg:7", step)
    service.store.db.execute("PRAGMA query_only = ON")
    [reply] = service.handle_unsaved("tg:7", UserInput.action("c:k:y"))  # "I agree, send it"
    assert reply.text == KNOWLEDGE.ui.texts["storage_error"]
    service.store.db.execute("PRAGMA query_only = OFF")
    assert service.store.requests() == []
