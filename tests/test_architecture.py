"""Import direction, read from the source (recursive globs, so a module moved into a subpackage is
still checked): only bot/storage/ talks to SQLite, only bot/channels/telegram/ to
python-telegram-bot, and the dialogue core depends on nothing outward."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BOT = PROJECT / "bot"


def _modules() -> list[Path]:
    found = sorted(BOT.rglob("*.py"))
    assert len(found) >= 30 and (BOT / "core" / "dialogue.py") in found, "the scan must see every subpackage"
    return found


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it (inside functions too), as dotted names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                package = path.relative_to(PROJECT).with_suffix("").parts[: -node.level]
                base = ".".join(package + ((node.module,) if node.module else ()))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _importers(prefix: str) -> set[str]:
    """bot/ modules (paths relative to the project) that import `prefix` or a submodule of it."""
    return {
        str(path.relative_to(PROJECT))
        for path in _modules()
        if any(name == prefix or name.startswith(prefix + ".") for name in _imports(path))
    }


def _under(paths: set[str], folder: str) -> set[str]:
    return {path for path in paths if not path.startswith(folder)}


def test_only_storage_imports_sqlite3() -> None:
    importers = _importers("sqlite3")
    assert "bot/storage/sqlite/store.py" in importers, "the scan no longer sees the SQLite backend"
    assert _under(importers, "bot/storage/") == set()


def test_only_the_telegram_channel_imports_python_telegram_bot() -> None:
    importers = _importers("telegram")
    assert "bot/channels/telegram/adapter.py" in importers, "the scan no longer sees the Telegram adapter"
    assert _under(importers, "bot/channels/telegram/") == set()


def test_the_core_imports_nothing_outward() -> None:
    outward = ("bot.service", "bot.storage", "bot.channels", "bot.app", "telegram", "sqlite3")
    found = {
        f"{path.relative_to(PROJECT)} imports {name}"
        for path in sorted((BOT / "core").rglob("*.py"))
        for name in _imports(path)
        if any(name == prefix or name.startswith(prefix + ".") for prefix in outward)
    }
    assert found == set()


def test_the_service_uses_the_storage_contract_only() -> None:
    """The service knows the contract, never a backend, its connection or its cipher."""
    inside = {f"bot.storage.{p.stem}" for p in (BOT / "storage").iterdir() if p.stem != "__init__" and p.stem[0] != "_"}
    assert "bot.storage.sqlite" in inside
    for path in sorted((BOT / "service").rglob("*.py")):
        imports = _imports(path)
        assert not [n for n in imports if any(n == m or n.startswith(m + ".") for m in inside)], path
        source = path.read_text(encoding="utf-8")
        assert "store.db" not in source and "store.cipher" not in source, path


def test_the_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    """Lazy imports (as in bot/__main__.py) count: a channel imported inside a function is still an import."""
    module = tmp_path / "lazy.py"
    module.write_text("def run():\n    import sqlite3\n    from telegram.ext import Application\n")
    assert {"sqlite3", "telegram.ext", "telegram.ext.Application"} <= _imports(module)
