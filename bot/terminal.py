"""The terminal chat: the same dialogue core as Telegram, with buttons as numbered choices.

Works interactively and with piped input (one patient message per line), so a conversation can
be scripted: `printf 'hi\\ncellgel?\\n' | python -m bot chat`.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.dialogue import Dialogue, Turn
from bot.replies import Button, Reply, UserInput
from bot.state import ConversationState
from bot.telegram_html import to_plain_text


class TerminalChat:
    def __init__(self, dialogue: Dialogue, output: TextIO) -> None:
        self.dialogue = dialogue
        self.output = output
        self.state = ConversationState()
        self.choices: list[Button] = []  # the numbered buttons on screen

    def send(self, line: str) -> None:
        """Handle one typed line: a number presses a button, /command runs a command."""
        line = line.rstrip("\r\n")
        stripped = line.strip()
        if stripped.isdigit() and 1 <= int(stripped) <= len(self.choices):
            button = self.choices[int(stripped) - 1]
            if button.url is not None:
                self._print(f"(open this link in your browser: {button.url})")
                return
            self.show(self.dialogue.handle(self.state, UserInput.action(button.action or "")))
            return
        if stripped.startswith("/") and len(stripped) > 1:
            name, _, payload = stripped[1:].partition(" ")
            self.show(self.dialogue.handle(self.state, UserInput.command(name, payload.strip())))
            return
        self.show(self.dialogue.handle(self.state, UserInput.text(line)))

    def show(self, turn: Turn) -> None:
        self.state = turn.state
        if turn.toast:
            self._print(f"({turn.toast})")
        for reply in turn.replies:
            self._render(reply)

    def _render(self, reply: Reply) -> None:
        self._print(to_plain_text(reply.text).strip())
        if reply.buttons:
            self.choices = [button for row in reply.buttons for button in row]
            for number, button in enumerate(self.choices, start=1):
                link = f" -> {button.url}" if button.url else ""
                self._print(f"  [{number}] {button.label}{link}")
        self._print("")

    def _print(self, text: str) -> None:
        self.output.write(text + "\n")
        self.output.flush()


def run_chat(dialogue: Dialogue, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Chat until end of input (Ctrl-D) or Ctrl-C. Piped input is echoed so transcripts read well."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    chat = TerminalChat(dialogue, stdout)
    interactive = stdin.isatty()
    if interactive:
        chat.send("/start")
    try:
        while True:
            if interactive:
                stdout.write("you> ")
                stdout.flush()
            line = stdin.readline()
            if not line:
                return 0
            if not interactive:
                stdout.write(f"> {line.rstrip()}\n")
            chat.send(line)
    except KeyboardInterrupt:
        stdout.write("\n")
        return 0
