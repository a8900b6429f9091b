"""The demo tenant on the sandbox with the real engine: converge, no-op preview, real mail with DKIM
verified through the sandbox DNS, drift in Cloudflare, on the host and in Hostwinds found and repaired,
one added mailbox adds exactly that, destroy leaves nothing behind."""

from __future__ import annotations

import contextlib
import csv
import imaplib
import io
import shutil
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import dns.resolver
import httpx
import instantlyai
import psycopg
import pytest
from pulumi import automation as auto

from mailbox_iac.engine import Engine
from mailbox_iac.program import main as tenant_program
from mailbox_iac.sandbox import instantly, run
from mailbox_iac.sandbox.logins import login_test
from tests.conftest import REPO
from tests.mailhost.conftest import TLS

ZONES = ["demo-a.example", "demo-b.example"]


class Demo:
    """A tenant stack of the sandbox (the demo unless told), driven through the Automation API."""

    def __init__(self, root: Path, info: dict[str, Any], tenant: str = "demo") -> None:
        self.root, self.info = root, info
        self.stack = Engine.local(run.state_dir(root), root, env=run.environment(info)).stack(
            tenant, lambda: tenant_program(root)
        )
        self.stack.set_config("mailbox-iac:spec", auto.ConfigValue(str(root / "specs" / f"{tenant}.yaml")))
        host, port = info["dns"].split(":")
        self.resolver = dns.resolver.Resolver(configure=False)
        self.resolver.nameservers, self.resolver.port = [host], int(port)
        self.first_steps: list[tuple[str, str]] = []

    def up(self, **kw: Any) -> list[tuple[str, str]]:
        """Run `up`; return the (op, resource name) of every step that changed something."""
        steps: list[tuple[str, str]] = []

        def on_event(event: auto.EngineEvent) -> None:
            pre = event.resource_pre_event
            if (
                pre
                and pre.metadata.op not in (auto.OpType.SAME, auto.OpType.READ, auto.OpType.REFRESH)
                and not any(kind in pre.metadata.urn for kind in ("::pulumi:providers:", "::pulumi:pulumi:Stack::"))
            ):
                steps.append((pre.metadata.op.value, pre.metadata.urn.rsplit("::", 1)[-1]))

        self.stack.up(on_event=on_event, show_secrets=False, color="never", **kw)
        return steps

    def no_drift(self) -> None:
        self.stack.refresh(preview_only=True, expect_no_changes=True, show_secrets=False, color="never")

    def drift_found(self) -> None:
        with pytest.raises(auto.CommandError, match="code: 7"):
            self.no_drift()

    def hostwinds(self) -> dict[str, Any]:
        return httpx.get(self.info["hostwinds_url"].replace("/cloud/api.php", "/_emulator/state")).json()

    def cloudflare(self) -> dict[str, Any]:
        return httpx.get(self.info["cloudflare_url"].replace("/client/v4", "/_emulator/state")).json()

    def address_of(self, name: str) -> str:
        return str(self.resolver.resolve(name, "A")[0])

    def export(self, *options: str) -> str:
        """`mailbox-iac export` of the stack, as a user runs it."""
        argv = [sys.executable, "-m", "mailbox_iac", "export", "-s", "demo", "--sandbox", *options]
        done = subprocess.run(argv, cwd=self.root, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def txt(self, name: str) -> str:
        return "".join(s.decode() for s in self.resolver.resolve(name, "TXT")[0].strings)


@contextlib.contextmanager
def demo_project(root: Path) -> Iterator[Demo]:
    """A copy of the demo tenant in `root` with its own sandbox, torn down afterwards."""
    shutil.copy(REPO / "Pulumi.yaml", root)
    (root / "specs").mkdir()
    (root / "stacks").mkdir()
    shutil.copy(REPO / "specs" / "demo.yaml", root / "specs")
    shutil.copy(REPO / "stacks" / "Pulumi.demo.yaml", root / "stacks")
    info = run.up(root, ZONES, build_seconds=0.5)
    try:
        yield Demo(root, info)
    finally:
        run.down(root)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo converged. Every test leaves it converged as it found it (a test that changes the spec, the
    host or the world puts it back), so any one of them runs alone or in any order."""
    with demo_project(tmp_path_factory.mktemp("project")) as d:
        d.first_steps = d.up()
        yield d


def test_demo_converges_and_a_second_run_changes_nothing(demo: Demo) -> None:
    steps = demo.first_steps
    # budget, 2 SSH keys, server, rDNS, 2 DKIM keys, 19 DNS records, 2 DKIM publication gates, mail host,
    # certificate, 3 x (password, mailbox, Instantly account), 2 domains' readiness gates
    assert len([s for s in steps if s[0] == "create"]) == 41
    assert demo.up() == []
    demo.stack.preview(expect_no_changes=True, color="never")
    mailboxes = demo.stack.outputs()["mailboxes"].value
    assert {a: m["ready"] for a, m in mailboxes.items()} == dict.fromkeys(mailboxes, True)
    verify = subprocess.run(
        [sys.executable, "-m", "mailbox_iac", "verify", "--stack", "demo", "--sandbox"],
        cwd=demo.root,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count(" ready ") == 3
    [server] = demo.hostwinds()["instances"]
    assert server["status"] == "ACTIVE"
    ptr = demo.resolver.resolve(dns.reversename.from_address(server["main_ip"]), "PTR")[0]
    assert str(ptr.target) == "mail.demo-a.example."


def test_real_mail_with_dkim_verified_through_dns(demo: Demo) -> None:
    outputs = demo.stack.outputs()
    passwords = outputs["mailbox_passwords"].value
    assert outputs["mailbox_passwords"].secret
    ip = outputs["servers"].value["mx1"]["ip"]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ada@demo-a.example", "linus@demo-b.example", "e2e-demo"
    msg.set_content("sent through the sandbox")
    with smtplib.SMTP(ip, 587, timeout=20) as s:
        s.starttls(context=TLS)
        s.login("ada@demo-a.example", passwords["ada@demo-a.example"])
        s.send_message(msg)
    raw = b""
    deadline = time.monotonic() + 30
    while not raw and time.monotonic() < deadline:
        im = imaplib.IMAP4_SSL(ip, 993, ssl_context=TLS, timeout=20)
        im.login("linus@demo-b.example", passwords["linus@demo-b.example"])
        im.select("INBOX")
        _, found = im.search(None, "SUBJECT", '"e2e-demo"')
        if found[0]:
            raw = bytes(im.fetch(found[0].split()[-1], "(RFC822)")[1][0][1])  # type: ignore[index]
        im.logout()
        time.sleep(0.3)
    assert b"s=demo1" in raw

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return demo.txt(name.decode().rstrip(".")).encode()

    assert dkim.verify(raw, dnsfunc=dnsfunc)


def test_instantly_import_file_logs_in_like_a_sequencer(demo: Demo) -> None:
    """`export --format instantly-csv --show-secrets` as a sequencer would read it: every row's IMAP and SMTP
    settings and passwords log in, with the certificate verified for the host the file names."""
    rows = list(csv.DictReader(io.StringIO(demo.export("--format", "instantly-csv", "--show-secrets"))))
    assert sorted(r["Email"] for r in rows) == ["ada@demo-a.example", "grace@demo-a.example", "linus@demo-b.example"]
    verified = ssl.create_default_context(cafile=demo.info["tls_roots"])
    chain_only = ssl.create_default_context(cafile=demo.info["tls_roots"])
    chain_only.check_hostname = False  # the logins connect to the address; the name is checked just before
    for row in rows:
        ip = demo.address_of(row["IMAP Host"])
        raw = socket.create_connection((ip, int(row["IMAP Port"])), timeout=20)
        verified.wrap_socket(raw, server_hostname=row["IMAP Host"]).close()  # good for the name the file gives
        imap = imaplib.IMAP4_SSL(ip, int(row["IMAP Port"]), ssl_context=chain_only)
        assert imap.login(row["IMAP Username"], row["IMAP Password"])[0] == "OK"
        imap.logout()
        with smtplib.SMTP(ip, int(row["SMTP Port"]), timeout=20) as smtp:
            smtp.starttls(context=chain_only)
            assert smtp.login(row["SMTP Username"], row["SMTP Password"])[0] == 235


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_registry_holds_the_demos_rows(demo: Demo, kind: str, request: pytest.FixtureRequest) -> None:
    """`export --to` of the deployed demo, as a warm-up engine or an inbox would read it back."""
    url = f"sqlite:///{demo.root}/registry.db" if kind == "sqlite" else request.getfixturevalue("postgres")
    assert "1 tenants, 1 servers, 2 domains, 3 mailboxes; passwords not written" in demo.export("--to", url)
    query = (
        "SELECT m.address, m.smtp_host, s.ip FROM mailboxes m JOIN servers s ON s.tenant = m.tenant "
        "WHERE m.tenant = 'demo' ORDER BY 1"  # the core tests' tenants may share the PostgreSQL server
    )
    if kind == "sqlite":
        with sqlite3.connect(f"{demo.root}/registry.db") as conn:
            found = [tuple(r) for r in conn.execute(query)]
    else:
        with psycopg.connect(url) as conn:
            found = [tuple(r) for r in conn.execute(query)]
    ip = demo.stack.outputs()["servers"].value["mx1"]["ip"]
    assert found == [
        ("ada@demo-a.example", "mail.demo-a.example", ip),
        ("grace@demo-a.example", "mail.demo-a.example", ip),
        ("linus@demo-b.example", "mail.demo-a.example", ip),
    ]


def test_the_instantly_emulators_connection_test_logs_in_to_the_host(demo: Demo) -> None:
    """The emulated Instantly tests a new account as Instantly does, over real SMTP and IMAP logins to the
    demo's host: the deployed passwords connect (status 1); a wrong one is a connection error carrying the
    host's own SMTP reply. Driven by the instantlyai SDK."""
    passwords = demo.stack.outputs()["mailbox_passwords"].value
    emu = instantly.InstantlyEmulator({"k"}, connection_test=login_test(demo.address_of))
    server = instantly.serve(emu)
    rows = list(csv.DictReader(io.StringIO(demo.export("--format", "instantly-csv"))))
    try:
        with instantlyai.Instantly(api_key="k", base_url=f"http://127.0.0.1:{server.server_address[1]}") as client:
            made = {}
            for row in rows:
                fields = {
                    "email": row["Email"],
                    "first_name": row["First Name"],
                    "last_name": row["Last Name"],
                    "provider_code": 1,
                    "imap_username": row["IMAP Username"],
                    "imap_password": passwords[row["Email"]],
                    "imap_host": row["IMAP Host"],
                    "imap_port": int(row["IMAP Port"]),
                    "smtp_username": row["SMTP Username"],
                    "smtp_password": passwords[row["Email"]],
                    "smtp_host": row["SMTP Host"],
                    "smtp_port": int(row["SMTP Port"]),
                }
                if row["Email"].startswith("grace@"):
                    fields["smtp_password"] = fields["imap_password"] = "not-" + passwords[row["Email"]]
                made[row["Email"]] = client.accounts.create(**fields)
    finally:
        server.shutdown()
    status = {address: int(a.status.value) if a.status else 0 for address, a in made.items()}
    assert status == {"ada@demo-a.example": 1, "grace@demo-a.example": -1, "linus@demo-b.example": 1}
    problem = made["grace@demo-a.example"].status_message
    assert problem is not None and problem.responseCode == 535 and problem.command == "AUTH PLAIN"
    assert problem.response is not None and problem.response.startswith("535 ")


def test_no_secret_in_plaintext_state(demo: Demo) -> None:
    state = "".join(p.read_text() for p in (run.state_dir(demo.root) / "backend").rglob("*.json"))
    passwords = demo.stack.outputs()["mailbox_passwords"].value
    assert passwords and all(pw not in state for pw in passwords.values())
    for marker in ("PRIVATE KEY-----", run.HOSTWINDS_KEY, run.CLOUDFLARE_TOKEN, "$argon2id$"):
        assert marker not in state
    assert "ciphertext" in state  # the secrets are there, encrypted


def test_drift_in_cloudflare_is_found_and_repaired(demo: Demo) -> None:
    demo.no_drift()
    records = demo.cloudflare()["records"]["demo-a.example"]
    dmarc = next(r for r in records if r["name"] == "_dmarc.demo-a.example")
    zone = next(z["id"] for z in demo.cloudflare()["zones"] if z["name"] == "demo-a.example")
    httpx.delete(
        f"{demo.info['cloudflare_url']}/zones/{zone}/dns_records/{dmarc['id']}",
        headers={"Authorization": f"Bearer {run.CLOUDFLARE_TOKEN}"},
    ).raise_for_status()
    with pytest.raises(dns.resolver.NXDOMAIN):
        demo.txt("_dmarc.demo-a.example")
    demo.drift_found()
    demo.up(refresh=True)
    assert demo.txt("_dmarc.demo-a.example").startswith("v=DMARC1; p=quarantine")
    demo.no_drift()


def test_config_files_changed_on_the_host_are_found_and_repaired(demo: Demo) -> None:
    [server] = demo.hostwinds()["instances"]
    release = demo.root / ".state/sandbox/vps" / str(server["serviceid"]) / "etc/mailbox-iac/current"
    main_cf, policy = release.resolve() / "postfix" / "main.cf", release.resolve() / "mta-sts/demo-a.example.txt"
    original, planned = main_cf.read_text(), policy.read_text()
    main_cf.write_text(original + "smtpd_helo_required = no\n")
    policy.write_text(planned.replace("mode: enforce", "mode: none").replace("mode: testing", "mode: none"))
    demo.drift_found()
    verify = subprocess.run(
        [sys.executable, "-m", "mailbox_iac", "verify", "--stack", "demo", "--sandbox"],
        cwd=demo.root,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 2 and "error: mta_sts.policy demo-a.example: serves " in verify.stdout, verify.stdout
    assert "mta_sts.policy demo-b.example" not in verify.stdout  # its own policy is untouched
    demo.up(refresh=True)
    live = (demo.root / ".state/sandbox/vps" / str(server["serviceid"]) / "etc/mailbox-iac/current").resolve()
    assert (live / "postfix" / "main.cf").read_text() == original
    assert (live / "mta-sts/demo-a.example.txt").read_text() == planned
    demo.no_drift()


def test_adding_one_mailbox_adds_exactly_that(demo: Demo) -> None:
    spec = demo.root / "specs" / "demo.yaml"
    original = spec.read_text()
    spec.write_text(
        original.replace(
            "      - {local: grace, name: Grace Hopper}\n", "      - {local: grace, name: Grace Hopper}\n      - hedy\n"
        )
    )
    try:
        steps = demo.up()
        assert "hedy@demo-a.example" in demo.stack.outputs()["mailboxes"].value
    finally:
        spec.write_text(original)
    removed = demo.up()  # hedy goes again: the next test finds the demo as it was
    assert ("delete", "mailbox-hedy@demo-a.example") in removed
    assert sorted(steps) == sorted(
        [
            ("create", "password-hedy@demo-a.example"),
            ("create", "mailbox-hedy@demo-a.example"),
            ("create", "sequencer-outreach-hedy@demo-a.example"),
            ("update", "mailhost-mx1"),
            ("update", "change-budget"),
        ]
    )


def test_a_server_terminated_behind_our_back_is_found_and_rebuilt(demo: Demo) -> None:
    [server] = demo.hostwinds()["instances"]
    httpx.post(
        demo.info["hostwinds_url"],
        data={"action": "terminate", "API": run.HOSTWINDS_KEY, "serviceid": server["serviceid"]},
    ).raise_for_status()
    demo.drift_found()
    demo.up(refresh=True)
    [rebuilt] = demo.hostwinds()["instances"]
    assert rebuilt["serviceid"] != server["serviceid"] and rebuilt["status"] == "ACTIVE"
    assert demo.resolver.resolve("mail.demo-a.example", "A")[0].to_text() == rebuilt["main_ip"]
    demo.stack.preview(expect_no_changes=True, color="never")


def test_destroy_leaves_nothing_behind(demo: Demo) -> None:
    demo.stack.destroy(show_secrets=False, color="never")
    assert demo.hostwinds()["instances"] == []
    assert all(recs == [] for recs in demo.cloudflare()["records"].values())
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "mbx-s" not in namespaces
    demo.up()  # back, for whichever test runs next
