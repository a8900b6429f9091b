"""Export rows: sequencer columns, passwords only on request."""

from __future__ import annotations

import csv
import io
import json

from mailbox_iac import export
from mailbox_iac.plan.planner import plan
from mailbox_iac.program import mailbox_output
from mailbox_iac.spec.load import load_file
from tests.conftest import SPECS

MAILBOXES = {m.address: mailbox_output(m) for m in plan(load_file(SPECS / "acme.yaml").tenant).mailboxes}


def test_csv_without_secrets_has_no_password_column() -> None:
    text = export.render(export.rows(MAILBOXES, None), "csv")
    table = list(csv.DictReader(io.StringIO(text)))
    assert "password" not in table[0] and len(table) == 5
    assert table[0] == {
        "email": "alice@acme-mail.com",
        "from_name": "Alice Archer",
        "smtp_host": "mail.acme-mail.com",
        "smtp_port": "587",
        "smtp_tls": "starttls",
        "imap_host": "mail.acme-mail.com",
        "imap_port": "993",
        "imap_tls": "ssl",
        "daily_limit": "30",
        "warmup_enabled": "True",
    }


def test_json_with_secrets_on_request() -> None:
    passwords = {a: f"pw-{i}" for i, a in enumerate(sorted(MAILBOXES))}
    table = json.loads(export.render(export.rows(MAILBOXES, passwords), "json"))
    assert [r["password"] for r in table] == ["pw-0", "pw-1", "pw-2", "pw-3", "pw-4"]
    assert table[1]["email"] == "bob@acme-mail.com" and table[1]["daily_limit"] == 40
    assert [r["warmup_enabled"] for r in table if r["email"].startswith("erin")] == [False]
