"""The SQLite backend: one database file under DATA_DIR, used from the bot's event-loop thread."""
