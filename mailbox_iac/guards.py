"""Guard rails that fail a preview with a message saying what to do.

`ChangeBudget` is a dynamic resource whose only job is its `diff`: it sees the previous run's DNS
records and mailboxes (its old outputs) and the planned ones, and refuses a run that would delete or
replace more than 30% of either unless `mailbox-iac:allowMassChanges` is set. Every other resource
depends on it, so nothing is touched when it refuses.
THIS MODULE PATH IS PERMANENT (`mailbox_iac.guards`): state pickles `ChangeBudgetProvider` by reference.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

MAX_SAFE_FRACTION = 0.30
WATCHED = {"dns_records": "DNS records", "mailboxes": "mailboxes"}


class GuardRailViolation(Exception):
    pass


def mass_change(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """What would disappear beyond the budget, as sentences; empty when the change is within it."""
    problems = []
    for key, label in WATCHED.items():
        before, after = set(olds.get(key) or []), set(news.get(key) or [])
        gone = sorted(before - after)
        if before and len(gone) / len(before) > MAX_SAFE_FRACTION:
            sample = ", ".join(gone[:5]) + (", ..." if len(gone) > 5 else "")
            problems.append(
                f"{len(gone)} of {len(before)} {label} ({len(gone) / len(before):.0%}) would be "
                f"deleted or replaced: {sample}"
            )
    return problems


class ChangeBudgetProvider(ResourceProvider):
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        problems = mass_change(olds, news)
        if problems and not news.get("allow_mass_changes"):
            raise GuardRailViolation(
                f"tenant {news.get('tenant')}: " + "; ".join(problems) + f". More than {MAX_SAFE_FRACTION:.0%} at "
                "once needs an explicit opt-in: check the spec, then run with "
                "`pulumi config set mailbox-iac:allowMassChanges true` (and unset it afterwards)."
            )
        changed = any(set(olds.get(k) or []) != set(news.get(k) or []) for k in WATCHED)
        return DiffResult(changes=changed or olds.get("tenant") != news.get("tenant"))

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"budget-{props['tenant']}", self._outs(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._outs(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    @staticmethod
    def _outs(props: dict[str, Any]) -> dict[str, Any]:
        return {
            "tenant": props["tenant"],
            "dns_records": sorted(props.get("dns_records") or []),
            "mailboxes": sorted(props.get("mailboxes") or []),
            "allow_mass_changes": False,
        }


class ChangeBudget(Resource, module="guards", name="ChangeBudget"):
    def __init__(
        self,
        name: str,
        *,
        tenant: str,
        dns_records: list[str],
        mailboxes: list[str],
        allow_mass_changes: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "tenant": tenant,
            "dns_records": dns_records,
            "mailboxes": mailboxes,
            "allow_mass_changes": allow_mass_changes,
        }
        super().__init__(ChangeBudgetProvider(), name, props, opts)
