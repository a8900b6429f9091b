"""A spec against what a stack has deployed: its changes and what the safety rules refuse, from the stack's
checkpoint and outputs alone (no preview, no provider). `mailbox-iac plan --against` and the PR summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi import automation as auto

from mailbox_iac import changes, checkpoint
from mailbox_iac.plan.planner import plan
from mailbox_iac.program import known_facts
from mailbox_iac.spec.resolve import Tenant

Found = tuple[list[changes.Change], list[str]]  # the changes, and the safety rules' refusals


def compare(deployment: Mapping[str, Any], outputs: Mapping[str, Any], tenant: Tenant) -> Found:
    """Pure: the changes from a checkpoint to the tenant, with the facts the outputs hold filled in."""
    deployed, desired = checkpoint.inventory(deployment), changes.of_state(plan(tenant, known_facts(outputs)))
    return changes.changes(deployed, desired), changes.violations(deployed, desired)


def against(stack: auto.Stack, tenant: Tenant) -> Found:
    outputs = {k: v.value for k, v in stack.outputs().items()}
    return compare(stack.export_stack().deployment or {}, outputs, tenant)
