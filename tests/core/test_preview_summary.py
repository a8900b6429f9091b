"""PR preview as pure functions: which tenants a change affects, the summary's size cap, exit codes."""

from __future__ import annotations

from pathlib import Path

from mailbox_iac.ops.preview import (
    SUMMARY_CAP,
    TenantPreview,
    affected_tenants,
    exit_code,
    removed_tenants,
    summary_markdown,
)

TENANTS = ["acme", "demo", "globex"]


def test_affected_tenants() -> None:
    assert affected_tenants(["specs/acme.yaml"], TENANTS) == ["acme"]
    assert affected_tenants(["stacks/Pulumi.globex.yaml", "README.md"], TENANTS) == ["globex"]
    assert affected_tenants(["mailbox_iac/plan/planner.py"], TENANTS) == TENANTS
    assert affected_tenants(["providers/hostwinds_dynamic/client.py"], TENANTS) == TENANTS
    assert affected_tenants(["README.md", "bench/plan_scale.py"], TENANTS) == []


def test_a_300_tenant_change_stays_under_the_cap() -> None:
    previews = [
        TenantPreview(
            f"tenant-with-a-long-name-{i:03d}",
            {"create": 40, "update": 3, "delete": 1, "same": 9},
            violations=[f"GuardRailViolation: tenant {i}: 4 of 5 mailboxes (80%) would be deleted " + "x" * 150],
        )
        for i in range(300)
    ]
    text = summary_markdown(previews, [], ".state/preview/full.md")
    assert len(text) <= SUMMARY_CAP
    assert "more tenant(s): see the full report" in text or text.count("| tenant-with") == 300
    assert text.rstrip().endswith("Full output: `.state/preview/full.md`")


def test_exit_codes() -> None:
    same = TenantPreview("a", {"same": 10})
    change = TenantPreview("b", {"update": 1, "same": 9})
    assert exit_code([same], []) == 0
    assert exit_code([same, change], []) == 2
    assert exit_code([same, TenantPreview("c", violations=["GuardRailViolation"])], []) == 1
    assert exit_code([same], ["specs/x.yaml:1:1: bad"]) == 1
    assert "| b | 0 | 1 | 0 | 0 | changes |" in summary_markdown([change], [], "full.md")


def test_the_summary_shows_each_change_deletions_first_and_the_engine_output_folded() -> None:
    p = TenantPreview(
        "acme",
        {"update": 1, "delete": 1},
        output="Previewing update (acme):\n ~ dns-TXT-_dmarc.acme.example\n```injected fence```",
        diff=[
            "~ dns_record TXT:_dmarc.acme.example  content: 'v=DMARC1; p=quarantine' => 'v=DMARC1; p=reject'",
            "- mailbox bo@acme.example",
        ],
    )
    text = summary_markdown([p, TenantPreview("same", {"same": 3})], [], "full.md")
    section = text[text.index("### acme") :]
    assert "**1 deletion(s) or replacement(s)**" in section
    assert section.index("- mailbox bo@acme.example") < section.index("~ dns_record TXT:_dmarc.acme.example")
    assert "```diff" in section and "'v=DMARC1; p=quarantine' => 'v=DMARC1; p=reject'" in section
    assert "<details><summary>engine output</summary>" in section and "```injected fence```" not in section
    assert "### same" not in text  # nothing to show for a tenant without changes


def test_a_deleted_spec_is_previewed_as_a_destroy(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "kept.yaml").write_text("tenant: kept\n")
    files = ["specs/kept.yaml", "specs/gone.yaml", "specs/README.md", "stacks/Pulumi.gone.yaml"]
    assert removed_tenants(files, tmp_path) == ["gone"]
    gone = TenantPreview("gone", counts={"delete": 2}, diff=["- Mailbox ada@gone.example"], removed=True)
    gone.violations = ["deleting specs/gone.yaml destroys tenant gone"]
    summary = summary_markdown([gone], [], "full.md")
    assert "| gone | 0 | 0 | 0 | 2 | violation |" in summary
    assert "### gone (spec deleted: the stack would be destroyed)" in summary
    assert "- Mailbox ada@gone.example" in summary
