"""Property-based tests: whatever a patient (or an attacker) sends, the core never raises and
every reply is one Telegram would accept; whatever is wrong in a knowledge file, the loader
answers with validation messages, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content.html import html_problems, visible_length
from bot.content.loader import ContentError, Knowledge, load_knowledge
from bot.core.actions import MAX_CALLBACK_BYTES, decode
from bot.core.dialogue import Dialogue
from bot.core.replies import UserInput
from bot.core.state import ConversationState
from bot.service.clinic import ClinicService
from bot.storage.sqlite.store import SqliteStore

KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge"
TELEGRAM_MAX_TEXT = 4096

patient_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=4000, max_size=5000),
    st.sampled_from(
        [
            "<b>bold</b> <i>x",
            "&amp; &lt; &#0; &#xFFFFFF; &foo;",
            "<script>alert(1)</script>",
            "**bold** _it_ [link](http://x) `code`",
            "\u202eevil right-to-left \u202c",
            "مرحبا ظهري يؤلمني",
            "\x00\x01\x02\x1b[31m",
            "😀" * 2000,
            "/start " + "x" * 500,
            "ｃｅｌｌｇｅｌ？",
        ]
    ),
    st.text(alphabet="abcdefghij <>&;/*_[]()#", max_size=200),
)
callback_data = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["s:1:1:y", "s:zz:99:y", "a:sleep", "a:" + "x" * 70, "c:t:m", "c:k:y", "st:c:1", "menu", ""]),
)
command = st.tuples(
    st.one_of(
        st.sampled_from(["start", "help", "selfcheck", "book", "privacy", "cancel", "forget"]), st.text(max_size=40)
    ),
    st.text(max_size=200),
)


@pytest.fixture(scope="module")
def service() -> ClinicService:
    knowledge = load_knowledge(KNOWLEDGE_DIR)
    return ClinicService(knowledge, SqliteStore(None), staff_chat_ids=(-1,), dialogue=Dialogue(knowledge))


def _inputs() -> st.SearchStrategy[UserInput]:
    return st.one_of(
        patient_text.map(UserInput.text),
        callback_data.map(UserInput.action),
        command.map(lambda c: UserInput.command(c[0], c[1])),
        st.text(max_size=50).map(UserInput.contact),
        st.just(UserInput.unsupported()),
    )


def _assert_sendable(service: ClinicService, chat_id: str) -> None:
    for item in service.store.pending(chat_id):
        reply = item.reply
        assert reply.text.strip(), "Telegram rejects an empty message"
        assert html_problems(reply.text) == [], (reply.text, html_problems(reply.text))
        assert visible_length(reply.text) <= TELEGRAM_MAX_TEXT
        for row in reply.buttons:
            for button in row:
                assert button.label.strip()
                if button.action is not None:
                    assert 1 <= len(button.action.encode()) <= MAX_CALLBACK_BYTES
                    assert decode(button.action) is not None, button.action
                else:
                    assert button.url and button.url.startswith(("https://", "http://", "tg://"))
        service.store.mark_sent(item.id)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inputs=st.lists(_inputs(), min_size=1, max_size=12), chat_id=st.integers(1, 5))
def test_any_sequence_of_inputs_gives_sendable_replies(service: ClinicService, inputs: list[UserInput], chat_id: int):
    chat = f"tg:{chat_id}"
    for user_input in inputs:
        service.handle(chat, user_input, user_id=chat_id)
        _assert_sendable(service, chat)
    state = ConversationState.from_json(service.store.load_state(chat))
    assert ConversationState.from_json(state.to_json()) == state


@settings(max_examples=200, deadline=None)
@given(garbage=st.one_of(st.text(max_size=300), st.binary(max_size=100).map(lambda b: b.decode("latin-1"))))
def test_any_stored_state_text_loads(garbage: str) -> None:
    assert isinstance(ConversationState.from_json(garbage), ConversationState)


# --------------------------------------------------------------------------- broken knowledge files

yaml_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
FILES = [
    "clinic.yaml",
    "ui.yaml",
    "safety.yaml",
    "selfcheck.yaml",
    "language.yaml",
    "callback.yaml",
    "entries/article.yaml",
    "triage/concepts.yaml",
    "triage/context.yaml",
    "matching.yaml",
    "notices.yaml",
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("pristine") / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target)
    return target


def _mutate(data: object, path: list[object], value: object) -> object:
    """Replace the node at `path` (indexes into dicts/lists, wrapped) with `value`."""
    if not path or not isinstance(data, dict | list) or not data:
        return value
    if isinstance(data, dict):
        key = list(data)[hash(path[0]) % len(data)]
        data[key] = _mutate(data[key], path[1:], value)
    else:
        index = hash(path[0]) % len(data)
        data[index] = _mutate(data[index], path[1:], value)
    return data


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    file=st.sampled_from(FILES),
    path=st.lists(st.integers(0, 50), max_size=4),
    value=yaml_value,
    raw=st.one_of(st.none(), st.text(max_size=60)),
)
def test_any_broken_knowledge_file_gives_validation_messages(
    pristine: Path, tmp_path_factory: pytest.TempPathFactory, file: str, path: list[int], value: object, raw: str | None
) -> None:
    root = tmp_path_factory.mktemp("broken") / "knowledge"
    shutil.copytree(pristine, root)
    target = root / file
    if raw is not None:
        target.write_text(raw, encoding="utf-8")  # anything at all, malformed YAML included
    else:
        data = yaml.safe_load(target.read_text(encoding="utf-8"))
        target.write_text(yaml.safe_dump(_mutate(data, path, value), allow_unicode=True), encoding="utf-8")
    try:
        knowledge = load_knowledge(root)
    except ContentError as error:
        assert error.problems
        for line in error.problems:
            assert line.startswith("knowledge/"), line  # names the file
            assert "Traceback" not in line
        return
    assert isinstance(knowledge, Knowledge)
    Dialogue(knowledge).handle(ConversationState(), UserInput.command("start"))
