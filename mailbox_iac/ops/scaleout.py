"""Handing tenants to an existing distributed engine instead of a home-made one: a GitHub Actions job
matrix (one job per tenant stack) and Pulumi Kubernetes Operator `Stack` resources. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml


def github_matrix(tenants: Sequence[str], removed: Sequence[str] = ()) -> str:
    """`{"include": [{"tenant": ..., "action": "up"}]}` for `strategy.matrix: ${{ fromJSON(...) }}`, with
    `"action": "destroy"` for tenants whose spec was deleted; empty stays valid."""
    jobs = [{"tenant": t, "action": "up"} for t in tenants] + [{"tenant": t, "action": "destroy"} for t in removed]
    return json.dumps({"include": jobs})


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
