"""What the next run undoes after a killed one, on a file backend laid out as Pulumi lays it out."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mailbox_iac import recovery


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def lock(backend: Path, pid: int, host: str | None = None) -> Path:
    path = backend / ".pulumi/locks/organization/mailbox-iac/demo/4f1e.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "pid": pid,
                "username": "root",
                "hostname": host or socket.gethostname(),
                "timestamp": "2026-12-02T13:00:00Z",
            }
        )
    )
    path.with_name(path.name + ".attrs").write_text("{}")
    return path


def test_one_run_per_stack_and_the_holder_is_named(tmp_path: Path) -> None:
    with recovery.exclusive(tmp_path, "demo"):
        with pytest.raises(recovery.StackLocked) as held, recovery.exclusive(tmp_path, "demo"):
            pass
        assert f"stack 'demo' is being updated by pid {os.getpid()} on {socket.gethostname()} since " in str(held.value)
        assert "--wait" in str(held.value)
        got: list[float] = []

        def wait_then_hold() -> None:
            with recovery.exclusive(tmp_path, "demo", wait=True, poll=0.05):
                got.append(time.monotonic())

        waiter = threading.Thread(target=wait_then_hold)
        waiter.start()
        time.sleep(0.3)
        assert got == []  # still waiting while the stack is held
        released = time.monotonic()
    waiter.join(timeout=5)
    assert got and got[0] >= released


def test_a_dead_holders_engine_lock_is_broken_a_live_one_refused(tmp_path: Path) -> None:
    said: list[str] = []
    stale = lock(tmp_path, dead_pid())
    recovery.break_stale_locks(f"file://{tmp_path}", "mailbox-iac", "demo", said.append)
    assert not stale.exists() and not stale.with_name(stale.name + ".attrs").exists()
    assert said and said[0].startswith("stack 'demo': removed the lock of a run that no longer exists (pid ")
    lock(tmp_path, os.getpid())
    with pytest.raises(recovery.StackLocked, match=f"is being updated by pid {os.getpid()}"):
        recovery.break_stale_locks(f"file://{tmp_path}", "mailbox-iac", "demo", said.append)


def test_a_lock_from_another_host_is_never_broken(tmp_path: Path) -> None:
    lock(tmp_path, dead_pid(), host="another-machine")
    with pytest.raises(recovery.StackLocked, match="on another-machine"):
        recovery.break_stale_locks(f"file://{tmp_path}", "mailbox-iac", "demo", print)


def test_pending_operations_are_dropped_and_named() -> None:
    deployment = {
        "resources": [{"urn": "urn:pulumi:demo::mailbox-iac::x::a"}],
        "pending_operations": [
            {"type": "creating", "resource": {"urn": "urn:pulumi:demo::mailbox-iac::x::server-mx1"}}
        ],
    }
    cleaned, pending = recovery.without_pending(deployment)
    assert pending == ["creating server-mx1"] and "pending_operations" not in cleaned
    assert cleaned["resources"] == deployment["resources"]


def test_a_half_written_sidecar_is_removed_and_a_good_one_kept(tmp_path: Path) -> None:
    stacks = tmp_path / ".pulumi/stacks/mailbox-iac"
    stacks.mkdir(parents=True)
    (stacks / "demo.json").write_text("{}")
    (stacks / "demo.json.attrs").write_text("")  # killed between truncating and writing it
    (stacks / "other.json.attrs").write_text("")  # another stack's: not this run's business
    said: list[str] = []
    recovery.repair_sidecars(f"file://{tmp_path}", "mailbox-iac", "demo", said.append)
    assert not (stacks / "demo.json.attrs").exists() and (stacks / "other.json.attrs").exists()
    assert "half-written" in said[0]
    (stacks / "demo.json.attrs").write_text('{"user.cache_control":"","md5":null}')
    recovery.repair_sidecars(f"file://{tmp_path}", "mailbox-iac", "demo", said.append)
    assert (stacks / "demo.json.attrs").exists() and len(said) == 1
