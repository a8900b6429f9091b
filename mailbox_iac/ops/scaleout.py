"""Handing tenants to an existing distributed engine instead of a home-made one: a GitHub Actions job
matrix (one job per tenant stack) and Pulumi Kubernetes Operator `Stack` resources. Pure."""

from __future__ import annotations

import json
from typing import Any

import yaml


def github_matrix(tenants: list[str]) -> str:
    """`{"include": [{"tenant": ...}]}` for `strategy.matrix: ${{ fromJSON(...) }}`; empty stays valid."""
    return json.dumps({"include": [{"tenant": t} for t in tenants]})


def operator_stacks(
    tenants: list[str],
    repo: str,
    branch: str = "main",
    namespace: str = "mailbox-iac",
    backend: str = "s3://CHANGE-ME/mailbox-iac",
) -> str:
    """One `pulumi.com/v1` Stack per tenant for the Pulumi Kubernetes Operator. Secrets (passphrase, API
    keys) are referenced from a Kubernetes Secret named `mailbox-iac`, never written here."""

    def env(name: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": "mailbox-iac", "key": key}}}

    docs = [
        {
            "apiVersion": "pulumi.com/v1",
            "kind": "Stack",
            "metadata": {"name": f"mailbox-iac-{t}", "namespace": namespace},
            "spec": {
                "stack": t,
                "projectRepo": repo,
                "branch": branch,
                "backend": backend,
                "destroyOnFinalize": False,
                "refresh": True,
                "resyncFrequencySeconds": 3600,
                "envRefs": {},
                "workspaceTemplate": {
                    "spec": {
                        "env": [
                            env("PULUMI_CONFIG_PASSPHRASE", "passphrase"),
                            env("HOSTWINDS_API_KEY", "hostwinds-api-key"),
                            env("CLOUDFLARE_API_TOKEN", "cloudflare-api-token"),
                        ]
                    }
                },
            },
        }
        for t in tenants
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)
