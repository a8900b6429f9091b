"""A mail host's queue and bounces: a growing deferred queue means receivers refuse or delay it, bounces
mean addresses or reputation gone bad. Warnings above thresholds the project sets (health.yaml)."""

from __future__ import annotations

from mailbox_iac.checks.result import Check, Result, Severity, Stage

DEFERRED = Check(
    "queue.deferred",
    Severity.warning,
    frozenset({Stage.health}),
    "the mail host's deferred queue holds no more messages than the threshold",
)
BOUNCES = Check(
    "queue.bounces",
    Severity.warning,
    frozenset({Stage.health}),
    "the mail host's log holds no more bounces over the last 24 hours than the threshold",
)


def deferred(ip: str, count: int, most: int) -> Result:
    return DEFERRED.result(ip, count <= most, f"{count} deferred (threshold {most})")


def bounces(ip: str, count: int, most: int) -> Result:
    return BOUNCES.result(ip, count <= most, f"{count} bounced in 24 h (threshold {most})")
