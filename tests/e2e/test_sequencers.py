"""The demo's mailboxes handed to an (emulated) Instantly workspace by `up`, on the sandbox with the real
engine: each added once and connected (the emulator logs in to the host over SMTP and IMAP), a second run
changes nothing, a daily limit changed in the spec is updated there, a limit changed in Instantly's UI is
drift and a refresh-up puts it back, a removed mailbox is removed there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pulumi import automation as auto

from mailbox_iac.sandbox import run
from tests.e2e.test_demo import Demo, demo_project

SEQUENCERS = """
sequencers:
  outreach:
    kind: instantly
    api_key: instantlyApiKey
    daily_limit: 20
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with demo_project(tmp_path_factory.mktemp("project")) as d:
        spec = d.root / "specs" / "demo.yaml"
        spec.write_text(spec.read_text() + SEQUENCERS)
        d.stack.set_config("mailbox-iac:instantlyApiKey", auto.ConfigValue(run.INSTANTLY_KEY, secret=True))
        d.first_steps = d.up()
        yield d


def workspace(demo: Demo) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = httpx.get(f"{demo.info['instantly_url']}/_emulator/state").json()["accounts"]
    return state


def set_limit(demo: Demo, address: str, limit: int) -> None:
    """A change made in Instantly's UI, through its API."""
    headers = {"Authorization": f"Bearer {run.INSTANTLY_KEY}"}
    url = f"{demo.info['instantly_url']}/api/v2/accounts/{address}"
    httpx.patch(url, json={"daily_limit": limit}, headers=headers).raise_for_status()


def test_each_mailbox_is_added_once_and_connected(demo: Demo) -> None:
    added = sorted(name for op, name in demo.first_steps if name.startswith("sequencer-"))
    assert added == [
        f"sequencer-outreach-{a}" for a in ("ada@demo-a.example", "grace@demo-a.example", "linus@demo-b.example")
    ]
    accounts = workspace(demo)
    assert {a: (acc["status"], acc["daily_limit"]) for a, acc in accounts.items()} == {
        "ada@demo-a.example": (1, 20),
        "grace@demo-a.example": (1, 20),
        "linus@demo-b.example": (1, 20),
    }
    assert demo.up() == []


def test_a_limit_changed_in_the_spec_is_updated_there(demo: Demo) -> None:
    spec = demo.root / "specs" / "demo.yaml"
    spec.write_text(spec.read_text().replace("    daily_limit: 20\n", "    daily_limit: 15\n"))
    steps = demo.up()
    assert sorted(op for op, name in steps if name.startswith("sequencer-")) == ["update"] * 3
    assert {acc["daily_limit"] for acc in workspace(demo).values()} == {15}


def test_a_limit_changed_in_instantly_is_drift_and_a_refresh_up_puts_it_back(demo: Demo) -> None:
    set_limit(demo, "ada@demo-a.example", 99)
    demo.drift_found()
    demo.up(refresh=True)
    assert workspace(demo)["ada@demo-a.example"]["daily_limit"] in (15, 20)  # whichever the spec says now
    demo.no_drift()


def test_a_removed_mailbox_is_removed_there(demo: Demo) -> None:
    spec = demo.root / "specs" / "demo.yaml"
    before = spec.read_text()
    spec.write_text("\n".join(line for line in before.splitlines() if "local: grace" not in line) + "\n")
    try:
        demo.up()
        assert sorted(workspace(demo)) == ["ada@demo-a.example", "linus@demo-b.example"]
    finally:
        spec.write_text(before)
