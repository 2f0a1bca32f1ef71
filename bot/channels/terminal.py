"""The terminal chat: the same dialogue core as Telegram, with buttons as numbered choices.

Works interactively and with piped input (one patient message per line), so a conversation can
be scripted: `printf 'hi\\ncellgel?\\n' | python -m bot chat`.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.content.html import to_plain_text
from bot.core.replies import Button, Reply, UserInput
from bot.service.clinic import ClinicService

TERMINAL_CHAT_ID = "term:1"  # one patient at the keyboard


class TerminalChat:
    """One patient at the keyboard. Uses the same service and store code as Telegram; the store
    lives in memory, so nothing typed here is kept after the chat ends."""

    def __init__(self, service: ClinicService, output: TextIO) -> None:
        self.service = service
        self.output = output
        self.choices: list[Button] = []  # the numbered buttons on screen

    def send(self, line: str) -> None:
        """Handle one typed line: a number presses a button, /command runs a command."""
        line = line.rstrip("\r\n")
        stripped = line.strip()
        if stripped.isascii() and stripped.isdigit() and 1 <= int(stripped) <= len(self.choices):
            button = self.choices[int(stripped) - 1]
            if button.url is not None:
                self._print(f"(open this link in your browser: {button.url})")
                return
            self._handle(UserInput.action(button.action or ""))
            return
        if stripped.startswith("/") and len(stripped) > 1:
            name, _, payload = stripped[1:].partition(" ")
            self._handle(UserInput.command(name, payload.strip()))
            return
        self._handle(UserInput.text(line))

    def _handle(self, user_input: UserInput) -> None:
        handled = self.service.handle(TERMINAL_CHAT_ID, user_input)
        if handled is not None and handled.toast:
            self._print(f"({handled.toast})")
        self.choices = []
        store = self.service.store
        for item in store.pending(TERMINAL_CHAT_ID):
            self._render(item.reply)
            store.mark_sent(item.id)

    def _render(self, reply: Reply) -> None:
        self._print(to_plain_text(reply.text).strip())
        if reply.share_contact:
            self._print("  (type your phone number)")
        if reply.buttons:
            self.choices = [button for row in reply.buttons for button in row]
            for number, button in enumerate(self.choices, start=1):
                link = f" -> {button.url}" if button.url else ""
                self._print(f"  [{number}] {button.label}{link}")
        self._print("")

    def _print(self, text: str) -> None:
        self.output.write(text + "\n")
        self.output.flush()


def run_chat(service: ClinicService, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Chat until end of input (Ctrl-D) or Ctrl-C. Piped input is echoed so transcripts read well."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    chat = TerminalChat(service, stdout)
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
