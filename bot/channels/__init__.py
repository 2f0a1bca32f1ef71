"""Channels: one adapter per messenger (Telegram, the terminal) around the channel-free core."""
