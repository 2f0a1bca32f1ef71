"""Command line: `python -m bot [chat|run|check]`.

With no command it starts the bot on Telegram when a token is configured, and otherwise the
terminal chat, so a newcomer's first command always does something useful.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence

from bot.config import Config, ConfigError, load_config, setup_logging, url_problem
from bot.content.loader import ContentError, Knowledge, load_knowledge
from bot.content.notices import NoticesError, load_notices
from bot.storage import StorageOpenError

EXIT_CONTENT = 1
EXIT_CONFIG = 2

log = logging.getLogger("bot")


def _load(config: Config) -> Knowledge:
    """The knowledge base, with what Telegram itself would refuse checked as well: the booking
    link (it becomes a button; a bad one makes Telegram drop the whole message) and the
    adapter's own notices."""
    knowledge = load_knowledge(config.knowledge_dir, config.clinic_overrides)
    problems = []
    booking = knowledge.settings.booking_url
    if not booking.startswith("<") and (problem := url_problem(booking)):
        problems.append(f"BOOKING_URL: '{booking}' {problem} (set BOOKING_URL in .env or fix knowledge/clinic.yaml)")
    try:
        load_notices(config.knowledge_dir)
    except NoticesError as error:
        problems += error.problems
    if problems:
        raise ContentError(problems)
    return knowledge


def cmd_check(config: Config) -> int:
    """Validate the knowledge base; print one line per problem."""
    try:
        knowledge = _load(config)
    except ContentError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"{len(error.problems)} problem(s) found; fix them and run `python -m bot check` again.", file=sys.stderr)
        return EXIT_CONTENT
    for warning in knowledge.warnings:
        print(f"warning: {warning}")
    print(
        f"knowledge OK: {len(knowledge.entries)} entries, "
        f"{len(knowledge.selfcheck.questions)} self-check questions, "
        f"{len(knowledge.triage.concepts)} safety concepts, {len(knowledge.triage.questions)} safety questions"
    )
    return 0


def cmd_chat(config: Config) -> int:
    from bot.app import build_chat_service
    from bot.channels.terminal import run_chat

    return run_chat(build_chat_service(config, _load(config)))


def cmd_export(config: Config, path: str) -> int:
    """Write every call-back request (decrypted) to a CSV file for the clinic's records."""
    import csv
    import os

    from bot.app import build_service

    _, service = build_service(config, _load(config))
    requests = service.store.requests()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # health data: owner only
    with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "received", "name", "phone", "best_time", "note", "status", "handled"])
        for request in requests:
            writer.writerow(
                [
                    request.id,
                    service.local_time(request.created_at),
                    _safe_cell(request.name),
                    _safe_cell(request.phone),
                    request.preferred_time,
                    _safe_cell(request.note),
                    request.status,
                    service.local_time(request.handled_at) if request.handled_at else "",
                ]
            )
    print(f"{len(requests)} request(s) written to {path}")
    return 0


def _safe_cell(value: str) -> str:
    """Stop spreadsheet formula injection: a cell a spreadsheet would read as a formula is
    prefixed with ' (a phone number in +81... form is the one value left as it is)."""
    if re.fullmatch(r"\+\d{6,15}", value):
        return value
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def cmd_report(config: Config, limit: int) -> int:
    """The most frequent questions the bot could not answer, grouped by similarity."""
    from bot.app import build_service
    from bot.understanding.report import group_questions

    store, _ = build_service(config, _load(config))
    groups = group_questions(store.unanswered())
    if not groups:
        print("No unanswered questions are stored.")
        return 0
    print(f"{'times':>5}  question (and similar ones)")
    for group in groups[:limit]:
        print(f"{len(group):>5}  {group[0]}")
        for other in list(dict.fromkeys(group[1:]))[:3]:
            print(f"{'':>5}    ~ {other}")
    return 0


def cmd_run(config: Config) -> int:
    token = config.require_token()
    knowledge = _load(config)
    for warning in knowledge.warnings:
        log.warning("%s", warning)
    from bot.app import build_service
    from bot.channels.telegram.adapter import run_telegram

    store, service = build_service(config, knowledge)
    return run_telegram(config, knowledge, token, store, service)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("chat", help="talk to the bot in this terminal")
    commands.add_parser("run", help="run the bot on Telegram (needs TELEGRAM_BOT_TOKEN)")
    commands.add_parser("check", help="validate the knowledge base")
    export = commands.add_parser("export-requests", help="write the call-back requests to a CSV file")
    export.add_argument("--csv", required=True, metavar="FILE")
    report = commands.add_parser("report", help="the questions the bot could not answer, most frequent first")
    report.add_argument("--limit", type=int, default=20)
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(config.log_level, [config.token or "", config.webhook_secret or "", config.data_key or ""])
    command = args.command or ("run" if config.token else "chat")
    try:
        if command == "check":
            return cmd_check(config)
        if command == "chat":
            return cmd_chat(config)
        if command == "export-requests":
            return cmd_export(config, args.csv)
        if command == "report":
            return cmd_report(config, args.limit)
        return cmd_run(config)
    except (ConfigError, StorageOpenError) as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except ContentError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print("the bot cannot start until the knowledge base is fixed (python -m bot check).", file=sys.stderr)
        return EXIT_CONTENT


if __name__ == "__main__":
    sys.exit(main())
