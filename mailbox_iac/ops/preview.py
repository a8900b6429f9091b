"""Pull-request previews: which tenants a change affects, a preview of each, and a summary that fits a PR
comment (GitHub's limit is 65,536 characters; we stay under 60,000 and put everything in a file beside it).

Exit semantics, unlike `pulumi preview --expect-no-changes`: 0 no changes, 2 changes, 1 error or violation.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pulumi import automation as auto

from mailbox_iac import allowances, errors, failures, project
from mailbox_iac.engine import Engine
from mailbox_iac.ops.against import against
from mailbox_iac.ops.destroy import allows_destroy
from mailbox_iac.plan import render
from mailbox_iac.program import main as tenant_program
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file

SHARED = ("mailbox_iac/", "providers/", "Pulumi.yaml", "pyproject.toml", "schema/")
SUMMARY_CAP = 60_000


@dataclass
class TenantPreview:
    tenant: str
    counts: dict[str, int] = field(default_factory=dict)  # create, update, replace, delete, same
    violations: list[str] = field(default_factory=list)
    error: str = ""
    output: str = ""
    diff: list[str] = field(default_factory=list)  # render.change_lines: each change, old => new
    removed: bool = False  # its spec was deleted: the preview is of a destroy

    @property
    def changes(self) -> int:
        return sum(n for op, n in self.counts.items() if op != "same")


def changed_files(ref: str, cwd: Path) -> list[str]:
    """Files changed since `ref`, and new files not yet added (a tenant being written locally)."""
    files: set[str] = set()
    for argv in (["git", "diff", "--name-only", ref, "--"], ["git", "ls-files", "--others", "--exclude-standard"]):
        result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
        if result.returncode != 0:
            raise ValueError(f"git diff against {ref!r} failed: {result.stderr.strip()}")
        files |= {line for line in result.stdout.splitlines() if line}
    return sorted(files)


def affected_tenants(files: list[str], tenants: list[str]) -> list[str]:
    """Tenants whose spec or stack file changed; every tenant when shared code or settings changed."""
    if any(f.startswith(SHARED) for f in files):
        return sorted(tenants)
    touched = {Path(f).stem for f in files if f.startswith("specs/")}
    touched |= {Path(f).name.removeprefix("Pulumi.").removesuffix(".yaml") for f in files if f.startswith("stacks/")}
    return sorted(t for t in tenants if t in touched)


def removed_tenants(files: list[str], root: Path) -> list[str]:
    """Tenants whose spec the change deletes."""
    return sorted(
        Path(f).stem for f in files if f.startswith("specs/") and f.endswith(".yaml") and not (root / f).exists()
    )


def preview_removal(engine: Engine, tenant: str, allow: frozenset[str] = frozenset()) -> TenantPreview:
    """What deleting a tenant's spec would do: destroy its stack. Refused unless the change allows it
    (`allow`, from the PR's label) or the stack's config says `mailbox-iac:allowDestroy: true` (its servers,
    mailboxes and delivered mail go)."""
    result = TenantPreview(tenant, removed=True)
    lines: list[str] = []
    try:
        stack = engine.existing(tenant)
    except auto.StackNotFoundError:
        result.output = f"{tenant}: never deployed, nothing to destroy"
        return result
    try:
        # The engine's own preview for the output and its errors; `destroy` lifts the servers' protection,
        # which the engine cannot preview, so what goes is counted from the checkpoint: every resource.
        stack.preview_destroy(on_output=lines.append, show_secrets=False, color="never", exclude_protected=True)
        resources = [r for r in (stack.export_stack().deployment or {}).get("resources", []) if _owned(r)]
        result.counts = {"delete": len(resources)} if resources else {}
        result.diff = [f"- {_kind(r['type'])} {r['urn'].rsplit('::', 1)[-1]}" for r in resources]
        if result.changes and not allows_destroy(stack, allow):
            result.violations = [
                f"deleting specs/{tenant}.yaml destroys tenant {tenant}: {result.changes} resource(s), its servers "
                f"and mailboxes with their mail. To go ahead, {allowances.how_to('destroy', 'destroy')}"
            ]
    except auto.CommandError as exc:
        result.error = "; ".join(failures.diagnostics(str(exc), limit=3)) or "preview of the destroy failed"
        lines.append(str(exc))
    result.output = "\n".join(lines)
    return result


def _owned(resource: dict[str, object]) -> bool:
    """A resource of the tenant's, not the stack itself or a provider instance."""
    kind = str(resource["type"])
    return kind != "pulumi:pulumi:Stack" and not kind.startswith("pulumi:providers:")


def _kind(token: str) -> str:
    """`pulumi-python:dynamic/mailhost:Mailbox` -> `Mailbox`; `cloudflare:index/dnsRecord:DnsRecord` -> `DnsRecord`."""
    return token.rsplit(":", 1)[-1]


def preview_tenant(engine: Engine, tenant: str, allow: frozenset[str] = frozenset()) -> TenantPreview:
    """The engine's preview of a tenant, and the changes a reviewer reads (its spec against the stack's
    checkpoint, `ops/against.py`)."""
    result = TenantPreview(tenant)
    lines: list[str] = []
    program = errors.Watched(lambda: tenant_program(engine.project_dir, allow=allow))
    try:
        stack = engine.stack(tenant, program)
        try:
            outcome = stack.preview(on_output=lines.append, diff=True, color="never")
            result.counts = {str(getattr(op, "value", op)): int(n) for op, n in (outcome.change_summary or {}).items()}
        finally:  # a refused preview shows its changes too: exactly what it would have deleted
            result.diff = _reviewed(engine, stack)
    except auto.CommandError as exc:
        failure = program.failure(exc)
        said = failures.diagnostics(str(failure), limit=5)
        if errors.kind_of(failure) is errors.Kind.violation:
            result.violations = said
        else:
            result.error = "; ".join(said[:3]) or "preview failed"
        lines.append(str(exc))
    result.output = "\n".join(lines)
    return result


def _reviewed(engine: Engine, stack: auto.Stack) -> list[str]:
    """The stack's changes as a reviewer reads them; none for a spec that does not load (the validation
    errors say why)."""
    try:
        tenant = load_file(project.tenant_spec(engine.project_dir, stack.name)).tenant
    except (SpecInvalid, project.NoTenant):
        return []
    found, _ = against(stack, tenant)
    return [line.strip() for line in render.change_lines(found)]


def _row(p: TenantPreview) -> str:
    c = p.counts
    status = "violation" if p.violations else "error" if p.error else "changes" if p.changes else "no changes"
    return (
        f"| {p.tenant} | {c.get('create', 0)} | {c.get('update', 0)} | {c.get('replace', 0)} | "
        f"{c.get('delete', 0)} | {status} |"
    )


def _tenant_section(p: TenantPreview, output_cap: int) -> str:
    """A tenant's changes as a diff (deletions and replacements first, marked), its refusals and errors,
    and the engine's output folded."""
    gone = [c for c in p.diff if c.startswith("-")]
    out = [f"### {p.tenant}" + (" (spec deleted: the stack would be destroyed)" if p.removed else ""), ""]
    if gone:
        out += [f"**{len(gone)} deletion(s) or replacement(s)**", ""]
    if p.diff:
        out += ["```diff", *gone, *(c for c in p.diff if not c.startswith("-")), "```", ""]
    out += [f"- refused: {v}" for v in p.violations] + ([f"- error: {p.error}"] if p.error else [])
    if p.output:
        shown = p.output if len(p.output) <= output_cap else "...\n" + p.output[-output_cap:]
        fence = "```"
        out += ["", "<details><summary>engine output</summary>", "", fence, shown.replace(fence, "'''"), fence]
        out.append("</details>")
    return "\n".join(out)


def summary_markdown(
    previews: list[TenantPreview], validation_errors: list[str], full_report: str, cap: int = SUMMARY_CAP
) -> str:
    """The PR comment: a row per tenant, then each tenant's changes (old => new), refusals, errors and folded
    engine output, never longer than `cap`; what does not fit is counted and left to the full report."""
    footer = f"\n\nFull output: `{full_report}`\n"
    limit = cap - len(footer) - 200  # room for the "... more" lines
    text = "\n".join(
        [
            "## mailbox-iac preview",
            "",
            f"{len(previews)} tenant(s) affected.",
            "",
            "| tenant | adds | updates | replaces | deletes | result |",
            "|---|---:|---:|---:|---:|---|",
        ]
    )

    def add_all(blocks: list[str], more: str) -> None:
        """Whole blocks only (a code fence is never cut): the first that does not fit ends the list."""
        nonlocal text
        for i, block in enumerate(blocks):
            if len(text) + 1 + len(block) > limit:
                text += "\n" + more.format(len(blocks) - i)
                return
            text += "\n" + block

    add_all([_row(p) for p in previews], "| ... {} more tenant(s): see the full report | | | | | |")
    if validation_errors:
        add_all(
            ["", "### Spec errors", "", *(f"- {e}" for e in validation_errors)], "- ... {} more: see the full report"
        )
    sections = ["\n" + _tenant_section(p, output_cap=4000) for p in previews if p.diff or p.violations or p.error]
    add_all(sections, "\n... {} more tenant(s) with changes: see the full report")
    return text + footer


def full_markdown(previews: list[TenantPreview]) -> str:
    return "\n\n".join(f"## {p.tenant}\n\n```\n{p.output}\n```" for p in previews) + "\n"


def exit_code(previews: list[TenantPreview], validation_errors: list[str]) -> int:
    if validation_errors or any(p.violations or p.error for p in previews):
        return 1
    return 2 if any(p.changes for p in previews) else 0


def as_json(previews: list[TenantPreview], validation_errors: list[str]) -> str:
    return json.dumps(
        {
            "tenants": [{k: v for k, v in asdict(p).items() if k != "output"} for p in previews],
            "validation_errors": validation_errors,
            "exit_code": exit_code(previews, validation_errors),
        },
        indent=2,
    )
