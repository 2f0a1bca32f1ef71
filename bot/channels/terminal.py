"""The terminal chat: the same dialogue core as Telegram, with buttons as numbered choices.

A channel like any other (`bot.channels.contract.Channel`): the service queues the replies and
the shared delivery worker sends them here, where sending is printing (no edits in place, plain
text; see TERMINAL_CAPABILITIES). Works interactively and with piped input (one patient message
per line), so a conversation can be scripted: `printf 'hi\\ncellgel?\\n' | python -m bot chat`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.channels.contract import TERMINAL_CAPABILITIES
from bot.channels.delivery import DeliveryWorker
from bot.content.html import to_plain_text
from bot.core.replies import Button, Reply, UserInput
from bot.service.clinic import ClinicService

TERMINAL_PREFIX = "term:"
TERMINAL_CHAT_ID = f"{TERMINAL_PREFIX}1"  # one patient at the keyboard


class TerminalScreen:
    """The terminal as a `Channel`: sending prints a reply with its buttons numbered from 1
    (remembered as `choices`, so a typed number presses one); a press's pop-up answer is
    printed in brackets. Nothing to check, no typing indicator, no inbox to replay."""

    name = "the terminal"
    prefix = TERMINAL_PREFIX
    capabilities = TERMINAL_CAPABILITIES

    def __init__(self, output: TextIO) -> None:
        self.output = output
        self.choices: list[Button] = []  # the numbered buttons on screen
        self._printed = 0

    async def send(self, chat_id: str, reply: Reply) -> int | None:
        self.render(reply)
        self._printed += 1
        return self._printed

    async def edit(self, chat_id: str, message_id: int, reply: Reply) -> int | None:
        return await self.send(chat_id, reply)  # not called (no edits in place): printed anew

    async def answer_press(self, press_id: str, toast: str | None = None) -> None:
        if toast:
            self.print(f"({toast})")

    async def show_typing(self, chat_id: str) -> None:
        return None

    async def check_chat(self, chat_id: str) -> None:
        return None

    async def replay(self, update_id: int, payload: str) -> None:
        return None  # typed lines are handled at once: the terminal keeps no inbox

    def render(self, reply: Reply) -> None:
        self.print(to_plain_text(reply.text).strip())
        if reply.share_contact:
            self.print("  (type your phone number)")
        if reply.buttons:
            self.choices = [button for row in reply.buttons for button in row]
            for number, button in enumerate(self.choices, start=1):
                link = f" -> {button.url}" if button.url else ""
                self.print(f"  [{number}] {button.label}{link}")
        self.print("")

    def print(self, text: str) -> None:
        self.output.write(text + "\n")
        self.output.flush()


class TerminalChat:
    """One patient at the keyboard. Uses the same service, store and delivery worker as
    Telegram; the store lives in memory, so nothing typed here is kept after the chat ends."""

    def __init__(self, service: ClinicService, output: TextIO) -> None:
        self.service = service
        self.screen = TerminalScreen(output)
        self.delivery = DeliveryWorker(self.screen, service.store, service)

    @property
    def choices(self) -> list[Button]:
        """The numbered buttons on screen."""
        return self.screen.choices

    def send(self, line: str) -> None:
        """Handle one typed line: a number presses a button, /command runs a command."""
        line = line.rstrip("\r\n")
        stripped = line.strip()
        if stripped.isascii() and stripped.isdigit() and 1 <= int(stripped) <= len(self.choices):
            button = self.choices[int(stripped) - 1]
            if button.url is not None:
                self.screen.print(f"(open this link in your browser: {button.url})")
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
        asyncio.run(self._deliver(handled.toast if handled is not None else None))

    async def _deliver(self, toast: str | None) -> None:
        if toast:
            await self.screen.answer_press("", toast)
        self.screen.choices = []
        await self.delivery.flush_chat(TERMINAL_CHAT_ID)


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
