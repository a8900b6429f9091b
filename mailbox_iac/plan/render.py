"""Human and machine renderings of a desired state. Never contains a secret: the plan holds none."""

from __future__ import annotations

import json
from typing import Any

import orjson

from mailbox_iac import changes
from mailbox_iac.plan.model import DesiredState, json_default


def as_json(state: DesiredState) -> str:
    """One line (`jq .` to read). Dataclasses go through `json_default`: references print as strings."""
    option = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_APPEND_NEWLINE
    return orjson.dumps(state, default=json_default, option=option).decode()


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
    out += ["", f"mail hosts ({len(state.mailhosts)}):"]
    for h in state.mailhosts:
        out.append(f"  {h.server:<12} {h.hostname:<32} {len(h.domains)} domain(s), {len(h.mailboxes)} mailbox(es)")
        out += [f"    forward {source:<36} -> {', '.join(targets)}" for source, targets in h.aliases]
    out += ["", f"mailboxes ({len(state.mailboxes)}):"]
    for m in state.mailboxes:
        out.append(
            f"  {m.address:<40} smtp {m.smtp_host}:{m.smtp_port} imap {m.imap_host}:{m.imap_port} "
            f"limit {m.daily_limit}/day{_warmup(m.warmup)}"
        )
    if state.sequencer_accounts:
        out += ["", f"sequencer accounts ({len(state.sequencer_accounts)}):"]
        out += [
            f"  {a.sequencer:<12} {a.kind:<10} {a.address:<40} limit {a.daily_limit}/day, "
            f"warm-up {' '.join(f'{k}={v}' for k, v in a.warmup.items())}"  # in the sequencer's own terms
            for a in state.sequencer_accounts
        ]
    return "\n".join(out) + "\n"


def _warmup(warmup: dict[str, Any]) -> str:
    if not warmup["enabled"]:
        return ""
    if not warmup["start"]:
        return " warm-up"
    return f" warm-up from {warmup['start']}: {warmup['start_per_day']}/day +{warmup['increment_per_day']} a day"


def _value(text: str, limit: int = 100) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def change_lines(found: list[changes.Change]) -> list[str]:
    """One line per change: `+` create, `~` update (each field old => new), `-/+` replace, `-` delete."""
    out = []
    for c in found:
        what = f"{c.kind} {c.key}"
        if isinstance(c, changes.Create):
            out.append(f"  + {what}" + "".join(f"  {k}={_value(v)}" for k, v in sorted(c.new.items())))
        elif isinstance(c, changes.Delete):
            out.append(f"  - {what}")
        else:
            mark = "-/+" if c.replaces else "~"
            fields = "; ".join(f"{k}: {_value(c.old.get(k, ''))} => {_value(c.new.get(k, ''))}" for k in c.fields)
            out.append(f"  {mark} {what}  {fields}")
    return out


def counts(found: list[changes.Change]) -> dict[str, int]:
    ops = [
        "create"
        if isinstance(c, changes.Create)
        else "delete"
        if isinstance(c, changes.Delete)
        else "replace"
        if c.replaces
        else "update"
        for c in found
    ]
    return {op: ops.count(op) for op in ("create", "update", "replace", "delete")}


def changes_text(title: str, found: list[changes.Change], refused: list[str]) -> str:
    head = f"{title}: " + (", ".join(f"{n} to {op}" for op, n in counts(found).items() if n) or "no changes")
    lines = [head, *change_lines(found)]
    if refused:
        lines += ["", "refused unless the change allows it (--allow mass-changes / server-replacement, or a label):"]
        lines += [f"  ! {r}" for r in refused]
    return "\n".join(lines) + "\n"


def changes_json(found: list[changes.Change], refused: list[str]) -> str:
    rows = [
        {"op": type(c).__name__.lower(), "kind": c.kind, "key": c.key}
        | ({"old": dict(c.old)} if not isinstance(c, changes.Create) else {})
        | ({"new": dict(c.new)} if not isinstance(c, changes.Delete) else {})
        | ({"replace": c.replaces} if isinstance(c, changes.Update) else {})
        for c in found
    ]
    return json.dumps({"changes": rows, "refused": refused}, indent=2)
