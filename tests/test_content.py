"""bot.content.loader: the shipped knowledge loads and follows the medical content rules; every editing
mistake comes back as a line naming file, entry and field, never as a traceback."""

from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.content.loader import (
    MAX_ANSWER_CHARS,
    ContentError,
    Knowledge,
    _ContentLoader,  # the loader the bot reads content with, so a round trip is faithful
    load_knowledge,
)
from bot.core.dialogue import Dialogue
from tests.conftest import KNOWLEDGE_DIR, ROOT, run_bot

# --------------------------------------------------------------------------- helpers


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A private copy of knowledge/ to break; problems are named relative to its parent, so as
    'knowledge/...' exactly as for the real folder."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target)
    return target


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml speed with the bot's own rules for what is a boolean."""


_FastLoader.yaml_implicit_resolvers = _ContentLoader.yaml_implicit_resolvers
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def read(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_FastLoader)


def edit(root: Path, file: str, change: Callable[[Any], None]) -> None:
    path = root / file
    data = read(path)
    change(data)
    text = yaml.dump(data, Dumper=_DUMPER, allow_unicode=True, sort_keys=False, width=10_000)
    path.write_text(text, encoding="utf-8")


def entry(data: dict[str, Any], entry_id: str) -> dict[str, Any]:
    return next(item for item in data["entries"] if item["id"] == entry_id)


def edit_entry(root: Path, file: str, entry_id: str, change: Callable[[dict[str, Any]], None]) -> None:
    edit(root, file, lambda data: change(entry(data, entry_id)))


def problems_of(root: Path) -> list[str]:
    with pytest.raises(ContentError) as caught:
        load_knowledge(root)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def assert_problem(problems: list[str], *parts: str) -> str:
    """One problem line contains every part (file, entry, field, words of the message)."""
    matching = [line for line in problems if all(part in line for part in parts)]
    assert matching, f"no problem with {parts} in:\n" + "\n".join(problems)
    assert all("\n" not in line for line in problems)
    return matching[0]


ARTICLE = "entries/article.yaml"
ARTICLE_FILE = "knowledge/entries/article.yaml"


# --------------------------------------------------------------------------- the shipped knowledge


def test_shipped_knowledge_loads(knowledge: Knowledge) -> None:
    assert len(knowledge.entries) >= 20
    assert len(knowledge.selfcheck.questions) == 8  # the article's eight signs
    assert set(knowledge.safety) == {"crisis", "emergency", "urgent"}
    assert knowledge.settings.crisis_lines
    assert {"how_stress_causes_pain", "cellgel_what", "greeting"} <= set(knowledge.entries)


def test_round_trip_of_the_test_helper_changes_nothing(copy: Path) -> None:
    for file in ("entries/article.yaml", "entries/smalltalk.yaml", "ui.yaml", "selfcheck.yaml"):
        edit(copy, file, lambda data: None)
    assert load_knowledge(copy).entries == load_knowledge(KNOWLEDGE_DIR).entries


def test_placeholders_are_filled_and_escaped(copy: Path) -> None:
    knowledge = load_knowledge(copy, {"clinic_name": "Back & Spine <Tokyo>"})
    assert "Back &amp; Spine &lt;Tokyo&gt;" in knowledge.entries["about_article"].answer
    assert "{" not in "".join(entry.answer for entry in knowledge.entries.values())
    assert not any("clinic_name" in warning for warning in knowledge.warnings)


# --------------------------------------------------------------------------- one break each


def test_unknown_field(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "how_stress_causes_pain", lambda e: e.update(colour="red"))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'how_stress_causes_pain'", "field 'colour'", "unknown")


def test_missing_field(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "how_stress_causes_pain", lambda e: e.pop("title"))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'how_stress_causes_pain'", "field 'title'", "missing")


def test_article_entry_without_source(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "sleep", lambda e: e.pop("source"))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'sleep'", "field 'source'", "missing")


def test_duplicate_id_across_two_files(copy: Path) -> None:
    clinic = read(copy / "entries/clinic.yaml")
    twin = entry(clinic, "clinic_contact")
    edit(copy, "entries/out_of_scope.yaml", lambda data: data["entries"].append(twin))
    line = assert_problem(
        problems_of(copy),
        "knowledge/entries/out_of_scope.yaml",
        "entry 'clinic_contact'",
        "field 'id'",
        "duplicate",
    )
    assert "knowledge/entries/clinic.yaml" in line


def test_dangling_follow_up(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "studies", lambda e: e.update(follow_ups=["about_article", "no_such_entry"]))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'studies'", "field 'follow_ups'", "'no_such_entry'")


def test_answer_too_long(copy: Path) -> None:
    long_answer = "Stress can cause back pain. " * 25
    assert len(long_answer) > MAX_ANSWER_CHARS
    edit_entry(copy, ARTICLE, "sleep", lambda e: e.update(answer=long_answer))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'sleep'", "field 'answer'", f"at most {MAX_ANSWER_CHARS}")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("<b>Sleep well.", "never closed"),
        ("<div>Sleep well.</div>", "<div>"),
        ("Sleep & rest.", "bare '&'"),
        ("Sleep&nbsp;well.", "&nbsp;"),
        ('<a href="javascript:alert(1)">Sleep</a>', "must start with"),
    ],
)
def test_html_telegram_would_reject(copy: Path, answer: str, words: str) -> None:
    edit_entry(copy, ARTICLE, "sleep", lambda e: e.update(answer=answer))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'sleep'", "field 'answer'", "Telegram would reject", words)


def test_html_problem_in_ui_text(copy: Path) -> None:
    edit(copy, "ui.yaml", lambda data: data["texts"].update(menu="<b>What now?"))
    assert_problem(problems_of(copy), "knowledge/ui.yaml", "field 'menu'", "never closed")


def test_malformed_yaml_names_the_line(copy: Path) -> None:
    path = copy / "ui.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.append("broken: value: other")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = problems_of(copy)
    line = assert_problem(problems, "knowledge/ui.yaml", "malformed YAML", f"line {len(lines)}")
    assert "Traceback" not in line


def test_unknown_placeholder(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "sleep", lambda e: e.update(answer="Call {clinic_phone} today."))
    line = assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'sleep'", "field 'answer'", "{clinic_phone}")
    assert "{phone}" in line  # it lists what is allowed


def test_broken_placeholder_brace(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "sleep", lambda e: e.update(answer="Sleep {well."))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'sleep'", "field 'answer'", "placeholder")


def test_too_few_questions(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "sleep", lambda e: e.update(questions=e["questions"][:3]))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'sleep'", "field 'questions'", "3 questions")


def test_title_too_long(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "sleep", lambda e: e.update(title="A very good night's sleep, every single night"))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'sleep'", "field 'title'", "40")


def test_bad_id(copy: Path) -> None:
    edit_entry(copy, "entries/smalltalk.yaml", "thanks", lambda e: e.update(id="Thanks-You"))
    assert_problem(problems_of(copy), "knowledge/entries/smalltalk.yaml", "entry 'Thanks-You'", "field 'id'")


def test_bad_kind(copy: Path) -> None:
    edit(copy, "entries/smalltalk.yaml", lambda data: data.update(kind="chitchat"))
    assert_problem(problems_of(copy), "knowledge/entries/smalltalk.yaml", "field 'kind'", "'chitchat'")


def test_unknown_ui_key(copy: Path) -> None:
    edit(copy, "ui.yaml", lambda data: data["texts"].update(welcom="Hello!"))
    assert_problem(problems_of(copy), "knowledge/ui.yaml", "'texts'", "field 'welcom'", "unknown key")


def test_missing_ui_key(copy: Path) -> None:
    edit(copy, "ui.yaml", lambda data: data["buttons"].pop("menu"))
    assert_problem(problems_of(copy), "knowledge/ui.yaml", "'buttons'", "field 'menu'", "missing")


def test_missing_selfcheck_text(copy: Path) -> None:
    edit(copy, "selfcheck.yaml", lambda data: data["texts"].pop("result_none"))
    assert_problem(problems_of(copy), "knowledge/selfcheck.yaml", "field 'result_none'", "missing")


def test_source_not_in_the_list(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "sleep", lambda e: e.update(source="How to Sleep"))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'sleep'", "field 'source'", "'How to Sleep'")


def test_bad_offers_value(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "sleep", lambda e: e.update(offers=["selfcheck", "teleport"]))
    assert_problem(problems_of(copy), ARTICLE_FILE, "entry 'sleep'", "field 'offers'", "'teleport'")


def test_bad_booking_url(copy: Path) -> None:
    edit(copy, "clinic.yaml", lambda data: data.update(booking_url="example.com/book"))
    assert_problem(problems_of(copy), "knowledge/clinic.yaml", "field 'booking_url'", "https://")


def three_breaks(copy: Path, knowledge: Knowledge) -> list[str]:
    """Break two entries no other entry follows up (so nothing else is reported) and ui.yaml;
    return the start of the line each break should give."""
    followed = {target for entry in knowledge.entries.values() for target in entry.follow_ups}
    free = [entry for entry in knowledge.entries.values() if entry.id not in followed]
    first, second = free[0], free[1]
    file_one, file_two = (entry.file.removeprefix("knowledge/") for entry in (first, second))
    edit_entry(copy, file_one, first.id, lambda e: e.update(colour="red"))
    edit_entry(copy, file_two, second.id, lambda e: e.update(answer="<b>hi"))
    edit(copy, "ui.yaml", lambda data: data["texts"].pop("menu"))
    return [
        f"{first.file}: entry '{first.id}': field 'colour': unknown field",
        f"{second.file}: entry '{second.id}': field 'answer': Telegram would reject this HTML",
        "knowledge/ui.yaml: entry 'texts': field 'menu': missing",
    ]


def test_all_problems_are_collected_in_one_pass(copy: Path, knowledge: Knowledge) -> None:
    expected = three_breaks(copy, knowledge)
    problems = problems_of(copy)
    assert len(problems) == 3, problems
    for start in expected:
        assert sum(line.startswith(start) for line in problems) == 1, (start, problems)


def test_one_mistake_in_an_entry_gives_one_line(copy: Path) -> None:
    edit_entry(copy, ARTICLE, "how_stress_causes_pain", lambda e: e.pop("title"))
    assert problems_of(copy) == [f"{ARTICLE_FILE}: entry 'how_stress_causes_pain': field 'title': missing"]


def test_one_typo_in_clinic_yaml_gives_one_line(copy: Path) -> None:
    edit(copy, "clinic.yaml", lambda data: data.update(adress="Tokyo"))
    assert problems_of(copy) == ["knowledge/clinic.yaml: field 'adress': unknown field"]


# --------------------------------------------------------------------------- YAML words


def test_yaml_no_and_yes_stay_words(copy: Path) -> None:
    path = copy / "selfcheck.yaml"
    text = path.read_text(encoding="utf-8")
    for quoted, bare in (('"yes": "Yes"', "yes: Yes"), ('"no": "No"', "no: No")):
        assert quoted in text
        text = text.replace(quoted, bare)
    path.write_text(text, encoding="utf-8")
    ui = copy / "ui.yaml"
    ui_text = ui.read_text(encoding="utf-8")
    assert "  menu: Menu\n" in ui_text
    ui.write_text(ui_text.replace("  menu: Menu\n", "  menu: on\n"), encoding="utf-8")
    knowledge = load_knowledge(copy)
    assert knowledge.selfcheck.buttons["yes"] == "Yes"
    assert knowledge.selfcheck.buttons["no"] == "No"
    assert knowledge.ui.buttons["menu"] == "on"
    assert knowledge.entries["greeting"].menu is True  # true/false are still booleans


# --------------------------------------------------------------------------- `python -m bot check`


def test_check_command_on_broken_copy(copy: Path, knowledge: Knowledge) -> None:
    expected = three_breaks(copy, knowledge)
    result = run_bot("check", KNOWLEDGE_DIR=str(copy))
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "knowledge OK" not in output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4, result.stderr  # one per problem, then the summary
    for start in expected:
        assert sum(line.startswith(start) for line in lines[:3]) == 1, (start, lines)
    assert lines[3].startswith("3 problem(s) found")


def test_check_command_on_malformed_yaml(copy: Path) -> None:
    (copy / "selfcheck.yaml").write_text("screening: [unclosed\n", encoding="utf-8")
    result = run_bot("check", KNOWLEDGE_DIR=str(copy))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "knowledge/selfcheck.yaml: malformed YAML: line " in result.stderr


def test_check_command_on_real_knowledge() -> None:
    result = run_bot("check")
    assert result.returncode == 0, result.stderr
    assert "knowledge OK" in result.stdout
    assert result.stderr == ""


# --------------------------------------------------------------------------- content rules


DOCTOR_DECIDES = "A doctor decides in a consultation whether it suits you."


def test_cellgel_answers_are_attributed_and_end_with_the_doctor(knowledge: Knowledge) -> None:
    cellgel = [entry for entry in knowledge.entries.values() if entry.id.startswith("cellgel")]
    assert len(cellgel) >= 2
    for entry in cellgel:
        assert "Our clinic describes" in entry.answer or "our clinic describes" in entry.answer, entry.id
        assert entry.answer.rstrip().endswith(DOCTOR_DECIDES), entry.id


FORBIDDEN = {
    "cure": re.compile(r"\bcur(e|es|ed|ing)\b", re.I),
    "guarantee": re.compile(r"\bguarantee", re.I),
    "success rate": re.compile(r"success(ful)? rate", re.I),
    "percent": re.compile(r"%|\bper ?cent\b", re.I),
    "yen": re.compile(r"\byen\b|¥|円|\bJPY\b", re.I),
    "price": re.compile(r"[$€£¥]\s*\d|\d[\d,.]*\s*(yen|dollars?|usd|jpy|円)\b", re.I),
    "no side effects": re.compile(r"\b(no|without|zero|free of) (any )?side[- ]effects?", re.I),
    "safe": re.compile(r"\b(safe|safely|risk[- ]free|painless|harmless)\b", re.I),
    "always works": re.compile(r"\b(always works|100 ?%|proven to)\b", re.I),
}


def patient_facing_texts(knowledge: Knowledge) -> dict[str, str]:
    texts = {f"entry {e.id} answer": e.answer for e in knowledge.entries.values()}
    texts |= {f"entry {e.id} title": e.title for e in knowledge.entries.values()}
    texts |= {f"ui texts {key}": text for key, text in knowledge.ui.texts.items()}
    texts |= {f"ui buttons {key}": text for key, text in knowledge.ui.buttons.items()}
    texts |= {f"selfcheck texts {key}": text for key, text in knowledge.selfcheck.texts.items()}
    texts |= {f"selfcheck buttons {key}": text for key, text in knowledge.selfcheck.buttons.items()}
    texts["selfcheck screening"] = knowledge.selfcheck.screening
    for question in knowledge.selfcheck.questions:
        texts[f"selfcheck {question.id}"] = f"{question.text}\n{question.summary}"
    texts |= {f"safety {level.id} reply": level.reply for level in knowledge.safety.values()}
    return texts


def test_the_forbidden_claim_patterns_do_catch_claims() -> None:
    claims = {
        "cure": "Cellgel cures back pain.",
        "guarantee": "Results are guaranteed.",
        "success rate": "It has a high success rate.",
        "percent": "90% of patients improve.",
        "yen": "It costs 50,000 yen.",
        "price": "Only ¥30000 per session.",
        "no side effects": "There are no side effects.",
        "safe": "The treatment is safe.",
        "always works": "It is proven to work.",
    }
    for name, claim in claims.items():
        assert FORBIDDEN[name].search(claim), name
    assert not FORBIDDEN["safe"].search("Before we start, one safety question.")
    assert not FORBIDDEN["cure"].search("Make sure you feel secure.")


def test_no_forbidden_claims_in_patient_facing_text(knowledge: Knowledge) -> None:
    found = [
        f"{where}: {name}: {pattern.search(text).group(0)!r}"  # type: ignore[union-attr]
        for where, text in patient_facing_texts(knowledge).items()
        for name, pattern in FORBIDDEN.items()
        if pattern.search(text)
    ]
    assert found == []


def test_every_article_entry_has_a_listed_source(knowledge: Knowledge) -> None:
    articles = [entry for entry in knowledge.entries.values() if entry.kind == "article"]
    assert articles
    for entry in articles:
        assert entry.source, entry.id
        assert entry.source in knowledge.ui.sources, entry.id


def test_results_never_diagnose(knowledge: Knowledge) -> None:
    texts = knowledge.selfcheck.texts
    assert "<i>may</i>" in texts["result_some"] or " may " in texts["result_some"]
    for key in ("result_some", "result_none"):
        assert not re.search(r"\byou (have|suffer from)\b", texts[key], re.I), key


def _literal_texts(tree: ast.AST) -> list[tuple[int, str]]:
    """Reply(...)/Button(...) calls whose text or label is written in the code."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name not in ("Reply", "Button"):
            continue
        args = node.args[:1] + [k.value for k in node.keywords if k.arg in ("text", "label")]
        for arg in args:
            if isinstance(arg, ast.JoinedStr) or (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                found.append((node.lineno, ast.unparse(arg)))
    return found


def test_the_literal_finder_finds_literals() -> None:
    code = 'Reply("Hello there")\nReply(f"Hi {name}")\nButton(label="Go")\nReply(texts["x"])'
    assert [line for line, _ in _literal_texts(ast.parse(code))] == [1, 2, 3]


def test_no_patient_facing_literals_in_code() -> None:
    """Every word a patient reads lives in knowledge/, so a translation is a folder copy."""
    files = sorted((ROOT / "bot").rglob("*.py"))
    assert files
    found = [
        f"{file.name}:{line}: {text}"
        for file in files
        for line, text in _literal_texts(ast.parse(file.read_text(encoding="utf-8")))
    ]
    assert found == []


def test_answers_only_mention_buttons_the_bot_shows(knowledge: Knowledge, dialogue: Dialogue) -> None:
    """An answer that says 'tap “Ask for a call back”' must show that button."""
    label = knowledge.request.buttons["request"]
    mentioning = [entry for entry in knowledge.entries.values() if label.lower() in entry.answer.lower()]
    assert mentioning, "the check would be vacuous: no answer mentions the call-back button"
    missing = [
        entry.id
        for entry in mentioning
        if label not in [button.label for reply in dialogue.answer(entry) for row in reply.buttons for button in row]
    ]
    assert missing == []


def test_answer_buttons_follow_the_entry(knowledge: Knowledge, dialogue: Dialogue) -> None:
    """Dialogue.answer shows each follow-up by its title, then offers, then the menu."""
    for entry in knowledge.entries.values():
        (reply,) = dialogue.answer(entry)
        labels = [button.label for row in reply.buttons for button in row]
        if entry.menu:
            assert labels == [button.label for row in dialogue.main_menu() for button in row]
            continue
        offer_labels = {
            knowledge.ui.buttons["book"],
            knowledge.ui.buttons["selfcheck"],
            knowledge.request.buttons["request"],
        }
        titles = [
            knowledge.entries[target].title
            for target in entry.follow_ups
            if knowledge.entries[target].title not in offer_labels  # an offer button does the same
        ]
        assert labels[: len(titles)] == titles
        assert len(labels) == len(set(labels)), f"{entry.id}: a button label shown twice: {labels}"
        assert labels[-1] == knowledge.ui.buttons["menu"]
