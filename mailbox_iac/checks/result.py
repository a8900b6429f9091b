"""What a check is (a stable id, a severity, where it runs), what it found (a `Result`), and waiting until
checks pass (`until_passing`: the readiness gates, a written account's logins)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    error = "error"  # the mailbox does not work, or will not for long
    warning = "warning"  # it works, but receivers or operators would want it fixed


class Stage(StrEnum):
    gate = "gate"  # the run waits for these: a mailbox's logins as its account is written, the rest at Readiness
    verify = "verify"  # `mailbox-iac verify`
    drift = "drift"  # scheduled drift detection
    health = "health"  # scheduled health of every mailbox


@dataclass(frozen=True)
class Check:
    id: str  # stable: reports, ignore files and dashboards key on it
    severity: Severity
    stages: frozenset[Stage]
    summary: str

    def result(self, subject: str, ok: bool, detail: str = "") -> Result:
        return Result(self, subject, ok, detail)


@dataclass(frozen=True)
class Result:
    check: Check
    subject: str  # what was checked: "TXT _dmarc.example.com", "192.0.2.1", "ana@example.com"
    ok: bool
    detail: str = ""  # why not, when not ok

    @property
    def name(self) -> str:
        return f"{self.check.id} {self.subject}"

    def as_dict(self) -> dict[str, str | bool]:
        return {
            "id": self.check.id,
            "severity": self.check.severity.value,
            "subject": self.subject,
            "ok": self.ok,
            "detail": self.detail,
        }


def until_passing(checks: Callable[[], list[Result]], what: str, timeout: float, interval: float) -> None:
    """Run `checks` until none fails; after `timeout` seconds, fail naming what did."""
    deadline = time.monotonic() + timeout
    while True:
        failed = [c for c in checks() if not c.ok]
        if not failed:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:.0f}s: " + "; ".join(f"{c.name}: {c.detail}" for c in failed))
        time.sleep(interval)
