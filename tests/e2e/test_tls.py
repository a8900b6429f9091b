"""TLS and hardening on the sandbox with the real engine: Pebble issues the certificates certbot asks for,
Postfix, Dovecot and nginx serve them, and the host is closed to everything else."""

from __future__ import annotations

import imaplib
import json
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paramiko
import pytest

from mailbox_iac.checks.login import Submission
from mailbox_iac.dns import records
from mailbox_iac.mailhost import harden
from tests.e2e.outsider import ADDRESS as STRANGER
from tests.e2e.outsider import outsider, python_in
from tests.e2e.test_demo import Demo, demo_project

HOSTNAME = "mail.demo-a.example"


class Host:
    def __init__(self, demo: Demo, label: str = "mbx-demo-mx1") -> None:
        state = demo.hostwinds()
        [server] = [i for i in state["instances"] if i["srvrname"] == label]
        self.ip: str = server["main_ip"]
        self.hostname: str = state["rdns"][self.ip]  # its mail hostname, as its PTR names it
        self.netns = f"mbx-s{server['serviceid']}"
        self.roots = demo.info["tls_roots"]
        vps = demo.root / ".state/sandbox/vps" / str(server["serviceid"]) / "vps.json"
        self.pid = json.loads(vps.read_text())["pid"]  # its sshd: in the host's network and mount namespaces

    def trust(self) -> ssl.SSLContext:
        """Pebble's root only: nothing else can make a certificate verify."""
        return ssl.create_default_context(cafile=self.roots)

    def inside(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run a shell script on the host, as its console would."""
        return subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "-n", "-u", "sh", "-c", script], capture_output=True, text=True
        )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with demo_project(tmp_path_factory.mktemp("tls")) as d:
        d.up()  # readiness already logs in over 993 and 587 verifying the certificate
        yield d


@pytest.fixture(scope="module")
def host(demo: Demo) -> Host:
    return Host(demo)


def served_certificate(host: Host, port: int, name: str = HOSTNAME) -> dict[str, Any]:
    """Handshake on `port` verifying against Pebble's root for `name` (the mail hostname unless told)."""
    tls = host.trust()
    if port == 587:
        with Submission(host.ip, HOSTNAME) as smtp:  # STARTTLS verifies the name, not the IP
            smtp.starttls(context=tls)
            sock: Any = smtp.sock
            return {**sock.getpeercert(), "version": sock.version()}
    with (
        socket.create_connection((host.ip, port), timeout=20) as raw,
        tls.wrap_socket(raw, server_hostname=name) as s,
    ):
        return {**(s.getpeercert() or {}), "version": s.version()}


@pytest.mark.parametrize("port", [465, 587, 993])
def test_pebble_certificates_are_served_and_verify(host: Host, port: int) -> None:
    cert = served_certificate(host, port)
    assert {v for k, v in cert["subjectAltName"] if k == "DNS"} == {HOSTNAME}  # no tenant domain in it
    assert "Pebble" in str(cert["issuer"])
    assert cert["version"] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("name", ["mta-sts.demo-a.example", "mta-sts.demo-b.example"])
def test_each_policy_host_has_a_certificate_naming_it_alone(host: Host, name: str) -> None:
    cert = served_certificate(host, 443, name)
    assert {v for k, v in cert["subjectAltName"] if k == "DNS"} == {name}
    assert "Pebble" in str(cert["issuer"])


@pytest.mark.parametrize("port", [465, 993, 443])
def test_tls_older_than_1_2_is_refused(host: Host, port: int) -> None:
    def handshake(version: str) -> subprocess.CompletedProcess[str]:
        # SECLEVEL=0 lets this client offer TLS 1.1 at all: whatever refuses it then is the server.
        argv = ["openssl", "s_client", "-connect", f"{host.ip}:{port}", version, "-cipher", "DEFAULT@SECLEVEL=0"]
        return subprocess.run(argv, input="", capture_output=True, text=True, timeout=30)

    assert handshake("-tls1_2").returncode == 0
    old = handshake("-tls1_1")
    assert old.returncode != 0 and "Cipher is (NONE)" in old.stdout  # no session: an alert or a hang-up


def test_unauthenticated_relay_from_outside_is_refused(host: Host) -> None:
    with smtplib.SMTP(host.ip, 25, timeout=20) as smtp:
        smtp.ehlo("outside.example")
        smtp.mail("spammer@outside.example")
        code, reply = smtp.rcpt("victim@elsewhere.example")
    assert code == 554 and b"Relay access denied" in reply
    with Submission(host.ip, HOSTNAME) as smtp:  # STARTTLS verifies the name, not the IP
        smtp.starttls(context=host.trust())
        smtp.ehlo("outside.example")
        code, _ = smtp.mail("ada@demo-a.example")
        if code == 250:
            code, _ = smtp.rcpt("victim@elsewhere.example")
    assert code >= 500


def test_auth_without_tls_is_refused(host: Host) -> None:
    with smtplib.SMTP(host.ip, 587, timeout=20) as smtp:
        smtp.ehlo("outside.example")
        assert not smtp.has_extn("auth")
        code, reply = smtp.docmd("AUTH", "PLAIN AGFkYUBkZW1vLWEuZXhhbXBsZQB4")
    assert code == 530 and b"STARTTLS" in reply
    with smtplib.SMTP(host.ip, 25, timeout=20) as smtp:
        smtp.ehlo("outside.example")
        assert not smtp.has_extn("auth")
        code, _ = smtp.docmd("AUTH", "PLAIN AGFkYUBkZW1vLWEuZXhhbXBsZQB4")
    assert code >= 500


def _reachable(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=3):
            return True
    except OSError:
        return False


def test_only_the_mail_ports_are_open(host: Host) -> None:
    listener = subprocess.Popen(
        ["ip", "netns", "exec", host.netns, "python3", "-c", LISTEN], stdout=subprocess.PIPE, text=True
    )
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "listening"
        inside = host.inside(f"python3 -c 'import socket; socket.create_connection((\"{host.ip}\", 8025), 3)'")
        assert inside.returncode == 0, inside.stderr  # the service is up on the host...
        assert not _reachable(host.ip, 8025)  # ...and the firewall keeps the world out
    finally:
        listener.kill()
    for port in (22, 25, 465, 587, 993, 80, 443):
        assert _reachable(host.ip, port), port
    assert not _reachable(host.ip, 143)  # no plaintext IMAP


LISTEN = (
    "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
    "s.bind(('0.0.0.0', 8025)); s.listen(); print('listening', flush=True)\n"
    "while True: s.accept()[0].close()"
)


def test_ssh_takes_keys_only(host: Host) -> None:
    transport = paramiko.Transport((host.ip, 22))
    try:
        transport.start_client(timeout=20)
        with pytest.raises(paramiko.BadAuthenticationType) as refused:
            transport.auth_password("root", "guess")
        assert refused.value.allowed_types == ["publickey"]
    finally:
        transport.close()


def test_mta_sts_policy_over_https_matches_the_txt_record(demo: Demo, host: Host) -> None:
    def policy(domain: str) -> str:
        with httpx.Client(verify=host.trust()) as client:
            response = client.request(
                "GET",
                f"https://{host.ip}/.well-known/mta-sts.txt",
                headers={"Host": f"mta-sts.{domain}"},
                extensions={"sni_hostname": f"mta-sts.{domain}"},  # verified for this name
            )
        response.raise_for_status()
        return response.text

    before = policy("demo-a.example")
    assert "mode: testing" in before and f"mx: {HOSTNAME}" in before
    assert demo.txt("_mta-sts.demo-a.example") == records.mta_sts_txt(before)
    spec = demo.root / "specs" / "demo.yaml"
    spec.write_text(
        spec.read_text().replace(
            "  - name: demo-a.example\n", "  - name: demo-a.example\n    mta_sts: {mode: enforce}\n"
        )
    )
    demo.up()
    after = policy("demo-a.example")
    assert "mode: enforce" in after
    assert demo.txt("_mta-sts.demo-a.example") == records.mta_sts_txt(after) != records.mta_sts_txt(before)


def test_renewal_is_served_without_an_up(demo: Demo, host: Host) -> None:
    first = served_certificate(host, 993)["serialNumber"]
    ca = "/etc/mailbox-iac/acme-directory-ca.pem"
    renew = host.inside(f"REQUESTS_CA_BUNDLE={ca} certbot renew --force-renewal --no-random-sleep-on-renew -q")
    assert renew.returncode == 0, renew.stderr
    deadline = time.monotonic() + 30
    while served_certificate(host, 993)["serialNumber"] == first and time.monotonic() < deadline:
        time.sleep(0.5)
    for port in (465, 587, 993):
        assert served_certificate(host, port)["serialNumber"] != first
    site = served_certificate(host, 443, "mta-sts.demo-a.example")
    assert site["serialNumber"] != first and "Pebble" in str(site["issuer"])
    demo.no_drift()  # a renewal is not drift


GUESS = {
    "smtp": """
import smtplib, ssl
for _ in range(12):  # each login tries PLAIN then LOGIN: 5 failed AUTH commands take 3 logins
    try:
        with smtplib.SMTP("{ip}", 587, timeout=10) as s:
            s.starttls(context=ssl._create_unverified_context())
            try:
                s.login("ada@demo-a.example", "wrong-password")
            except smtplib.SMTPAuthenticationError:
                print("refused")
    except OSError:
        break
""",
    "imap": """
import imaplib, ssl
for _ in range(12):
    try:
        im = imaplib.IMAP4_SSL("{ip}", 993, ssl_context=ssl._create_unverified_context(), timeout=10)
        try:
            im.login("ada@demo-a.example", "wrong-password")
        except imaplib.IMAP4.error:
            print("refused")
        im.logout()
    except OSError:
        break
""",
    "ssh": """
import paramiko
for _ in range(12):
    try:
        t = paramiko.Transport(("{ip}", 22))
        t.start_client(timeout=10)
        try:
            t.auth_publickey("root", paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate")
                             else paramiko.RSAKey.generate(2048))
        except paramiko.AuthenticationException:
            print("refused")
        finally:
            t.close()
    except (OSError, paramiko.SSHException):
        break
""",
}
JAILS = {"smtp": ("postfix-sasl", 587), "imap": ("dovecot", 993), "ssh": ("sshd", 22)}


def banned(host: Host, jail: str) -> str:
    return host.inside(f"fail2ban-client status {jail}").stdout.split("Banned IP list:")[-1]


@pytest.mark.parametrize("service", ["smtp", "imap", "ssh"])
def test_fail2ban_bans_a_stranger_guessing_on_every_jail(demo: Demo, host: Host, service: str) -> None:
    deployment = demo.stack.export_stack().deployment
    assert deployment is not None
    [mailhost] = [r for r in deployment["resources"] if r["type"].endswith("MailHost")]
    assert mailhost["outputs"]["hardening"]["fail2ban"] == "dovecot,postfix-sasl,sshd"
    jail, port = JAILS[service]
    with outsider() as ns:
        try:
            guesses = python_in(ns, GUESS[service].replace("{ip}", host.ip))
            assert guesses.stdout.count("refused") >= 3, guesses.stdout + guesses.stderr
            deadline = time.monotonic() + 60
            while STRANGER not in banned(host, jail) and time.monotonic() < deadline:
                time.sleep(1)
            assert STRANGER in banned(host, jail)
            assert _reachable(host.ip, port)  # the operator, on the same network, is not shut out
        finally:
            host.inside("fail2ban-client unban --all")


def test_the_operator_is_never_banned(demo: Demo, host: Host) -> None:
    context = host.trust()
    context.check_hostname = False  # the chain is verified; the name is the IP here
    for _ in range(8):  # more failures than maxretry, from the address mailbox-iac works from
        im = imaplib.IMAP4_SSL(host.ip, 993, ssl_context=context, timeout=10)
        with pytest.raises(imaplib.IMAP4.error):
            im.login("ada@demo-a.example", "wrong-password")
        im.logout()
    time.sleep(3)
    assert "198.51.100.1" not in banned(host, "dovecot")
    assert "ignoreip = 127.0.0.1/8 ::1 198.51.100.1" in host.inside(f"cat {harden.JAIL}").stdout
    assert _reachable(host.ip, 993)


def test_verify_never_logs_in_with_an_account_not_created_yet(demo: Demo, host: Host) -> None:
    spec = demo.root / "specs" / "demo.yaml"
    original = spec.read_text()
    spec.write_text(
        original.replace(
            "      - {local: grace, name: Grace Hopper}\n",
            "      - {local: grace, name: Grace Hopper}\n      - newbie\n",
        )
    )
    try:
        verify = subprocess.run(
            [sys.executable, "-m", "mailbox_iac", "verify", "--stack", "demo", "--sandbox"],
            cwd=demo.root,
            capture_output=True,
            text=True,
        )
    finally:
        spec.write_text(original)
    assert verify.returncode == 2, verify.stdout + verify.stderr
    assert "newbie@demo-a.example" in verify.stdout and "not created on the host yet" in verify.stdout
    assert verify.stdout.count(" ready ") == 3
    assert "newbie" not in host.inside("cat /var/log/mailbox-iac/dovecot.log /var/log/mailbox-iac/postfix.log").stdout


def test_certificate_files_are_private(demo: Demo) -> None:
    [server] = demo.hostwinds()["instances"]
    keys = Path(demo.root / ".state/sandbox/vps" / str(server["serviceid"]) / "etc/ssl/mailbox-iac")
    found = [keys / "mail.key", *sorted((keys / "sites").glob("*.key"))]
    assert [k.name for k in found[1:]] == ["mta-sts.demo-a.example.key", "mta-sts.demo-b.example.key"]
    assert all(k.stat().st_mode & 0o077 == 0 for k in found)
