"""Buttons more than one part of the core shows, each built in one place."""

from __future__ import annotations

from bot.content.loader import Knowledge
from bot.core.actions import Simple
from bot.core.replies import Button, Keyboard


def menu_button(knowledge: Knowledge) -> Button:
    return Button(knowledge.ui.buttons["menu"], action=Simple("menu").encode())


def menu_only(knowledge: Knowledge) -> Keyboard:
    """A keyboard with just the "Menu" button."""
    return ((menu_button(knowledge),),)


def booking_button(knowledge: Knowledge) -> Button:
    """The clinic's booking link."""
    return Button(knowledge.ui.buttons["book"], url=knowledge.settings.booking_url)


def request_button(knowledge: Knowledge) -> Button:
    """ "Ask for a call back": starts a call-back request."""
    return Button(knowledge.request.buttons["request"], action=Simple("request").encode())
