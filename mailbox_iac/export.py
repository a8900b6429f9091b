"""Sequencer-ready rows from a tenant stack's outputs (`mailbox-iac export`). Pure.

`csv` and `json` are mailbox-iac's own columns. The sequencer formats are those sequencers' bulk-import
files, header for header (shared/reference/anchors-2.md §3, checked against public importers and
exporters): Instantly's 15 columns (Primeforge/Maildoso exports), Smartlead's 19-column template, Email
Bison's 10. Their password columns stay empty without --show-secrets; the headers never change.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from mailbox_iac.spec import names

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
        warmup = m.get("warmup", {})
        row = {
            "email": address,
            "username": m.get("username", address),
            "from_name": m.get("display_name", ""),
            "smtp_host": m["smtp_host"],
            "smtp_port": int(m["smtp_port"]),
            "smtp_tls": m["smtp_tls"],
            "imap_host": m["imap_host"],
            "imap_port": int(m["imap_port"]),
            "imap_tls": m["imap_tls"],
            "daily_limit": int(m["daily_limit"]),
            "warmup_enabled": bool(warmup.get("enabled", False)),
            "warmup_limit": warmup.get("max_per_day", ""),
            "warmup_increment": warmup.get("increment_per_day", ""),
            "warmup_reply_rate": warmup.get("reply_rate_percent", ""),
        }
        if passwords is not None:
            row["password"] = passwords.get(address, "")
        out.append(row)
    return out


Cell = Callable[[dict[str, Any]], object]


def _first_name(row: dict[str, Any]) -> str:
    return names.name_parts(str(row["from_name"]), str(row["email"]))[0]


def _last_name(row: dict[str, Any]) -> str:
    return names.name_parts(str(row["from_name"]), str(row["email"]))[1]


def _flag(key: str) -> Cell:
    return lambda row: "TRUE" if row[key] else "FALSE"


def _get(key: str) -> Cell:
    return lambda row: row.get(key, "")


def _const(value: str) -> Cell:
    return lambda _row: value


_PASSWORD = _get("password")
_BLANK = _const("")  # a column the format has and mailbox-iac leaves to the user

SEQUENCER_FORMATS: dict[str, list[tuple[str, Cell]]] = {
    "instantly-csv": [
        ("Email", _get("email")),
        ("First Name", _first_name),
        ("Last Name", _last_name),
        ("IMAP Username", _get("username")),
        ("IMAP Password", _PASSWORD),
        ("IMAP Host", _get("imap_host")),
        ("IMAP Port", _get("imap_port")),
        ("SMTP Username", _get("username")),
        ("SMTP Password", _PASSWORD),
        ("SMTP Host", _get("smtp_host")),
        ("SMTP Port", _get("smtp_port")),
        ("Daily Limit", _get("daily_limit")),
        ("Warmup Enabled", _flag("warmup_enabled")),
        ("Warmup Limit", _get("warmup_limit")),
        ("Warmup Increment", _get("warmup_increment")),
    ],
    "smartlead-csv": [
        ("from_name", _get("from_name")),
        ("from_email", _get("email")),
        ("user_name", _get("username")),
        ("password", _PASSWORD),
        ("smtp_host", _get("smtp_host")),
        ("smtp_port", _get("smtp_port")),
        ("imap_host", _get("imap_host")),
        ("imap_port", _get("imap_port")),
        ("max_email_per_day", _get("daily_limit")),
        ("custom_tracking_url", _BLANK),
        ("warmup_enabled", _flag("warmup_enabled")),
        ("total_warmup_per_day", _get("warmup_limit")),
        ("daily_rampup", _get("warmup_increment")),
        ("reply_rate_percentage", _get("warmup_reply_rate")),
        ("bcc", _BLANK),
        ("signature", _BLANK),
        ("different_reply_to_address", _BLANK),
        ("imap_user_name", _get("username")),
        ("imap_password", _PASSWORD),
    ],
    "emailbison-csv": [
        ("Name", _get("from_name")),
        ("Email", _get("email")),
        ("Password", _PASSWORD),
        ("IMAP Server", _get("imap_host")),
        ("IMAP Port", _get("imap_port")),
        ("SMTP Server", _get("smtp_host")),
        ("SMTP Port", _get("smtp_port")),
        ("Daily Limit", _get("daily_limit")),
        ("SMTP Secure", _const("true")),  # STARTTLS on 587, required by the host
        ("IMAP Secure", _const("true")),  # TLS on 993
    ],
}


def _sequencer_csv(table: list[dict[str, Any]], columns: list[tuple[str, Cell]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([name for name, _ in columns])
    writer.writerows([cell(row) for _, cell in columns] for row in table)
    return buf.getvalue()


def render(table: list[dict[str, Any]], fmt: str) -> str:
    if fmt in SEQUENCER_FORMATS:
        return _sequencer_csv(table, SEQUENCER_FORMATS[fmt])
    if fmt == "json":
        return json.dumps(table, indent=2) + "\n"
    columns = [c for c in COLUMNS if not table or c in table[0]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue()
