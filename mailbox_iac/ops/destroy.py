"""A tenant's end: once its spec is deleted, its stack is destroyed (servers, records, mailboxes and the
mail in them) and removed. Refused while a spec still declares the tenant, and unless the run allows it
(`--allow destroy`, from the label of the pull request that deleted the spec) or the stack's config does
(`mailbox-iac:allowDestroy: "true"`); the
servers' `protect` is lifted only then, for this run. A run that is killed is run again: the stack is held
as `up` holds it and what was already deleted stays deleted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi import automation as auto

from mailbox_iac import allowances, project, recovery
from mailbox_iac.engine import Engine

ALLOW = allowances.ALLOWANCES["destroy"]


class DestroyRefused(Exception):
    """The guard rails said no; nothing was changed."""


def allows_destroy(stack: auto.Stack, allow: frozenset[str]) -> bool:
    """The run's opt-ins (`allow`) or the stack's config let the stack be destroyed."""
    if "destroy" in allow:
        return True
    value = stack.get_all_config().get(ALLOW)
    return value is not None and value.value.strip().lower() == "true"


def without_protection(deployment: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The checkpoint with every resource's `protect` lifted, and the URNs that had it. Pure."""
    lifted = [r["urn"] for r in deployment.get("resources", []) if r.get("protect")]
    resources = [{k: v for k, v in r.items() if k != "protect"} for r in deployment.get("resources", [])]
    return {**deployment, "resources": resources}, lifted


def destroy(
    engine: Engine,
    tenant: str,
    say: Callable[[str], None],
    on_output: Callable[[str], None],
    allow: frozenset[str] = frozenset(),
) -> int:
    """Destroy and remove the stack of `tenant`; the number of resources deleted (0: there was no stack)."""
    try:
        spec = project.tenant_spec(engine.project_dir, tenant)
    except project.NoTenant:
        pass
    else:
        raise DestroyRefused(
            f"{spec.relative_to(engine.project_dir)} still declares tenant {tenant!r}: a tenant is destroyed by "
            f"deleting its spec, in a pull request labelled `{allowances.LABEL}destroy`"
        )
    with recovery.exclusive(engine.lock_dir, tenant):
        try:
            stack = engine.existing(tenant)
        except auto.StackNotFoundError:
            say(f"stack {tenant!r} does not exist: nothing to destroy")
            return 0
        if not allows_destroy(stack, allow):
            raise DestroyRefused(
                f"destroying tenant {tenant!r} deletes its servers, records, mailboxes and their mail; to go ahead, "
                + allowances.how_to("destroy", "destroy")
            )
        engine.recover(stack, say)
        exported = stack.export_stack()
        unprotected, lifted = without_protection(exported.deployment or {})
        if lifted:
            stack.import_stack(auto.Deployment(version=exported.version, deployment=unprotected))
            names = ", ".join(u.rsplit("::", 1)[-1] for u in lifted)
            say(f"stack {tenant!r}: protection lifted from {names} for this destroy")
        result = stack.destroy(on_output=on_output, show_secrets=False, color="never")
        stack.workspace.remove_stack(tenant)
        say(f"stack {tenant!r} destroyed and removed")
        changes = result.summary.resource_changes or {}
        return sum(int(n) for op, n in changes.items() if str(getattr(op, "value", op)) == "delete")
