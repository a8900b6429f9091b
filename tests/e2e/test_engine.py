"""The real Pulumi engine (built by scripts/bootstrap) running our Hostwinds Instance against the emulator:
up, no-op preview, drift found by refresh --preview-only, repaired by up --refresh, destroy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from hostwinds_dynamic.provider import InstanceProvider
from hostwinds_dynamic.resources import Instance
from mailbox_iac.engine import Engine
from tests.emulators import API_KEY, Emulator

DEBIAN = "b1e32484-ea0d-4875-921f-2d01fd7b4341"


def program() -> None:
    server = Instance(
        "mx1",
        location_id=12,
        template=DEBIAN,
        rid=52,
        srvrname="e2e-engine-mx1",
        ssh_keys=["mailbox-iac"],
        provider=InstanceProvider(rate=20, poll_interval=0.1, build_timeout=60),
    )
    pulumi.export("main_ip", server.main_ip)
    pulumi.export("serviceid", server.serviceid)
    pulumi.export("api_key", pulumi.Config("hostwinds").require_secret("apiKey"))


def test_engine_lifecycle_against_the_emulator(hostwinds: Emulator, tmp_path: Path) -> None:
    engine = Engine.local(tmp_path / "state", passphrase="e2e-passphrase")
    stack = engine.stack(
        "engine-e2e", program, config={"hostwinds:endpoint": hostwinds.url}, secrets={"hostwinds:apiKey": API_KEY}
    )
    log: list[str] = []

    up = stack.up(on_output=log.append, show_secrets=False)
    assert up.summary.result == "succeeded"
    [inst] = hostwinds.state()["instances"]
    assert up.outputs["main_ip"].value == inst["main_ip"] and inst["status"] == "ACTIVE"
    # the outputs come from a masked and a revealed listing, read side by side: each keeps its secrecy
    outputs = {k: (v.value, v.secret) for k, v in up.outputs.items()}
    assert outputs["main_ip"] == (inst["main_ip"], False) and outputs["api_key"] == (API_KEY, True)
    assert {k: (v.value, v.secret) for k, v in stack.outputs().items()} == outputs

    stack.preview(expect_no_changes=True, on_output=log.append)

    hostwinds.tamper(inst["serviceid"], srvrname="renamed-by-hand")  # drift behind Pulumi's back
    with pytest.raises(auto.CommandError, match="code: 7"):
        stack.refresh(preview_only=True, expect_no_changes=True, on_output=log.append, show_secrets=False)

    stack.up(refresh=True, on_output=log.append, show_secrets=False)
    assert hostwinds.state()["instances"][0]["srvrname"] == "e2e-engine-mx1"
    stack.refresh(preview_only=True, expect_no_changes=True, on_output=log.append, show_secrets=False)

    state_text = "".join(p.read_text() for p in (tmp_path / "state" / "backend").rglob("*.json"))
    assert "e2e-engine-mx1" in state_text
    assert API_KEY not in state_text and API_KEY not in "\n".join(log)
    assert inst["password"] not in state_text

    stack.destroy(on_output=log.append, show_secrets=False)
    assert hostwinds.state()["instances"] == []
    stack.workspace.remove_stack("engine-e2e")


def test_a_stack_opens_without_the_sdks_select_and_up_still_reports_its_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a file backend a new stack costs `stack init` alone and an existing one no CLI process at all;
    `up` reads its outputs and its summary side by side and still returns both."""
    engine = Engine.local(tmp_path / "state", passphrase="e2e-passphrase")
    commands: list[str] = []
    run = auto.PulumiCommand.run

    def recorded(self: auto.PulumiCommand, args: list[str], *rest: Any, **kwargs: Any) -> auto.CommandResult:
        commands.append(" ".join(a for a in args[:2] if not a.startswith("-")))
        return run(self, args, *rest, **kwargs)

    monkeypatch.setattr(auto.PulumiCommand, "run", recorded)
    new = engine.stack("opening", lambda: pulumi.export("answer", pulumi.Output.secret("42")))
    assert (commands, new.created) == (["stack init"], True)
    up = new.up(show_secrets=False)
    assert (up.summary.kind, up.summary.result) == ("update", "succeeded")
    assert (up.outputs["answer"].value, up.outputs["answer"].secret) == ("42", True)
    assert sorted(commands[-3:]) == ["stack history", "stack output", "stack output"]
    commands.clear()
    again = engine.stack("opening", lambda: None)
    assert (commands, again.created) == ([], False)
    assert engine.existing("opening").outputs()["answer"].value == "42"
    with pytest.raises(auto.StackNotFoundError, match="no stack named 'never-made' found"):
        engine.existing("never-made")
