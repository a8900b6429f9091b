"""The guard rail every `up` and preview passes first: `ChangeBudget`, a dynamic resource whose only job is
its `diff`. It sees the previous run's DNS record keys and mailboxes (its old outputs) and the planned ones,
and refuses what the safety rules of `changes.py` refuse (mass deletion from a population of 10, a domain's
MX, a domain's last DKIM selector) unless the run allows mass changes (allowances.py). Every other
resource depends on the budget, so nothing is touched when it refuses. Server replacement has its own
switch (`server-replacement`, enforced by each backend's server resource).
THIS MODULE PATH IS PERMANENT (`mailbox_iac.guards`): state pickles `ChangeBudgetProvider` by reference.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from mailbox_iac import allowances, changes
from mailbox_iac.errors import GuardRailViolation

KIND_OF = {"dns_records": "dns_record", "mailboxes": "mailbox"}  # budget property -> change kind


def inventory(props: dict[str, Any]) -> changes.Inventory:
    """The keys a budget's properties hold, as an inventory without attributes."""
    return {(kind, str(key)): {} for prop, kind in KIND_OF.items() for key in props.get(prop) or []}


def refused(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    return changes.violations(inventory(olds), inventory(news))


class ChangeBudgetProvider(ResourceProvider):
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        problems = refused(olds, news)
        if problems and not news.get("allow_mass_changes"):
            raise GuardRailViolation(
                f"tenant {news.get('tenant')}: " + "; ".join(problems) + ". This needs an explicit opt-in: check "
                f"the spec, then {allowances.how_to('mass-changes')}."
            )
        changed = any(set(olds.get(k) or []) != set(news.get(k) or []) for k in KIND_OF)
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
