"""bot.config: .env parsing, environment precedence, one-line errors, and the token never leaking."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from bot.config import ConfigError, RedactingFilter, load_config, read_env_file, setup_logging
from tests.conftest import run_bot

TOKEN = "123456789:AAHsecretSECRETsecret_0123456789-abcXYZ"
NO_FILE = Path("/nonexistent/dir/.env")


def write_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- .env parsing


def test_env_file_comments_quotes_and_export(tmp_path: Path) -> None:
    path = write_env(
        tmp_path,
        "# a comment\n"
        "\n"
        "   # an indented comment\n"
        "PLAIN=value\n"
        "SPACED = spaced value  \n"
        'DOUBLE="with spaces # not a comment"\n'
        "SINGLE='single'\n"
        "export EXPORTED=yes\n"
        "INLINE=kept # dropped\n"
        "HASH=a#b\n"
        "EQUALS=a=b=c\n"
        "EMPTY=\n",
    )
    assert read_env_file(path) == {
        "PLAIN": "value",
        "SPACED": "spaced value",
        "DOUBLE": "with spaces # not a comment",
        "SINGLE": "single",
        "EXPORTED": "yes",
        "INLINE": "kept",
        "HASH": "a#b",
        "EQUALS": "a=b=c",
        "EMPTY": "",
    }


def test_env_file_quoted_value_with_inline_comment(tmp_path: Path) -> None:
    path = write_env(tmp_path, 'BOOKING_URL="https://example.org/book" # the booking page\n')
    assert read_env_file(path) == {"BOOKING_URL": "https://example.org/book"}


@pytest.mark.parametrize("bad", ["JUST_WORDS", "1ABC=x", "KEY value", "export", "=value"])
def test_env_file_bad_line_names_file_and_line(tmp_path: Path, bad: str) -> None:
    path = write_env(tmp_path, f"# comment\nGOOD=1\n{bad}\n")
    with pytest.raises(ConfigError) as caught:
        read_env_file(path)
    message = str(caught.value)
    assert ".env line 3" in message
    assert "\n" not in message


def test_missing_env_file_is_empty() -> None:
    assert read_env_file(NO_FILE) == {}


# --------------------------------------------------------------------------- load_config


def test_environment_overrides_env_file(tmp_path: Path) -> None:
    path = write_env(tmp_path, "LOG_LEVEL=DEBUG\nCLINIC_NAME=From File\nWEBHOOK_PORT=9000\n")
    config = load_config(env={"LOG_LEVEL": "warning", "CLINIC_NAME": "From Env"}, env_file=path)
    assert config.log_level == "WARNING"
    assert config.clinic_overrides["clinic_name"] == "From Env"
    assert config.webhook_port == 9000  # only in the file: the file still counts


def test_defaults_without_any_setting() -> None:
    config = load_config(env={}, env_file=NO_FILE)
    assert config.token is None
    assert config.webhook_port == 8443
    assert config.staff_chat_ids == ()
    assert config.log_level == "INFO"
    assert config.clinic_overrides == {}
    assert config.knowledge_dir.name == "knowledge"


def test_clinic_overrides_come_from_their_variables() -> None:
    env = {"BOOKING_URL": "https://clinic.example/book", "CLINIC_PHONE": " 03-1234-5678 "}
    config = load_config(env=env, env_file=NO_FILE)
    assert config.clinic_overrides == {
        "booking_url": "https://clinic.example/book",
        "phone": "03-1234-5678",
    }


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("", ()),
        ("123", (123,)),
        ("123, -100200300;42", (123, -100200300, 42)),
        (" 7 ,, 8 ", (7, 8)),
    ],
)
def test_staff_chat_ids(text: str, ids: tuple[int, ...]) -> None:
    assert load_config(env={"STAFF_CHAT_ID": text}, env_file=NO_FILE).staff_chat_ids == ids


def test_staff_chat_id_error_names_the_bad_part() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={"STAFF_CHAT_ID": "123,12a"}, env_file=NO_FILE)
    assert "STAFF_CHAT_ID" in str(caught.value)
    assert "'12a'" in str(caught.value)


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "80.5"])
def test_bad_webhook_port(port: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={"WEBHOOK_PORT": port}, env_file=NO_FILE)
    assert "WEBHOOK_PORT" in str(caught.value)
    assert f"'{port}'" in str(caught.value)


def test_webhook_port_non_ascii_digit_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        load_config(env={"WEBHOOK_PORT": "²"}, env_file=NO_FILE)


def test_bad_log_level() -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        load_config(env={"LOG_LEVEL": "LOUD"}, env_file=NO_FILE)


# --------------------------------------------------------------------------- the token


def test_require_token_returns_a_valid_token() -> None:
    config = load_config(env={"TELEGRAM_BOT_TOKEN": f"  {TOKEN} "}, env_file=NO_FILE)
    assert config.require_token() == TOKEN


def test_require_token_missing() -> None:
    config = load_config(env={}, env_file=NO_FILE)
    with pytest.raises(ConfigError) as caught:
        config.require_token()
    message = str(caught.value)
    assert "TELEGRAM_BOT_TOKEN is not set" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "token",
    [
        "12345:short-SECRETVALUE",
        "not-a-token-SECRETVALUE",
        "123456789 AAHsecretSECRETsecret_0123456789-abcXYZ",
        TOKEN + "!",
    ],
)
def test_require_token_malformed_never_shows_the_token(token: str) -> None:
    config = load_config(env={"TELEGRAM_BOT_TOKEN": token}, env_file=NO_FILE)
    with pytest.raises(ConfigError) as caught:
        config.require_token()
    message = str(caught.value)
    assert "does not look like a bot token" in message
    assert "\n" not in message
    assert token not in message
    assert "SECRET" not in message


def test_run_with_malformed_token_exits_2_with_one_line() -> None:
    token = "98765:SECRETVALUE-not-a-real-token"
    result = run_bot("run", TELEGRAM_BOT_TOKEN=token)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: TELEGRAM_BOT_TOKEN")
    assert "Traceback" not in result.stderr
    assert token not in result.stdout + result.stderr
    assert "SECRETVALUE" not in result.stdout + result.stderr


def test_bad_env_file_line_exits_2_naming_the_line(tmp_path: Path) -> None:
    path = write_env(tmp_path, "GOOD=1\nthis is not a setting\n")
    result = run_bot("check", ENV_FILE=str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: .env line 2: expected KEY=VALUE"


# --------------------------------------------------------------------------- redaction


@pytest.fixture
def redacted_log() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter([TOKEN, ""]))
    logger = logging.getLogger("tests.redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.handlers.clear()


def test_redacts_token_in_message_and_args(redacted_log) -> None:
    logger, stream = redacted_log
    logger.info(f"POST https://api.telegram.org/bot{TOKEN}/getMe")
    logger.info("POST %s %s", f"https://api.telegram.org/bot{TOKEN}/sendMessage", 200)
    logger.info("as mapping: %(url)s", {"url": f"bot{TOKEN}/x"})
    output = stream.getvalue()
    assert TOKEN not in output
    assert output.count("<redacted>") == 3
    assert "/sendMessage 200" in output


def test_redacts_token_in_exception_text(redacted_log) -> None:
    logger, stream = redacted_log
    try:
        raise RuntimeError(f"connection to https://api.telegram.org/bot{TOKEN}/getUpdates failed")
    except RuntimeError:
        logger.exception("network error")
    output = stream.getvalue()
    assert TOKEN not in output
    assert "Traceback" in output
    assert "RuntimeError: connection to https://api.telegram.org/bot<redacted>/getUpdates" in output


def test_redaction_leaves_other_messages_alone(redacted_log) -> None:
    logger, stream = redacted_log
    logger.warning("%d%% done for %s", 50, "user")
    assert stream.getvalue() == "WARNING 50% done for user\n"


def test_setup_logging_installs_the_filter(capsys) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("INFO", [TOKEN])
        logging.getLogger("httpx").warning("HTTP Request: POST https://x/bot%s/getMe", TOKEN)
        logging.getLogger("httpx").info("quiet below WARNING %s", TOKEN)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert "bot<redacted>/getMe" in err
    assert "quiet below WARNING" not in err
