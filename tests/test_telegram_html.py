"""bot.content.html: the HTML subset Telegram accepts, and length as Telegram counts it."""

from __future__ import annotations

import pytest

from bot.content.html import html_problems, to_plain_text, visible_length

VALID = [
    "plain text, no markup at all",
    "<b>bold <i>bold italic</i></b> and <i>italic</i>",
    "<strong>s</strong> <em>e</em> <u>u</u> <ins>i</ins> <s>s</s> <strike>x</strike> <del>d</del>",
    '<a href="https://example.com/book?a=1&amp;b=2">book</a>',
    '<a href="http://example.com">http</a> and <a href="tg://user?id=1">user</a>',
    "&amp; &lt; &gt; &quot; &#123; &#x1F600;",
    "fish &amp; chips, 1 &lt; 2",
    '<span class="tg-spoiler">hidden</span> <tg-spoiler>also hidden</tg-spoiler>',
    '<pre><code class="language-python">x = 1</code></pre>',
    "<blockquote expandable>quoted</blockquote>",
    "line one\nline two\n• bullet",
    "emoji 😀 and Japanese 腰痛",
]

INVALID = [
    ("<div>block</div>", "<div>"),
    ("<p>paragraph</p>", "<p>"),
    ("<br>", "<br>"),
    ("<b>never closed", "never closed"),
    ("text</b>", "does not match"),
    ("<b><i>misnested</b></i>", "does not match"),
    ('<b class="x">bold</b>', "attribute 'class'"),
    ('<a title="x" href="https://example.com">x</a>', "attribute 'title'"),
    ('<a href="javascript:alert(1)">x</a>', "must start with"),
    ('<a href="example.com">x</a>', "must start with"),
    ("<span>needs a class</span>", "tg-spoiler"),
    ("1 < 2", "bare '<'"),
    ("a <3 b", "bare '<'"),
    ("2 > 1", "'>'"),
    ("salt & pepper", "bare '&'"),
    ("&amp without semicolon", "bare '&'"),
    ("&nbsp;", "&nbsp;"),
    ("<br/>", "self-closing"),
    ("<!-- note -->", "comments"),
]


@pytest.mark.parametrize("text", VALID)
def test_accepts_what_telegram_accepts(text: str) -> None:
    assert html_problems(text) == []


@pytest.mark.parametrize(("text", "expected"), INVALID)
def test_rejects_what_telegram_rejects(text: str, expected: str) -> None:
    problems = html_problems(text)
    assert problems, f"{text!r} should be rejected"
    assert any(expected in problem for problem in problems), problems


def test_each_problem_is_reported_once() -> None:
    problems = html_problems("a & b & c <x>y</x> <x>z</x>")
    assert len(problems) == len(set(problems))
    assert sum("bare '&'" in problem for problem in problems) == 1


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("", 0),
        ("abc", 3),
        ("<b>abc</b>", 3),
        ("&amp;", 1),
        ("&lt;b&gt;", 3),
        ('<a href="https://example.com/very/long/url">x</a>', 1),
        ("😀", 2),  # one emoji is a surrogate pair: two UTF-16 units
        ("👍🏽", 4),  # emoji + skin tone modifier
        ("腰痛", 2),  # BMP characters are one unit each
        ("é", 1),
    ],
)
def test_visible_length_counts_utf16_units_without_tags(text: str, length: int) -> None:
    assert visible_length(text) == length


def test_plain_text_drops_tags_keeps_links_and_unescapes() -> None:
    text = '<b>Book</b> <a href="https://example.com/b">here</a> &amp; now &lt;3'
    assert to_plain_text(text) == "Book here (https://example.com/b) & now <3"
