"""Drift detection on the sandbox with the real engine: each layer found and classified, undeclared
records (a second SPF, a stray MX) found, the ignore file honoured, exit codes 0 clean / 2 drift, and a
spec edit not applied yet is not drift. Health on the same tenant: a blocklist listing found and cleared,
a list refusing the resolver reported as such, port 25 closed by the provider, a deferred queue and a
bounce found and cleared."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from mailbox_iac.sandbox import dnsbl, run
from tests.conftest import REPO
from tests.e2e.test_demo import ZONES, Demo
from tests.e2e.test_tls import Host


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("drift")
    shutil.copy(REPO / "Pulumi.yaml", root)
    for folder, name in (("specs", "demo.yaml"), ("stacks", "Pulumi.demo.yaml")):
        (root / folder).mkdir()
        shutil.copy(REPO / folder / name, root / folder)
    info = run.up(root, ZONES, build_seconds=0.5)
    try:
        d = Demo(root, info)
        d.up()
        yield d
        d.stack.destroy(show_secrets=False, color="never")
    finally:
        run.down(root)


def drift_report(demo: Demo, tenant: str = "demo") -> tuple[int, dict[str, Any]]:
    """`mailbox-iac drift` of a tenant (the demo unless told): its exit code and its JSON report."""
    result = subprocess.run(
        [sys.executable, "-m", "mailbox_iac", "drift", "--tenants", tenant, "--sandbox", "--format", "json"],
        cwd=demo.root,
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 2), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def drift(demo: Demo) -> tuple[int, list[dict[str, Any]]]:
    code, report = drift_report(demo)
    return code, report["findings"]


def cloudflare(demo: Demo, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.request(
        method,
        demo.info["cloudflare_url"] + path,
        json=body,
        headers={"Authorization": f"Bearer {run.CLOUDFLARE_TOKEN}"},
    )
    response.raise_for_status()
    return response.json()["result"]


def zone_id(demo: Demo) -> str:
    return str(cloudflare(demo, "GET", "/zones?name=demo-a.example")[0]["id"])


def test_clean_stack_has_no_drift(demo: Demo) -> None:
    assert drift(demo) == (0, [])


def test_a_no_op_drift_logs_in_once_per_host_and_lists_each_zone_once(demo: Demo) -> None:
    """What a drift run costs, counted by the host's sshd and the Cloudflare emulator: at most two SSH
    logins for the mail host (MailHost, Certificates and three Mailboxes read over kept sessions) and two
    Cloudflare calls per zone (the zone, one page of its records), not one per record."""
    [server] = demo.hostwinds()["instances"]
    auth_log = demo.root / ".state/sandbox/vps" / str(server["serviceid"]) / "var/log/auth.log"
    logins = auth_log.read_text().count("Accepted publickey")
    calls = sum(demo.cloudflare()["answered"].values())
    assert drift(demo) == (0, [])
    assert 1 <= auth_log.read_text().count("Accepted publickey") - logins <= 2
    assert sum(demo.cloudflare()["answered"].values()) - calls <= 2 * len(ZONES)


def test_a_tenant_never_deployed_is_reported_as_such(demo: Demo) -> None:
    copies = [demo.root / "specs" / "acme.yaml", demo.root / "stacks" / "Pulumi.acme.yaml"]
    for copy in copies:
        shutil.copy(REPO / copy.parent.name / copy.name, copy)
    try:
        runs = {
            fmt: subprocess.run(
                [sys.executable, "-m", "mailbox_iac", "drift", "--tenants", "all", "--sandbox", "--format", fmt],
                cwd=demo.root,
                capture_output=True,
                text=True,
            )
            for fmt in ("markdown", "json")
        }
    finally:
        for copy in copies:
            copy.unlink()
    assert runs["markdown"].returncode == 0, runs["markdown"].stdout + runs["markdown"].stderr
    assert runs["markdown"].stdout == "No drift in 1 tenant(s): demo.\nNot deployed yet (no stack): acme.\n"
    assert runs["json"].returncode == 0 and json.loads(runs["json"].stdout)["not_deployed"] == ["acme"]


def test_a_spec_edited_but_not_applied_is_not_drift(demo: Demo) -> None:
    """Drift compares the world with what the stack deployed: a new DKIM selector and a stricter DMARC
    policy in the working tree wait for `up` (and no placeholder such as `p=<dkim_key:...>` is asked for)."""
    spec = demo.root / "specs" / "demo.yaml"
    applied = spec.read_text()
    spec.write_text(
        applied.replace("selector: demo1", "selector: demo2").replace("policy: quarantine", "policy: reject")
    )
    try:
        code, report = drift_report(demo)
    finally:
        spec.write_text(applied)
    assert code == 0 and report["findings"] == [], report
    assert "<dkim_key:" not in json.dumps(report)
    # reported apart: the new selector's key and record, the old record's deletion, the DMARC update (at least)
    assert report["not_applied"]["demo"] >= 4, report


def test_records_nobody_declared_are_found_and_can_be_ignored(demo: Demo) -> None:
    zid = zone_id(demo)
    spf = cloudflare(
        demo,
        "POST",
        f"/zones/{zid}/dns_records",
        {"type": "TXT", "name": "demo-a.example", "content": '"v=spf1 include:evil.example ~all"', "ttl": 300},
    )
    mx = cloudflare(
        demo,
        "POST",
        f"/zones/{zid}/dns_records",
        {"type": "MX", "name": "demo-a.example", "content": "mx.evil.example", "priority": 5, "ttl": 300},
    )
    code, findings = drift(demo)
    assert code == 2
    assert {(f["layer"], f["resource"]) for f in findings} == {
        ("dns-undeclared", "TXT demo-a.example"),
        ("dns-undeclared", "MX demo-a.example"),
    }
    assert "v=spf1 include:evil.example ~all" in next(f["differs"] for f in findings if f["resource"].startswith("TXT"))
    (demo.root / "drift-ignore.yaml").write_text("- {tenant: demo, type: MX, name: demo-a.example}\n")
    code, findings = drift(demo)
    assert code == 2 and [f["resource"] for f in findings] == ["TXT demo-a.example"]
    for record in (spf, mx):
        cloudflare(demo, "DELETE", f"/zones/{zid}/dns_records/{record['id']}")
    (demo.root / "drift-ignore.yaml").unlink()
    assert drift(demo) == (0, [])


def test_each_layer_is_found_and_classified(demo: Demo) -> None:
    zid = zone_id(demo)
    dmarc = next(r for r in cloudflare(demo, "GET", f"/zones/{zid}/dns_records?name=_dmarc.demo-a.example"))
    cloudflare(demo, "DELETE", f"/zones/{zid}/dns_records/{dmarc['id']}")
    [server] = demo.hostwinds()["instances"]
    main_cf = (
        demo.root / ".state/sandbox/vps" / str(server["serviceid"]) / "etc/mailbox-iac/current"
    ).resolve() / "postfix/main.cf"
    main_cf.write_text(main_cf.read_text() + "smtpd_helo_required = no\n")
    httpx.post(
        demo.info["hostwinds_url"].replace("/cloud/api.php", f"/_emulator/instances/{server['serviceid']}"),
        json={"srvrname": "renamed-by-hand"},
    ).raise_for_status()
    code, findings = drift(demo)
    assert code == 2
    by_layer = {(f["layer"], f["resource"]) for f in findings}
    assert ("cloudflare", "DnsRecord dns-TXT-_dmarc.demo-a.example") in by_layer
    assert ("dns", "TXT _dmarc.demo-a.example") in by_layer
    assert ("host", "MailHost mailhost-mx1") in by_layer
    assert ("hostwinds", "Instance server-mx1") in by_layer
    assert all(f["fix"] for f in findings)
    demo.up(refresh=True)
    assert drift(demo) == (0, [])


def health(demo: Demo, *options: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "mailbox_iac", "health", "--tenants", "demo", "--sandbox", "--format", "json", *options],
        cwd=demo.root,
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 2), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def in_a_browser(demo: Demo) -> str:
    """The health page as headless Chromium renders it on a phone-sized window: its text, row by row (and a
    screenshot beside it, for a person to look at)."""
    page = demo.root / "health.html"
    subprocess.run(
        [sys.executable, "-m", "mailbox_iac", "health", "--tenants", "demo", "--sandbox", "--format", "html"]
        + ["--output", str(page)],
        cwd=demo.root,
        capture_output=True,
    )
    chromium = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=412,915"]
    shot = subprocess.run([*chromium, f"--screenshot={page.with_suffix('.png')}", page.as_uri()], capture_output=True)
    assert shot.returncode == 0 and page.with_suffix(".png").read_bytes().startswith(b"\x89PNG"), shot.stderr
    dom = subprocess.run([*chromium, "--dump-dom", page.as_uri()], capture_output=True, text=True, check=True).stdout
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", dom, re.S) + re.findall(r"<h2>(.*?)</h2>", dom)
    return "\n".join(" ".join(html.unescape(t).strip() for t in re.findall(r">([^<]+)<", f">{r}<")) for r in rows)


def failing(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["id"], r["subject"], r["detail"]) for r in report["tenants"]["demo"] if not r["ok"]]


def test_health_finds_a_listed_address_and_a_refusing_list_and_clears(demo: Demo) -> None:
    """The demo's server address and two domains against the default lists, asked of the sandbox DNS (its
    blocklist zones answer NXDOMAIN unless told otherwise)."""
    code, report = health(demo)
    assert code == 0 and report["healthy"], report
    healthy = in_a_browser(demo)
    assert "demo: healthy" in healthy and "ok ada@demo-a.example" in healthy
    checks = [r["id"] for r in report["tenants"]["demo"]]
    # 1 address x 5 IP lists, 2 domains x 2 domain lists; certificates on 25, 465, 587, 993 and 2 MTA-STS hosts
    assert checks.count("blocklist.ip") == 5 and checks.count("blocklist.domain") == 4
    assert checks.count("tls.days-left") == 6
    deployed = [
        r for r in (demo.stack.export_stack().deployment or {})["resources"] if r["type"].startswith("cloudflare:")
    ]
    assert checks.count("dns.record") == len([r for r in deployed if "DnsRecord" in r["type"]]) > 10
    [server] = httpx.get(demo.info["hostwinds_url"].replace("/cloud/api.php", "/_emulator/state")).json()["instances"]
    ip, base = server["main_ip"], run.state_dir(demo.root)
    try:
        dnsbl.answer(base, ip, "Spamhaus ZEN", "127.0.0.2")
        dnsbl.answer(base, "demo-b.example", "Spamhaus DBL", "127.0.1.2")
        code, report = health(demo)
        assert code == 2 and not report["healthy"]
        page = in_a_browser(demo)
        assert f"error blocklist.ip {ip} on Spamhaus ZEN listed on Spamhaus ZEN" in page
        assert "demo: 2 problem(s)" in page and "ok tls.days-left mail.demo-a.example" in page
        assert failing(report) == [
            ("blocklist.ip", f"{ip} on Spamhaus ZEN", "listed on Spamhaus ZEN (zen.spamhaus.org answered 127.0.0.2)"),
            (
                "blocklist.domain",
                "demo-b.example on Spamhaus DBL",
                "listed on Spamhaus DBL (dbl.spamhaus.org answered 127.0.1.2)",
            ),
        ]
        dnsbl.answer(base, "demo-b.example", "Spamhaus DBL", None)
        dnsbl.answer(base, ip, "Spamhaus ZEN", "127.255.255.254")  # asked through a public resolver
        code, report = health(demo)
        [(check, subject, detail)] = failing(report)
        assert code == 2 and check == "blocklist.unanswered" and subject == f"{ip} on Spamhaus ZEN"
        assert "127.255.255.254" in detail and "public or open resolver" in detail
        assert f"warning blocklist.unanswered {ip} on Spamhaus ZEN zen.spamhaus.org answered 127.255.255.254" in (
            in_a_browser(demo)
        )
    finally:
        dnsbl.answer(base, ip, "Spamhaus ZEN", None)
    assert health(demo)[0] == 0


def test_health_judges_every_certificate_the_host_serves_as_of_a_day(demo: Demo) -> None:
    """Pebble's certificates last years: asked as of 10 and then 3 days before the first expires, every
    certificate served (SMTP after STARTTLS, 465, 993, the MTA-STS hosts) is a warning, then an error."""
    _, report = health(demo)
    certificates = [r for r in report["tenants"]["demo"] if r["id"] == "tls.days-left"]
    assert len(certificates) == 6 and all(r["ok"] for r in certificates), certificates
    assert {r["subject"].rsplit(":", 1)[1] for r in certificates} == {"25)", "465)", "587)", "993)", "443)"}
    first = min(date.fromisoformat(r["detail"].rsplit("expires ", 1)[1].rstrip(")")) for r in certificates)
    code, soon = health(demo, "--as-of", str(first - timedelta(days=10)))
    assert code == 2 and {(r["id"], r["ok"]) for r in soon["tenants"]["demo"] if r["id"].startswith("tls.")} == {
        ("tls.days-left", False)
    }
    code, lapsing = health(demo, "--as-of", str(first - timedelta(days=3)))
    assert code == 2 and sorted(r["id"] for r in lapsing["tenants"]["demo"] if not r["ok"]) == ["tls.lapsing"] * 6


def test_health_finds_port_25_closed_a_queue_and_bounces_and_clears(demo: Demo) -> None:
    """The sandbox's provider closes the host's port 25 out (nftables in its namespace, outside the host's own
    table): the host's probe of the sandbox MX fails, mail to another server waits in the deferred queue,
    mail to an address nobody has bounces. health.yaml's thresholds of 0 make each one count."""
    host = Host(demo)
    receiver = demo.info["receiver"]
    (demo.root / "health.yaml").write_text("max_deferred: 0\nmax_bounces_24h: 0\n")
    try:
        code, report = health(demo)
        assert code == 0, failing(report)
        checks = [r["id"] for r in report["tenants"]["demo"]]
        assert [checks.count(c) for c in ("host.ssh", "reach.outbound-25", "reach.identity")] == [1, 1, 1]
        assert checks.count("reach.inbound") == 3 and "queue.deferred" in checks and "queue.bounces" in checks
        run.close_outbound(demo.root, host.ip)
        for to in ("nobody@demo-a.example", f"probe@[{receiver.split(':')[0]}]"):
            sent = host.inside(f"printf 'Subject: health\\n\\nhi\\n' | sendmail -f postmaster@demo-a.example '{to}'")
            assert sent.returncode == 0, sent.stderr
        waited = host.inside(
            "for i in $(seq 60); do postqueue -j | grep -q deferred && "
            "grep -q ' status=bounced ' /var/log/mailbox-iac/postfix.log && exit 0; sleep 0.5; done; exit 1"
        )
        assert waited.returncode == 0, host.inside("postqueue -p; tail -n 30 /var/log/mailbox-iac/postfix.log").stdout
        code, report = health(demo)
        assert code == 2 and failing(report) == [
            ("reach.outbound-25", f"{host.ip} -> {receiver}", "no connection: Connection refused"),
            ("queue.deferred", host.ip, "1 deferred (threshold 0)"),
            ("queue.bounces", host.ip, "1 bounced in 24 h (threshold 0)"),
        ]
        page = in_a_browser(demo)
        assert f"error reach.outbound-25 {host.ip} -> {receiver} no connection: Connection refused" in page
        assert f"warning queue.bounces {host.ip} 1 bounced in 24 h (threshold 0)" in page
        assert f"ok reach.identity {host.ip}" in page and "demo: 3 problem(s)" in page
        assert "error ada@demo-a.example" in page and "error linus@demo-b.example" in page  # all on that host
        run.close_outbound(demo.root, host.ip, closed=False)
        assert host.inside("postsuper -d ALL deferred").returncode == 0
        code, report = health(demo, "--as-of", str(date.today() + timedelta(days=2)))  # the bounce is 2 days old
        assert code == 0, failing(report)
    finally:
        run.close_outbound(demo.root, host.ip, closed=False)
        (demo.root / "health.yaml").unlink()
