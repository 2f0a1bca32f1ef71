"""A Telegram bot for a spine clinic: a Telegram-free dialogue core plus thin channel adapters."""
