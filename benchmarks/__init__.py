"""Benchmarks: `python -m benchmarks.telegram_load` (the bot under load vs an echo bot)."""
