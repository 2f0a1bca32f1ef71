"""One asyncio lock per chat, so a chat's turns and outbox sends never interleave.

Locks are reference-counted and removed when nobody holds or waits for them. (Removing a lock
as soon as it reports "not locked" is a race: a waiter that is about to take it still counts
on it, and a second lock for the same chat would let two sends of one reply run at once.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ChatLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, chat_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(chat_id, (asyncio.Lock(), 0))
        self._locks[chat_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock_now, users_now = self._locks[chat_id]
            if users_now <= 1:
                del self._locks[chat_id]
            else:
                self._locks[chat_id] = (lock_now, users_now - 1)

    def __len__(self) -> int:
        return len(self._locks)
