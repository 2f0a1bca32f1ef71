"""Fuzzing over HTTP: Hypothesis generates Telegram updates of every kind python-telegram-bot
accepts and the fake Bot API server hands them to ONE real `python -m bot run` process.

Messages with text, photos (with and without a caption), stickers, voice, documents,
locations, contacts, forwards; edited messages; button presses with random, oversized or
forged data, also on messages too old to be accessible; channel posts, membership changes,
polls, inline queries, reactions, join requests, business messages; commands known and
unknown, for this bot and for others, with deep-link payloads of every length up to 4,096
characters; random unicode, control characters, right-to-left text, HTML and Markdown
injection. Private chats, groups, a supergroup, a channel and the staff group.

Afterwards: the process is alive, Telegram rejected nothing the bot sent, its log has no
traceback and no "failed:", and every button press was answered. Generation is derandomised
(the same updates every run) and never shrinks: shrinking against a running process whose
state each example changes would not reproduce anything.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from telegram import Update

from bot.core.actions import SELFCHECK_CHOICES, SIMPLE_ACTIONS
from tests.bot_process import TOKEN, BotProcess, wait_quiet
from tests.fake_telegram import objects
from tests.fake_telegram.server import FakeTelegramServer

MAX_TEXT = 4096
EXAMPLES = 22  # x 3-8 updates each, plus the fixed ones: about 150 updates in all
# Updates in a private chat that must each get at least one reply (a button press may not:
# a stale one only gets its toast).
ANSWERED_KINDS = (
    "text",
    "command",
    "photo",
    "sticker",
    "voice",
    "document",
    "location",
    "contact",
    "forward",
    "edited",
)
STAFF_GROUP = -1_009_100_001
_message_ids = itertools.count(500_001)


@dataclass(frozen=True)
class FuzzChat:
    id: int
    type: str
    user: int  # who writes in it

    def raw(self) -> dict[str, Any]:
        if self.type == "private":
            return objects.make_chat(self.id, "private", user=objects.make_user(self.user))
        return {"id": self.id, "type": self.type, "title": f"Chat {self.id}"}


CHATS = {
    **{f"p{n}": FuzzChat(91_001 + n, "private", 91_001 + n) for n in range(6)},
    "group": FuzzChat(-91_001, "group", 91_101),
    "super": FuzzChat(-1_009_100_002, "supergroup", 91_102),
    "channel": FuzzChat(-1_009_100_003, "channel", 91_103),
    "staff": FuzzChat(STAFF_GROUP, "group", 91_104),
}
PRIVATE = [key for key, chat in CHATS.items() if chat.type == "private"]
GROUPS = ["group", "super", "staff"]


@dataclass
class Pushed:
    """What the fuzz pushed, for the final checks."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    must_answer: dict[int, int] = field(default_factory=dict)  # private chat -> updates needing a reply

    def add(self, spec: Spec, update: dict[str, Any] | None) -> None:
        if update is None:
            self.skipped += 1
            return
        self.updates.append(update)
        self.kinds[spec.kind] = self.kinds.get(spec.kind, 0) + 1
        chat = CHATS[spec.chat]
        if chat.type == "private" and spec.kind in ANSWERED_KINDS:
            self.must_answer[chat.id] = self.must_answer.get(chat.id, 0) + 1


PUSHED = Pushed()


# ---------------------------------------------------------------------------------- text strategies


def _cycle_to(seed: str, length: int) -> str:
    """`seed` repeated to exactly `length` characters (cheap long texts for Hypothesis)."""
    if not seed:
        seed = "x"
    return (seed * (length // len(seed) + 1))[:length]


INJECTION = [
    "<b>bold</b> <i>x",
    "</a><a href='javascript:alert(1)'>tap</a>",
    "<script>alert(1)</script>",
    "<tg-spoiler>x</tg-spoiler> <pre><code class='language-py'>x</code></pre>",
    "&amp; &lt; &#0; &#xFFFFFF; &foo; & < >",
    "**bold** __it__ [link](tg://user?id=1) `code` ```pre``` ~~s~~ ||spoiler||",
    "*_[]()~`>#+-=|{}.!",
    "'; DROP TABLE requests; --",
    "%s %d {0} {name} ${HOME} $(reboot)",
    "\u202eevil right-to-left\u202c \u200f\u200e",
    "مرحبا ظهري يؤلمني منذ أسبوع",
    "שלום, הגב שלי כואב",
    "Z\u0351\u0308\u033a\u0324A\u0352L\u0334G\u0336O\u0335",
    "\x00\x01\x02\x1b[31m\x7f\u0085\u2028\u2029",
    "😀👨‍👩‍👧‍👦🏳️‍🌈" * 3,
    "ｃｅｌｌｇｅｌ？　全角",
    "my back hurts when I sit",
    "how does stress cause back pain",
    "I can't control my bladder and my back hurts",
    "Looks right",
    "Cancel",
    "Yes",
    "090-1234-5678",
    "+44 20 7946 0958",
    "Taro Yamada",
]

controls = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from("\x7f\u0085"), max_size=20
)
pieces = st.one_of(
    st.text(max_size=120),
    st.sampled_from(INJECTION),
    controls,
    st.text(alphabet=st.characters(categories=["Mn", "Me", "Cf", "Zs", "Zl", "Zp", "Co", "So"]), max_size=30),
)
long_text = st.tuples(
    st.integers(0, MAX_TEXT), st.one_of(st.sampled_from(INJECTION), st.text(min_size=1, max_size=40))
).map(lambda t: _cycle_to(t[1], t[0]))
patient_text = st.one_of(
    st.lists(pieces, max_size=5).map(lambda parts: "".join(parts)[:MAX_TEXT]),
    long_text,
    st.sampled_from(INJECTION),
)

KNOWN_COMMANDS = ["start", "help", "selfcheck", "book", "privacy", "cancel", "forget", "requests", "stats", "menu"]
command_name = st.one_of(
    st.sampled_from(KNOWN_COMMANDS),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=32),
    st.text(min_size=1, max_size=10).filter(lambda s: not s[0].isspace()),
)
deep_link = st.one_of(
    st.sampled_from(["", "selfcheck", "book", "callback", "SELFCHECK", "book ", "a" * 64, "x" * 65]),
    st.tuples(st.integers(0, MAX_TEXT - len("/start ")), st.text(alphabet="ABCxyz019_-", min_size=1, max_size=8)).map(
        lambda t: _cycle_to(t[1], t[0])
    ),
    patient_text,
)

VALID_DATA = [
    *SIMPLE_ACTIONS,
    "a:how_stress_causes_pain",
    "a:no_such_entry",
    *[f"s:zz:{step}:{code}" for step in (0, 1, 8, 99) for code in SELFCHECK_CHOICES],
    *[f"c:{step}:{choice}" for step in "tnska" for choice in "mfeascryx"],
    "st:c:1",
    "st:u:1",
    "st:c:999999999999",
]
callback_data = st.one_of(
    st.sampled_from(VALID_DATA),
    st.text(max_size=64),
    st.text(min_size=65, max_size=300),  # more than Telegram allows: forged
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
    st.none(),  # a game button: no data at all
)
entity = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["bot_command", "bold", "url", "mention", "text_link", "custom_emoji", "spoiler", "x"]),
        "offset": st.integers(-5, MAX_TEXT + 10),
        "length": st.integers(-1, MAX_TEXT + 10),
    }
)


# ---------------------------------------------------------------------------------- update specs


@dataclass(frozen=True)
class Spec:
    """One update to push, as plain data: where, what, and the kind's own fields."""

    kind: str
    chat: str
    data: dict[str, Any]


def _spec(kind: str, chats: list[str], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Spec]:
    return st.builds(lambda chat, data: Spec(kind, chat, data), st.sampled_from(chats), st.fixed_dictionaries(fields))


any_chat = [*PRIVATE, *GROUPS]
text_spec = _spec("text", any_chat, text=patient_text, entities=st.one_of(st.none(), st.lists(entity, max_size=3)))
command_spec = _spec(
    "command",
    any_chat,
    name=command_name,
    at=st.sampled_from(["", "@fake_test_bot", "@other_bot", "@"]),
    payload=deep_link,
)
callback_spec = _spec("callback", any_chat, pick=st.integers(0, 50), data=callback_data, inaccessible=st.booleans())
update_spec = st.one_of(
    text_spec,
    command_spec,
    callback_spec,
    _spec("photo", any_chat, caption=st.one_of(st.none(), st.just(""), patient_text.map(lambda t: t[:1024]))),
    _spec("sticker", PRIVATE, emoji=st.sampled_from(["😀", "🔥", ""])),
    _spec("voice", PRIVATE, duration=st.integers(0, 3600)),
    _spec("document", PRIVATE, name=st.text(min_size=1, max_size=40), caption=st.one_of(st.none(), patient_text)),
    _spec("location", PRIVATE, lat=st.floats(-90, 90), lon=st.floats(-180, 180)),
    _spec(
        "contact",
        PRIVATE,
        phone=st.one_of(st.text(max_size=30), st.sampled_from(["+819012345678", "819012345678", "090-1234-5678", ""])),
        own=st.booleans(),
        first_name=st.text(max_size=20),
    ),
    _spec(
        "forward",
        PRIVATE,
        text=patient_text,
        origin=st.sampled_from(["user", "hidden_user", "chat", "channel"]),
    ),
    _spec("edited", any_chat, pick=st.integers(0, 50), text=patient_text, known=st.booleans()),
    _spec("channel_post", ["channel"], text=patient_text),
    _spec("my_chat_member", any_chat, status=st.sampled_from(["kicked", "member", "left", "administrator"])),
    _spec("poll", PRIVATE, question=patient_text.map(lambda t: t[:300] or "?")),
    _spec("inline_query", PRIVATE, query=patient_text.map(lambda t: t[:256])),
    _spec("reaction", any_chat, emoji=st.sampled_from(["👍", "🔥", "❤"])),
    _spec("join_request", GROUPS),
    _spec("business", PRIVATE, text=patient_text),
    _spec("anonymous_admin", GROUPS, text=st.sampled_from(["/start", "/requests", "/stats@fake_test_bot", "hello"])),
)


def _user(chat: FuzzChat) -> dict[str, Any]:
    return objects.make_user(chat.user)


def push(server: FakeTelegramServer, spec: Spec) -> dict[str, Any] | None:
    """Push one spec as an update, after checking PTB can read it (an update PTB cannot parse
    is a mistake of this generator, and would make PTB poll the same batch forever)."""
    update = _build(server, spec)
    if update is None:
        return None
    try:
        Update.de_json({"update_id": 0, **copy.deepcopy(update)}, None)
    except Exception as error:  # the generator's fault, not the bot's: say so
        raise AssertionError(f"the fuzzer built an update PTB rejects ({error!r}): {spec.kind} {update}") from error
    return server.push_update(update)


def _build(server: FakeTelegramServer, spec: Spec) -> dict[str, Any] | None:
    """The update for one spec, not queued yet (ids and dates filled in, so PTB can check it);
    None when it has nothing to act on (no bot message to press in that chat)."""
    chat = CHATS[spec.chat]
    d, now = spec.data, int(time.time())

    def message(**fields: Any) -> dict[str, Any]:  # a user message, stored by the fake
        return server.make_update(
            "message", server.make_message(chat.id, user_id=chat.user, chat_type=chat.type, **fields)
        )

    def raw_message(**fields: Any) -> dict[str, Any]:  # a message the fake does not store
        return {"message_id": next(_message_ids), "date": now, "chat": chat.raw(), **fields}

    if spec.kind == "text":
        extra = {} if d["entities"] is None else {"entities": d["entities"]}
        return server.make_text_update(chat.id, d["text"], chat.user, chat.type, **extra)
    if spec.kind == "command":
        text = f"/{d['name']}{d['at']} {d['payload']}".rstrip(" ")[:MAX_TEXT]
        return server.make_text_update(chat.id, text, chat.user, chat.type)
    if spec.kind == "photo":
        return message(photo=objects.photo_sizes(), **({} if d["caption"] is None else {"caption": d["caption"]}))
    if spec.kind == "sticker":
        return message(sticker=objects.sticker(d["emoji"] or "😀"))
    if spec.kind == "voice":
        return message(voice=objects.voice(d["duration"]))
    if spec.kind == "document":
        caption = {} if d["caption"] is None else {"caption": d["caption"][:1024]}
        return message(document=objects.document(d["name"]), **caption)
    if spec.kind == "location":
        return message(location=objects.location(d["lat"], d["lon"]))
    if spec.kind == "contact":
        sender = chat.user if d["own"] else None
        return message(contact=objects.contact(d["phone"], d["first_name"] or "A", user_id=sender))
    if spec.kind == "forward":
        origins = {
            "user": {"type": "user", "sender_user": objects.make_user(42), "date": now},
            "hidden_user": {"type": "hidden_user", "sender_user_name": "Someone", "date": now},
            "chat": {"type": "chat", "sender_chat": CHATS["group"].raw(), "date": now},
            "channel": {"type": "channel", "chat": CHATS["channel"].raw(), "message_id": 5, "date": now},
        }
        return message(text=d["text"] or ".", forward_origin=origins[d["origin"]])
    if spec.kind == "edited":
        mine = [m for m in server.conversation(chat.id) if not m.from_bot and m.text is not None]
        if mine and d["known"]:
            edited = copy.deepcopy(mine[d["pick"] % len(mine)].raw)
            edited.pop("entities", None)
            return {"edited_message": {**edited, "text": d["text"] or ".", "edit_date": now}}
        edited = raw_message(**{"from": _user(chat)}, text=d["text"] or ".", edit_date=now)
        return {"edited_message": {**edited, "date": now - 60}}
    if spec.kind == "callback":
        mine = server.bot_messages(chat.id, include_deleted=False)
        if not mine:
            return None
        target = mine[d["pick"] % len(mine)]
        query: dict[str, Any] = {"id": str(next(_message_ids)), "from": _user(chat), "chat_instance": str(chat.id * 7)}
        if d["data"] is not None:
            query["data"] = d["data"]
        else:
            query["game_short_name"] = "game"
        if d["inaccessible"]:  # older than 48 hours: Telegram sends only its chat and id
            query["message"] = {"chat": chat.raw(), "message_id": target.message_id, "date": 0}
        else:
            query["message"] = copy.deepcopy(target.raw)
        return {"callback_query": query}
    if spec.kind == "channel_post":
        return {"channel_post": raw_message(sender_chat=chat.raw(), text=d["text"] or ".")}
    if spec.kind == "my_chat_member":
        me = {"id": server.bot_user["id"], "is_bot": True, "first_name": server.bot_user["first_name"]}
        new: dict[str, Any] = {"status": d["status"], "user": me}
        if d["status"] == "kicked":
            new["until_date"] = 0
        if d["status"] == "administrator":
            new.update(
                can_be_edited=False, is_anonymous=False, can_manage_chat=True, can_delete_messages=False,
                can_manage_video_chats=False, can_restrict_members=False, can_promote_members=False,
                can_change_info=False, can_invite_users=True, can_post_stories=False, can_edit_stories=False,
                can_delete_stories=False,
            )  # fmt: skip
        old = {"status": "member", "user": me}
        member = {"chat": chat.raw(), "from": _user(chat), "date": now, "old_chat_member": old, "new_chat_member": new}
        return {"my_chat_member": member}
    if spec.kind == "poll":
        poll = {
            "id": f"poll{now}", "question": d["question"],
            "options": [{"text": "a", "voter_count": 1, "persistent_id": "o1"}],
            "total_voter_count": 1, "is_closed": False, "is_anonymous": True, "type": "regular",
            "allows_multiple_answers": False, "allows_revoting": False, "members_only": False,
        }  # fmt: skip
        return {"poll": poll}
    if spec.kind == "inline_query":
        return {"inline_query": {"id": f"iq{now}", "from": _user(chat), "query": d["query"], "offset": ""}}
    if spec.kind == "reaction":
        reaction = {
            "chat": chat.raw(), "message_id": 1, "date": now, "user": _user(chat),
            "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": d["emoji"]}],
        }  # fmt: skip
        return {"message_reaction": reaction}
    if spec.kind == "join_request":
        return {"chat_join_request": {"chat": chat.raw(), "from": _user(chat), "user_chat_id": chat.user, "date": now}}
    if spec.kind == "business":
        text = d["text"] or "."
        return {"business_message": raw_message(**{"from": _user(chat)}, text=text, business_connection_id="bc1")}
    if spec.kind == "anonymous_admin":  # sent "as the group": no `from` user at all
        text = d["text"]
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text[0] == "/" else []
        return {
            "message": raw_message(sender_chat=chat.raw(), text=text, **({"entities": entities} if entities else {}))
        }
    raise AssertionError(spec.kind)


# ---------------------------------------------------------------------------------- the bot


@dataclass
class Fuzzed:
    server: FakeTelegramServer
    process: BotProcess


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    base = tmp_path_factory.mktemp("fuzz")
    with FakeTelegramServer(token=TOKEN) as server:
        for chat in CHATS.values():
            server.add_chat(chat.id, chat.type, user_id=chat.user)
        process = BotProcess(
            server,
            base / "data",
            KEY_FILE=str(base / "data.key"),
            STAFF_CHAT_ID=str(STAFF_GROUP),
            STAFF_USER_IDS="91005",
        )
        with process:
            # Every chat that can have buttons starts with a menu (or a group invite) to press.
            for key in [*PRIVATE, *GROUPS]:
                chat = CHATS[key]
                server.push_command(
                    chat.id, "/start", user_id=chat.user, chat_type=chat.type, mention_bot=key in GROUPS
                )
            for key in [*PRIVATE, *GROUPS]:
                server.wait_for_bot_messages(CHATS[key].id, 1, timeout=15)
            yield Fuzzed(server, process)


def drain(server: FakeTelegramServer) -> None:
    """Wait until the bot has taken every pushed update (confirmed through getUpdates' offset)."""
    server.wait_for(lambda: not server.pending_updates(), timeout=30, what="the bot to take every update")


FIXED = [
    Spec("command", "p0", {"name": "start", "at": "", "payload": _cycle_to("deeplink_", MAX_TEXT - len("/start "))}),
    Spec("command", "p1", {"name": "start", "at": "", "payload": _cycle_to("é😀", 2000)}),
    Spec("command", "p2", {"name": "selfcheck", "at": "@fake_test_bot", "payload": ""}),
    Spec("command", "p3", {"name": "nosuchcommand", "at": "", "payload": "x"}),
    Spec("command", "group", {"name": "requests", "at": "@fake_test_bot", "payload": ""}),
    Spec("command", "staff", {"name": "stats", "at": "@fake_test_bot", "payload": ""}),
    Spec("text", "p0", {"text": _cycle_to("my back hurts ", MAX_TEXT), "entities": None}),
    Spec("text", "p1", {"text": "", "entities": None}),
    Spec("text", "p2", {"text": "/start", "entities": [{"type": "bot_command", "offset": 0, "length": 9999}]}),
    Spec("text", "p3", {"text": "\u202e<b>x</b>\x00", "entities": None}),
    Spec("photo", "p4", {"caption": ""}),
    Spec("photo", "p5", {"caption": "<i>my x-ray</i> & notes"}),
    Spec("contact", "p4", {"phone": "", "own": True, "first_name": "A"}),
    Spec("callback", "p0", {"pick": 0, "data": "x" * 300, "inaccessible": False}),
    Spec("callback", "p1", {"pick": 0, "data": "callback", "inaccessible": True}),
    Spec("callback", "p2", {"pick": 0, "data": None, "inaccessible": False}),
    Spec("callback", "group", {"pick": 0, "data": "st:c:1", "inaccessible": False}),
    Spec("callback", "staff", {"pick": 0, "data": "st:u:1", "inaccessible": False}),
    Spec("edited", "p3", {"pick": 0, "text": "how does sleep help", "known": True}),
    Spec("channel_post", "channel", {"text": "/start"}),
    Spec("my_chat_member", "p5", {"status": "kicked"}),
    Spec("poll", "p0", {"question": "?"}),
    Spec("inline_query", "p0", {"query": "<b>"}),
    Spec("reaction", "p1", {"emoji": "👍"}),
    Spec("join_request", "group", {}),
    Spec("business", "p2", {"text": "hello"}),
    Spec("anonymous_admin", "group", {"text": "/requests"}),
]


def test_fixed_updates_of_every_kind(fuzzed: Fuzzed) -> None:
    for spec in FIXED:
        PUSHED.add(spec, push(fuzzed.server, spec))
    drain(fuzzed.server)
    assert fuzzed.process.process is not None and fuzzed.process.process.poll() is None, fuzzed.process.output()[-3000:]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)
@given(
    # What reaches the dialogue comes up most (typed text, commands, button presses), shuffled in
    # with updates of every other kind.
    specs=st.tuples(
        st.lists(st.one_of(text_spec, command_spec, callback_spec), min_size=2, max_size=4),
        st.lists(update_spec, min_size=1, max_size=4),
    ).flatmap(lambda parts: st.permutations(parts[0] + parts[1]))
)
def test_generated_updates(fuzzed: Fuzzed, specs: list[Spec]) -> None:
    for spec in specs:
        PUSHED.add(spec, push(fuzzed.server, spec))
    drain(fuzzed.server)
    assert fuzzed.process.process is not None and fuzzed.process.process.poll() is None, fuzzed.process.output()[-3000:]


def test_the_bot_survived_everything(fuzzed: Fuzzed) -> None:
    server, process = fuzzed.server, fuzzed.process
    assert len(PUSHED.updates) >= 100, f"only {len(PUSHED.updates)} updates were pushed: run the whole file"
    wait_quiet(server, 1.0)
    assert process.process is not None and process.process.poll() is None, "the bot process died"
    print(f"\n{len(PUSHED.updates)} updates pushed ({PUSHED.skipped} specs had nothing to act on): {PUSHED.kinds}")

    errors = [(r.method, r.params.get("chat_id"), r.description) for r in server.validation_errors]
    assert errors == [], f"Telegram would have rejected {len(errors)} call(s): {errors[:10]}"
    assert server.internal_errors == [] and server.unsupported_methods == []
    assert server.pending_updates() == []
    unanswered = [(c.chat_id, c.data) for c in server.unanswered_callbacks()]
    assert unanswered == [], f"button presses left unanswered: {unanswered[:10]}"

    output = process.output()
    bad = [line for line in output.splitlines() if "Traceback" in line or "failed:" in line]
    assert bad == [], "\n".join(bad[:20])
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    for kind in ("text", "command", "photo", "callback", "edited", "channel_post", "poll", "inline_query"):
        assert PUSHED.kinds.get(kind), f"no {kind} update was pushed"


def test_no_message_from_a_patient_was_silently_dropped(fuzzed: Fuzzed) -> None:
    """Every message or edit in a private chat gets at least one reply (and each chat had its
    /start menu before the fuzz): none was lost on the way, whatever it held."""
    server = fuzzed.server
    assert PUSHED.must_answer, "run the whole file"
    short = {}
    for chat, needed in PUSHED.must_answer.items():
        sent = len(server.bot_messages(chat)) - 1  # the menu from before the fuzz
        if sent < needed:
            short[chat] = (needed, sent)
    assert short == {}, f"chat: (messages needing a reply, replies sent): {short}"


def test_patients_are_still_answered_after_the_fuzz(fuzzed: Fuzzed) -> None:
    server = fuzzed.server
    chat = CHATS["p0"].id
    before = len(server.bot_messages(chat))
    server.push_text(chat, "/cancel", user_id=chat)
    server.push_text(chat, "how does stress cause back pain", user_id=chat)
    server.wait_for(lambda: len(server.bot_messages(chat)) >= before + 2, timeout=10, what="answers after the fuzz")
    assert "Source:" in (server.bot_messages(chat)[-1].text or "")
    assert server.validation_errors == []
