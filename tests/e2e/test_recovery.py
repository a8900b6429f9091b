"""Recovery without a human, on the sandbox with the real engine. Faults are injected the way they happen:
SIGKILL of the whole `up` (its process group) while the VPS builds, while the mail host applies and while
records are created; a Cloudflare reply lost after the record was made (HTML 502); a 429 storm; two `up`s
of one stack at once. Each ends with the next plain `mailbox-iac up` converging on its own: no pending
operation left, every mailbox ready, one server, one copy of each record, nothing of the killed run alive.

A kill point is read from the stack's checkpoint (the operation the engine holds pending), not from the
log, so the kill always lands where the test says. Every test starts from a destroyed stack: one that
fails cannot leave the next its state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailbox_iac import recovery
from mailbox_iac.engine import Engine
from mailbox_iac.plan.planner import plan
from mailbox_iac.sandbox import run
from mailbox_iac.spec.load import load_file
from tests.conftest import REPO
from tests.e2e.test_many import tenant_files

TENANT = "rec"


class Sandbox:
    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        self.root, self.info = root, info
        self.engine = Engine.local(run.state_dir(root), root, env=run.environment(info))
        self.runs: list[subprocess.Popen[bytes]] = []
        self.converged = True

    def mbx(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        if args[:1] == ("up",):
            self.converged = False  # until `converges` has seen it
        return subprocess.run(
            [sys.executable, "-m", "mailbox_iac", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=900,
            **kw,
        )

    def start_up(self, marker: str, log: Path, *args: str) -> subprocess.Popen[bytes]:
        """`mailbox-iac up` in a process group of its own, every process of it carrying `marker`."""
        self.converged = False
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailbox_iac", "up", "-s", TENANT, "--sandbox", *args],
            cwd=self.root,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "MAILBOX_IAC_TEST_RUN": marker},
            start_new_session=True,
        )
        self.runs.append(proc)
        return proc

    def hostwinds(self) -> dict[str, Any]:
        return httpx.get(self.info["hostwinds_url"].replace("/cloud/api.php", "/_emulator/state")).json()

    def cloudflare(self, path: str = "state", **values: Any) -> dict[str, Any]:
        url = self.info["cloudflare_url"].replace("/client/v4", f"/_emulator/{path}")
        return (httpx.post(url, json=values) if values else httpx.get(url)).json()

    def records(self) -> list[dict[str, Any]]:
        return list(self.cloudflare()["records"].get(f"{TENANT}-mail.example", []))

    def pending(self) -> list[str]:
        """What the stack's checkpoint holds pending right now (`creating server-mx1`, ...)."""
        for path in run.state_dir(self.root).glob(f"backend/.pulumi/stacks/*/{TENANT}.json"):
            try:
                latest = json.loads(path.read_bytes())["checkpoint"].get("latest") or {}
            except (OSError, ValueError, KeyError):
                return []  # not written yet
            return recovery.without_pending(latest)[1]
        return []

    def converges(self) -> str:
        """The next plain `up` converges, a further one changes nothing and warns of nothing, all ready;
        what the converging `up` said on stderr."""
        first = self.mbx("up", "-s", TENANT, "--sandbox")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        second = self.mbx("up", "-s", TENANT, "--sandbox")
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        assert "pending operation" not in second.stdout + second.stderr
        assert " to create" not in second.stdout and " to update" not in second.stdout
        verify = self.mbx("verify", "-s", TENANT, "--sandbox")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        servers = [i for i in self.hostwinds()["instances"] if i["srvrname"].startswith(f"mbx-{TENANT}-")]
        assert [s["status"] for s in servers] == ["ACTIVE"]
        planned = plan(load_file(self.root / "specs" / f"{TENANT}.yaml").tenant).dns_records
        assert Counter((r["type"], r["name"]) for r in self.records()) == Counter((r.type, r.name) for r in planned)
        self.converged = True
        return first.stderr

    def reset(self) -> None:
        """Back to no stack, whatever a test left: its runs killed, faults off, converged, destroyed."""
        for proc in self.runs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.runs.clear()
        self.cloudflare("faults", lose_create_replies=0, slow_create_replies=0)
        self.cloudflare("limits", requests=1200, window=300, block=300)
        if not self.converged:  # a test that failed halfway: the next `up` recovers, as it would for a user
            self.mbx("up", "-s", TENANT, "--sandbox")
        self.engine.existing(TENANT).destroy(show_secrets=False, color="never")
        assert self.records() == [], "destroy left records in the zone"


def alive(marker: str) -> list[int]:
    """Processes whose environment carries the marker of a run."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if f"MAILBOX_IAC_TEST_RUN={marker}".encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("recovery")
    (root / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (root / "specs").mkdir()
    (root / "stacks").mkdir()
    zone = tenant_files(root, TENANT)
    info = run.up(root, [zone], build_seconds=3.0)
    try:
        yield Sandbox(root, info)
    finally:
        run.down(root)


@pytest.fixture
def s(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The shared sandbox, with no stack at the start of the test and none left after it."""
    yield sandbox
    sandbox.reset()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def pending(s: Sandbox, prefix: str) -> bool:
    return any(op.startswith(f"creating {prefix}") for op in s.pending())


def building(s: Sandbox) -> bool:
    return pending(s, "server-mx1") and any(i["status"] == "BUILD" for i in s.hostwinds()["instances"])


def applying(s: Sandbox) -> bool:
    return pending(s, "mailhost-mx1")


def creating_records(s: Sandbox) -> bool:
    """A record made whose reply has not come back yet (the emulator answers creates 3 s late)."""
    return pending(s, "dns-") and bool(s.records())


@pytest.mark.parametrize("point", [building, applying, creating_records], ids=lambda f: f.__name__)
def test_sigkill_of_the_whole_up_then_a_plain_up_converges(s: Sandbox, tmp_path: Path, point: Any) -> None:
    marker, log = uuid.uuid4().hex, tmp_path / "killed.log"
    if point is creating_records:
        s.cloudflare("faults", slow_create_replies=3)
    proc = s.start_up(marker, log)
    wait_for(lambda: point(s) or proc.poll() is not None, point.__name__)
    assert proc.poll() is None, "the run ended before the kill point: " + log.read_text()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    s.cloudflare("faults", slow_create_replies=0)
    time.sleep(5)
    assert alive(marker) == [], "processes of the killed run still alive"
    if point is building:  # the first up never finished: verify says so and what to do
        verify = s.mbx("verify", "-s", TENANT, "--sandbox")
        assert verify.returncode == 1
        assert "has no 'servers' output yet, so its first `up` never finished" in verify.stderr
    said = s.converges()
    assert "removed the lock of a run that no longer exists" in said
    assert "a run that was interrupted left " in said and "operation(s) unfinished" in said
    if point is creating_records:  # made, its reply never read: found again, not made twice
        assert "already in the zone exactly as planned, adopted" in said


def test_sigterm_to_mailbox_iac_ends_every_process_of_the_run(s: Sandbox, tmp_path: Path) -> None:
    marker, log = uuid.uuid4().hex, tmp_path / "terminated.log"
    proc = s.start_up(marker, log)
    wait_for(lambda: applying(s) or proc.poll() is not None, "the mail host to be applied")
    assert proc.poll() is None, "the run ended before the mail host was applied: " + log.read_text()[-2000:]
    proc.send_signal(signal.SIGTERM)  # mailbox-iac only, as a cancelled CI job or `kill PID` does
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    time.sleep(5)
    assert alive(marker) == [], "processes of the stopped run still alive"
    assert "the next `up` resumes where this run stopped" in log.read_text()
    s.converges()


def test_a_reply_lost_after_the_record_was_made_needs_no_manual_step(s: Sandbox) -> None:
    s.cloudflare("faults", lose_create_replies=1)
    first = s.mbx("up", "-s", TENANT, "--sandbox")
    assert first.returncode == 1
    assert "Expecting value" not in first.stderr and "identical record already exists" in first.stderr.lower()
    assert "next: " in first.stderr
    assert "already in the zone exactly as planned, adopted" in s.converges()


def test_a_429_storm_is_waited_out(s: Sandbox) -> None:
    s.cloudflare("limits", requests=25, window=2, block=2)
    s.converges()


def test_two_ups_of_one_stack_at_once(s: Sandbox, tmp_path: Path) -> None:
    marker, log = uuid.uuid4().hex, tmp_path / "first.log"
    first = s.start_up(marker, log)
    wait_for(lambda: "Updating (" in log.read_text(errors="replace"), "the first up to start")
    second = s.mbx("up", "-s", TENANT, "--sandbox")
    assert second.returncode == 1
    assert f"stack '{TENANT}' is being updated by pid {first.pid} on " in second.stderr
    assert "--wait" in second.stderr
    waited = s.mbx("up", "-s", TENANT, "--sandbox", "--wait")
    assert first.wait(timeout=600) == 0, log.read_text()[-3000:]
    assert waited.returncode == 0, waited.stdout[-2000:] + waited.stderr[-2000:]
    s.converges()
