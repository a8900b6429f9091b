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

from mailbox_iac import errors, failures
from mailbox_iac.engine import Engine
from mailbox_iac.program import main as tenant_program

SHARED = ("mailbox_iac/", "providers/", "Pulumi.yaml", "pyproject.toml", "schema/")
SUMMARY_CAP = 60_000


@dataclass
class TenantPreview:
    tenant: str
    counts: dict[str, int] = field(default_factory=dict)  # create, update, replace, delete, same
    violations: list[str] = field(default_factory=list)
    error: str = ""
    output: str = ""

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


def preview_tenant(engine: Engine, tenant: str) -> TenantPreview:
    result = TenantPreview(tenant)
    lines: list[str] = []
    program = errors.Watched(lambda: tenant_program(engine.project_dir))
    try:
        outcome = engine.stack(tenant, program).preview(on_output=lines.append, diff=True, color="never")
        result.counts = {str(getattr(op, "value", op)): int(n) for op, n in (outcome.change_summary or {}).items()}
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


def _row(p: TenantPreview) -> str:
    c = p.counts
    status = "violation" if p.violations else "error" if p.error else "changes" if p.changes else "no changes"
    return (
        f"| {p.tenant} | {c.get('create', 0)} | {c.get('update', 0)} | {c.get('replace', 0)} | "
        f"{c.get('delete', 0)} | {status} |"
    )


def summary_markdown(
    previews: list[TenantPreview], validation_errors: list[str], full_report: str, cap: int = SUMMARY_CAP
) -> str:
    """The PR comment: a row per tenant, then violations and errors, never longer than `cap`; what does
    not fit is counted and left to the full report."""
    footer = f"\n\nFull output: `{full_report}`\n"
    limit = cap - len(footer) - 200  # room for the two "... more" lines
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

    def add_all(lines: list[str], more: str) -> None:
        nonlocal text
        for i, line in enumerate(lines):
            if len(text) + 1 + len(line) > limit:
                text += "\n" + more.format(len(lines) - i)
                return
            text += "\n" + line

    add_all([_row(p) for p in previews], "| ... {} more tenant(s): see the full report | | | | | |")
    details = [f"- **{p.tenant}**: {v}" for p in previews for v in p.violations]
    details += [f"- **{p.tenant}** error: {p.error}" for p in previews if p.error]
    details += [f"- spec error: {e}" for e in validation_errors]
    if details:
        add_all(["", "### Guard rails, errors", "", *details], "- ... {} more: see the full report")
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
