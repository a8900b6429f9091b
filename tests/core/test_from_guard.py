"""The header From rule of the submission ports (`mailhost/from_guard.py`), as pure functions; the e2e
tests (test_deliverability) send through the real Postfix and milter."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from mailbox_iac.mailhost import apply, render
from mailbox_iac.mailhost.from_guard import parse_logins, refusal
from tests.core.test_mailhost_render import KEYS, MAILHOST

TABLE = parse_logins(
    "# Managed by mailbox-iac.\n"
    "ada@demo-a.example ada@demo-a.example\n"
    "bob@demo-a.example bob@demo-a.example\n"
    "sales@demo-a.example ada@demo-a.example,bob@demo-a.example\n"
)


@pytest.mark.parametrize(
    "froms",
    [
        ["ada@demo-a.example"],
        ['"Lovelace, Ada" <ada@demo-a.example>'],
        ["=?utf-8?q?Ad=C3=A1?= <ADA@Demo-A.example>"],
        ["Sales <sales@demo-a.example>"],  # a forward that delivers to her
    ],
)
def test_a_mailbox_sends_with_its_own_address_or_a_forward_of_its_own(froms: list[str]) -> None:
    assert refusal("ada@demo-a.example", froms, TABLE) is None


@pytest.mark.parametrize(
    ("froms", "why"),
    [
        (["bob@demo-a.example"], "ada@demo-a.example may not send with From: bob@demo-a.example"),
        (["Ada <ada@demo-a.example>, Bob <bob@demo-a.example>"], "may not send with From: bob@demo-a.example"),
        (["ada@demo-a.example", "bob@demo-a.example"], "exactly one From header"),
        ([], "exactly one From header (RFC 5322 section 3.6), this one has 0"),
        (["undisclosed"], "may not send with From: undisclosed"),
        ([""], "holds no address"),
    ],
)
def test_any_other_header_from_is_refused(froms: list[str], why: str) -> None:
    assert why in (refusal("ada@demo-a.example", froms, TABLE) or "")


def test_a_login_the_table_does_not_know_sends_as_no_one() -> None:
    assert refusal("eve@demo-a.example", ["eve@demo-a.example"], TABLE) is not None
    assert refusal(None, ["anyone@else.example"], TABLE) is None  # nobody logged in: not this filter's mail


def test_envelope_and_header_rules_come_from_one_table() -> None:
    ada, bob = "ada@acme-mail.com", "bob@acme-mail.com"
    host = replace(
        MAILHOST,
        mailboxes=((ada, 10), (bob, 10)),
        aliases=(
            ("sales@acme-mail.com", (ada, bob)),
            ("out@acme-mail.com", ("x@elsewhere.example",)),
            ("@acme-mail.com", (ada,)),
        ),
    )
    files = render.render(host, KEYS)
    table = files[render.SENDER_LOGINS].content
    assert f"texthash:/etc/mailbox-iac/current/{render.SENDER_LOGINS}" in files["postfix/main.cf"].content
    assert parse_logins(table) == {
        ada: frozenset({ada, "sales@acme-mail.com"}),
        bob: frozenset({bob, "sales@acme-mail.com"}),
    }  # a forward elsewhere or a catch-all lets no one send as it


def test_the_submission_ports_run_the_milter_before_signing(tmp_path: Path) -> None:
    files = render.render(MAILHOST, KEYS)
    for path in ("main.cf", "master.cf"):
        (tmp_path / path).write_text(files[f"postfix/{path}"].content)
    # Postfix's own postconf reads what the host will: the milters of each submission service.
    for service in ("submission/inet", "submissions/inet"):
        milters = subprocess.run(
            ["postconf", "-c", str(tmp_path), "-P", f"{service}/smtpd_milters"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert milters.strip() == f"{service}/smtpd_milters = $mbx_submission_milters"
    expanded = subprocess.run(
        ["postconf", "-c", str(tmp_path), "-x", "-h", "mbx_submission_milters"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert expanded == f"{render.FROM_GUARD_MILTER}, {render.OPENDKIM_MILTER}, {render.OPENDMARC_MILTER}"
    script = files[render.FROM_GUARD_SCRIPT].content
    # Debian's python3 with python3-milter, as on the host, imports the script as shipped.
    subprocess.run(
        ["/usr/bin/python3", "-c", "import sys, Milter; compile(sys.stdin.read(), 'g', 'exec')"],
        input=script,
        text=True,
        check=True,
    )


def test_its_systemd_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    unit = tmp_path / f"{apply.FROM_GUARD}.service"
    unit.write_text(apply._FROM_GUARD_UNIT)
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    ours = [line for line in verified.stderr.splitlines() if str(unit) in line]
    assert verified.returncode == 0 and ours == [], verified.stderr
