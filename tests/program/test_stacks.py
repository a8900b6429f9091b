"""The example stacks match their specs and hold no credentials: placeholders there would override the
ones the environment gives (the sandbox's, a CI secret), so the examples deploy as committed."""

from __future__ import annotations

import pytest
import yaml

from mailbox_iac.plan.planner import plan
from mailbox_iac.program import zone_violations
from mailbox_iac.spec.load import load_file
from tests.conftest import REPO


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_example_stack_allows_exactly_its_zones_and_holds_no_credentials(tenant: str) -> None:
    stack = yaml.safe_load((REPO / "stacks" / f"Pulumi.{tenant}.yaml").read_text())
    config = stack["config"]
    state = plan(load_file(REPO / "specs" / f"{tenant}.yaml").tenant)
    zones = config["mailbox-iac:allowedZones"]
    assert zone_violations(state, tuple(zones)) == [] and sorted(zones) == sorted({r.zone for r in state.dns_records})
    assert not {"hostwinds:apiKey", "cloudflare:apiToken"} & set(config)
    # The salt of the sandbox's passphrase, so that a sandbox run leaves the file as committed.
    assert stack["encryptionsalt"].startswith("v1:")
