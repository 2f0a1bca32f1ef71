"""Telegram formatting parsers (HTML, MarkdownV2, legacy Markdown) for the fake server.

These are independent re-implementations of https://core.telegram.org/bots/api#formatting-options
so that markup real Telegram rejects also fails in tests, with the same style of
"can't parse entities: ..." message.  Offsets follow Telegram's conventions: error positions
are UTF-8 byte offsets into the source, entity offsets/lengths are UTF-16 code units.

``strict=True`` (the default) is deliberately a little stricter than Telegram: unknown tag
attributes and unknown named character references ("&nbsp;") are errors instead of being
silently ignored / kept literally, because they almost always mean the bot escaped badly.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

_SPACE = " \t\n\r\v\f"
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del",
        "span", "tg-spoiler", "tg-emoji", "code", "pre", "blockquote",
    }
)  # fmt: skip
_HTML_ENTITY_TYPE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_HTML_ATTRIBUTES = {
    "a": {"href"},
    "code": {"class"},
    "span": {"class"},
    "tg-emoji": {"emoji-id"},
    "blockquote": {"expandable"},
}
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_TYPE_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


class EntityParseError(ValueError):
    """The detail after "Bad Request: can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _Out:
    """Accumulates visible text while tracking the UTF-16 position."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.chars = 0

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.pos += utf16_len(chunk)
        self.chars += len(chunk)

    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class _Open:
    tag: str  # HTML tag name or entity type
    start: int  # UTF-16 offset in the output
    source_index: int  # index into the source, for error messages
    argument: str | None = None
    language: str | None = None
    expandable: bool = False
    char_start: int = 0


def _entity(kind: str, offset: int, length: int, **extra: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": kind, "offset": offset, "length": length}
    entity.update({k: v for k, v in extra.items() if v is not None})
    return entity


def finalize(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace like Telegram does and shift/clip entities to match."""
    stripped = text.strip()
    if stripped == text:
        body, lead = text, 0
    else:
        lead = utf16_len(text[: len(text) - len(text.lstrip())])
        body = stripped
    total = utf16_len(body)
    result = []
    for entity in entities:
        start = max(0, entity["offset"] - lead)
        end = min(total, entity["offset"] + entity["length"] - lead)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    result.sort(key=lambda e: (e["offset"], -e["length"]))
    return body, result


# --------------------------------------------------------------------------- HTML


def _decode_reference(text: str, i: int, strict: bool) -> tuple[str, int] | None:
    """Decode a character reference at text[i] == '&'; None means keep '&' literally."""
    n = len(text)
    j = i + 1
    if j < n and text[j] == "#":
        j += 1
        hexadecimal = j < n and text[j] in "xX"
        if hexadecimal:
            j += 1
        start = j
        digits = string.hexdigits if hexadecimal else string.digits
        while j < n and text[j] in digits:
            j += 1
        code = int(text[start:j], 16 if hexadecimal else 10) if j > start else -1
        if code <= 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            if strict:
                raise EntityParseError(f"Invalid numeric character reference at byte offset {_byte_offset(text, i)}")
            return None
        if j < n and text[j] == ";":
            j += 1
        return chr(code), j
    start = j
    while j < n and text[j].isascii() and text[j].isalpha():
        j += 1
    name = text[start:j]
    if name in _NAMED_ENTITIES:
        if j < n and text[j] == ";":
            j += 1
        return _NAMED_ENTITIES[name], j
    if strict and name and j < n and text[j] == ";":
        raise EntityParseError(
            f'Unsupported HTML entity "&{name};" at byte offset {_byte_offset(text, i)}; '
            "only &lt; &gt; &amp; &quot; and numeric references are allowed"
        )
    return None


def _decode_attribute(text: str, start: int, end: int, strict: bool) -> str:
    out: list[str] = []
    i = start
    while i < end:
        if text[i] == "&":
            decoded = _decode_reference(text[:end], i, strict)
            if decoded is not None:
                out.append(decoded[0])
                i = decoded[1]
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def parse_html(text: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram's HTML subset into (visible text, entities) or raise EntityParseError."""
    out = _Out()
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_reference(text, i, strict)
            if decoded is None:
                out.add("&")
                i += 1
            else:
                out.add(decoded[0])
                i = decoded[1]
            continue
        if c != "<":
            j = i
            while j < n and text[j] not in "<&":
                j += 1
            out.add(text[i:j])
            i = j
            continue

        begin = i
        offset = _byte_offset(text, begin)
        i += 1
        if i < n and text[i] == "/":
            i += 1
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {offset}")
            name_start = i
            while i < n and text[i] not in _SPACE and text[i] != ">":
                i += 1
            end_name = text[name_start:i].lower()
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n or text[i] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {offset}")
            i += 1
            top = stack.pop()
            if end_name and end_name != top.tag:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{top.tag}>", found "</{end_name}>"'
                )
            _close_html(top, stack, out.pos, entities)
            continue

        name_start = i
        while i < n and text[i] not in _SPACE and text[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
        tag = text[name_start:i].lower()
        if tag not in _HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {offset}')
        attributes: dict[str, str] = {}
        while True:
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n:
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if text[i] == ">":
                i += 1
                break
            attr_start = i
            while i < n and text[i] not in _SPACE and text[i] not in "=>":
                i += 1
            attr_name = text[attr_start:i].lower()
            if not attr_name:
                raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n:
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if text[i] != "=":
                if tag == "blockquote" and attr_name == "expandable":
                    attributes[attr_name] = ""
                    continue
                raise EntityParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {offset}'
                )
            i += 1
            while i < n and text[i] in _SPACE:
                i += 1
            if i >= n:
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if text[i] in "\"'":
                quote = text[i]
                end = text.find(quote, i + 1)
                if end < 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
                value = _decode_attribute(text, i + 1, end, strict)
                i = end + 1
            else:
                value_start = i
                while i < n and ((text[i].isascii() and text[i].isalnum()) or text[i] in ".-"):
                    i += 1
                value = text[value_start:i].lower()
                if i >= n or (text[i] not in _SPACE and text[i] != ">"):
                    raise EntityParseError(
                        f"Unexpected end of name token at byte offset {_byte_offset(text, value_start)}"
                    )
            if i < n and text[i] not in _SPACE and text[i] != ">":
                raise EntityParseError(
                    f'Expected space or ">" after an attribute value of the tag "{tag}" at byte offset {offset}'
                )
            if strict and attr_name not in _HTML_ATTRIBUTES.get(tag, ()):
                raise EntityParseError(
                    f'Unsupported attribute "{attr_name}" in the tag "{tag}" at byte offset {offset}'
                )
            attributes[attr_name] = value

        node = _Open(tag=tag, start=out.pos, source_index=begin)
        if tag == "span":
            if attributes.get("class") != "tg-spoiler":
                raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        elif tag == "a":
            node.argument = attributes.get("href")
        elif tag == "code":
            css = attributes.get("class", "")
            if css.startswith("language-") and len(css) > len("language-"):
                node.language = css[len("language-") :]
        elif tag == "tg-emoji":
            emoji_id = attributes.get("emoji-id", "")
            if not emoji_id.isdigit() or int(emoji_id) == 0:
                raise EntityParseError(f"Invalid custom emoji identifier specified at byte offset {offset}")
            node.argument = emoji_id
        elif tag == "blockquote":
            node.expandable = "expandable" in attributes
        stack.append(node)

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return finalize(out.text(), entities)


def _close_html(node: _Open, stack: list[_Open], end: int, entities: list[dict[str, Any]]) -> None:
    """Turn a closed tag into an entity, applying Telegram's pre/code merging rules."""
    length = end - node.start
    if node.tag == "code" and stack and stack[-1].tag == "pre":
        # <pre><code class="language-x"> is one pre entity with a language.
        if node.language and stack[-1].start == node.start:
            stack[-1].language = node.language
        return
    if any(parent.tag in ("pre", "code") for parent in stack):
        return  # pre/code can't contain other entities; Telegram drops them.
    if length <= 0:
        return
    kind = _HTML_ENTITY_TYPE[node.tag]
    if node.tag == "a":
        if not node.argument:
            return
        entities.append(_entity(kind, node.start, length, url=node.argument))
    elif node.tag == "tg-emoji":
        entities.append(_entity(kind, node.start, length, custom_emoji_id=node.argument))
    elif node.tag == "pre":
        entities.append(_entity(kind, node.start, length, language=node.language))
    elif node.tag == "blockquote":
        kind = "expandable_blockquote" if node.expandable else "blockquote"
        entities.append(_entity(kind, node.start, length))
    else:
        entities.append(_entity(kind, node.start, length))


# --------------------------------------------------------------------------- MarkdownV2


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 into (visible text, entities) or raise EntityParseError."""
    out = _Out()
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    quote: _Open | None = None
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        top = stack[-1] if stack else None
        in_code = top is not None and top.tag in ("code", "pre")
        line_start = i == 0 or text[i - 1] == "\n"

        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        if not in_code and line_start:
            if text.startswith("**>", i) and quote is None:
                quote = _Open("blockquote", out.pos, i, expandable=True)
                i += 3
                continue
            if c == ">":
                if quote is None:
                    quote = _Open("blockquote", out.pos, i)
                i += 1
                continue
        if c == "\n" and quote is not None and not in_code and not text.startswith(">", i + 1):
            _close_quote(quote, out.pos, entities)
            quote = None
        if (
            quote is not None
            and quote.expandable
            and not in_code
            and text.startswith("||", i)
            and (i + 2 == n or text[i + 2] == "\n")
            and not (top is not None and top.tag == "spoiler")
        ):
            i += 2
            continue
        if c not in (("`",) if in_code else _MDV2_RESERVED):
            out.add(c)
            i += 1
            continue

        if top is not None and _mdv2_is_end(top.tag, text, i):
            stack.pop()
            length = out.pos - top.start
            if top.tag in ("underline", "spoiler"):
                i += 2
            elif top.tag == "pre":
                i += 3
            elif top.tag in ("text_link", "custom_emoji"):
                i += 1
                url: str | None = None
                if i < n and text[i] == "(":
                    i += 1
                    url_start = i
                    chars: list[str] = []
                    while i < n and text[i] != ")":
                        if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                            chars.append(text[i + 1])
                            i += 2
                            continue
                        chars.append(text[i])
                        i += 1
                    if i >= n:
                        offset = _byte_offset(text, url_start)
                        raise EntityParseError(f"Can't find end of a URL at byte offset {offset}")
                    i += 1
                    url = "".join(chars)
                if top.tag == "custom_emoji":
                    match = re.fullmatch(r"tg://emoji\?id=(\d+)", url or "")
                    if match is None:
                        raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                    top.argument = match.group(1)
                else:
                    top.argument = url if url is not None else out.text()[top.char_start :]
            else:
                i += 1
            if length > 0 and not any(p.tag in ("pre", "code") for p in stack):
                if top.tag == "text_link":
                    if top.argument:
                        entities.append(_entity("text_link", top.start, length, url=top.argument))
                elif top.tag == "custom_emoji":
                    entities.append(_entity("custom_emoji", top.start, length, custom_emoji_id=top.argument))
                elif top.tag == "pre":
                    entities.append(_entity("pre", top.start, length, language=top.language))
                else:
                    entities.append(_entity(top.tag, top.start, length))
            continue

        node = _Open("", out.pos, i, char_start=out.chars)
        if c == "_":
            if text.startswith("__", i):
                node.tag, i = "underline", i + 2
            else:
                node.tag, i = "italic", i + 1
        elif c == "*":
            node.tag, i = "bold", i + 1
        elif c == "~":
            node.tag, i = "strikethrough", i + 1
        elif c == "|" and text.startswith("||", i):
            node.tag, i = "spoiler", i + 2
        elif c == "[":
            node.tag, i = "text_link", i + 1
        elif c == "!" and text.startswith("![", i):
            node.tag, i = "custom_emoji", i + 2
        elif c == "`":
            if text.startswith("```", i):
                node.tag, i = "pre", i + 3
                newline = text.find("\n", i)
                if newline >= 0:
                    language = text[i:newline]
                    if language and not any(ch in language for ch in " `\\"):
                        node.language = language
                        i = newline + 1
            else:
                node.tag, i = "code", i + 1
        else:
            raise EntityParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        stack.append(node)

    if stack:
        top = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_TYPE_NAMES[top.tag]} entity at byte offset "
            f"{_byte_offset(text, top.source_index)}"
        )
    if quote is not None:
        _close_quote(quote, out.pos, entities)
    return finalize(out.text(), entities)


def _close_quote(quote: _Open, end: int, entities: list[dict[str, Any]]) -> None:
    if end > quote.start:
        kind = "expandable_blockquote" if quote.expandable else "blockquote"
        entities.append(_entity(kind, quote.start, end - quote.start))


def _mdv2_is_end(kind: str, text: str, i: int) -> bool:
    c = text[i]
    nxt = text[i + 1] if i + 1 < len(text) else ""
    return {
        "bold": c == "*",
        "italic": c == "_" and nxt != "_",
        "underline": c == "_" and nxt == "_",
        "strikethrough": c == "~",
        "spoiler": c == "|" and nxt == "|",
        "code": c == "`",
        "pre": text.startswith("```", i),
        "text_link": c == "]",
        "custom_emoji": c == "]",
    }[kind]


# --------------------------------------------------------------------------- legacy Markdown


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Markdown (no nesting, '\\' escapes only _*`[) or raise EntityParseError."""
    out = _Out()
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.add(c)
            i += 1
            continue
        begin = i
        error = EntityParseError(f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}")
        start = out.pos
        if text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise error
            inner = text[i + 3 : end]
            language = None
            first, sep, rest = inner.partition("\n")
            if sep and first and " " not in first:
                language, inner = first, rest
            out.add(inner)
            if inner:
                entities.append(_entity("pre", start, out.pos - start, language=language))
            i = end + 3
            continue
        if c == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise error
            out.add(text[i + 1 : end])
            i = end + 1
            if i < n and text[i] == "(":
                close = text.find(")", i + 1)
                if close < 0:
                    raise error
                url = text[i + 1 : close]
                if url and out.pos > start:
                    entities.append(_entity("text_link", start, out.pos - start, url=url))
                i = close + 1
            continue
        end = text.find(c, i + 1)
        if end < 0:
            raise error
        out.add(text[i + 1 : end])
        if out.pos > start:
            kind = {"*": "bold", "_": "italic", "`": "code"}[c]
            entities.append(_entity(kind, start, out.pos - start))
        i = end + 1
    return finalize(out.text(), entities)


def parse_formatted(text: str, parse_mode: str | None, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Dispatch on parse_mode (case-insensitive like Telegram); ValueError for unknown modes."""
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return finalize(text, [])
    if mode == "html":
        return parse_html(text, strict=strict)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise ValueError(parse_mode)


_AUTO_ENTITY = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?)"
    r"|(?P<mention>(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31})"
    r"|(?P<url>\bhttps?://[^\s<>]+)"
)


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram adds to incoming user text by itself (commands, mentions, URLs)."""
    entities = []
    for match in _AUTO_ENTITY.finditer(text):
        kind = match.lastgroup or "url"
        offset = utf16_len(text[: match.start()])
        entities.append(_entity(kind, offset, utf16_len(match.group())))
    return entities
