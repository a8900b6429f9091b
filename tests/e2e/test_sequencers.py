"""The demo's mailboxes handed to (emulated) Instantly and Smartlead workspaces by `up`, on the sandbox with
the real engine: each added once to each and connected (the emulators log in to the host over SMTP and
IMAP), a second run changes nothing, a daily limit changed in the spec is updated in both, a limit changed
in a sequencer's UI is drift and a refresh-up puts it back, a removed mailbox is removed from both, and a
wrong password fails with the sequencer's message (the host's own SMTP reply)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pulumi import automation as auto

from mailbox_iac.sandbox import run
from mailbox_iac.sequencers import accounts
from mailbox_iac.sequencers.accounts import ConnectionFailed
from mailbox_iac.sequencers.smartlead import SmartleadClient
from tests.e2e.test_demo import Demo, demo_project
from tests.e2e.test_drift import drift

SEQUENCERS = """
sequencers:
  outreach:
    kind: instantly
    api_key: instantlyApiKey
    daily_limit: 20
  sales:
    kind: smartlead
    api_key: smartleadApiKey
    daily_limit: 20
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with demo_project(tmp_path_factory.mktemp("project")) as d:
        spec = d.root / "specs" / "demo.yaml"
        demo_spec = spec.read_text()
        spec.write_text(demo_spec[: demo_spec.index("\nsequencers:")] + SEQUENCERS)  # the demo's and Smartlead
        d.stack.set_config("mailbox-iac:smartleadApiKey", auto.ConfigValue(run.SMARTLEAD_KEY, secret=True))
        d.first_steps = d.up()
        yield d


def workspace(demo: Demo) -> dict[str, dict[str, Any]]:
    """Instantly's accounts by address."""
    state: dict[str, dict[str, Any]] = httpx.get(f"{demo.info['instantly_url']}/_emulator/state").json()["accounts"]
    return state


def smartlead_workspace(demo: Demo) -> dict[str, dict[str, Any]]:
    """Smartlead's accounts by address."""
    state = httpx.get(f"{demo.info['smartlead_url']}/_emulator/state").json()["accounts"]
    return {a["from_email"]: a for a in state}


def set_limits(demo: Demo, address: str, limit: int) -> None:
    """Changes made in each sequencer's UI, through its API."""
    headers = {"Authorization": f"Bearer {run.INSTANTLY_KEY}"}
    url = f"{demo.info['instantly_url']}/api/v2/accounts/{address}"
    httpx.patch(url, json={"daily_limit": limit}, headers=headers).raise_for_status()
    client = SmartleadClient(run.SMARTLEAD_KEY, demo.info["smartlead_url"])
    client.update(smartlead_workspace(demo)[address]["id"], {"max_email_per_day": limit})


def test_each_mailbox_is_added_once_and_connected(demo: Demo) -> None:
    added = sorted(name for op, name in demo.first_steps if name.startswith("sequencer-"))
    addresses = ("ada@demo-a.example", "grace@demo-a.example", "linus@demo-b.example")
    assert added == [f"sequencer-{s}-{a}" for s in ("outreach", "sales") for a in addresses]
    accounts = workspace(demo)
    assert {a: (acc["status"], acc["daily_limit"]) for a, acc in accounts.items()} == {
        "ada@demo-a.example": (1, 20),
        "grace@demo-a.example": (1, 20),
        "linus@demo-b.example": (1, 20),
    }
    smartlead = smartlead_workspace(demo)
    assert {
        a: (acc["is_smtp_success"], acc["is_imap_success"], acc["message_per_day"]) for a, acc in smartlead.items()
    } == {
        "ada@demo-a.example": (True, True, 20),
        "grace@demo-a.example": (True, True, 20),
        "linus@demo-b.example": (True, True, 20),
    }
    assert smartlead["ada@demo-a.example"]["from_name"] == "Ada Lovelace"
    assert demo.up() == []


def verify(demo: Demo) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mailbox_iac", "verify", "--stack", "demo", "--sandbox"]
    return subprocess.run(command, cwd=demo.root, capture_output=True, text=True)


def test_verify_asks_each_sequencer_whether_the_account_is_connected(demo: Demo) -> None:
    assert verify(demo).returncode == 0
    headers = {"Authorization": f"Bearer {run.INSTANTLY_KEY}"}
    pause = f"{demo.info['instantly_url']}/api/v2/accounts/grace@demo-a.example/pause"
    httpx.post(pause, headers=headers).raise_for_status()
    try:
        paused = verify(demo)
        assert paused.returncode == 2, paused.stdout + paused.stderr
        assert "error: sequencer.connected outreach (instantly): paused there" in paused.stdout
        assert paused.stdout.count("NOT READY") == 1 and "sales (smartlead)" not in paused.stdout
    finally:
        httpx.post(pause.replace("/pause", "/resume"), headers=headers).raise_for_status()


def test_a_limit_changed_in_the_spec_is_updated_there(demo: Demo) -> None:
    spec = demo.root / "specs" / "demo.yaml"
    spec.write_text(spec.read_text().replace("    daily_limit: 20\n", "    daily_limit: 15\n"))
    steps = demo.up()
    assert sorted(op for op, name in steps if name.startswith("sequencer-")) == ["update"] * 6
    assert {acc["daily_limit"] for acc in workspace(demo).values()} == {15}
    assert {acc["message_per_day"] for acc in smartlead_workspace(demo).values()} == {15}


def test_a_limit_changed_in_a_sequencer_is_drift_and_a_refresh_up_puts_it_back(demo: Demo) -> None:
    set_limits(demo, "ada@demo-a.example", 99)
    demo.drift_found()
    code, findings = drift(demo)
    seen = sorted((f["layer"], f["resource"], f["differs"]) for f in findings)
    assert code == 2 and seen == [
        ("sequencer", f"Account sequencer-{s}-ada@demo-a.example", "changed: daily_limit")
        for s in ("outreach", "sales")
    ], findings
    demo.up(refresh=True)
    assert workspace(demo)["ada@demo-a.example"]["daily_limit"] in (15, 20)  # whichever the spec says now
    assert smartlead_workspace(demo)["ada@demo-a.example"]["message_per_day"] in (15, 20)
    demo.no_drift()


def test_a_password_rotation_reaches_both_sequencers_in_the_same_up(demo: Demo) -> None:
    """Instantly cannot take a new password: its account is replaced (delete first), and its connection test
    passes with the new one; Smartlead's is changed in place (same id), tested again."""
    smartlead_id = smartlead_workspace(demo)["ada@demo-a.example"]["id"]
    demo.stack.set_config("mailbox-iac:passwordRotation", auto.ConfigValue(json.dumps({"ada@demo-a.example": 1})))
    steps = demo.up()
    ops = {
        s: sorted(op for op, name in steps if name == f"sequencer-{s}-ada@demo-a.example")
        for s in ("outreach", "sales")
    }
    assert ops == {"outreach": ["create-replacement", "delete-replaced", "replace"], "sales": ["update"]}, steps
    assert not [name for _, name in steps if name.startswith("sequencer-") and "ada@" not in name]
    password = demo.stack.outputs()["mailbox_passwords"].value["ada@demo-a.example"]
    assert workspace(demo)["ada@demo-a.example"]["status"] == 1
    url = f"{demo.info['smartlead_url']}/api/v1/email-accounts/{smartlead_id}"
    raw = httpx.get(url, params={"api_key": run.SMARTLEAD_KEY}).json()  # Smartlead returns the password
    assert base64.b64decode(raw["password"]).decode() == password and raw["is_smtp_success"] is True
    assert demo.up() == []


def test_a_removed_mailbox_is_removed_there(demo: Demo) -> None:
    spec = demo.root / "specs" / "demo.yaml"
    before = spec.read_text()
    spec.write_text("\n".join(line for line in before.splitlines() if "local: grace" not in line) + "\n")
    try:
        demo.up()
        assert sorted(workspace(demo)) == ["ada@demo-a.example", "linus@demo-b.example"]
        assert sorted(smartlead_workspace(demo)) == ["ada@demo-a.example", "linus@demo-b.example"]
    finally:
        spec.write_text(before)


def test_a_wrong_password_fails_with_the_sequencers_message(demo: Demo) -> None:
    """What the resource's create meets when the mailbox cannot log in: each emulator's real logins to the
    host, refused by the host's SMTP server, whose reply is the reason given; nothing is left behind."""
    row = demo.stack.outputs()["mailboxes"].value["ada@demo-a.example"]
    props = {
        "base_url": "",
        "address": "nobody-yet@demo-a.example",
        "username": "ada@demo-a.example",
        "password": "not-the-password",
        "smtp_host": row["smtp_host"],
        "smtp_port": row["smtp_port"],
        "imap_host": row["imap_host"],
        "imap_port": row["imap_port"],
        "first_name": "No",
        "last_name": "Body",
        "daily_limit": 5,
    }
    instantly = {**props, "kind": "instantly", "api_key": run.INSTANTLY_KEY, "warmup": {"limit": 5}}
    smartlead = {**props, "kind": "smartlead", "api_key": run.SMARTLEAD_KEY, "warmup": {"warmup_enabled": True}}
    env = {
        "MAILBOX_IAC_INSTANTLY_URL": demo.info["instantly_url"],
        "MAILBOX_IAC_SMARTLEAD_URL": demo.info["smartlead_url"],
    }
    for seq in (instantly, smartlead):
        with (
            accounts.workspace(seq, env) as ws,
            pytest.raises(ConnectionFailed, match=r"cannot log in to nobody-yet@demo-a.example: .*535 5\.7\.8"),
        ):
            ws.add(seq)
    assert "nobody-yet@demo-a.example" not in workspace(demo)
    assert "nobody-yet@demo-a.example" not in smartlead_workspace(demo)
