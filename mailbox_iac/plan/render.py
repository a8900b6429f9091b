"""Human and machine renderings of a desired state. Never contains a secret: the plan holds none."""

from __future__ import annotations

import json

from mailbox_iac.plan.model import DesiredState


def as_json(state: DesiredState) -> str:
    return json.dumps(state.as_dict(), indent=2, sort_keys=False)


def as_text(state: DesiredState) -> str:
    out = [f"tenant {state.tenant}", "", f"servers ({len(state.servers)}):"]
    for s in state.servers:
        out.append(
            f"  {s.name:<12} {s.hostname:<32} {s.backend} region={s.region} size={s.size} ip={s.ip or '(after create)'}"
        )
    out += ["", f"dns records ({len(state.dns_records)}):"]
    for r in state.dns_records:
        prio = f" {r.priority}" if r.priority is not None else ""
        out.append(f"  {r.type:<4} {r.name:<44} {r.ttl:>5}{prio} {r.content}")
    out += ["", f"mailboxes ({len(state.mailboxes)}):"]
    for m in state.mailboxes:
        out.append(
            f"  {m.address:<40} smtp {m.smtp_host}:{m.smtp_port} imap {m.imap_host}:{m.imap_port} "
            f"limit {m.daily_limit}/day{' warm-up' if m.warmup['enabled'] else ''}"
        )
    return "\n".join(out) + "\n"
