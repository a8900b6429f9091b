"""Sequencer-ready rows from a tenant stack's outputs (`mailbox-iac export`). Pure."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

COLUMNS = [
    "email",
    "password",
    "from_name",
    "smtp_host",
    "smtp_port",
    "smtp_tls",
    "imap_host",
    "imap_port",
    "imap_tls",
    "daily_limit",
    "warmup_enabled",
]


def rows(mailboxes: dict[str, dict[str, Any]], passwords: dict[str, str] | None) -> list[dict[str, Any]]:
    """One row per mailbox; `password` only when `passwords` is given (an explicit --show-secrets)."""
    out = []
    for address in sorted(mailboxes):
        m = mailboxes[address]
        row = {
            "email": address,
            "from_name": m.get("display_name", ""),
            "smtp_host": m["smtp_host"],
            "smtp_port": int(m["smtp_port"]),
            "smtp_tls": m["smtp_tls"],
            "imap_host": m["imap_host"],
            "imap_port": int(m["imap_port"]),
            "imap_tls": m["imap_tls"],
            "daily_limit": int(m["daily_limit"]),
            "warmup_enabled": bool(m.get("warmup", {}).get("enabled", False)),
        }
        if passwords is not None:
            row["password"] = passwords.get(address, "")
        out.append(row)
    return out


def render(table: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(table, indent=2) + "\n"
    columns = [c for c in COLUMNS if not table or c in table[0]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue()
