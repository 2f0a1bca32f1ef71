"""The checkout holds everything the bot and its tests read: a pattern in .gitignore once hid
tests/data/ (it matched `data/`, meant for the bot's DATA_DIR), so CI's fresh clone lacked a
file that every local run had."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
SOURCE_FOLDERS = ("bot", "knowledge", "tests", "benchmarks", ".ci")


def project_files() -> list[str]:
    found = []
    for folder in SOURCE_FOLDERS:
        for path in (PROJECT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.append(str(path.relative_to(PROJECT)))
    return sorted(found)


@pytest.mark.skipif(shutil.which("git") is None or not (PROJECT / ".git").exists(), reason="not a git checkout")
def test_no_source_file_is_ignored_by_git() -> None:
    files = project_files()
    assert len(files) > 50 and "tests/data/paraphrases.yaml" in files
    checked = subprocess.run(
        ["git", "-c", "safe.directory=*", "check-ignore", "--no-index", "--stdin"],
        cwd=PROJECT,
        input="\n".join(files),
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode in (0, 1), checked.stderr
    assert checked.stdout.split() == [], "ignored by .gitignore, so missing from a fresh clone"


def test_the_bot_data_folder_is_still_ignored() -> None:
    """The fix must not go too far: patients' data and keys stay out of the repository."""
    ignore = (PROJECT / ".gitignore").read_text(encoding="utf-8").split()
    assert {"/data/", "/secrets/", ".env"} <= set(ignore)
