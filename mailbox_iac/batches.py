"""Writes that arrive while another of the same key is under way, done together right after it (group
commit). The engine asks a provider process for the accounts of a host's mailboxes all at once: written one
by one, each would cost its own SSH round trips and hold one of the host's few sessions, which the host's
certificate also waits for. Nobody waits for a timer: the first caller writes its item at once, and the
items that arrive meanwhile are written in one go as soon as it is done, by one of their callers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(eq=False)
class _Waiting(Generic[T]):
    item: T
    done: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[K, T]):
    """`submit(key, item)` returns once `write(key, items)` has written `item` together with the other items
    of its batch, and raises what that write raised (each item of a failed batch gets its error; the next
    batch is written all the same). Batches of one key never overlap; those of different keys may."""

    def __init__(self, write: Callable[[K, list[T]], None]) -> None:
        self._write = write
        self._changed = threading.Condition()
        self._pending: dict[K, list[_Waiting[T]]] = {}
        self._writing: set[K] = set()

    def submit(self, key: K, item: T) -> None:
        mine = _Waiting(item)
        with self._changed:
            self._pending.setdefault(key, []).append(mine)
            while key in self._writing and not mine.done:
                self._changed.wait()
            leader = not mine.done  # nobody is writing this key: write everything waiting for it, mine included
            batch = self._pending.pop(key) if leader else []
            if leader:
                self._writing.add(key)
        if leader:
            error: BaseException | None = None
            try:
                self._write(key, [w.item for w in batch])
            except BaseException as exc:  # handed to every caller of the batch, re-raised below for this one
                error = exc
            with self._changed:
                for w in batch:
                    w.done, w.error = True, error
                self._writing.discard(key)
                self._changed.notify_all()
        if mine.error is not None:
            raise mine.error
