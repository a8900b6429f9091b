"""The warm-up day's cap: from a spec's `warmup.start` to the file policyd-rate-limit reads on the host.
The pure ramp here; the shipped script run by Debian's python3 and its output read by policyd-rate-limit's
own loader; the systemd units judged by systemd-analyze. The e2e refusal is in tests/e2e/test_deliverability."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from mailbox_iac.mailhost import apply, render
from mailbox_iac.mailhost.warmup_caps import cap_on
from mailbox_iac.plan.model import MailHostPlan
from mailbox_iac.plan.planner import plan
from mailbox_iac.spec.load import load_file
from tests.conftest import SPECS

# acme's dave warms up from 2026-11-30 at 3 a day, 2 more each day, up to his daily limit of 30;
# erin's warm-up is off, alice's has no first day: only their daily limits cap them.
ACME = (
    (SPECS / "acme.yaml")
    .read_text()
    .replace("warmup: {max_per_day: 25}", "warmup: {max_per_day: 25, start: 2026-11-30, start_per_day: 3}")
)


@pytest.fixture
def mailhost(tmp_path: Path) -> MailHostPlan:
    spec = tmp_path / "acme.yaml"
    spec.write_text(ACME)
    return plan(load_file(spec).tenant).mailhosts[0]


def test_the_cap_ramps_from_the_first_day_to_the_daily_limit() -> None:
    assert [cap_on(day, 3, 2, 30) for day in (-5, 0, 1, 2, 13, 14, 400)] == [3, 3, 5, 7, 29, 30, 30]
    assert cap_on(10, 5, 0, 30) == 5  # no increment: the first day's cap stays
    assert cap_on(0, 50, 2, 30) == 30  # never above the daily limit


def test_only_a_warmup_with_a_first_day_is_scheduled(mailhost: MailHostPlan) -> None:
    assert mailhost.warmups == (("dave@acme-outreach.com", "2026-11-30", 3, 2),)
    files = render.render(mailhost, {(d, s): "PEM" for d, s in mailhost.dkim})
    assert files[render.WARMUP_SCHEDULE].content == (
        '{\n "dave@acme-outreach.com": {\n  "increment_per_day": 2,\n  "start": "2026-11-30",\n  "start_per_day": 3\n }\n}\n'
    )


def _limits_on(day: str, mailhost: MailHostPlan, tmp_path: Path) -> dict[str, list[list[int]]]:
    """policyd-rate-limit's own reading of the file the shipped script writes for `day`."""
    files = render.render(mailhost, {(d, s): "PEM" for d, s in mailhost.dkim})
    release = tmp_path / "release"
    for rel in (render.RATE_LIMIT_CONFIG, render.WARMUP_SCHEDULE, render.WARMUP_SCRIPT):
        (release / rel).parent.mkdir(parents=True, exist_ok=True)
        (release / rel).write_text(files[rel].content)
    out = tmp_path / "run" / "policyd-rate-limit.yaml"
    subprocess.run(["sh", "-c", apply.warmup_caps(str(release), str(out), day)], check=True)
    read = ["policyd-rate-limit", "-f", str(out), "--get-config", "limits_by_id"]
    limits: dict[str, list[list[int]]] = ast.literal_eval(subprocess.check_output(read, text=True))
    return limits


@pytest.mark.parametrize(("day", "cap"), [("2026-11-20", 3), ("2026-11-30", 3), ("2026-12-02", 7), ("2027-01-01", 30)])
def test_the_days_file_is_what_policyd_rate_limit_reads(
    day: str, cap: int, mailhost: MailHostPlan, tmp_path: Path
) -> None:
    limits = _limits_on(day, mailhost, tmp_path)
    assert limits["dave@acme-outreach.com"] == [[cap, 86400]]
    assert limits["bob@acme-mail.com"] == [[40, 86400]] and limits["erin@acme-outreach.com"] == [[30, 86400]]


def test_a_broken_schedule_fails_the_script_loudly(mailhost: MailHostPlan, tmp_path: Path) -> None:
    _limits_on("2026-12-02", mailhost, tmp_path)
    (tmp_path / "release" / render.WARMUP_SCHEDULE).write_text('{"nobody@acme-mail.com": {"start": "2026-11-30"}}')
    done = subprocess.run(
        ["sh", "-c", apply.warmup_caps(str(tmp_path / "release"), str(tmp_path / "x"))], capture_output=True, text=True
    )
    assert done.returncode == 1 and "nobody@acme-mail.com is scheduled to warm up but has no daily limit" in done.stderr
    assert not (tmp_path / "x").exists()


def test_systemd_starts_the_daemon_with_the_days_file_and_turns_the_day(tmp_path: Path) -> None:
    units = tmp_path / "units"
    for path, text in apply.UNITS.items():
        target = units / path.removeprefix("/etc/systemd/system/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    names = [p.rsplit("/", 1)[1] for p in apply.UNITS if p.endswith((".service", ".timer"))]
    env = {"SYSTEMD_UNIT_PATH": f"{units}:", "PATH": "/usr/bin:/bin"}
    verified = subprocess.run(
        ["systemd-analyze", "verify", "policyd-rate-limit.service", *names], capture_output=True, text=True, env=env
    )
    assert verified.returncode == 0, verified.stderr
    assert str(units) not in verified.stderr  # nothing in our files was ignored
    drop_in = apply.UNITS["/etc/systemd/system/policyd-rate-limit.service.d/mailbox-iac.conf"]
    assert f"ExecStartPre={apply.warmup_caps()}\n" in drop_in
    assert f"ExecStart=\nExecStart=/usr/bin/policyd-rate-limit -f {render.RATE_LIMIT_LIVE}\n" in drop_in
    timer = apply.UNITS[f"/etc/systemd/system/{apply.WARMUP_DAY}.timer"]
    when = next(line.split("=", 1)[1] for line in timer.splitlines() if line.startswith("OnCalendar="))
    calendar = subprocess.run(["systemd-analyze", "calendar", when], capture_output=True, text=True, env=env)
    assert "Normalized form: *-*-* 00:00:05 UTC" in calendar.stdout, calendar.stdout
