"""Drift reports and the ignore file, as pure functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailbox_iac.ops.drift import Finding, as_json, as_markdown, ignored, load_ignores


def test_ignore_rules_match_by_glob(tmp_path: Path) -> None:
    path = tmp_path / "drift-ignore.yaml"
    path.write_text("- {tenant: acme, type: TXT, name: '*.acme-mail.com'}\n- {name: legacy.example}\n")
    rules = load_ignores(path)
    assert ignored("acme", "TXT", "x.acme-mail.com", rules)
    assert not ignored("globex", "TXT", "x.acme-mail.com", rules)
    assert ignored("anyone", "MX", "legacy.example", rules)
    assert load_ignores(tmp_path / "missing.yaml") == []
    path.write_text("tenant: acme\n")
    with pytest.raises(ValueError, match="expected a list"):
        load_ignores(path)


def test_reports() -> None:
    finding = Finding(
        "acme", "dns-undeclared", "TXT acme-mail.com", "a record nobody declared: 'v=spf1 ~all'", "delete it"
    )
    assert json.loads(as_json([finding])) == {
        "drift": True,
        "findings": [finding.__dict__],
        "not_deployed": [],
        "not_applied": {},
    }
    assert as_markdown([], ["acme", "globex"]) == "No drift in 2 tenant(s): acme, globex.\n"
    assert "| acme | dns-undeclared | `TXT acme-mail.com` |" in as_markdown([finding], ["acme"])


def test_tenants_not_deployed_are_reported_apart() -> None:
    assert json.loads(as_json([], ["newco"]))["not_deployed"] == ["newco"]
    assert (
        as_markdown([], ["acme"], ["newco"]) == "No drift in 1 tenant(s): acme.\nNot deployed yet (no stack): newco.\n"
    )
    assert as_markdown([], [], ["newco"]) == "Not deployed yet (no stack): newco.\n"


def test_spec_changes_not_applied_are_counted_apart_from_drift() -> None:
    assert json.loads(as_json([], (), {"acme": 3}))["not_applied"] == {"acme": 3}
    assert as_markdown([], ["acme"], (), {"acme": 3}) == (
        "No drift in 1 tenant(s): acme.\nSpec changes not applied yet (`mailbox-iac up` applies them): acme (3 change(s)).\n"
    )
