"""The example stacks match their specs, and their secrets are encrypted (passphrase provider)."""

from __future__ import annotations

import pytest
import yaml

from mailbox_iac.plan.planner import plan
from mailbox_iac.program import zone_violations
from mailbox_iac.spec.load import load_file
from tests.conftest import REPO


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_example_stack_allows_exactly_its_zones_and_encrypts_secrets(tenant: str) -> None:
    stack = yaml.safe_load((REPO / "stacks" / f"Pulumi.{tenant}.yaml").read_text())
    assert stack["encryptionsalt"].startswith("v1:")
    config = stack["config"]
    state = plan(load_file(REPO / "specs" / f"{tenant}.yaml").tenant)
    zones = config["mailbox-iac:allowedZones"]
    assert zone_violations(state, tuple(zones)) == [] and sorted(zones) == sorted({r.zone for r in state.dns_records})
    for key in ("hostwinds:apiKey", "cloudflare:apiToken"):
        assert set(config[key]) == {"secure"} and config[key]["secure"].startswith("v1:")
