"""Checks text against the HTML subset Telegram accepts, so broken content is caught at start.

Telegram rejects a whole message ("can't parse entities") for one stray tag or entity, and the
patient then gets nothing; `python -m bot check` runs every text through this first.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

ALLOWED_TAGS: dict[str, frozenset[str]] = {
    "b": frozenset(),
    "strong": frozenset(),
    "i": frozenset(),
    "em": frozenset(),
    "u": frozenset(),
    "ins": frozenset(),
    "s": frozenset(),
    "strike": frozenset(),
    "del": frozenset(),
    "tg-spoiler": frozenset(),
    "span": frozenset({"class"}),
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),
    "pre": frozenset(),
    "blockquote": frozenset({"expandable"}),
}
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_TAG_LIKE = re.compile(r"</?[a-zA-Z][^<>]*>")


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.problems: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}> is not supported by Telegram")
            return
        for name, value in attrs:
            if name not in ALLOWED_TAGS[tag]:
                self.problems.append(f"attribute '{name}' is not allowed on <{tag}>")
            elif tag == "a" and not (value or "").startswith(("http://", "https://", "tg://")):
                self.problems.append(f"link '{value}' must start with http://, https:// or tg://")
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            self.problems.append('<span> needs class="tg-spoiler"')
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing <{tag}/> is not supported by Telegram")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            expected = f"</{self.open[-1]}>" if self.open else "no closing tag"
            self.problems.append(f"</{tag}> does not match: expected {expected}")
            if tag in self.open:
                del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]
            return
        self.open.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in {"lt", "gt", "amp", "quot"}:
            self.problems.append(f"entity &{name}; is not supported (use &lt; &gt; &amp; &quot;)")

    def handle_comment(self, data: str) -> None:
        self.problems.append("HTML comments are not supported by Telegram")


def html_problems(text: str) -> list[str]:
    """Return what Telegram would reject in `text` (parse_mode HTML); empty when it is valid."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    problems = checker.problems
    problems.extend(f"<{tag}> is never closed" for tag in checker.open)
    without_tags = _TAG_LIKE.sub("", text)
    if "<" in without_tags or ">" in without_tags:
        problems.append("a bare '<' or '>' must be written &lt; or &gt;")
    for match in re.finditer("&", text):
        if not _ENTITY.match(text, match.start()):
            problems.append("a bare '&' must be written &amp;")
            break
    return list(dict.fromkeys(problems))


def visible_length(text: str) -> int:
    """Length Telegram counts against its 4,096 limit: the text without tags, in UTF-16 units."""
    import html

    plain = html.unescape(_TAG_LIKE.sub("", text))
    return len(plain.encode("utf-16-le")) // 2


def to_plain_text(text: str) -> str:
    """Render Telegram HTML as plain text for the terminal chat: tags dropped, links kept."""
    import html

    with_links = re.sub(r'<a href="([^"]*)">(.*?)</a>', r"\2 (\1)", text, flags=re.S)
    return html.unescape(_TAG_LIKE.sub("", with_links))
