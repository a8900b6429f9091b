"""Request budgets shared by every thread and process of this machine that calls one API with one
credential: many stacks at once (`up --tenants`, a fleet's drift) spend one budget, as the API counts it.
Hostwinds: about 2 requests a second; Cloudflare: 1,200 per 5 minutes per user, past which every call is
refused for 5 minutes."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any


class RateLimiter:
    """At most `burst` requests in any window of `window` seconds for one API, as its server sees them,
    across the threads and processes of this machine (one lock file).

    A request may start only when the request `burst` places before it has *finished* and a window has
    passed since: the server received that one before its reply, and receives this one after we start
    it, so however late a process is scheduled, no window ever holds more than `burst` requests. A slot
    whose process died is given up after `stale_after` seconds.
    """

    def __init__(self, burst: int, window: float, path: str, stale_after: float = 90.0) -> None:
        self.burst = max(1, burst)
        self.window = window
        self.path = path
        self.stale_after = stale_after
        self._lock = threading.Lock()

    def _update(self, change: Callable[[list[list[Any]], float], Any]) -> Any:
        with self._lock, open(self.path, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            try:
                slots = json.loads(f.read() or "[]")
            except ValueError:
                slots = []
            result = change(slots, time.time())
            f.seek(0)
            f.truncate()
            f.write(json.dumps(slots[-self.burst :]))
            f.flush()
            return result

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        token = secrets.token_hex(8)

        def take(slots: list[list[Any]], now: float) -> float:
            if len(slots) >= self.burst:
                _, started, finished = slots[-self.burst]
                if finished is None and now - started > self.stale_after:
                    finished = started + self.stale_after  # its process died mid-request
                if finished is None:
                    return 0.05  # still in flight: ask again shortly
                if now < float(finished) + self.window:
                    return float(finished) + self.window - now
            slots.append([token, now, None])
            return 0.0

        def give_back(slots: list[list[Any]], now: float) -> None:
            for entry in slots:
                if entry[0] == token:
                    entry[2] = now

        while (wait := self._update(take)) > 0:
            time.sleep(wait + random.uniform(0, 0.01))  # noqa: S311 (spread the waiters)  # nosec B311
        try:
            yield
        finally:
            self._update(give_back)


_limiters: dict[tuple[str, str, int, float, str | None], RateLimiter] = {}
_limiters_lock = threading.Lock()


def machine_wide(service: str, identity: str, burst: int, window: float, path: str | None = None) -> RateLimiter:
    """The budget of `burst` requests per `window` seconds of `service` for `identity` (an endpoint, a
    credential), kept in a lock file under the temporary directory (or at `path`)."""
    key = (service, identity, burst, window, path)
    with _limiters_lock:
        if key not in _limiters:
            digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
            name = f"mailbox-iac-{service}-{digest}-{burst}per{window:g}s.rate"
            where = path or os.path.join(tempfile.gettempdir(), name)
            _limiters[key] = RateLimiter(burst, window, where)
        return _limiters[key]


class Budgets:
    """Several budgets of one API at once (Smartlead: 10 a second and 60 a minute): a request takes a
    slot in each, always in the same order."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with contextlib.ExitStack() as held:
            for limiter in self.limiters:
                held.enter_context(limiter.slot())
            yield
