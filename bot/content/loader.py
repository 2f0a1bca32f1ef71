"""Loads `knowledge/` into typed, validated objects, and names every problem precisely.

Content is edited by clinic staff, not programmers, so a mistake must come back as one line that
names the file, the entry and the field, never as a traceback, and the bot must refuse to start
on it. All problems are collected in one pass so an editor can fix them all at once.
"""

from __future__ import annotations

import html
import re
import string
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.content.html import html_problems, visible_length
from bot.content.risk_model import RiskModelSpec, load_risk_model
from bot.content.topic_model import TopicModelSpec, load_topic_model
from bot.understanding.language import LANGUAGES, language_module

ENTRY_KINDS = ("article", "clinic", "out_of_scope", "smalltalk")
ENTRY_OFFERS = ("selfcheck", "book", "callback")  # "callback": ask for a call back (a call-back request)
MAX_ANSWER_CHARS = 600
MAX_TITLE_CHARS = 40
MAX_ID_CHARS = 24
MIN_QUESTIONS = 10
MAX_TOAST_CHARS = 200
DEFAULT_MAX_SCOPE = 12  # words a context cue reaches when its rule sets no `max_scope`
_ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
FREQUENCIES_FILE = "word_frequencies.txt"

# Which settings a text may use, as {name}. Values are escaped before they are put in.
SETTING_FIELDS = (
    "clinic_name",
    "booking_url",
    "phone",
    "hours",
    "emergency_number",
    "urgent_advice_number",
)
# The .env variable that overrides each setting.
SETTING_ENV = {
    "clinic_name": "CLINIC_NAME",
    "booking_url": "BOOKING_URL",
    "phone": "CLINIC_PHONE",
    "hours": "CLINIC_HOURS",
    "emergency_number": "EMERGENCY_NUMBER",
    "urgent_advice_number": "URGENT_ADVICE_NUMBER",
}
# The keys the code asks for; the words behind them live in ui.yaml and selfcheck.yaml.
UI_TEXT_KEYS = frozenset(
    {
        "start",
        "help",
        "menu",
        "ask_prompt",
        "fallback",
        "did_you_mean",
        "source",
        "book",
        "privacy",
        "cancelled",
        "nothing_to_cancel",
        "unknown_command",
        "non_text",
        "group_hint",
        "empty",
        "stale_button",
        "unknown_button",
        "urgent_info",
        "too_long",
        "storage_error",
    }
)
UI_TOAST_KEYS = frozenset({"stale_button", "unknown_button"})
UI_BUTTON_KEYS = frozenset({"ask", "selfcheck", "book", "urgent", "menu", "none_of_these", "open_private"})
UI_COMMAND_KEYS = frozenset({"start", "help", "selfcheck", "book", "privacy", "cancel", "forget"})
REQUEST_TEXT_KEYS = frozenset(
    {
        "ask_name",
        "bad_name",
        "ask_phone",
        "bad_phone",
        "phone_ok",
        "ask_time",
        "ask_note",
        "note_too_long",
        "summary",
        "no_note",
        "consent",
        "received",
        "cancelled",
        "forget_confirm",
        "forget_done",
        "forget_kept",
    }
)
REQUEST_BUTTON_KEYS = frozenset(
    {
        "request",
        "share_phone",
        "cancel",
        "morning",
        "afternoon",
        "evening",
        "any",
        "skip",
        "confirm",
        "restart",
        "agree",
        "forget",
        "keep",
    }
)
STAFF_TEXT_KEYS = frozenset(
    {
        "request",
        "status_contacted",
        "status_unreachable",
        "deleted",
        "maybe_repeated",
        "not_available",
        "open_requests",
        "no_open_requests",
        "stats",
        "button_contacted",
        "button_unreachable",
    }
)
_REQUEST_FIELDS = frozenset({"name", "patient_phone", "time", "note"})
REQUEST_PLACEHOLDERS = {
    "ask_phone": frozenset({"name"}),
    "phone_ok": frozenset({"patient_phone"}),
    "note_too_long": frozenset({"length", "limit"}),
    "summary": _REQUEST_FIELDS,
    "consent": frozenset({"retention_days"}),
    "received": frozenset({"name", "time"}),
    "forget_done": frozenset({"requests"}),
}
STAFF_PLACEHOLDERS = {
    "request": _REQUEST_FIELDS | {"number", "received"},
    "status_contacted": frozenset({"when"}),
    "status_unreachable": frozenset({"when"}),
    "deleted": frozenset({"number"}),
    "maybe_repeated": frozenset({"number"}),
    "open_requests": frozenset({"count"}),
    "stats": frozenset({"conversations", "selfchecks", "bookings", "requests", "unanswered"}),
}
SELFCHECK_TEXT_KEYS = frozenset(
    {
        "intro",
        "progress",
        "screening_urgent",
        "result_some",
        "result_none",
        "result_unsure",
        "self_care",
        "offer",
        "stopped",
    }
)
SELFCHECK_BUTTON_KEYS = frozenset({"start", "yes", "no", "unsure", "back", "stop", "continue"})
SAFETY_LEVELS = ("crisis", "emergency", "urgent")


class ContentError(Exception):
    """Raised with every problem found, one line each, so `bot check` can print them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Entry:
    """One answer of the knowledge base, with the ways patients ask for it."""

    id: str
    kind: str
    title: str
    questions: tuple[str, ...]
    synonyms: tuple[str, ...]
    answer: str
    source: str | None
    follow_ups: tuple[str, ...]
    menu: bool
    file: str
    offers: tuple[str, ...] = ()  # next steps shown as buttons: "selfcheck", "book", "callback"
    subject: str | None = None  # entries sharing a subject are neighbours: never a "did you mean" pair
    near_miss: bool = False  # out of scope: next to an article topic, a partial answer names what is missing
    other_than: tuple[str, ...] = ()  # out of scope: subjects it is not about ("other treatments" than Cellgel)

    @property
    def answers_from_article(self) -> bool:
        """True for article content; false for 'the article does not say' and small talk."""
        return self.kind in ("article", "clinic")


@dataclass(frozen=True)
class CrisisLine:
    name: str
    number: str
    hours: str


@dataclass(frozen=True)
class ClinicSettings:
    """The clinic's own details; shipped defaults are placeholders until the operator sets them."""

    clinic_name: str
    booking_url: str
    phone: str
    hours: str
    emergency_number: str
    urgent_advice_number: str
    crisis_lines: tuple[CrisisLine, ...]
    placeholders: tuple[str, ...]

    def as_values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SETTING_FIELDS}


@dataclass(frozen=True)
class SafetyLevel:
    """A level's reply, and the same reply worded for someone reporting another person."""

    id: str
    reply: str
    reply_other: str


@dataclass(frozen=True)
class SafetyConcept:
    """A red flag or crisis sign as a clinical concept: lay phrases that are enough alone, word
    groups that combine within one sentence, and weaker patterns that only ask a question."""

    id: str
    level: str
    phrases: tuple[str, ...]
    together: tuple[tuple[tuple[str, ...], ...], ...]
    possible: tuple[tuple[tuple[str, ...], ...], ...]
    ask: str | None  # the safety question for a `possible` match
    history_counts: bool  # a past occurrence is itself the red flag (cancer, steroids)
    reply: str | None  # a special reply instead of the level's (e.g. an overdose taken)
    across_sentences: bool = False  # clues may sit in different sentences ("I'm 78. It started...")
    only_negated: bool = False  # counts only when negated: "I can't see any reason to live"
    info_only: bool = False  # a question about warning signs: they are given, never an alarm
    always_current: bool = False  # the past never softens it: "took 20 paracetamol last night, feel fine now"
    ask_if_over: str | None = None  # a history_counts concept told as over: the question about now instead
    with_pain: bool = False  # a red flag only with back pain: someone else's, without their pain, is asked about
    firm: bool = False  # the safety net's doubt never makes its alarm a question (an overdose taken needs 119 now)
    always_ask: bool = False  # the safety net never waives its weak clue's question (bladder, bowels: the most urgent)


@dataclass(frozen=True)
class ContextRule:
    """ConText trigger phrases of one kind; `cues` sit where the language module says."""

    kind: str
    cues: tuple[str, ...]
    before: tuple[str, ...]
    after: tuple[str, ...]
    levels: tuple[str, ...]
    max_scope: int
    crosses: tuple[str, ...] = ()  # terminators this kind's scope runs through ("fever, but fine now")
    concepts: tuple[str, ...] = ()  # only these concepts (empty: all of the levels)
    opens: bool = False  # the cue counts only where it opens its sentence ("is numbness serious?")
    closes: bool = False  # the cue counts only where it closes a clause ("...killing myself. I'm not.")


@dataclass(frozen=True)
class SafetyQuestion:
    """One short question asked before an alarm when triage is unsure; "Yes" gives `level`."""

    id: str
    text: str
    level: str
    text_other: str  # the same question about someone else ("are they..."), for a finding of theirs

    def worded_for(self, about_other: bool) -> str:
        """The question as the patient reads it: about them, or about the person they wrote of."""
        return self.text_other if about_other else self.text


@dataclass(frozen=True)
class TriageSpec:
    """Everything triage reads from `knowledge/triage/`, in the content's language."""

    language: str
    concepts: tuple[SafetyConcept, ...]
    context: tuple[ContextRule, ...]
    terminators: tuple[str, ...]
    pseudo_triggers: tuple[str, ...]
    idioms: tuple[str, ...]
    questions: Mapping[str, SafetyQuestion]
    replies: Mapping[str, str]  # special replies a concept can name
    buttons: Mapping[str, str]  # yes, no
    texts: Mapping[str, str]  # after_no, info, crisis_info
    model: RiskModelSpec | None = None  # the statistical safety net (triage/model.tsv), if shipped
    lead_ins: tuple[str, ...] = ()  # words that may stand before a sentence's opening ("so, is...")
    units: tuple[str, ...] = ()  # words after a number that make it a quantity ("100 km"), never an age


@dataclass(frozen=True)
class SelfCheckQuestion:
    id: str
    text: str
    summary: str


@dataclass(frozen=True)
class SelfCheckSpec:
    screening: str
    questions: tuple[SelfCheckQuestion, ...]
    texts: Mapping[str, str]
    buttons: Mapping[str, str]


@dataclass(frozen=True)
class Language:
    """How patients' words are normalised before matching: the language-specific part of it."""

    stop_words: frozenset[str]
    negations: frozenset[str]
    replacements: Mapping[str, str]
    known_words: frozenset[str]
    code: str = "en"
    # How common real words are (Zipf, in tenths: 49 is 4.9), from word_frequencies.txt: a common
    # word is not a typo. Whole numbers below 257 are shared objects in CPython: no memory each.
    frequencies: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class UiTexts:
    texts: Mapping[str, str]
    buttons: Mapping[str, str]
    commands: Mapping[str, str]
    sources: tuple[str, ...]

    def text(self, key: str, **values: str) -> str:
        """A UI text with {placeholders} filled; values are escaped for Telegram HTML."""
        template = self.texts[key]
        if not values:
            return template
        escaped = {name: html.escape(value, quote=True) for name, value in values.items()}
        return template.format_map(escaped)


@dataclass(frozen=True)
class RequestTexts:
    """The call-back request's texts and buttons, /forget's, and what staff see (callback.yaml)."""

    texts: Mapping[str, str]
    buttons: Mapping[str, str]
    staff: Mapping[str, str]

    def text(self, key: str, **values: str) -> str:
        return _format_escaped(self.texts[key], values)

    def staff_text(self, key: str, **values: str) -> str:
        return _format_escaped(self.staff[key], values)


def _format_escaped(template: str, values: Mapping[str, str]) -> str:
    """Fill {placeholders} with values escaped for Telegram HTML (patients' words included)."""
    return template.format_map({name: html.escape(str(value), quote=True) for name, value in values.items()})


@dataclass(frozen=True)
class MatchingSpec:
    """matching.yaml: how the matcher finds the question in a message, and its own texts."""

    question_words: frozenset[str] = frozenset()
    lead_ins: frozenset[str] = frozenset()
    texts: Mapping[str, str] = field(default_factory=dict)  # partial, partial_general
    model: TopicModelSpec | None = None  # the topic model (matching_model.tsv), if shipped

    def text(self, key: str, **values: str) -> str:
        """A text with {placeholders} filled; the patient's own words are escaped."""
        return _format_escaped(self.texts[key], values)


MATCHING_TEXT_KEYS = frozenset({"partial", "partial_general"})
MATCHING_PLACEHOLDERS = {"partial": frozenset({"topic"})}


@dataclass(frozen=True)
class Knowledge:
    entries: Mapping[str, Entry]
    settings: ClinicSettings
    safety: Mapping[str, SafetyLevel]
    triage: TriageSpec
    selfcheck: SelfCheckSpec
    ui: UiTexts
    language: Language
    request: RequestTexts
    warnings: tuple[str, ...] = field(default=())
    matching: MatchingSpec = field(default_factory=MatchingSpec)

    @property
    def callback(self) -> RequestTexts:
        """The former name of `request`, still read outside the core."""
        return self.request


# --------------------------------------------------------------------------- loading helpers


class _ContentLoader(yaml.SafeLoader):
    """YAML as an editor expects: only true/false are booleans, so `no`, `yes`, `on` stay words."""


_ContentLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _ContentLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
    )


class _Report:
    """Collects problems as 'file: entry 'id': field 'name': message'."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []

    def add(self, file: Path, message: str, entry: str | None = None, field: str | None = None):
        where = [str(file.relative_to(self.root.parent)) if file.is_absolute() else str(file)]
        if entry is not None:
            where.append(f"entry '{entry}'")
        if field is not None:
            where.append(f"field '{field}'")
        self.problems.append(": ".join([*where, message]))


def _read_yaml(path: Path, report: _Report) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        report.add(path, "file is missing")
        return None
    except (OSError, UnicodeDecodeError) as error:
        report.add(path, f"cannot be read: {error}")
        return None
    try:
        return yaml.load(text, Loader=_ContentLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        report.add(path, f"malformed YAML: {where}{problem}")
        return None


def _read_mapping(path: Path, report: _Report) -> dict[str, Any]:
    """A file whose top level must be a mapping of fields; anything else is reported once."""
    data = _read_yaml(path, report)
    if data is None or isinstance(data, dict):
        return data or {}
    report.add(path, f"must be a mapping of fields at the top level, got {type(data).__name__}")
    return {}


def _check_fields(
    data: Any,
    required: Mapping[str, type | tuple[type, ...]],
    optional: Mapping[str, type | tuple[type, ...]],
    report: _Report,
    file: Path,
    entry: str | None = None,
) -> bool:
    """Check a mapping's keys and value types; report unknown, missing and mistyped fields."""
    if not isinstance(data, dict):
        report.add(file, f"must be a mapping of fields, got {type(data).__name__}", entry)
        return False
    ok = True
    for name in data:
        if name not in required and name not in optional:
            report.add(file, "unknown field", entry, str(name))
            ok = False
    for name in required:
        if name not in data or data[name] is None:
            report.add(file, "missing", entry, name)
            ok = False
    for name, kind in {**required, **optional}.items():
        if name in data and data[name] is not None and not isinstance(data[name], kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            report.add(file, f"must be {names}, got {type(data[name]).__name__}", entry, name)
            ok = False
    return ok


def _string_list(value: Any, report: _Report, file: Path, entry: str | None, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        report.add(file, "must be a list of non-empty texts", entry, field)
        return ()
    return tuple(item.strip() for item in value)


def _fill(
    template: str,
    values: Mapping[str, str],
    report: _Report,
    file: Path,
    entry: str | None,
    field: str,
    extra: frozenset[str] = frozenset(),
) -> str:
    """Fill {setting} placeholders, reporting unknown ones; names in `extra` are left for later."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        report.add(file, f"broken {{placeholder}}: {error} (write {{{{ for a literal brace)", entry, field)
        return template
    unknown = sorted(name for name in names if name not in values and name not in extra)
    if unknown:
        allowed = ", ".join(f"{{{name}}}" for name in (*values, *sorted(extra)))
        report.add(file, f"unknown placeholder {{{unknown[0]}}}; allowed: {allowed}", entry, field)
        return template
    escaped = {name: html.escape(value, quote=True) for name, value in values.items()}
    escaped.update({name: "{" + name + "}" for name in extra})
    return template.format_map(escaped)


def _check_html(text: str, report: _Report, file: Path, entry: str | None, field: str) -> None:
    for problem in html_problems(text):
        report.add(file, f"Telegram would reject this HTML: {problem}", entry, field)


# --------------------------------------------------------------------------- the files


def _load_settings(root: Path, overrides: Mapping[str, str], report: _Report) -> ClinicSettings:
    file = root / "clinic.yaml"
    data = _read_mapping(file, report)
    required = {name: (str, int) for name in SETTING_FIELDS} | {"crisis_lines": list}
    if not _check_fields(data, required, {"placeholders": list}, report, file):
        data = data if isinstance(data, dict) else {}
    # Keep every value that is usable, so one mistake gives one problem line, not twenty.
    values = {
        name: str(data[name]).strip() if isinstance(data.get(name), str | int) else f"<{name}>"
        for name in SETTING_FIELDS
    }
    placeholders = list(_string_list(data.get("placeholders"), report, file, None, "placeholders"))
    for name in placeholders:
        if name not in SETTING_FIELDS:
            report.add(file, f"'{name}' is not a setting", None, "placeholders")
    for name, value in overrides.items():
        values[name] = value
        if name in placeholders:
            placeholders.remove(name)
    if not values["booking_url"].startswith(("https://", "http://", "<")):
        report.add(file, "must start with https:// (or set BOOKING_URL in .env)", None, "booking_url")
    lines = []
    crisis_lines = data.get("crisis_lines") if isinstance(data.get("crisis_lines"), list) else []
    for index, item in enumerate(crisis_lines):
        where = f"crisis_lines[{index}]"
        if _check_fields(item, {"name": str, "number": (str, int)}, {"hours": str}, report, file, where):
            lines.append(CrisisLine(item["name"], str(item["number"]), item.get("hours") or ""))
    if not lines and isinstance(data.get("crisis_lines"), list):
        report.add(file, "at least one help line is needed for the crisis reply", None, "crisis_lines")
    return ClinicSettings(**values, crisis_lines=tuple(lines), placeholders=tuple(placeholders))


def _load_entries(root: Path, values: Mapping[str, str], sources: tuple[str, ...], report: _Report) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    named: set[str] = set()
    subjects: Counter[str] = Counter()
    files = sorted((root / "entries").glob("*.yaml"))
    if not files:
        report.add(root / "entries", "no *.yaml files with entries")
    for file in files:
        data = _read_yaml(file, report)
        if data is None:
            continue
        if not _check_fields(data, {"kind": str, "entries": list}, {}, report, file):
            continue
        kind = data["kind"]
        if kind not in ENTRY_KINDS:
            report.add(file, f"'{kind}' is not one of {', '.join(ENTRY_KINDS)}", None, "kind")
            continue
        for index, raw in enumerate(data["entries"]):
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                named.add(raw["id"])  # an entry with problems still exists for follow-ups
                if isinstance(raw.get("subject"), str):
                    subjects[raw["subject"]] += 1
            entry = _load_entry(raw, kind, file, index, values, sources, report)
            if entry is None:
                continue
            if entry.id in entries:
                other = entries[entry.id].file
                report.add(file, f"duplicate id (also in {other})", entry.id, "id")
                continue
            entries[entry.id] = entry
    for entry in entries.values():
        for target in entry.follow_ups:
            if target not in named:
                report.add(Path(entry.file), f"'{target}' is not an entry id", entry.id, "follow_ups")
            elif target == entry.id:
                report.add(Path(entry.file), "an entry cannot follow up itself", entry.id, "follow_ups")
    _check_subjects(entries, subjects, report)
    for entry in entries.values():
        for subject in entry.other_than:
            if subject not in subjects:
                report.add(Path(entry.file), f"'{subject}' is not a subject of any entry", entry.id, "other_than")
    return entries


def _check_subjects(entries: Mapping[str, Entry], subjects: Counter[str], report: _Report) -> None:
    """A subject names neighbours that are answered best-first instead of asked about, so it
    needs two entries at least, of one kind: an article answer never stands in for small talk
    or for "the article does not cover this"."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries.values():
        if entry.subject is not None:
            groups.setdefault(entry.subject, []).append(entry)
    for subject, members in groups.items():
        if subjects[subject] < 2:
            report.add(Path(members[0].file), f"'{subject}' is used by no other entry", members[0].id, "subject")
        if (
            len({entry.kind for entry in members} - {"article", "clinic"})
            + bool({entry.kind for entry in members} & {"article", "clinic"})
            > 1
        ):
            names = ", ".join(f"{entry.id} ({entry.kind})" for entry in members)
            report.add(Path(members[0].file), f"'{subject}' mixes kinds of entries: {names}", members[0].id, "subject")


def _load_entry(
    raw: Any,
    kind: str,
    file: Path,
    index: int,
    values: Mapping[str, str],
    sources: tuple[str, ...],
    report: _Report,
) -> Entry | None:
    name = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{index + 1}"
    required: dict[str, type | tuple[type, ...]] = {
        "id": str,
        "title": str,
        "questions": list,
        "answer": str,
        "follow_ups": list,
    }
    optional: dict[str, type | tuple[type, ...]] = {
        "synonyms": list,
        "menu": bool,
        "source": str,
        "offers": list,
        "subject": str,
        "near_miss": bool,
        "other_than": list,
    }
    if kind == "article":
        required["source"] = str
    if not _check_fields(raw, required, optional, report, file, name):
        return None
    problems_before = len(report.problems)
    if not _ID_PATTERN.fullmatch(raw["id"]) or len(raw["id"]) > MAX_ID_CHARS:
        report.add(file, f"use a-z, 0-9 and _, at most {MAX_ID_CHARS} characters", name, "id")
    title = raw["title"].strip()
    if not title or len(title) > MAX_TITLE_CHARS:
        report.add(file, f"{len(title)} characters; 1 to {MAX_TITLE_CHARS} fit a button", name, "title")
    questions = _string_list(raw["questions"], report, file, name, "questions")
    if len(questions) < MIN_QUESTIONS:
        report.add(file, f"{len(questions)} questions; at least {MIN_QUESTIONS} are needed", name, "questions")
    synonyms = _string_list(raw.get("synonyms"), report, file, name, "synonyms")
    follow_ups = _string_list(raw["follow_ups"], report, file, name, "follow_ups")
    if kind != "smalltalk" and not 1 <= len(follow_ups) <= 3:
        report.add(file, f"{len(follow_ups)} follow-ups; give 1 to 3", name, "follow_ups")
    offers = _string_list(raw.get("offers"), report, file, name, "offers")
    for offer in offers:
        if offer not in ENTRY_OFFERS:
            report.add(file, f"'{offer}' is not one of {', '.join(ENTRY_OFFERS)}", name, "offers")
    subject = raw.get("subject")
    if subject is not None and (not _ID_PATTERN.fullmatch(subject) or len(subject) > MAX_ID_CHARS):
        report.add(file, f"use a-z, 0-9 and _, at most {MAX_ID_CHARS} characters", name, "subject")
    if raw.get("near_miss") and kind != "out_of_scope":
        report.add(file, "only out_of_scope entries can be near misses", name, "near_miss")
    other_than = _string_list(raw.get("other_than"), report, file, name, "other_than")
    if other_than and kind != "out_of_scope":
        report.add(file, "only out_of_scope entries can name subjects they are not about", name, "other_than")
    source = raw.get("source")
    if source is not None and source not in sources:
        report.add(file, f"'{source}' is not a section listed in ui.yaml sources", name, "source")
    answer = _fill(raw["answer"].strip(), values, report, file, name, "answer")
    _check_html(answer, report, file, name, "answer")
    if visible_length(answer) > MAX_ANSWER_CHARS:
        report.add(file, f"{visible_length(answer)} characters, at most {MAX_ANSWER_CHARS}", name, "answer")
    if len(report.problems) > problems_before:
        return None
    return Entry(
        id=raw["id"],
        kind=kind,
        title=title,
        questions=questions,
        synonyms=synonyms,
        answer=answer,
        source=source,
        follow_ups=follow_ups,
        menu=bool(raw.get("menu", False)),
        file=str(file.relative_to(report.root.parent)),
        offers=offers,
        subject=subject,
        near_miss=bool(raw.get("near_miss", False)),
        other_than=other_than,
    )


def _load_text_table(
    data: Any,
    keys: frozenset[str],
    file: Path,
    section: str,
    values: Mapping[str, str],
    report: _Report,
    extra: Mapping[str, frozenset[str]] | None = None,
    max_chars: int | None = None,
) -> dict[str, str]:
    """A mapping of key -> text where exactly `keys` must be present, each valid Telegram HTML."""
    if not isinstance(data, dict):
        report.add(file, "missing or not a mapping of key: text", section)
        return {key: "" for key in keys}
    table: dict[str, str] = {}
    for key in sorted(set(data) - keys):
        report.add(file, "unknown key (a typo?)", section, str(key))
    for key in sorted(keys):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            report.add(file, "missing or empty", section, key)
            table[key] = ""
            continue
        text = _fill(value.strip(), values, report, file, section, key, (extra or {}).get(key, frozenset()))
        _check_html(text, report, file, section, key)
        if max_chars is not None and len(text) > max_chars:
            report.add(file, f"{len(text)} characters, at most {max_chars}", section, key)
        table[key] = text
    return table


def _load_ui(root: Path, values: Mapping[str, str], report: _Report) -> UiTexts:
    file = root / "ui.yaml"
    data = _read_mapping(file, report)
    sections = {"texts": dict, "buttons": dict, "commands": dict, "sources": list}
    _check_fields(data, sections, {}, report, file)
    extra = {
        "source": frozenset({"section"}),
        "too_long": frozenset({"limit"}),
        "privacy": frozenset({"retention_days"}),
    }
    texts = _load_text_table(data.get("texts"), UI_TEXT_KEYS, file, "texts", values, report, extra)
    for key in UI_TOAST_KEYS:
        if len(texts.get(key, "")) > MAX_TOAST_CHARS:
            report.add(file, f"a pop-up holds at most {MAX_TOAST_CHARS} characters", "texts", key)
    buttons = _load_text_table(
        data.get("buttons"), UI_BUTTON_KEYS, file, "buttons", values, report, max_chars=MAX_TITLE_CHARS
    )
    commands = _load_text_table(data.get("commands"), UI_COMMAND_KEYS, file, "commands", values, report, max_chars=256)
    sources = _string_list(data.get("sources"), report, file, None, "sources")
    return UiTexts(texts=texts, buttons=buttons, commands=commands, sources=sources)


def _load_language(root: Path, report: _Report) -> Language:
    file = root / "language.yaml"
    data = _read_mapping(file, report)
    fields = {"code": str, "stop_words": list, "negations": list, "replacements": dict}
    if not _check_fields(data, fields, {"known_words": list}, report, file):
        return Language(frozenset(), frozenset(), {}, frozenset())
    if language_module(data["code"]) is None:
        known = ", ".join(sorted(LANGUAGES))
        report.add(
            file,
            f"no language module for '{data['code']}' (bot/understanding/language.py has: {known}); "
            "triage cannot read this content safely",
            None,
            "code",
        )
    replacements: dict[str, str] = {}
    for source, target in data["replacements"].items():
        if not isinstance(source, str) or not isinstance(target, str):
            report.add(file, f"'{source}' must map a text to a text", None, "replacements")
            continue
        replacements[source.lower().strip()] = target.lower().strip()

    def words(name: str) -> frozenset[str]:
        return frozenset(word.lower() for word in _string_list(data.get(name), report, file, None, name))

    return Language(
        stop_words=words("stop_words"),
        negations=words("negations"),
        replacements=replacements,
        known_words=words("known_words"),
        code=data["code"],
        frequencies=_load_frequencies(root / FREQUENCIES_FILE, report),
    )


def _load_frequencies(file: Path, report: _Report) -> dict[str, int]:
    """word_frequencies.txt: "word zipf" per line, # comments; optional (no list, no protection)."""
    if not file.exists():
        return {}
    frequencies: dict[str, int] = {}
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        report.add(file, f"cannot be read: {error}")
        return {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        try:
            word, zipf = parts[0].lower(), float(parts[1])
        except (IndexError, ValueError):
            report.add(file, f"line {number}: needs a word and its Zipf frequency, got '{line[:40]}'")
            continue
        if len(parts) != 2 or not 0 <= zipf <= 9:
            report.add(file, f"line {number}: needs a word and its Zipf frequency (0-9), got '{line[:40]}'")
            continue
        frequencies[word] = round(zipf * 10)
    return frequencies


def _load_safety(
    root: Path, values: Mapping[str, str], lines: str, report: _Report
) -> tuple[dict[str, SafetyLevel], dict[str, str], dict[str, SafetyQuestion], dict[str, str], dict[str, str]]:
    """safety.yaml: each level's reply (and the same for someone else), special replies, the
    safety questions, their buttons and texts."""
    file = root / "safety.yaml"
    data = _read_mapping(file, report)
    required = {"levels": dict, "replies": dict, "questions": dict, "buttons": dict, "texts": dict}
    if not _check_fields(data, required, {}, report, file):
        return {}, {}, {}, {}, {}
    extra = frozenset({"help_lines"})

    def reply(text: Any, entry: str, field: str) -> str:
        if not isinstance(text, str) or not text.strip():
            report.add(file, "must be a non-empty text", entry, field)
            return ""
        filled = _fill(text.strip(), values, report, file, entry, field, extra).replace("{help_lines}", lines)
        _check_html(filled, report, file, entry, field)
        return filled

    levels: dict[str, SafetyLevel] = {}
    for level_id in SAFETY_LEVELS:
        level = data["levels"].get(level_id)
        if not _check_fields(level, {"reply": str, "reply_other": str}, {}, report, file, level_id):
            continue
        levels[level_id] = SafetyLevel(
            level_id, reply(level["reply"], level_id, "reply"), reply(level["reply_other"], level_id, "reply_other")
        )
    for unknown in sorted(set(data["levels"]) - set(SAFETY_LEVELS)):
        report.add(file, f"unknown level; levels are {', '.join(SAFETY_LEVELS)}", str(unknown))
    replies = {str(key): reply(text, str(key), "replies") for key, text in data["replies"].items()}
    questions: dict[str, SafetyQuestion] = {}
    for key, raw in data["questions"].items():
        if not _check_fields(raw, {"text": str, "text_other": str, "level": str}, {}, report, file, str(key)):
            continue
        if raw["level"] not in SAFETY_LEVELS:
            report.add(file, f"must be one of {', '.join(SAFETY_LEVELS)}", str(key), "level")
        text = _fill(raw["text"].strip(), values, report, file, str(key), "text")
        _check_html(text, report, file, str(key), "text")
        text_other = _fill(raw["text_other"].strip(), values, report, file, str(key), "text_other")
        _check_html(text_other, report, file, str(key), "text_other")
        questions[str(key)] = SafetyQuestion(str(key), text, raw["level"], text_other)
    buttons = _load_text_table(
        data["buttons"], frozenset({"yes", "no"}), file, "buttons", values, report, max_chars=MAX_TITLE_CHARS
    )
    keys = frozenset({"after_no", "info", "crisis_info"})
    texts = _load_text_table(data["texts"], keys, file, "texts", values, report, {"crisis_info": extra})
    texts = {key: text.replace("{help_lines}", lines) for key, text in texts.items()}
    return levels, replies, questions, buttons, texts


CONTEXT_KINDS = (
    "negated",
    "historical",
    "long_ago",
    "hypothetical",
    "asked_about",
    "general_question",
    "generic_person",
    "answer_no",
    "other_person",
    "family",
    "their_past",
    "recent",
    "their_pain",
    "pain",
    "not_patient",
    "intentional",
    "passing",
    "negative",
    "resolved",
    "disclaimer",
    "crisis_disclaimer",
    "denial",
    "reassurance",
    "in_care",
)


def _phrase_groups(value: Any, report: _Report, file: Path, entry: str, field: str) -> tuple[tuple[str, ...], ...]:
    """A combination of word groups. A list of texts is one group (any of them); a list that
    holds lists is several groups (one of each), a lone text among them a group of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        report.add(file, "must be a list of phrases or of phrase groups", entry, field)
        return ()
    if not any(isinstance(item, list) for item in value):
        value = [value]
    groups = []
    for index, group in enumerate(value):
        phrases = _string_list(group if isinstance(group, list) else [group], report, file, entry, f"{field}[{index}]")
        if phrases:
            groups.append(tuple(phrase.lower() for phrase in phrases))
    return tuple(groups)


def _flat_phrases(value: Any, report: _Report, file: Path, entry: str, field: str) -> tuple[str, ...]:
    """Phrases, where a shared word list (a YAML alias) may stand among them."""
    if isinstance(value, list):
        value = [phrase for item in value for phrase in (item if isinstance(item, list) else [item])]
    return tuple(phrase.lower() for phrase in _string_list(value, report, file, entry, field))


def _load_triage(
    root: Path,
    language: str,
    safety: tuple[dict[str, SafetyLevel], dict[str, str], dict[str, SafetyQuestion], dict[str, str], dict[str, str]],
    report: _Report,
    risk_model: bool = True,
) -> TriageSpec:
    """triage/concepts.yaml and triage/context.yaml, checked against safety.yaml's questions
    and replies so a concept can never name a question that does not exist."""
    _, replies, questions, buttons, texts = safety
    file = root / "triage" / "concepts.yaml"
    data = _read_mapping(file, report)
    concepts: list[SafetyConcept] = []
    # `words:` holds shared word lists that concepts use through YAML aliases (*bladder).
    if _check_fields(data, {"concepts": list}, {"words": list}, report, file):
        seen: set[str] = set()
        optional = {
            "phrases": list,
            "together": list,
            "possible": list,
            "ask": str,
            "history_counts": bool,
            "reply": str,
            "note": str,
            "across_sentences": bool,
            "only_negated": bool,
            "info_only": bool,
            "always_current": bool,
            "ask_if_over": str,
            "with_pain": bool,
            "firm": bool,
            "always_ask": bool,
        }
        for index, raw in enumerate(data["concepts"]):
            where = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{index + 1}"
            if not _check_fields(raw, {"id": str, "level": str}, optional, report, file, where):
                continue
            if raw["id"] in seen:
                report.add(file, "duplicate id", where, "id")
            seen.add(raw["id"])
            if raw["level"] not in SAFETY_LEVELS:
                report.add(file, f"must be one of {', '.join(SAFETY_LEVELS)}", where, "level")
                continue
            phrases = _flat_phrases(raw.get("phrases"), report, file, where, "phrases")
            together = tuple(
                _phrase_groups(item, report, file, where, f"together[{i}]")
                for i, item in enumerate(raw.get("together") or [])
            )
            possible = tuple(
                _phrase_groups(item, report, file, where, f"possible[{i}]")
                for i, item in enumerate(raw.get("possible") or [])
            )
            if not phrases and not together and not possible:
                report.add(file, "needs phrases, together or possible", where)
            ask = raw.get("ask")
            if ask is not None and ask not in questions:
                have = ", ".join(sorted(questions))
                report.add(file, f"names no question of safety.yaml (have: {have})", where, "ask")
            if possible and ask is None:
                report.add(file, "a concept with 'possible' patterns needs 'ask'", where, "ask")
            if_over = raw.get("ask_if_over")
            if if_over is not None and if_over not in questions:
                have = ", ".join(sorted(questions))
                report.add(file, f"names no question of safety.yaml (have: {have})", where, "ask_if_over")
            if if_over is not None and not raw.get("history_counts"):
                report.add(file, "only a concept with 'history_counts' is told as over", where, "ask_if_over")
            special = raw.get("reply")
            if special is not None and special not in replies:
                report.add(file, f"names no reply of safety.yaml (have: {', '.join(sorted(replies))})", where, "reply")
            concepts.append(
                SafetyConcept(
                    raw["id"],
                    raw["level"],
                    phrases,
                    tuple(groups for groups in together if groups),
                    tuple(groups for groups in possible if groups),
                    ask,
                    bool(raw.get("history_counts", False)),
                    special,
                    bool(raw.get("across_sentences", False)),
                    bool(raw.get("only_negated", False)),
                    bool(raw.get("info_only", False)),
                    bool(raw.get("always_current", False)),
                    if_over,
                    bool(raw.get("with_pain", False)),
                    bool(raw.get("firm", False)),
                    bool(raw.get("always_ask", False)),
                )
            )
    if not concepts:
        report.add(file, "needs at least one concept", None, "concepts")

    file = root / "triage" / "context.yaml"
    data = _read_mapping(file, report)
    context: list[ContextRule] = []
    fields = {"context": list, "terminators": list, "pseudo_triggers": list, "idioms": list}
    if _check_fields(data, fields, {"lead_ins": list, "units": list}, report, file):
        for index, raw in enumerate(data["context"]):
            where = f"context[{index}]"
            optional = {
                "cues": list,
                "before": list,
                "after": list,
                "levels": list,
                "max_scope": int,
                "note": str,
                "crosses": list,
                "concepts": list,
                "opens": bool,
                "closes": bool,
            }
            if not _check_fields(raw, {"kind": str}, optional, report, file, where):
                continue
            if raw["kind"] not in CONTEXT_KINDS:
                report.add(file, f"must be one of {', '.join(CONTEXT_KINDS)}", where, "kind")
            lists = {
                name: _string_list(raw.get(name), report, file, where, name) for name in ("cues", "before", "after")
            }
            levels = _string_list(raw.get("levels"), report, file, where, "levels")
            for level in levels:
                if level not in SAFETY_LEVELS:
                    report.add(file, f"unknown level '{level}'", where, "levels")
            if not any(lists.values()):
                report.add(file, "needs cues, before or after", where)
            context.append(
                ContextRule(
                    raw["kind"],
                    tuple(p.lower() for p in lists["cues"]),
                    tuple(p.lower() for p in lists["before"]),
                    tuple(p.lower() for p in lists["after"]),
                    levels,
                    DEFAULT_MAX_SCOPE if raw.get("max_scope") is None else int(raw["max_scope"]),
                    tuple(word.lower() for word in _string_list(raw.get("crosses"), report, file, where, "crosses")),
                    _string_list(raw.get("concepts"), report, file, where, "concepts"),
                    bool(raw.get("opens", False)),
                    bool(raw.get("closes", False)),
                )
            )
    known = {concept.id for concept in concepts}
    for index, rule in enumerate(context):
        for unknown in sorted(set(rule.concepts) - known):
            report.add(file, f"names no concept of triage/concepts.yaml: '{unknown}'", f"context[{index}]", "concepts")
    phrase_lists = {
        name: tuple(p.lower() for p in _string_list(data.get(name), report, file, None, name))
        for name in ("terminators", "pseudo_triggers", "idioms", "lead_ins", "units")
    }
    levels = {key: question.level for key, question in questions.items()}
    model = load_risk_model(root, language, levels, report) if risk_model else None
    return TriageSpec(
        language,
        tuple(concepts),
        tuple(context),
        phrase_lists["terminators"],
        phrase_lists["pseudo_triggers"],
        phrase_lists["idioms"],
        questions,
        replies,
        buttons,
        texts,
        model,
        phrase_lists["lead_ins"],
        phrase_lists["units"],
    )


def _load_selfcheck(root: Path, values: Mapping[str, str], report: _Report) -> SelfCheckSpec:
    file = root / "selfcheck.yaml"
    data = _read_mapping(file, report)
    fields = {"screening": str, "questions": list, "texts": dict, "buttons": dict}
    _check_fields(data, fields, {}, report, file)
    extra = {
        "progress": frozenset({"number", "total"}),
        "result_some": frozenset({"count", "total", "signs"}),
        "result_unsure": frozenset({"signs"}),
    }
    texts = _load_text_table(data.get("texts"), SELFCHECK_TEXT_KEYS, file, "texts", values, report, extra)
    buttons = _load_text_table(
        data.get("buttons"), SELFCHECK_BUTTON_KEYS, file, "buttons", values, report, max_chars=MAX_TITLE_CHARS
    )
    screening = _fill(str(data.get("screening", "")).strip(), values, report, file, None, "screening")
    _check_html(screening, report, file, None, "screening")
    questions = []
    seen: set[str] = set()
    listed = data.get("questions")
    for index, raw in enumerate(listed if isinstance(listed, list) else []):  # a non-list is reported above
        where = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{index + 1}"
        if not _check_fields(raw, {"id": str, "text": str, "summary": str}, {}, report, file, where):
            continue
        if raw["id"] in seen:
            report.add(file, "duplicate id", where, "id")
        seen.add(raw["id"])
        for name in ("text", "summary"):
            _check_html(raw[name], report, file, where, name)
        questions.append(SelfCheckQuestion(raw["id"], raw["text"].strip(), raw["summary"].strip()))
    if not questions:
        report.add(file, "at least one question is needed", None, "questions")
    return SelfCheckSpec(screening=screening, questions=tuple(questions), texts=texts, buttons=buttons)


def _load_request(root: Path, values: Mapping[str, str], report: _Report) -> RequestTexts:
    file = root / "callback.yaml"
    data = _read_mapping(file, report)
    _check_fields(data, {"texts": dict, "buttons": dict, "staff": dict}, {}, report, file)
    texts = _load_text_table(data.get("texts"), REQUEST_TEXT_KEYS, file, "texts", values, report, REQUEST_PLACEHOLDERS)
    buttons = _load_text_table(
        data.get("buttons"), REQUEST_BUTTON_KEYS, file, "buttons", values, report, max_chars=MAX_TITLE_CHARS
    )
    staff = _load_text_table(data.get("staff"), STAFF_TEXT_KEYS, file, "staff", values, report, STAFF_PLACEHOLDERS)
    return RequestTexts(texts, buttons, staff)


def _load_matching(root: Path, values: Mapping[str, str], language: str, models: bool, report: _Report) -> MatchingSpec:
    file = root / "matching.yaml"
    data = _read_mapping(file, report)
    if not _check_fields(data, {"question_words": list, "lead_ins": list, "texts": dict}, {}, report, file):
        return MatchingSpec()
    texts = _load_text_table(data["texts"], MATCHING_TEXT_KEYS, file, "texts", values, report, MATCHING_PLACEHOLDERS)

    def words(name: str) -> frozenset[str]:
        return frozenset(word.lower() for word in _string_list(data.get(name), report, file, None, name))

    model = load_topic_model(root, language, report) if models else None
    return MatchingSpec(words("question_words"), words("lead_ins"), texts, model)


def load_knowledge(root: Path, overrides: Mapping[str, str] | None = None, *, models: bool = True) -> Knowledge:
    """Load and validate every file under `root`; raise ContentError listing all problems.

    `models=False` leaves out the statistical models (`triage/model.tsv`, `matching_model.tsv`):
    their trainers read the content they would replace."""
    root = root.resolve()
    report = _Report(root)
    settings = _load_settings(root, overrides or {}, report)
    values = settings.as_values()
    ui = _load_ui(root, values, report)
    entries = _load_entries(root, values, ui.sources, report)
    language = _load_language(root, report)
    help_lines = "\n".join(
        f"• {html.escape(line.name)}: <b>{html.escape(line.number)}</b>"
        + (f" ({html.escape(line.hours)})" if line.hours else "")
        for line in settings.crisis_lines
    )
    safety = _load_safety(root, values, help_lines, report)
    triage = _load_triage(root, language.code, safety, report, models)
    selfcheck = _load_selfcheck(root, values, report)
    request = _load_request(root, values, report)
    matching = _load_matching(root, values, language.code, models, report)
    if report.problems:
        raise ContentError(report.problems)
    warnings = tuple(
        f"{root.name}/clinic.yaml: field '{name}': still the shipped placeholder "
        f"'{getattr(settings, name)}'; set {SETTING_ENV[name]} in .env"
        for name in settings.placeholders
    )
    return Knowledge(entries, settings, safety[0], triage, selfcheck, ui, language, request, warnings, matching)
