"""A small bounded cache whose entries live for a fixed time (the revocation bound)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, ttl: float, max_entries: int, now: Callable[[], float]) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.now = now
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        entry = self._entries.get(key)
        now = self.now()
        if entry is not None and entry[0] > now:
            return entry[1]
        value = load()  # outside the lock: a slow database must not serialise other keys
        with self._lock:
            self._entries.pop(key, None)
            if len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]  # oldest inserted
            self._entries[key] = (now + self.ttl, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
