"""Command line: `python -m bot [chat|run|check]`.

With no command it starts the bot on Telegram when a token is configured, and otherwise the
terminal chat, so a newcomer's first command always does something useful.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot.config import Config, ConfigError, load_config, setup_logging
from bot.content import ContentError, Knowledge, load_knowledge
from bot.store import StoreError

EXIT_CONTENT = 1
EXIT_CONFIG = 2

log = logging.getLogger("bot")


def _load(config: Config) -> Knowledge:
    return load_knowledge(config.knowledge_dir, config.clinic_overrides)


def cmd_check(config: Config) -> int:
    """Validate the knowledge base; print one line per problem."""
    try:
        knowledge = _load(config)
    except ContentError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"{len(error.problems)} problem(s) found; fix them and run `python -m bot check` again.",
              file=sys.stderr)
        return EXIT_CONTENT
    for warning in knowledge.warnings:
        print(f"warning: {warning}")
    rules = sum(len(level.rules) for level in knowledge.safety.values())
    print(
        f"knowledge OK: {len(knowledge.entries)} entries, "
        f"{len(knowledge.selfcheck.questions)} self-check questions, {rules} safety rules"
    )
    return 0


def cmd_chat(config: Config) -> int:
    from bot.dialogue import Dialogue
    from bot.terminal import run_chat

    knowledge = _load(config)
    return run_chat(Dialogue(knowledge))


def cmd_run(config: Config) -> int:
    token = config.require_token()
    knowledge = _load(config)
    for warning in knowledge.warnings:
        log.warning("%s", warning)
    from bot.telegram_app import run_telegram

    return run_telegram(config, knowledge, token)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("chat", help="talk to the bot in this terminal")
    commands.add_parser("run", help="run the bot on Telegram (needs TELEGRAM_BOT_TOKEN)")
    commands.add_parser("check", help="validate the knowledge base")
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(config.log_level, [config.token or ""])
    command = args.command or ("run" if config.token else "chat")
    try:
        if command == "check":
            return cmd_check(config)
        if command == "chat":
            return cmd_chat(config)
        return cmd_run(config)
    except (ConfigError, StoreError) as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except ContentError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print("the bot cannot start until the knowledge base is fixed (python -m bot check).",
              file=sys.stderr)
        return EXIT_CONTENT


if __name__ == "__main__":
    sys.exit(main())
