"""I/O counts per process: database cursors by database, key-store loads by source.

Counting costs a lock on paths that already do I/O, so it is always on. The local host logs the counts as
each process exits, so a run with several instances shows what each one cost the databases and the key
store; `bench/capacity.py --simulate` compares them with the capacity model.
"""

from __future__ import annotations

import threading
from collections import Counter

_counts: Counter[str] = Counter()
_lock = threading.Lock()


def count(what: str) -> None:
    with _lock:
        _counts[what] += 1


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)
