"""Removes personal data from a patient's words before they are kept for the staff report.

Why: the questions the bot could not answer are kept (up to 90 days) so the clinic can improve
its answers, and patients type their name, number or address into them. What the report needs
is the question, not the person: phone numbers, e-mail addresses, street addresses, postcodes
and names after "I'm / my name is / call me" are replaced by a placeholder. Deliberately
eager: a few ordinary words lost from the report cost less than one name kept.
"""

from __future__ import annotations

import re

PHONE = "[phone]"
EMAIL = "[e-mail]"
ADDRESS = "[address]"
NAME = "[name]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# Seven or more digits, possibly split by spaces, dots, dashes, slashes or brackets, with an
# optional + in front: 090-1234-5678, +81 3 1234 5678, (03) 1234-5678, 09012345678.
_PHONE = re.compile(r"(?<![\w])\+?(?:[\d０-９][\s().\-/‐－]{0,3}){6,}[\d０-９](?![\w])")
_POSTCODE = re.compile(r"〒\s*\d{3}-?\d{4}|\b\d{3}-\d{4}\b")
# Japanese block addresses (2-14-7, 1丁目2番3号) and "12 Main Street" style addresses, with the
# place names that follow them (Jingumae, Shibuya-ku, Minato City...).
_PLACE_WORDS = r"(?:[\s,、]+[A-Z][\w'-]*(?:-(?:ku|shi|cho|machi|ken|to|fu))?)"
_BLOCK = re.compile(r"\b\d{1,4}(?:\s*[-‐－]\s*\d{1,4}){2,3}\b" + _PLACE_WORDS + "{0,4}")
_CHOME = re.compile(r"\d+\s*丁目(?:\s*\d+\s*番(?:地)?)?(?:\s*\d+\s*号)?")
_STREET = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][\w'-]*\s+){1,3}"
    r"(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|way|place|pl|court|ct)\b\.?"
    + _PLACE_WORDS
    + "{0,3}",
    re.IGNORECASE,
)
_LIVE_AT = re.compile(r"\b(?:i\s+live\s+(?:at|in|on)|my\s+address\s+is|address\s*:)\s+[^.!?\n]{1,80}", re.IGNORECASE)
_NAMED = re.compile(
    r"\b((?i:my\s+name\s+is|my\s+name's|name\s*:|i\s+am\s+called|i'm\s+called))\s+"
    r"((?:[^\W\d_][\w'-]*)(?:\s+[^\W\d_][\w'-]*){0,2})",
    re.UNICODE,
)
# "I'm Taro", "I am Yamada Taro", "call me Ken", "this is Hanako": capitalised words only
# ("I'm worried", "call me back" stay).
_IM = re.compile(r"\b((?i:i'm|i’m|im|i\s+am|call\s+me|this\s+is))\s+((?:[A-Z][\w'-]*)(?:\s+[A-Z][\w'-]*){0,2})\b")
_NOT_NAMES = frozenset({"I", "A", "An", "The", "So", "Not", "In", "At", "On", "Just", "Very", "Really", "Still"})
_NOT_NAME_WORDS = frozenset({"and", "but", "i", "my", "from", "with", "im", "i'm", "the", "a", "so", "please"})


def scrub(text: str) -> str:
    """`text` with phone numbers, e-mail addresses, street addresses and names replaced."""
    text = _EMAIL.sub(EMAIL, text)
    text = _LIVE_AT.sub(lambda m: m.group(0).split()[0] + " " + _address_lead(m.group(0)) + ADDRESS, text)
    text = _STREET.sub(ADDRESS, text)
    text = _CHOME.sub(ADDRESS, text)
    text = _PHONE.sub(PHONE, text)
    text = _POSTCODE.sub(ADDRESS, text)
    text = _BLOCK.sub(ADDRESS, text)
    text = _NAMED.sub(_named, text)
    return _IM.sub(_name_after_im, text)


def _named(match: re.Match[str]) -> str:
    """After "my name is": the name, up to a word that cannot be part of it ("and", "my")."""
    words = match.group(2).split()
    kept = []
    for index, word in enumerate(words):
        if index and word.lower() in _NOT_NAME_WORDS:
            kept = words[index:]
            break
    return " ".join([match.group(1), NAME, *kept])


def _address_lead(phrase: str) -> str:
    """The words of "I live at / my address is" kept before the placeholder."""
    words = phrase.split()
    lead = []
    for word in words[1:]:
        lead.append(word)
        if word.lower().rstrip(":") in ("at", "in", "on", "is", "address"):
            break
    return " ".join(lead) + " "


def _name_after_im(match: re.Match[str]) -> str:
    words = match.group(2).split()
    if words[0] in _NOT_NAMES:
        return match.group(0)
    return f"{match.group(1)} {NAME}"
