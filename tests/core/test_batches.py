"""Group commit: what arrives while a write of its key is under way is written together right after it."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import pytest

from mailbox_iac.batches import GroupCommit


class Writes:
    """Records each batch; the first one of a key is held until `release` (the others arrive meanwhile)."""

    def __init__(self, fail_on: str = "") -> None:
        self.batches: list[tuple[str, list[str]]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, key: str, items: list[str]) -> None:
        self.batches.append((key, items))
        if len(self.batches) == 1:
            self.started.set()
            self.release.wait(timeout=10)
        if self.fail_on in items:
            raise RuntimeError(f"the host refused {self.fail_on}")


def queued(commit: GroupCommit[str, str], key: str, count: int) -> None:
    """Until `count` items of `key` wait for the write under way (read from the outside, as a test must)."""
    deadline = time.monotonic() + 10
    while len(commit._pending.get(key, [])) < count:
        assert time.monotonic() < deadline, "the submissions never queued"
        time.sleep(0.01)


def test_what_arrives_during_a_write_is_written_in_one_batch_after_it() -> None:
    writes = Writes()
    commit: GroupCommit[str, str] = GroupCommit(writes)
    with futures.ThreadPoolExecutor(max_workers=8) as pool:
        first = pool.submit(commit.submit, "mx1", "ada")
        assert writes.started.wait(timeout=10)
        rest = [pool.submit(commit.submit, "mx1", name) for name in ("ben", "cleo", "dan", "eve")]
        other_host = pool.submit(commit.submit, "mx2", "zoe")
        assert other_host.result(timeout=10) is None  # another key does not wait for mx1's write
        queued(commit, "mx1", 4)
        writes.release.set()
        for f in [first, *rest]:
            assert f.result(timeout=10) is None
    assert writes.batches[0] == ("mx1", ["ada"]) and ("mx2", ["zoe"]) in writes.batches
    [(_, batch)] = [b for b in writes.batches[1:] if b[0] == "mx1"]
    assert sorted(batch) == ["ben", "cleo", "dan", "eve"]


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_still_runs() -> None:
    writes = Writes(fail_on="ben")
    commit: GroupCommit[str, str] = GroupCommit(writes)
    with futures.ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(commit.submit, "mx1", "ada")
        assert writes.started.wait(timeout=10)
        failing = [pool.submit(commit.submit, "mx1", name) for name in ("ben", "cleo")]
        queued(commit, "mx1", 2)
        writes.release.set()
        assert first.result(timeout=10) is None
        for f in failing:
            with pytest.raises(RuntimeError, match="the host refused ben"):
                f.result(timeout=10)
    commit.submit("mx1", "dan")
    assert writes.batches[-1] == ("mx1", ["dan"])
