"""What the next run does after one that was killed (SIGKILL, a power cut, a CI job cancelled): no manual
`pulumi cancel`, no pending operation warned about forever, and a lock that names its holder.

- `exclusive`: one mailbox-iac run per stack on this machine. A kernel lock (flock) on a file beside the
  state, so a killed holder releases it by dying; the file says who holds it, for the message.
- `stale_engine_locks`: Pulumi's own lock files of a stack in a file backend. One whose holder is provably
  dead (this host, pid gone) is removed; one whose holder lives is a `StackLocked`.
- `without_pending`: a checkpoint without the operations an interrupted run left pending. Every resource
  of ours finds its object again by name when it is created again (servers by label, mail host files and
  accounts by path, DNS records adopted by `adopt.py`), so dropping a pending CREATE loses nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mailbox_iac.errors import Permanent


class StackLocked(Permanent):
    """Another run holds the stack; it is not ours to break."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    since: str

    def alive(self) -> bool:
        """Provably dead only on this host with no such process; anything else counts as alive."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self, stack: str) -> str:
        return f"stack {stack!r} is being updated by pid {self.pid} on {self.host} since {self.since}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def exclusive(lock_dir: Path, stack: str, wait: bool = False, poll: float = 1.0) -> Iterator[None]:
    """Hold the stack for this run; refuse (StackLocked) or, with `wait`, wait while another run holds it."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{stack}.lock"
    with path.open("a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    handle.seek(0)
                    raise StackLocked(
                        _holder_text(handle.read(), stack) + "; wait for it, or run with --wait"
                    ) from None
                time.sleep(poll)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()


def _holder_text(content: str, stack: str) -> str:
    try:
        data = json.loads(content)
        return Holder(int(data["pid"]), str(data["host"]), str(data["since"])).describe(stack)
    except (ValueError, KeyError, TypeError):
        return f"stack {stack!r} is being updated by another mailbox-iac run on this machine"


def _file_backend(backend_url: str) -> Path | None:
    parsed = urlparse(backend_url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def checkpoint_found(backend_url: str, project: str, stack: str) -> bool | None:
    """Whether the stack's checkpoint is in a file backend (plain or compressed; where projects keep stacks,
    or where a backend of before projects kept them); None for any other backend, where only the CLI can tell."""
    root = _file_backend(backend_url)
    if root is None:
        return None
    stacks = root / ".pulumi" / "stacks"
    files = (f"{stack}.json", f"{stack}.json.gz", f"{stack}.json.zst")
    return any((directory / f).is_file() for directory in (stacks / project, stacks) for f in files)


def stale_engine_locks(backend_url: str, project: str, stack: str) -> tuple[list[tuple[Path, Holder]], list[Holder]]:
    """Pulumi's lock files of `stack` in a file backend: (dead holders' files, live holders)."""
    root = _file_backend(backend_url)
    if root is None:
        return [], []  # a bucket or Pulumi Cloud: the engine's own message names the holder
    dead, live = [], []
    for path in sorted((root / ".pulumi" / "locks").glob(f"**/{project}/{stack}/*.json")):
        try:
            data = json.loads(path.read_text())
            holder = Holder(int(data["pid"]), str(data["hostname"]), str(data["timestamp"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if holder.alive():
            live.append(holder)
        else:
            dead.append((path, holder))
    return dead, live


def repair_sidecars(backend_url: str, project: str, stack: str, say: Callable[[str], None]) -> None:
    """A file backend keeps each blob's metadata in a `.attrs` file beside it, written in place (truncated,
    then filled: gocloud's fileblob), so a run killed at that moment leaves it empty and every later command
    fails with `failed to load checkpoint: EOF`. Such a file holds nothing the checkpoint needs (without
    one, the blob reads as plain bytes, as it was written): it is removed."""
    root = _file_backend(backend_url)
    if root is None:
        return
    bookkeeping = root / ".pulumi"
    candidates = [
        *bookkeeping.glob(f"stacks/{project}/{stack}.json*.attrs"),
        *bookkeeping.glob(f"locks/**/{project}/{stack}/*.attrs"),
    ]
    for path in candidates:
        try:
            readable = isinstance(json.loads(path.read_text()), dict)
        except (OSError, ValueError):
            readable = False
        if not readable:
            path.unlink(missing_ok=True)
            say(f"stack {stack!r}: removed {path.name}, a metadata file a killed run left half-written")


def break_stale_locks(backend_url: str, project: str, stack: str, say: Callable[[str], None]) -> None:
    """Remove the engine locks of dead holders (saying so); a live holder is a `StackLocked`."""
    dead, live = stale_engine_locks(backend_url, project, stack)
    if live:
        raise StackLocked(live[0].describe(stack) + " (the Pulumi CLI); wait for it to finish")
    for path, holder in dead:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".attrs").unlink(missing_ok=True)  # the blob library's sidecar
        say(
            f"stack {stack!r}: removed the lock of a run that no longer exists "
            f"(pid {holder.pid} on {holder.host}, since {holder.since})"
        )


def without_pending(deployment: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The checkpoint without pending operations, and what they were (`creating server-mx1`, ...)."""
    pending = deployment.get("pending_operations") or []
    names = [
        f"{op.get('type', '?')} {str(op.get('resource', {}).get('urn', '')).rsplit('::', 1)[-1]}" for op in pending
    ]
    return {k: v for k, v in deployment.items() if k != "pending_operations"}, names
