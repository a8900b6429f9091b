"""Export rows: sequencer columns, passwords only on request."""

from __future__ import annotations

import csv
import io
import json

import pytest

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


# The sequencers' import headers, byte for byte (shared/reference/anchors-2.md §3; issue 18).
HEADERS = {
    "instantly-csv": "Email,First Name,Last Name,IMAP Username,IMAP Password,IMAP Host,IMAP Port,SMTP Username,"
    "SMTP Password,SMTP Host,SMTP Port,Daily Limit,Warmup Enabled,Warmup Limit,Warmup Increment\n",
    "smartlead-csv": "from_name,from_email,user_name,password,smtp_host,smtp_port,imap_host,imap_port,"
    "max_email_per_day,custom_tracking_url,warmup_enabled,total_warmup_per_day,daily_rampup,reply_rate_percentage,"
    "bcc,signature,different_reply_to_address,imap_user_name,imap_password\n",
    "emailbison-csv": "Name,Email,Password,IMAP Server,IMAP Port,SMTP Server,SMTP Port,Daily Limit,SMTP Secure,"
    "IMAP Secure\n",
}


@pytest.mark.parametrize("fmt", sorted(HEADERS))
def test_sequencer_files_have_their_exact_headers_with_or_without_secrets(fmt: str) -> None:
    passwords = {a: f"pw-{i}" for i, a in enumerate(sorted(MAILBOXES))}
    hidden = export.render(export.rows(MAILBOXES, None), fmt)
    shown = export.render(export.rows(MAILBOXES, passwords), fmt)
    for text in (hidden, shown):
        assert text.startswith(HEADERS[fmt]) and text.count("\n") == 1 + len(MAILBOXES)
    assert "pw-" not in hidden
    assert shown.count("pw-0") == (2 if fmt != "emailbison-csv" else 1)  # IMAP and SMTP (Smartlead: both logins)


def test_instantly_row_splits_the_name_and_carries_limits_and_warmup() -> None:
    [alice] = [r for r in csv.DictReader(io.StringIO(export.render(export.rows(MAILBOXES, None), "instantly-csv")))][:1]
    assert alice == {
        "Email": "alice@acme-mail.com",
        "First Name": "Alice",
        "Last Name": "Archer",
        "IMAP Username": "alice@acme-mail.com",
        "IMAP Password": "",
        "IMAP Host": "mail.acme-mail.com",
        "IMAP Port": "993",
        "SMTP Username": "alice@acme-mail.com",
        "SMTP Password": "",
        "SMTP Host": "mail.acme-mail.com",
        "SMTP Port": "587",
        "Daily Limit": "30",
        "Warmup Enabled": "TRUE",
        "Warmup Limit": "20",
        "Warmup Increment": "2",
    }


def test_a_name_with_a_comma_or_quote_is_quoted_and_reads_back_whole() -> None:
    [address] = sorted(MAILBOXES)[:1]
    odd = {address: {**MAILBOXES[address], "display_name": 'Archer, "Al" Alice'}}
    for fmt, column in (("smartlead-csv", "from_name"), ("emailbison-csv", "Name")):
        text = export.render(export.rows(odd, {address: 'p,w"1'}), fmt)
        [row] = list(csv.DictReader(io.StringIO(text)))
        assert row[column] == 'Archer, "Al" Alice'
        assert row["password" if fmt == "smartlead-csv" else "Password"] == 'p,w"1'
    [row] = list(csv.DictReader(io.StringIO(export.render(export.rows(odd, None), "instantly-csv"))))
    assert (row["First Name"], row["Last Name"]) == ("Archer,", '"Al" Alice')
