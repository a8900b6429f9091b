"""Generators for distributed runs: the GitHub Actions matrix and the Pulumi Kubernetes Operator stacks."""

from __future__ import annotations

import json

import yaml

from mailbox_iac.ops.scaleout import github_matrix, operator_stacks


def test_github_matrix() -> None:
    assert json.loads(github_matrix(["acme", "globex"], ["newco"])) == {
        "include": [
            {"tenant": "acme", "action": "up"},
            {"tenant": "globex", "action": "up"},
            {"tenant": "newco", "action": "destroy"},
        ]
    }
    assert json.loads(github_matrix([])) == {"include": []}


def test_operator_stacks_reference_secrets_never_hold_them() -> None:
    text = operator_stacks(["acme", "globex"], "https://github.com/example/mail-infra")
    docs = list(yaml.safe_load_all(text))
    assert [d["spec"]["stack"] for d in docs] == ["acme", "globex"]
    assert {d["kind"] for d in docs} == {"Stack"} and docs[0]["apiVersion"] == "pulumi.com/v1"
    env = docs[0]["spec"]["workspaceTemplate"]["spec"]["env"]
    assert all("valueFrom" in e and "value" not in e for e in env)
