"""Guard rails that fail a preview with a message saying what to do.

`ChangeBudget` is a dynamic resource whose only job is its `diff`: it sees the previous run's DNS
records and mailboxes (its old outputs) and the planned ones, and refuses, unless
`mailbox-iac:allowMassChanges` is set for the run:
- deleting or replacing more than 30% of either, once there are at least 10 of them (octoDNS's
  MIN_EXISTING_RECORDS: below that, one change is already a large share, and a small tenant edits freely);
- at any size, removing a domain's MX record (its mail would bounce) or its last DKIM selector (its mail
  would fail DMARC); a selector rotation keeps one, so it passes.
Server replacement has its own switch (`allowServerReplacement`, see hostwinds_dynamic). Every other
resource depends on the budget, so nothing is touched when it refuses.
THIS MODULE PATH IS PERMANENT (`mailbox_iac.guards`): state pickles `ChangeBudgetProvider` by reference.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

MAX_SAFE_FRACTION = 0.30
MIN_POPULATION = 10
WATCHED = {"dns_records": "DNS records", "mailboxes": "mailboxes"}
DKIM_LABEL = "._domainkey."


class GuardRailViolation(Exception):
    pass


def _dkim_domains(records: set[str]) -> set[str]:
    return {r.split(DKIM_LABEL, 1)[1] for r in records if r.startswith("TXT:") and DKIM_LABEL in r}


def always_guarded(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Removals refused at any size: a domain's MX, a domain's last DKIM selector."""
    before, after = set(olds.get("dns_records") or []), set(news.get("dns_records") or [])
    problems = [
        f"{key} would be deleted: the domain's mail would bounce"
        for key in sorted(before - after)
        if key.startswith("MX:")
    ]
    for domain in sorted(_dkim_domains(before) - _dkim_domains(after)):
        selectors = sorted(r.removeprefix("TXT:") for r in before - after if r.endswith(DKIM_LABEL + domain))
        problems.append(
            f"{domain} would lose its last DKIM selector ({', '.join(selectors)}): its mail would fail DMARC"
        )
    return problems


def mass_change(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """What would disappear beyond the budget, as sentences; empty when the change is within it."""
    problems = []
    for key, label in WATCHED.items():
        before, after = set(olds.get(key) or []), set(news.get(key) or [])
        gone = sorted(before - after)
        if len(before) >= MIN_POPULATION and len(gone) / len(before) > MAX_SAFE_FRACTION:
            sample = ", ".join(gone[:5]) + (", ..." if len(gone) > 5 else "")
            problems.append(
                f"{len(gone)} of {len(before)} {label} ({len(gone) / len(before):.0%}) would be "
                f"deleted or replaced: {sample}"
            )
    return problems


class ChangeBudgetProvider(ResourceProvider):
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        problems = always_guarded(olds, news) + mass_change(olds, news)
        if problems and not news.get("allow_mass_changes"):
            raise GuardRailViolation(
                f"tenant {news.get('tenant')}: " + "; ".join(problems) + ". This needs an explicit opt-in: check "
                "the spec, then run with `pulumi config set mailbox-iac:allowMassChanges true` (and unset it "
                "afterwards)."
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
