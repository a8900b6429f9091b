"""A second server backend (tests/fakecloud.py) registered beside Hostwinds: the spec names it per server,
and the planner, the program, drift's layers and the change layer take it without an edit of theirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mailbox_iac import changes, checkpoint
from mailbox_iac.ops.drift import layer_of
from mailbox_iac.plan.planner import plan
from mailbox_iac.servers import registry
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file
from tests.fakecloud import FakeCloud
from tests.program import harness
from tests.program.harness import run

SPEC: dict[str, Any] = {
    "tenant": "two",
    "defaults": {"server": {"location": 12, "plan": 52, "image": "debian-12"}},
    "servers": {
        "mx1": {"hostname": "mail.two-a.example"},
        "mx2": {"hostname": "mail.two-b.example", "backend": "fakecloud", "location": "test-1", "plan": "small"},
    },
    "domains": [
        {"name": "two-a.example", "server": "mx1", "mailboxes": ["ann"]},
        {"name": "two-b.example", "server": "mx2", "mailboxes": ["bo"]},
    ],
}


@pytest.fixture
def fakecloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))  # undone after the test
    registry.register(FakeCloud())
    monkeypatch.setitem(harness.FAKE, FakeCloud.server_type, {"ipv4": "203.0.113.20", "server_id": "fc-1"})
    yield


def write(tmp_path: Path, spec: dict[str, Any]) -> Path:
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_the_planner_keeps_each_servers_backend(fakecloud: None, tmp_path: Path) -> None:
    state = plan(load_file(write(tmp_path, SPEC)).tenant)
    by = {s.name: s for s in state.servers}
    assert (by["mx1"].backend, by["mx1"].region, by["mx1"].size) == ("hostwinds", 12, 52)
    assert (by["mx2"].backend, by["mx2"].region, by["mx2"].size, by["mx2"].label) == (
        "fakecloud",
        "test-1",
        "small",
        "mbx-two-mx2",
    )


def test_the_program_declares_each_server_at_its_backend(fakecloud: None, tmp_path: Path) -> None:
    rec = run("two", {"spec": str(write(tmp_path, SPEC)), "allowedZones": ["two-a.example", "two-b.example"]})
    assert [r.name for r in rec.by_type("hostwinds:Instance")] == ["server-mx1"]
    assert [r.name for r in rec.by_type("fakecloud:Server")] == ["server-mx2"]
    assert rec.named("server-mx2").inputs["keys"] == ["two"]  # its own access key, once
    assert rec.urn("fakecloud-key") in rec.named("server-mx2").dependencies
    assert rec.named("dns-A-mail.two-b.example").inputs["content"] == "203.0.113.20"
    assert rec.urn("server-mx2") in rec.named("dns-A-mail.two-b.example").dependencies
    ptr = rec.named("fakecloud-ptr-mx2")
    assert ptr.inputs["hostname"] == "mail.two-b.example" and rec.urn("dns-A-mail.two-b.example") in ptr.dependencies
    assert rec.urn("fakecloud-ptr-mx2") in rec.named("ready-two-b.example").dependencies
    assert rec.outputs["servers"][0]["mx2"] == {
        "serviceid": "fc-1",
        "ip": "203.0.113.20",
        "hostname": "mail.two-b.example",
    }


def test_drift_and_the_change_layer_know_it(fakecloud: None, tmp_path: Path) -> None:
    assert layer_of("pulumi-python:dynamic/fakecloud:Server") == "fakecloud"
    assert layer_of("pulumi-python:dynamic/hostwinds:Instance") == "hostwinds"
    resource = {
        "urn": "urn:pulumi:two::mailbox-iac::pulumi-python:dynamic/fakecloud:Server::server-mx2",
        "type": FakeCloud.server_type,
        "outputs": {"label": "mbx-two-mx2", "region": "test-1", "size": "small", "image": "debian-12"},
    }
    deployed = checkpoint.inventory({"resources": [resource]})
    desired = changes.of_state(plan(load_file(write(tmp_path, SPEC)).tenant))
    assert deployed[("server", "mx2")] == desired[("server", "mx2")]
    bigger = {**SPEC, "servers": {**SPEC["servers"], "mx2": {**SPEC["servers"]["mx2"], "plan": "large"}}}
    resized = changes.of_state(plan(load_file(write(tmp_path, bigger)).tenant))
    [change] = [c for c in changes.changes(deployed, resized) if c.key == "mx2"]
    assert isinstance(change, changes.Update) and change.replaces and change.fields == ["size"]
    assert changes.violations(deployed, resized)[0].startswith("server mx2 would be replaced: a new server")


def test_each_backend_checks_its_own_settings(fakecloud: None, tmp_path: Path) -> None:
    wrong = {**SPEC, "servers": {**SPEC["servers"], "mx2": {**SPEC["servers"]["mx2"], "plan": 3}}}
    wrong["servers"]["mx1"] = {"hostname": "mail.two-a.example", "location": "fsn1"}
    with pytest.raises(SpecInvalid) as err:
        load_file(write(tmp_path, wrong))
    text = str(err.value)
    assert "servers.mx2.plan: fakecloud sizes: small, large" in text
    assert "servers.mx1.location: Hostwinds wants a Hostwinds location_id" in text


def test_an_unknown_backend_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        SpecInvalid, match=r"servers.mx2.backend: unknown server backend 'fakecloud' \(known: hostwinds\)"
    ):
        load_file(write(tmp_path, SPEC))
