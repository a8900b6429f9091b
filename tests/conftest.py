"""Shared helpers: tiny valid specs to mutate, a writer that returns the file path, a PostgreSQL server."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

pytest_plugins = ["tests.emulators"]

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "tests" / "specs"  # the tests' own tenants (the examples in specs/ are the product's)

BASE_SPEC: dict[str, Any] = {
    "tenant": "tiny",
    "defaults": {"server": {"location": 12, "plan": 52, "image": "debian-12"}},
    "servers": {"mx1": {"hostname": "mail.tiny.example"}},
    "domains": [{"name": "tiny.example", "mailboxes": ["alice", "bob"]}],
}


@pytest.fixture
def spec_data() -> dict[str, Any]:
    return copy.deepcopy(BASE_SPEC)


@pytest.fixture
def write_spec(tmp_path: Path):
    def write(content: dict[str, Any] | str, name: str = "tiny.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return path

    return write


SANDBOX_DIRS = ("e2e", "mailhost")  # real VPS hosts in network namespaces: root, and minutes


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`-m "not sandbox"`: the sub-minute loop without root (what .github/workflows/checks.yml runs)."""
    for item in items:
        if Path(str(item.path)).relative_to(REPO / "tests").parts[0] in SANDBOX_DIRS:
            item.add_marker(pytest.mark.sandbox)


# What a failed sandbox run's host logs (kept by `sandbox.run.down`) say went wrong on the hosts.
HOST_TROUBLE = re.compile(r"warning: connect to Milter|fatal:|panic:|Traceback|Error:|error:", re.IGNORECASE)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """After a failed run, the troubles the sandbox hosts logged (40 lines a file at most)."""
    if exitstatus == 0:
        return
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    for log in sorted(base.glob("*/.state/sandbox-logs/*/mailbox-iac/*.log")):
        if log.relative_to(base).parts[0].endswith("current"):
            continue  # pytest's link to the newest directory of a test: the same files again
        lines = [line for line in log.read_text(errors="replace").splitlines() if HOST_TROUBLE.search(line)]
        if lines:
            terminalreporter.write_line(f"--- {log.relative_to(base)}: {len(lines)} line(s) of trouble")
            for line in lines[-40:]:
                terminalreporter.write_line(f"    {line[:300]}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server of this machine's Debian package, on a Unix socket only; as the postgres user
    when the tests run as root (PostgreSQL refuses root)."""
    binaries = max(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name)) / "bin"
    base = Path(tempfile.mkdtemp(prefix="mbx-pg-"))
    as_postgres = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(binaries / "initdb"), "-D", str(base / "data"), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            *as_postgres,
            str(binaries / "postgres"),
            "-D",
            str(base / "data"),
            "-k",
            str(base),
            "-c",
            "listen_addresses=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgresql://postgres@/postgres?host={base}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(url).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)
