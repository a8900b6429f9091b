"""What one provider process read a moment ago, shared by the callers that ask together: the engine sends a
refresh's reads, or a run's readiness waits, of a host's mailboxes or a zone's records at once, and one
command or query serves them all. A provider process serves one engine operation, so nothing kept here
outlives the run; a write through the process forgets what it changes."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Entry(Generic[V]):
    lock: threading.Lock = field(default_factory=threading.Lock)
    at: float = -math.inf  # when `value` was computed; -inf: never, or forgotten
    value: V | None = None


class Recent(Generic[K, V]):
    """Per key, a value computed at most once every `seconds`: callers of one key wait for the one
    computing it (those of other keys do not), then all use its value."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._guard = threading.Lock()
        self._entries: dict[K, _Entry[V]] = {}

    def _entry(self, key: K) -> _Entry[V]:
        with self._guard:
            return self._entries.setdefault(key, _Entry())

    def get(self, key: K, compute: Callable[[], V]) -> V:
        entry = self._entry(key)
        with entry.lock:
            if entry.value is None or time.monotonic() - entry.at > self.seconds:
                entry.value, entry.at = compute(), time.monotonic()
            return entry.value

    def forget(self, key: K) -> None:
        entry = self._entry(key)
        with entry.lock:
            entry.value, entry.at = None, -math.inf
