"""Texts the Telegram adapter sends on its own (a flood warning, a note about an edited message).

They live in knowledge/notices.yaml like every other word a patient reads, and are checked as
Telegram would check them (python -m bot check and at start), so a typo cannot make Telegram
reject the one message that explains what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.content.html import html_problems

FILE_NAME = "notices.yaml"
KEYS = ("slow_down", "edited_in_flow")


class NoticesError(Exception):
    """notices.yaml is missing something; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Notices:
    slow_down: str
    edited_in_flow: str


def load_notices(knowledge_dir: Path) -> Notices:
    """The notices, or NoticesError naming the file and the key for each problem."""
    path = knowledge_dir / FILE_NAME
    where = f"knowledge/{FILE_NAME}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = f"{type(error).__name__}: {str(error).splitlines()[0]}"
        raise NoticesError([f"{where}: cannot be read ({reason})"]) from None
    texts = data.get("texts") if isinstance(data, dict) else None
    if not isinstance(texts, dict):
        raise NoticesError([f"{where}: missing the mapping 'texts'"])
    problems = [f"{where}: texts: unknown key '{key}' (a typo?)" for key in texts if key not in KEYS]
    values: dict[str, str] = {}
    for key in KEYS:
        text = texts.get(key)
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: texts: '{key}' is missing or empty")
            continue
        problems += [f"{where}: texts: '{key}': {problem}" for problem in html_problems(text.strip())]
        values[key] = text.strip()
    if problems:
        raise NoticesError(problems)
    return Notices(**values)
