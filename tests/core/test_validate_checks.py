"""The checks a staged release must pass (postconf, doveconf, opendkim, nginx...) run at the same time in
one script on the host, and each one's exit status and stderr still decide alone; run here by bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mailbox_iac.mailhost.apply import all_at_once, refusals


def run(script: str) -> str:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=True).stdout


def test_each_check_is_judged_by_its_own_status_and_stderr() -> None:
    checks = [
        ["sh", "-c", "echo 'postconf: warning: unused parameter' >&2"],
        ["true"],
        ["sh", "-c", "echo output is ignored; exit 3"],
        ["sh", "-c", "echo 'fine, and a quote: \"x\"' >&2"],
        ["sh", "-c", "echo 'error: no such file' >&2; exit 1"],
    ]
    assert refusals(checks, run(all_at_once(checks))) == [
        "sh: postconf: warning: unused parameter",
        "sh: exit status 3",
        "sh: error: no such file",
    ]


def test_checks_run_at_the_same_time(tmp_path: Path) -> None:
    """Each waits for the file the other makes: run one after the other, the first would never finish."""
    a, b = tmp_path / "a", tmp_path / "b"
    wait_for = "touch {mine}; timeout 20 sh -c 'until [ -e {other} ]; do sleep 0.01; done'"
    checks = [["sh", "-c", wait_for.format(mine=a, other=b)], ["sh", "-c", wait_for.format(mine=b, other=a)]]
    assert refusals(checks, run(all_at_once(checks))) == []


def test_a_check_the_script_did_not_report_is_a_refusal() -> None:
    checks = [["true"], ["nginx", "-t"]]
    out = run(all_at_once(checks))
    assert refusals(checks, out.split("\0")[0]) == ["nginx: no result"]
