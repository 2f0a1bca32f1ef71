"""The terminal chat: `python -m bot chat` with piped input, and TerminalChat in-process."""

from __future__ import annotations

import io
import re

from bot.channels.terminal import TERMINAL_CHAT_ID, TerminalChat, run_chat
from bot.content.html import to_plain_text
from bot.content.loader import Knowledge
from bot.core.dialogue import Dialogue
from bot.core.state import ConversationState
from bot.service.clinic import ClinicService
from bot.storage.sqlite.store import SqliteStore
from tests.conftest import run_bot

BOOKING_URL = "https://booking.example.org/spine?from=bot&lang=en"
SCRIPT = "hi\nhow does stress cause back pain\ncellgel?\n"


def answer_plain(knowledge: Knowledge, entry_id: str) -> str:
    return to_plain_text(knowledge.entries[entry_id].answer).strip()


def numbered(output: str) -> list[tuple[int, str]]:
    return [(int(n), label) for n, label in re.findall(r"^  \[(\d+)\] (.+)$", output, re.M)]


def test_piped_chat_answers_each_line(knowledge: Knowledge) -> None:
    result = run_bot("chat", stdin=SCRIPT)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    for line in SCRIPT.splitlines():
        assert f"> {line}\n" in out  # piped input is echoed
    for entry_id in ("greeting", "how_stress_causes_pain", "cellgel_what"):
        assert answer_plain(knowledge, entry_id) in out, entry_id
    assert "<b>" not in out and "<i>" not in out and "&amp;" not in out
    stress = out[out.index("> how does stress cause back pain") : out.index("> cellgel?")]
    # Buttons are numbered from 1; the entry's own follow-ups are all there (neighbours on the
    # same subject come first, so one of them may have moved up), and the menu is last.
    buttons = numbered(stress)
    assert [number for number, _ in buttons] == list(range(1, len(buttons) + 1))
    titles = [title for _, title in buttons]
    own = [knowledge.entries[target].title for target in knowledge.entries["how_stress_causes_pain"].follow_ups]
    assert set(own) <= set(titles)
    assert titles[-1] == knowledge.ui.buttons["menu"]
    assert "Source: our article" in stress


def test_scripted_selfcheck_by_numbers_reaches_the_result(knowledge: Knowledge) -> None:
    questions = knowledge.selfcheck.questions
    # screening buttons: [1] Yes [2] No [3] Not sure [4] Stop; questions: [1] Yes [2] No [3] Not sure
    answers = ["1"] + ["2"] * (len(questions) - 1)
    script = "/selfcheck\n2\n" + "\n".join(answers) + "\n1\n"
    result = run_bot("chat", stdin=script, BOOKING_URL=BOOKING_URL)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for number in range(1, len(questions) + 1):
        assert f"Question {number} of {len(questions)}" in out
    assert f"You said yes to 1 of {len(questions)} signs" in out
    assert f"• {questions[0].summary}" in out
    assert to_plain_text(knowledge.selfcheck.texts["self_care"]).strip() in out
    assert f"[1] {knowledge.ui.buttons['book']} -> {BOOKING_URL}" in out
    # "1" on the result presses the booking button: a link, so it is printed, not sent
    assert out.rstrip().endswith(f"(open this link in your browser: {BOOKING_URL})")


def test_bare_command_without_token_is_the_chat() -> None:
    chat = run_bot("chat", stdin=SCRIPT)
    bare = run_bot(stdin=SCRIPT)
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout == chat.stdout
    assert "TELEGRAM_BOT_TOKEN" not in bare.stderr


def test_chat_refuses_to_start_on_broken_knowledge(tmp_path) -> None:
    result = run_bot("chat", stdin=SCRIPT, KNOWLEDGE_DIR=str(tmp_path / "missing"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "python -m bot check" in result.stderr


# --------------------------------------------------------------------------- in-process


def terminal(dialogue: Dialogue, out: io.StringIO) -> TerminalChat:
    """A terminal chat on the shared dialogue with a fresh in-memory store."""
    return TerminalChat(ClinicService(dialogue.knowledge, SqliteStore(None), dialogue=dialogue), out)


def state_of(chat: TerminalChat) -> ConversationState:
    return ConversationState.from_json(chat.service.store.load_state(TERMINAL_CHAT_ID))


def test_numbers_press_buttons_and_others_are_text(dialogue: Dialogue, knowledge: Knowledge) -> None:
    out = io.StringIO()
    chat = terminal(dialogue, out)
    chat.send("/start\n")
    assert len(chat.choices) == 5
    chat.send("1")  # "Ask a question"
    assert to_plain_text(knowledge.ui.texts["ask_prompt"]).strip() in out.getvalue()
    before = out.getvalue()
    chat.send("99")  # no such button: sent as text
    assert to_plain_text(knowledge.ui.texts["fallback"]).strip() in out.getvalue()[len(before) :]


def test_command_with_payload(dialogue: Dialogue, knowledge: Knowledge) -> None:
    out = io.StringIO()
    chat = terminal(dialogue, out)
    chat.send("/start selfcheck")
    assert state_of(chat).selfcheck is not None
    assert to_plain_text(knowledge.selfcheck.texts["intro"]).strip() in out.getvalue()


def test_toast_is_printed_in_brackets(dialogue: Dialogue, knowledge: Knowledge) -> None:
    out = io.StringIO()
    chat = terminal(dialogue, out)
    chat.send("/selfcheck")
    old_no = chat.choices[1]
    chat.send("2")
    chat.choices.append(old_no)  # an old button, as if still on screen
    chat.send(str(len(chat.choices)))
    assert f"({knowledge.ui.texts['stale_button']})" in out.getvalue()


def test_run_chat_ends_at_end_of_input(dialogue: Dialogue) -> None:
    out = io.StringIO()
    assert run_chat(terminal(dialogue, out).service, io.StringIO("hi\n"), out) == 0
    assert out.getvalue().startswith("> hi\n")
