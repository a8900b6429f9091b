"""The checks of `verify` against real TLS on loopback (Python's ssl and OpenSSL the judges): a certificate
that verifies, one about to expire (a warning, not a failure), one for another name; an MTA-STS policy
served as planned, changed, or missing. And the catalog: ids unique, every check placed somewhere."""

from __future__ import annotations

import smtplib
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailbox_iac.checks import catalog, dns, login, mailbox, mta_sts, tls
from mailbox_iac.checks.login import trusted_tls
from mailbox_iac.checks.result import Severity, Stage
from mailbox_iac.sandbox.dnsserver import DnsServer

HOST = "mail.t.example"
POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mail.t.example\r\nmax_age: 604800\r\n"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def pki(tmp: Path, names: list[str], days: int) -> tuple[Path, Path, Path]:
    """A root, and a leaf for `names` valid `days` more: (root.pem, leaf.pem, leaf.key)."""
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test root"))
        .issuer_name(_name("test root"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp / f"root-{days}.pem", tmp / f"leaf-{days}.pem", tmp / f"leaf-{days}.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class Served:
    def __init__(self, tmp: Path, names: list[str], days: int, body: str | None) -> None:
        self.root, cert, key = pki(tmp, names, days)
        self.leaf = cert.read_text()
        served = body

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if served is None or self.path != mta_sts.PATH:
                    self.send_error(404)
                    return
                data = served.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trust(self) -> ssl.SSLContext:
        return trusted_tls(str(self.root))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    started: list[Served] = []

    def start(names: list[str], days: int = 90, body: str | None = POLICY) -> Served:
        started.append(Served(tmp_path, names, days, body))
        return started[-1]

    yield start
    for s in started:
        s.server.shutdown()


def test_a_certificate_that_verifies_and_has_time_left(serve) -> None:
    s = serve([HOST])
    results = tls.certificate("127.0.0.1", HOST, s.trust(), datetime.now(UTC), s.port)
    assert [(r.check.id, r.ok) for r in results] == [("tls.verified", True), ("tls.expiry", True)]
    assert mailbox.ready(results)


def test_the_trust_follows_its_roots_file(serve) -> None:
    first = serve([HOST])
    context = first.trust()
    assert first.trust() is context  # the system's store is read once
    second = serve([HOST])  # another CA written over the same file, as a restarted sandbox does
    now = datetime.now(UTC)
    assert tls.certificate("127.0.0.1", HOST, second.trust(), now, second.port)[0].ok
    assert not tls.certificate("127.0.0.1", HOST, context, now, second.port)[0].ok


def test_a_pinned_certificate_is_trusted_whatever_its_name_and_no_other_is(serve) -> None:
    """How a written account logs in before ACME has run: trusting exactly the certificate the host says
    (over SSH) that it serves, an issued leaf without its root, a self-signed placeholder alike."""
    served = serve(["placeholder.example"])
    other = serve([HOST])
    assert tls.verified("127.0.0.1", HOST, login.pinned_tls(served.leaf), served.port).ok
    assert not tls.verified("127.0.0.1", HOST, login.pinned_tls(other.leaf), served.port).ok
    assert not tls.verified("127.0.0.1", HOST, login.pinned_tls(""), served.port).ok


def test_a_certificate_about_to_expire_is_a_warning(serve) -> None:
    s = serve([HOST], days=5)
    verified, expiry = tls.certificate("127.0.0.1", HOST, s.trust(), datetime.now(UTC), s.port)
    assert verified.ok and not expiry.ok and expiry.check.severity is Severity.warning
    assert expiry.detail.startswith("expires ")
    assert mailbox.ready([verified, expiry])  # reported, not held against the mailbox


def test_a_certificate_for_another_name_fails(serve) -> None:
    s = serve(["other.t.example"])
    [result] = tls.certificate("127.0.0.1", HOST, s.trust(), datetime.now(UTC), s.port)
    assert not result.ok and "Hostname mismatch" in result.detail and not mailbox.ready([result])


def test_the_mta_sts_policy_as_planned_changed_or_missing(serve) -> None:
    s = serve(["mta-sts.t.example"])
    assert mta_sts.policy("t.example", "127.0.0.1", POLICY, s.trust(), s.port).ok
    changed = mta_sts.policy("t.example", "127.0.0.1", POLICY.replace("enforce", "testing"), s.trust(), s.port)
    assert not changed.ok and "planned" in changed.detail
    gone = serve(["mta-sts.t.example"], body=None)
    missing = mta_sts.policy("t.example", "127.0.0.1", POLICY, gone.trust(), gone.port)
    assert not missing.ok and ": 404 " in missing.detail


def test_the_catalog() -> None:
    ids = [c.id for c in catalog.ALL]
    assert len(ids) == len(set(ids)) and all(c.stages for c in catalog.ALL)
    gate = {"dns.record", "dns.no-aaaa", "ptr.hostname", "login.imap", "login.smtp", "tls.verified"}
    assert {c.id for c in catalog.at(Stage.gate)} == gate
    assert tls.EXPIRY in catalog.ALL and tls.EXPIRY.severity is Severity.warning


def test_no_aaaa_holds_until_one_is_published() -> None:
    published: dict[tuple[str, str], list[tuple[str, int]]] = {("mail.t.example", "A"): [("192.0.2.7", 60)]}
    server = DnsServer(lambda name, rtype: (0, published.get((name, rtype), [])))
    try:
        res = dns.resolver_for("t.example", server.address)
        assert dns.no_aaaa("mail.t.example", res).ok
        published[("mail.t.example", "AAAA")] = [("2001:db8::7", 60)]
        found = dns.no_aaaa("mail.t.example", res)
        assert not found.ok and "2001:db8::7" in found.detail and found.check is dns.NO_AAAA
    finally:
        server.close()


def test_the_gates_of_a_zones_mailboxes_ask_each_question_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three mailboxes of one zone checked together: their records, a name that does not exist and a
    type it does not have are each asked once of the zone's server; a resolver that does not share asks
    every time."""
    asked: list[tuple[str, str]] = []

    def lookup(name: str, rtype: str) -> tuple[int, list[tuple[str, int]]]:
        asked.append((name, rtype))
        if name.startswith("gone."):
            return 3, []  # NXDOMAIN
        return 0, [("192.0.2.9", 60)] if rtype == "A" else []

    monkeypatch.setattr(dns._ASKED, "seconds", 60.0)  # "together", however slow this machine is today
    server = DnsServer(lookup)
    rows = [
        {"name": "mail.z.example", "type": "A", "content": "192.0.2.9", "priority": 0},
        {"name": "gone.z.example", "type": "A", "content": "192.0.2.9", "priority": 0},
    ]
    try:
        for _ in range(3):
            res = dns.resolver_for("z.example", server.address, shared=True)
            assert [r.ok for r in dns.records(rows, res)] == [True, False]
            assert dns.no_aaaa("mail.z.example", res).ok
        assert len(asked) == 3
        for _ in range(2):
            dns.records(rows, dns.resolver_for("z.example", server.address))
        assert len(asked) == 7
    finally:
        server.close()


def test_health_warns_from_21_days_left_and_fails_from_7(serve) -> None:
    for days, check, ok in ((60, "tls.days-left", True), (10, "tls.days-left", False), (3, "tls.lapsing", False)):
        s = serve([HOST], days=days)
        # judged after the certificate was made, so it has less than `days` left however slow the machine
        found = tls.lasting("127.0.0.1", HOST, s.port, s.trust(), datetime.now(UTC))
        assert (found.check.id, found.ok) == (check, ok), found
        assert found.subject == f"{HOST} (127.0.0.1:{s.port})" and f"{days - 1} days left" in found.detail
    s = serve([HOST], days=60)
    now = datetime.now(UTC)
    later = tls.lasting("127.0.0.1", HOST, s.port, s.trust(), now + timedelta(days=45))  # --as-of
    assert later.check is tls.DAYS_LEFT and not later.ok and later.check.severity is Severity.warning
    assert tls.lasting("127.0.0.1", "other.t.example", s.port, s.trust(), now).check is tls.VERIFIED
    s.server.shutdown()
    s.server.server_close()
    gone = tls.lasting("127.0.0.1", HOST, s.port, s.trust(), now)
    assert gone.check is tls.LAPSING and gone.detail == "no TLS handshake: ConnectionRefusedError"


def test_a_refused_login_says_what_the_server_answered() -> None:
    """STARTTLS or AUTH refused: the code and text, so a failed readiness gate names the cause."""
    refused = smtplib.SMTPResponseException(454, b"4.7.0 TLS not available due to local problem")
    assert login._failure(refused) == "SMTPResponseException: 454 4.7.0 TLS not available due to local problem"
    wrong = smtplib.SMTPAuthenticationError(535, b"5.7.8 Error: authentication failed: UGFzc3dvcmQ6")
    assert login._failure(wrong) == "SMTPAuthenticationError: 535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6"
    assert login._failure(ConnectionRefusedError()) == "ConnectionRefusedError"
