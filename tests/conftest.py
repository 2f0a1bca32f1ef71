"""Shared fixtures: the shipped knowledge and dialogue (built once), a checked chat driver, and a
clean environment for running `python -m bot` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.content.html import html_problems, visible_length
from bot.content.loader import MAX_TITLE_CHARS, SETTING_ENV, Knowledge, load_knowledge
from bot.core.actions import MAX_CALLBACK_BYTES, decode
from bot.core.dialogue import Dialogue, Turn
from bot.core.replies import Button, UserInput
from bot.core.state import ConversationState
from bot.understanding.understander import Understander
from tests.bot_process import TOKEN
from tests.fake_telegram.server import FakeTelegramServer

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = ROOT / "knowledge"
TELEGRAM_MAX_CHARS = 4096
TOAST_MAX_CHARS = 200

# An alarm word the rules read in a message the shipped safety net reads as needing no question
# (test_risk_model, test_safety_e2e). A retraining may move the net's reading of this wording;
# then another such message takes its place.
ALARM_WORD_IN_AN_ORDINARY_MESSAGE = (
    "The hangover was so bad I wanted to die, but that's another story. What I actually came to ask: "
    "can I drink on the night of my Cellgel injection?"
)


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge(KNOWLEDGE_DIR)


@pytest.fixture(scope="session")
def dialogue(knowledge: Knowledge) -> Dialogue:
    return Dialogue(knowledge)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTelegramServer]:
    """A fake Bot API server over HTTP on 127.0.0.1, shared by one test module's tests."""
    with FakeTelegramServer(token=TOKEN) as fake:
        yield fake


@pytest.fixture(scope="session")
def understander(knowledge: Knowledge) -> Understander:
    return Understander(knowledge)


def check_turn(turn: Turn) -> Turn:
    """What every turn must satisfy, whatever the input: Telegram accepts each text and button,
    and the state survives a trip through storage."""
    for reply in turn.replies:
        assert html_problems(reply.text) == [], reply.text
        assert 0 < visible_length(reply.text) <= TELEGRAM_MAX_CHARS
        for row in reply.buttons:
            assert row, "an empty keyboard row"
            for button in row:
                assert 0 < len(button.label) <= MAX_TITLE_CHARS, button
                if button.url is not None:
                    assert button.url.startswith(("https://", "http://")), button
                else:
                    assert button.action is not None
                    assert len(button.action.encode("utf-8")) <= MAX_CALLBACK_BYTES, button
                    action = decode(button.action)
                    assert action is not None, f"button data {button.action!r} does not decode"
                    assert action.encode() == button.action
    if turn.toast is not None:
        assert 0 < len(turn.toast) <= TOAST_MAX_CHARS
    assert ConversationState.from_json(turn.state.to_json()) == turn.state
    return turn


class Chat:
    """Drives Dialogue.handle like a channel does: the returned state is passed along."""

    def __init__(self, dialogue: Dialogue) -> None:
        self.dialogue = dialogue
        self.state = ConversationState()
        self.last: Turn | None = None

    def handle(self, state: ConversationState, user_input: UserInput) -> Turn:
        return check_turn(self.dialogue.handle(state, user_input))

    def send(self, user_input: UserInput) -> Turn:
        turn = self.handle(self.state, user_input)
        self.state = turn.state
        if any(reply.buttons for reply in turn.replies):
            self.last = turn
        return turn

    def text(self, text: str) -> Turn:
        return self.send(UserInput.text(text))

    def command(self, name: str, payload: str = "") -> Turn:
        return self.send(UserInput.command(name, payload))

    def press(self, data: str) -> Turn:
        return self.send(UserInput.action(data))

    def button(self, label: str) -> Button:
        """The button with this label on the newest message that had buttons."""
        assert self.last is not None
        found = [b for r in self.last.replies for row in r.buttons for b in row if b.label == label]
        assert found, f"no button {label!r} in {buttons_of(self.last)}"
        return found[-1]

    def tap(self, label: str) -> Turn:
        button = self.button(label)
        assert button.action is not None, f"{label!r} is a link"
        return self.press(button.action)


def buttons_of(turn: Turn) -> list[Button]:
    return [button for reply in turn.replies for row in reply.buttons for button in row]


@pytest.fixture
def chat(dialogue: Dialogue) -> Chat:
    return Chat(dialogue)


def bot_env(**extra: str) -> dict[str, str]:
    """os.environ without a token, knowledge dir or clinic overrides, and with a .env that does
    not exist, so a developer's own settings cannot change what the subprocess does."""
    env = dict(os.environ)
    for name in ("TELEGRAM_BOT_TOKEN", "KNOWLEDGE_DIR", "LOG_LEVEL", *SETTING_ENV.values()):
        env.pop(name, None)
    env["ENV_FILE"] = str(ROOT / "tests" / "no-such-dir" / ".env")
    env.update(extra)
    return env


def run_module(
    module: str, *args: str, stdin: str = "", timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m module args` in the project, with the clean environment of bot_env()."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=bot_env(**env),
        timeout=timeout,
        check=False,
    )


def run_bot(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return run_module("bot", *args, stdin=stdin, **env)


def table_row(output: str, metric: str) -> list[str]:
    """The cells after the first of the Markdown table row whose first cell is `metric`."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0] == metric:
            return cells[1:]
    raise AssertionError(f"no row {metric!r} in the table:\n{output}")


def broken_content_problems(tmp_path: Path, file: Path, change) -> list[str]:
    """The problems `load_knowledge` reports for a copy of the knowledge base whose `file`
    (relative to it) `change` (lines -> lines) has broken."""
    import shutil

    from bot.content.loader import ContentError

    root = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, root)
    path = root / file
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")
    try:
        load_knowledge(root)
    except ContentError as error:
        return error.problems
    raise AssertionError(f"{file} was broken, yet the knowledge base loaded")


def assert_broken_last_line_is_named(tmp_path: Path, file: Path) -> None:
    """A model file whose last feature line is broken is reported by that line's number."""
    problems = broken_content_problems(tmp_path, file, lambda lines: [*lines[:-1], "wee\tnot-a-number"])
    total = len((KNOWLEDGE_DIR / file).read_text(encoding="utf-8").splitlines())
    assert any(f"line {total}: needs a feature" in line for line in problems), problems
