"""The knowledge base: everything a patient reads, loaded from `knowledge/` and validated.

`loader.load_knowledge` gives a typed `Knowledge` or a `ContentError` whose lines name file,
entry and field; `html` holds the Telegram HTML rules content must follow; `notices` the
adapter notices.
"""

from bot.content.loader import ContentError, Entry, Knowledge, load_knowledge

__all__ = ["ContentError", "Entry", "Knowledge", "load_knowledge"]
