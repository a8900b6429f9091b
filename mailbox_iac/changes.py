"""The difference between what is deployed and what is desired: Create / Update / Delete per resource, and
the safety rules over it. Pure: inventories in, changes and violations out.

An inventory maps (kind, key) to the attributes a reviewer compares, as strings. `of_state` makes one from
a desired state, `checkpoint.py` from a stack's checkpoint, the ChangeBudget from its keys alone. The same
`changes` and `violations` serve the guard in every `up`, `mailbox-iac plan --against`, the PR summary and
drift's report.

Safety rules (octoDNS's thresholds, and what cannot be undone by a re-run):
- per kind, deleting or replacing more than `MAX_SAFE_FRACTION` of a population of at least
  `MIN_POPULATION` (below that, one change is already a large share and a small tenant edits freely);
- at any size: replacing or deleting a server (a new IP has no sending reputation), deleting a domain's MX
  (its mail would bounce), removing a domain's last DKIM selector (its mail would fail DMARC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mailbox_iac.dns import txt
from mailbox_iac.plan.model import DesiredState

MAX_SAFE_FRACTION = 0.30
MIN_POPULATION = 10
WATCHED = {"dns_record": "DNS records", "mailbox": "mailboxes"}  # kinds under the mass-change budget
REPLACED_BY = {  # attributes whose change means a new resource, per kind
    "server": ("backend", "region", "size", "image"),
    "dkim_key": ("bits",),
}
DKIM_LABEL = "._domainkey."

Key = tuple[str, str]  # (kind, key): ("dns_record", "MX:example.com"), ("mailbox", "ana@example.com")
Inventory = Mapping[Key, Mapping[str, str]]


@dataclass(frozen=True)
class Create:
    kind: str
    key: str
    new: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Update:
    kind: str
    key: str
    old: Mapping[str, str]
    new: Mapping[str, str]

    @property
    def fields(self) -> list[str]:
        return sorted(k for k in set(self.old) | set(self.new) if self.old.get(k) != self.new.get(k))

    @property
    def replaces(self) -> bool:
        return any(k in REPLACED_BY.get(self.kind, ()) for k in self.fields)


@dataclass(frozen=True)
class Delete:
    kind: str
    key: str
    old: Mapping[str, str] = field(default_factory=dict)


Change = Create | Update | Delete


def changes(deployed: Inventory, desired: Inventory) -> list[Change]:
    """Every difference, sorted by kind and key. An attribute the deployed side does not know (absent) is
    not compared: the ChangeBudget knows keys only, a checkpoint knows what its resources hold."""
    out: list[Change] = []
    for kind, key in sorted(set(deployed) | set(desired)):
        old, new = deployed.get((kind, key)), desired.get((kind, key))
        if old is None:
            out.append(Create(kind, key, dict(new or {})))
        elif new is None:
            out.append(Delete(kind, key, dict(old)))
        else:
            known = {k: v for k, v in new.items() if k in old}
            if any(old[k] != v for k, v in known.items()):
                out.append(Update(kind, key, {k: old[k] for k in known}, known))
    return out


def _gone(change: Change) -> bool:
    return isinstance(change, Delete) or (isinstance(change, Update) and change.replaces)


def mass_change(deployed: Inventory, found: list[Change]) -> list[str]:
    """What would disappear beyond the budget, as sentences; empty when the change is within it."""
    problems = []
    for kind, label in WATCHED.items():
        population = sum(1 for k, _ in deployed if k == kind)
        gone = [c.key for c in found if c.kind == kind and _gone(c)]
        if population >= MIN_POPULATION and len(gone) / population > MAX_SAFE_FRACTION:
            sample = ", ".join(gone[:5]) + (", ..." if len(gone) > 5 else "")
            problems.append(
                f"{len(gone)} of {population} {label} ({len(gone) / population:.0%}) would be "
                f"deleted or replaced: {sample}"
            )
    return problems


def _dkim_domain(record_key: str) -> str | None:
    return record_key.split(DKIM_LABEL, 1)[1] if record_key.startswith("TXT:") and DKIM_LABEL in record_key else None


def always_guarded(deployed: Inventory, desired: Inventory, found: list[Change]) -> list[str]:
    """Changes refused at any size: a server replaced or deleted, a domain's MX deleted, a domain's last
    DKIM selector removed, or one unpublished as another is added (a rotation without overlap)."""
    problems = [
        f"server {c.key} would be {'deleted' if isinstance(c, Delete) else 'replaced'}: a new server has a new IP "
        "without the old one's sending reputation, and a new reverse DNS"
        for c in found
        if c.kind == "server" and _gone(c)
    ]
    problems += [
        f"{c.key} would be deleted: the domain's mail would bounce"
        for c in found
        if c.kind == "dns_record" and isinstance(c, Delete) and c.key.startswith("MX:")
    ]
    before = {d for kind, k in deployed if kind == "dns_record" and (d := _dkim_domain(k))}
    after = {d for kind, k in desired if kind == "dns_record" and (d := _dkim_domain(k))}
    for domain in sorted(before - after):
        selectors = [
            c.key.removeprefix("TXT:") for c in found if isinstance(c, Delete) and _dkim_domain(c.key) == domain
        ]
        problems.append(
            f"{domain} would lose its last DKIM selector ({', '.join(selectors)}): its mail would fail DMARC"
        )
    return problems + _rotations_without_overlap(found, before & after)


def _rotations_without_overlap(found: list[Change], domains: set[str]) -> list[str]:
    dkim = [(d, c) for c in found if c.kind == "dns_record" and (d := _dkim_domain(c.key)) in domains]
    problems = []
    for domain in sorted(domains):
        gone = [c.key.removeprefix("TXT:").split(".", 1)[0] for d, c in dkim if d == domain and isinstance(c, Delete)]
        new = [c.key.removeprefix("TXT:").split(".", 1)[0] for d, c in dkim if d == domain and isinstance(c, Create)]
        if gone and new:
            problems.append(
                f"{domain}'s DKIM selector {', '.join(gone)} would be unpublished as {', '.join(new)} starts "
                f"signing: mail it signed that is still queued or being checked would fail DKIM. Keep it "
                f"published for a while: `dkim: {{selector: {new[0]}, previous: [{{selector: {gone[0]}}}]}}`"
            )
    return problems


def violations(deployed: Inventory, desired: Inventory) -> list[str]:
    """Every safety rule the change from `deployed` to `desired` breaks, as sentences."""
    found = changes(deployed, desired)
    return always_guarded(deployed, desired, found) + mass_change(deployed, found)


def of_state(state: DesiredState) -> dict[Key, dict[str, str]]:
    """The inventory a desired state asks for. Contents not known yet (a server's IP, a DKIM key before it
    is generated) are their placeholders."""
    out: dict[Key, dict[str, str]] = {}
    for s in state.servers:
        out[("server", s.name)] = {
            "backend": s.backend,
            "label": s.label,
            "region": str(s.region),
            "size": str(s.size),
            "image": s.image,
            "billing_cycle": s.billing_cycle,
        }
    for r in state.dns_records:
        out[("dns_record", r.key)] = record_attributes(r.content, r.ttl, r.priority, r.type)
    for k in state.dkim_keys:
        out[("dkim_key", f"{k.domain}/{k.selector}")] = {"bits": str(k.bits)}
    for m in state.mailboxes:
        out[("mailbox", m.address)] = {"quota_mb": str(m.quota_mb)}
    return out


def record_attributes(content: str, ttl: int | float, priority: int | float | None, rtype: str) -> dict[str, str]:
    """A DNS record's compared attributes, one spelling whether planned or read from a checkpoint."""
    attrs = {"content": txt.canonical(content) if rtype == "TXT" else content, "ttl": str(int(ttl))}
    if priority is not None:
        attrs["priority"] = str(int(priority))
    return attrs
