"""Recovery without a human, on the sandbox with the real engine. Faults are injected the way they happen:
SIGKILL of the whole `up` (its process group) while the VPS builds, while the mail host applies and while
records are created; a Cloudflare reply lost after the record was made (HTML 502); a 429 storm; two `up`s
of one stack at once. Each ends with the next plain `mailbox-iac up` converging on its own: no pending
operation left, every mailbox ready, one server, one copy of each record, nothing of the killed run alive."""

from __future__ import annotations

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

    def mbx(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
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
        return subprocess.Popen(
            [sys.executable, "-m", "mailbox_iac", "up", "-s", TENANT, "--sandbox", *args],
            cwd=self.root,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "MAILBOX_IAC_TEST_RUN": marker},
            start_new_session=True,
        )

    def hostwinds(self) -> dict[str, Any]:
        return httpx.get(self.info["hostwinds_url"].replace("/cloud/api.php", "/_emulator/state")).json()

    def cloudflare(self, path: str = "state", **values: Any) -> dict[str, Any]:
        url = self.info["cloudflare_url"].replace("/client/v4", f"/_emulator/{path}")
        return (httpx.post(url, json=values) if values else httpx.get(url)).json()

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
        records = self.cloudflare()["records"][f"{TENANT}-mail.example"]
        planned = plan(load_file(self.root / "specs" / f"{TENANT}.yaml").tenant).dns_records
        assert Counter((r["type"], r["name"]) for r in records) == Counter((r.type, r.name) for r in planned)
        return first.stderr

    def destroy(self) -> None:
        self.engine.existing(TENANT).destroy(show_secrets=False, color="never")


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


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def building(s: Sandbox, _log: Path) -> bool:
    return any(i["status"] == "BUILD" for i in s.hostwinds()["instances"])


def applying(_s: Sandbox, log: Path) -> bool:
    return "mailhost-mx1 creating" in log.read_text(errors="replace")


def creating_records(_s: Sandbox, log: Path) -> bool:
    text = log.read_text(errors="replace")
    return "DnsRecord dns-" in text and " creating" in text


@pytest.mark.parametrize("point", [building, applying, creating_records], ids=lambda f: f.__name__)
def test_sigkill_of_the_whole_up_then_a_plain_up_converges(sandbox: Sandbox, tmp_path: Path, point: Any) -> None:
    marker, log = uuid.uuid4().hex, tmp_path / "killed.log"
    proc = sandbox.start_up(marker, log)
    wait_for(lambda: point(sandbox, log), point.__name__)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(5)
    assert alive(marker) == [], "processes of the killed run still alive"
    if point is building:  # the first up never finished: verify says so and what to do
        verify = sandbox.mbx("verify", "-s", TENANT, "--sandbox")
        assert verify.returncode == 1
        assert "has no 'servers' output yet, so its first `up` never finished" in verify.stderr
    said = sandbox.converges()
    assert "removed the lock of a run that no longer exists" in said
    assert "a run that was interrupted left " in said and "operation(s) unfinished" in said
    sandbox.destroy()


def test_sigterm_to_mailbox_iac_ends_every_process_of_the_run(sandbox: Sandbox, tmp_path: Path) -> None:
    marker, log = uuid.uuid4().hex, tmp_path / "terminated.log"
    proc = sandbox.start_up(marker, log)
    wait_for(lambda: applying(sandbox, log), "the mail host to be applied")
    proc.send_signal(signal.SIGTERM)  # mailbox-iac only, as a cancelled CI job or `kill PID` does
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    time.sleep(5)
    assert alive(marker) == [], "processes of the stopped run still alive"
    assert "the next `up` resumes where this run stopped" in log.read_text()
    sandbox.converges()
    sandbox.destroy()


def test_a_reply_lost_after_the_record_was_made_needs_no_manual_step(sandbox: Sandbox) -> None:
    sandbox.cloudflare("faults", lose_create_replies=1)
    first = sandbox.mbx("up", "-s", TENANT, "--sandbox")
    assert first.returncode == 1
    assert "Expecting value" not in first.stderr and "identical record already exists" in first.stderr.lower()
    assert "next: " in first.stderr
    assert "already in the zone exactly as planned, adopted" in sandbox.converges()
    sandbox.destroy()


def test_a_429_storm_is_waited_out(sandbox: Sandbox) -> None:
    sandbox.cloudflare("limits", requests=25, window=2, block=2)
    try:
        sandbox.converges()
    finally:
        sandbox.cloudflare("limits", requests=1200, window=300, block=300)
    sandbox.destroy()


def test_two_ups_of_one_stack_at_once(sandbox: Sandbox, tmp_path: Path) -> None:
    marker, log = uuid.uuid4().hex, tmp_path / "first.log"
    first = sandbox.start_up(marker, log)
    wait_for(lambda: "Updating (" in log.read_text(errors="replace"), "the first up to start")
    second = sandbox.mbx("up", "-s", TENANT, "--sandbox")
    assert second.returncode == 1
    assert f"stack '{TENANT}' is being updated by pid {first.pid} on " in second.stderr
    assert "--wait" in second.stderr
    waited = sandbox.mbx("up", "-s", TENANT, "--sandbox", "--wait")
    assert first.wait(timeout=600) == 0, log.read_text()[-3000:]
    assert waited.returncode == 0, waited.stdout[-2000:] + waited.stderr[-2000:]
    sandbox.converges()
