"""What receivers' rules ask of the demo and globex tenants (one sandbox, three hosts), judged by tools
written by others: checkdmarc (SPF and DMARC records, report authorisations), pyspf (the HELO name and MAIL
FROM), dkimpy (the signature and what it covers), opendkim-testkey (the published key against the host's
private key), and the hosts' own answers: role and report addresses accepted, also across hosts, the
sender's machine kept out of the headers, the header From tied to the login, the daily cap answered 4xx, forged own-domain senders and DMARC
p=reject failures refused, Authentication-Results on what arrives; on the way out, recipients' MTA-STS
policies (postfix-mta-sts-resolver's own client) and TLSA records (DANE: a wrong one defers the mail)."""

from __future__ import annotations

import email
import hashlib
import smtplib
import ssl
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import authheaders
import checkdmarc
import dkim
import dns.resolver
import pytest
import spf
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mailbox_iac.checks.login import Imaps, Submission
from mailbox_iac.mailhost import apply
from mailbox_iac.mailhost.render import RATE_LIMIT_SOCKET
from mailbox_iac.sandbox import run
from tests.conftest import REPO
from tests.e2e.test_demo import ZONES, Demo
from tests.e2e.test_drift import cloudflare, drift_report
from tests.e2e.test_tls import Host

GLOBEX_STACK = yaml.safe_load((REPO / "stacks" / "Pulumi.globex.yaml").read_text())
GLOBEX_ZONES: list[str] = GLOBEX_STACK["config"]["mailbox-iac:allowedZones"]
DOMAINS = ("demo-a.example", "demo-b.example")
HOSTNAME = "mail.demo-a.example"
ROLES = ("postmaster", "abuse", "dmarc", "tlsrpt")


class Sender:
    """A tenant's mailboxes on one host, as a mail client would use them."""

    def __init__(self, tenant: Demo, host: Host) -> None:
        self.host = host
        self.passwords: dict[str, str] = tenant.stack.outputs()["mailbox_passwords"].value

    def submission(self, login: str) -> smtplib.SMTP:
        """Logged in over 587, from a laptop whose name and address must not travel with its mail."""
        smtp = Submission(self.host.ip, self.host.hostname)
        smtp.local_hostname = "leaky-laptop.client.invalid"
        smtp.starttls(context=self.host.trust())
        smtp.login(login, self.passwords[login])
        return smtp

    def inbox(self, address: str, subject: str) -> bytes:
        """The raw message with this subject in the mailbox, waiting for its delivery."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            im = Imaps(self.host.ip, self.host.hostname, self.host.trust())
            try:
                im.login(address, self.passwords[address])
                im.select("INBOX")
                _, found = im.search(None, "SUBJECT", f'"{subject}"')
                if found[0]:
                    return bytes(im.fetch(found[0].split()[-1], "(RFC822)")[1][0][1])  # type: ignore[index]
            finally:
                im.logout()
            time.sleep(0.3)
        raise AssertionError(f"no message {subject!r} reached {address}")


def outside(host: Host, helo: str) -> smtplib.SMTP:
    """Port 25 as another mail server reaches it, greeted."""
    smtp = smtplib.SMTP(host.ip, 25, local_hostname=helo, timeout=20)
    smtp.ehlo()
    return smtp


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Demo]]:
    """demo and globex converged in one sandbox."""
    root = tmp_path_factory.mktemp("deliverability")
    for path in ("Pulumi.yaml", "specs/demo.yaml", "specs/globex.yaml", "stacks/Pulumi.demo.yaml"):
        (root / path).parent.mkdir(exist_ok=True)
        (root / path).write_text((REPO / path).read_text())
    fast = {"mailbox-iac:protectServers": "false", "mailbox-iac:hostwindsPollSeconds": "0.5"}
    globex = {**GLOBEX_STACK, "config": {**GLOBEX_STACK["config"], **fast}}
    (root / "stacks" / "Pulumi.globex.yaml").write_text(yaml.safe_dump(globex))
    info = run.up(root, ZONES + GLOBEX_ZONES, build_seconds=0.5)
    try:
        found = {t: Demo(root, info, t) for t in ("demo", "globex")}
        for tenant in found.values():
            tenant.up()
        yield found
    finally:
        run.down(root)


@pytest.fixture(scope="module")
def demo(tenants: dict[str, Demo]) -> Demo:
    return tenants["demo"]


@pytest.fixture(scope="module")
def host(demo: Demo) -> Host:
    return Host(demo)


@pytest.fixture(scope="module")
def sender(demo: Demo, host: Host) -> Sender:
    return Sender(demo, host)


@pytest.fixture(scope="module")
def globex(tenants: dict[str, Demo]) -> dict[str, Sender]:
    """globex's two hosts, by server name."""
    return {name: Sender(tenants["globex"], Host(tenants["globex"], f"mbx-globex-{name}")) for name in ("mx1", "mx2")}


@pytest.fixture(scope="module")
def resolver(demo: Demo) -> Iterator[dns.resolver.Resolver]:
    """The sandbox's DNS as every judge sees it (pyspf asks dnspython's default resolver)."""
    ip, port = demo.info["dns_bridge"].split(":")
    r = dns.resolver.Resolver(configure=False)
    r.nameservers, r.port = [ip], int(port)
    saved, dns.resolver.default_resolver = dns.resolver.default_resolver, r
    yield r
    dns.resolver.default_resolver = saved


def test_a_no_op_drift_of_globex_logs_in_once_per_host_and_lists_each_zone_once(
    tenants: dict[str, Demo], globex: dict[str, Sender]
) -> None:
    """globex's 2 hosts, 50 mailboxes and 10 zones: drift's cost grows with hosts and zones, not resources.
    Logins counted by each host's sshd, calls by the Cloudflare emulator."""

    def logins() -> list[int]:
        return [s.host.inside("cat /var/log/auth.log").stdout.count("Accepted publickey") for s in globex.values()]

    before, calls = logins(), sum(tenants["globex"].cloudflare()["answered"].values())
    code, report = drift_report(tenants["globex"], "globex")
    assert (code, report["findings"]) == (0, []), report
    assert all(1 <= after - was <= 2 for after, was in zip(logins(), before, strict=True)), (logins(), before)
    assert sum(tenants["globex"].cloudflare()["answered"].values()) - calls <= 2 * len(GLOBEX_ZONES)


@pytest.mark.parametrize("domain", DOMAINS)
def test_checkdmarc_finds_spf_and_dmarc_valid(resolver: dns.resolver.Resolver, domain: str) -> None:
    found: Any = checkdmarc.check_domains([domain], nameservers=resolver.nameservers)
    assert found["spf"]["valid"], found["spf"]
    assert found["dmarc"]["valid"], found["dmarc"]
    assert found["dmarc"]["record"].startswith("v=DMARC1; p=quarantine")
    assert not found["dmarc"].get("warnings"), found["dmarc"]["warnings"]  # report addresses accept reports


def test_pyspf_passes_the_helo_name_and_the_mail_from(resolver: dns.resolver.Resolver, host: Host) -> None:
    assert spf.check2(i=host.ip, s=f"postmaster@{HOSTNAME}", h=HOSTNAME)[0] == "pass"  # the HELO identity
    for domain in DOMAINS:
        assert spf.check2(i=host.ip, s=f"ada@{domain}", h=HOSTNAME)[0] == "pass"
    assert spf.check2(i="198.51.100.77", s=f"x@{HOSTNAME}", h=HOSTNAME)[0] == "fail"  # `-all` at the HELO name


def test_opendkim_testkey_matches_the_published_keys(host: Host) -> None:
    for domain, selector in (("demo-a.example", "demo1"), ("demo-b.example", "mail")):
        key = f"/etc/mailbox-iac/current/opendkim/keys/{domain}/{selector}.private"
        checked = host.inside(f"opendkim-testkey -d {domain} -s {selector} -k {key} -vvv")
        assert checked.returncode == 0 and "key not secure" in checked.stderr, checked.stderr  # matches; no DNSSEC
    other = "/etc/mailbox-iac/current/opendkim/keys/demo-b.example/mail.private"
    mismatch = host.inside(f"opendkim-testkey -d demo-a.example -s demo1 -k {other}")
    assert mismatch.returncode != 0 and "keys do not match" in mismatch.stdout, mismatch.stdout


def test_role_and_report_addresses_are_accepted_on_every_domain(sender: Sender, host: Host) -> None:
    with outside(host, "mx.receiver.example") as smtp:
        smtp.mail("reports@receiver.example")
        for domain in DOMAINS:
            for local in ROLES:
                code, reply = smtp.rcpt(f"{local}@{domain}")
                assert code == 250, (local, domain, reply)
        code, _ = smtp.rcpt("nobody-here@demo-a.example")
        assert code == 550  # an unknown address still bounces: no catch-all took the roles' place
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "reports@receiver.example", "abuse@demo-b.example", "abuse-1"
    message.set_content("a complaint")
    with outside(host, "mx.receiver.example") as smtp:
        smtp.send_message(message)
    raw = sender.inbox("ada@demo-a.example", "abuse-1")  # the postmaster: the first mailbox of the spec
    results = email.message_from_bytes(raw).get_all("Authentication-Results") or []
    ours = [r for r in results if r.startswith(f"{HOSTNAME};")]
    assert any(" dmarc=" in r for r in ours) and any(" spf=" in r for r in ours), results


def dmarc_verdict(raw: bytes, from_domain: str) -> str:
    """authheaders' DMARC evaluation, given the From domain: its own extraction (`get_domain_part`,
    `@([a-z0-9.]+)`) cuts a domain at its first hyphen, so `authenticate_message` says dmarc=none for
    demo-a.example. The same bug leaves SPF alignment unjudgeable there: the verdict rests on DKIM."""
    dkim_result = authheaders.check_dkim(raw)
    result: str = authheaders.dmarc_per_from(from_domain, dkim_result=dkim_result)[0]
    return result


def test_a_submission_is_signed_over_what_receivers_need_and_names_no_client(
    sender: Sender, resolver: dns.resolver.Resolver
) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "ada@demo-a.example", "grace@demo-a.example", "hygiene-1"
    message["List-Unsubscribe"] = "<mailto:unsubscribe@demo-a.example?subject=stop>, <https://demo-a.example/u/1>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content("one click away")
    with sender.submission("ada@demo-a.example") as smtp:
        smtp.send_message(message)
    raw = sender.inbox("grace@demo-a.example", "hygiene-1")
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"leaky-laptop" not in headers and b"198.51.100.1]" not in headers and b"[198.51.100.1" not in headers
    assert b"Received: from authenticated-user" in headers

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        answer = resolver.resolve(name.decode().rstrip("."), "TXT")
        return b"".join(answer[0].strings)

    assert dkim.verify(raw, dnsfunc=dnsfunc)
    verdict = authheaders.authenticate_message(  # its own lookups: dnspython's default resolver, the sandbox's
        raw, "judge.example", spf=True, ip=sender.host.ip, mail_from="ada@demo-a.example", helo=HOSTNAME
    )
    assert "spf=pass" in verdict and "dkim=pass header.d=demo-a.example" in verdict, verdict
    assert dmarc_verdict(raw, "demo-a.example") == "pass"
    signature = email.message_from_bytes(raw)["DKIM-Signature"]
    tags = dict(tag.split("=", 1) for tag in "".join(signature.split()).split(";") if "=" in tag)
    signed = tags["h"].lower().split(":")
    for header in ("from", "to", "subject", "date", "message-id", "mime-version", "content-type"):
        assert header in signed, signed
    for header in ("list-unsubscribe", "list-unsubscribe-post", "from"):
        assert signed.count(header) == 2, signed  # signed and over-signed: none can be added after signing


def test_a_mailbox_sends_only_with_a_header_from_of_its_own(sender: Sender) -> None:
    def message(header_from: str, subject: str) -> EmailMessage:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = header_from, "grace@demo-a.example", subject
        m.set_content("who is this from?")
        return m

    # her own envelope, her sibling's header From
    with sender.submission("ada@demo-a.example") as smtp, pytest.raises(smtplib.SMTPDataError) as refused:
        smtp.send_message(message("Grace Hopper <grace@demo-a.example>", "from-1"), "ada@demo-a.example")
    assert refused.value.smtp_code == 550, refused.value
    assert b"5.7.1 ada@demo-a.example may not send with From: grace@demo-a.example" in refused.value.smtp_error
    # postmaster@ of both domains forwards to ada (the tenant's postmaster): the spec gives her that address.
    with sender.submission("ada@demo-a.example") as smtp:
        smtp.send_message(message("Postmaster <postmaster@demo-b.example>", "from-2"), "postmaster@demo-b.example")
    sender.inbox("grace@demo-a.example", "from-2")


def _rcpt_codes(sender: Sender, login: str, tries: int) -> list[int]:
    """The RCPT replies to `tries` messages a mailbox starts (never sent, but counted: the cap is checked at
    RCPT); a refusal must be the cap's 4xx, which sequencers retry."""
    codes = []
    with sender.submission(login) as smtp:
        for _ in range(tries):
            smtp.mail(login)
            code, reply = smtp.rcpt("grace@demo-a.example")
            assert code == 250 or (
                code == 450 and reply.startswith(b"4.7.1") and b"sending limit for today" in reply
            ), reply
            codes.append(code)
            smtp.rset()
    return codes


def test_sending_past_the_daily_limit_is_answered_4xx(sender: Sender) -> None:
    limit = 20  # linus@demo-b.example in specs/demo.yaml
    assert _rcpt_codes(sender, "linus@demo-b.example", limit + 1) == [250] * limit + [450]
    assert _rcpt_codes(sender, "ada@demo-a.example", 1) == [250]  # another mailbox counts on its own


def test_a_mailbox_warming_up_is_capped_at_the_days_limit(globex: dict[str, Sender]) -> None:
    """globex's mailboxes warm up from 2026-11-16: 3 a day, 2 more each day, up to their daily limit of 25.
    policyd-rate-limit is restarted with a chosen day's caps, as the daily timer restarts it on real hosts."""
    mx1 = globex["mx1"]

    def caps_of(day: str) -> None:
        _, restart, _ = apply.rate_limit_daemon(day)
        done = mx1.host.inside(restart + f"; {_POLICY_ANSWERS}")
        assert done.returncode == 0, done.stderr

    try:
        caps_of("2026-11-16")  # day 0
        assert _rcpt_codes(mx1, "eve@globex-news.com", 4) == [250, 250, 250, 450]
        caps_of("2026-11-17")  # day 1: 5, of which 3 are spent
        assert _rcpt_codes(mx1, "eve@globex-news.com", 3) == [250, 250, 450]
    finally:
        caps_of("")  # the clock's day again


# Until the restarted policy service listens, Postfix answers its clients 451.
_POLICY_ANSWERS = (
    f"i=0; until /usr/bin/python3 -c \"import socket; socket.socket(socket.AF_UNIX).connect('{RATE_LIMIT_SOCKET}')\" "
    "2>/dev/null; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done"
)


def test_mail_from_outside_claiming_an_own_sender_is_refused(host: Host) -> None:
    with outside(host, "forger.example") as smtp:
        smtp.mail("ada@demo-a.example")
        code, reply = smtp.rcpt("grace@demo-a.example")
    assert code == 554 and b"5.7.1" in reply and b"only after login" in reply, reply


def test_dmarc_reject_is_honoured_on_arrival(host: Host) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "ceo@www.demo-a.example", "grace@demo-a.example", "forged"
    message.set_content("www.demo-a.example sends no mail: its DMARC policy says reject")
    with outside(host, "forger.example") as smtp, pytest.raises(smtplib.SMTPDataError) as refused:
        smtp.send_message(message, from_addr="bounces@forger.example")
    assert refused.value.smtp_code == 550 and b"5.7.1" in refused.value.smtp_error


@pytest.mark.parametrize("domain", GLOBEX_ZONES)
def test_reports_sent_to_a_sibling_domain_are_authorised_for_checkdmarc(
    globex: dict[str, Sender], resolver: dns.resolver.Resolver, domain: str
) -> None:
    found: Any = checkdmarc.check_domains([domain], nameservers=resolver.nameservers)
    assert found["spf"]["valid"] and found["dmarc"]["valid"], (found["spf"], found["dmarc"])
    assert found["dmarc"]["record"].startswith("v=DMARC1; p=reject")
    assert not found["dmarc"].get("warnings"), found["dmarc"]["warnings"]  # globex-mail.com agrees to receive


def test_mail_between_the_tenants_hosts_passes_dmarc_and_role_mail_crosses_hosts(globex: dict[str, Sender]) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "ava@globex-reach.com", "ben@globex-mail.com", "x-host-1"
    message.set_content("from mx2 to mx1 over port 25")
    with globex["mx2"].submission("ava@globex-reach.com") as smtp:
        smtp.send_message(message)
    raw = globex["mx1"].inbox("ben@globex-mail.com", "x-host-1")
    results = email.message_from_bytes(raw).get_all("Authentication-Results") or []
    assert any(r.startswith("mx1.globex-mail.com;") and " dmarc=pass" in r for r in results), results
    verdict = authheaders.authenticate_message(  # a receiver's judge of SPF and DKIM
        raw,
        "judge.example",
        spf=True,
        ip=globex["mx2"].host.ip,
        mail_from="ava@globex-reach.com",
        helo="mx2.globex-mail.com",
    )
    for result in ("spf=pass", "dkim=pass header.d=globex-reach.com"):
        assert result in verdict, verdict
    assert dmarc_verdict(raw, "globex-reach.com") == "pass"
    with outside(globex["mx2"].host, "mx.receiver.example") as smtp:  # postmaster of an mx2 domain
        report = EmailMessage()
        report["From"], report["To"], report["Subject"] = "noc@receiver.example", "postmaster@globex-reach.com", "pm-1"
        report.set_content("your server")
        smtp.send_message(report)
    globex["mx1"].inbox("ava@globex-mail.com", "pm-1")  # the postmaster: globex's first mailbox, on mx1


def test_recipients_mta_sts_policies_are_fetched_and_honoured(globex: dict[str, Sender]) -> None:
    mx2 = globex["mx2"].host
    # postfix-mta-sts-resolver's own client fetches globex-mail.com's policy as mx2 sees the world.
    query = mx2.inside("mta-sts-query globex-mail.com")
    assert "STSFetchResult.VALID" in query.stdout and "'mode': 'enforce'" in query.stdout, query.stdout + query.stderr
    # What its daemon tells mx2's Postfix: enforce means "secure"; a `testing` policy is not enforced.
    socketmap = "socketmap:inet:127.0.0.1:8461:postfix"
    enforced = mx2.inside(f"postmap -q globex-mail.com {socketmap}").stdout.split()
    assert enforced == ["secure", "match=mx1.globex-mail.com", "servername=hostname"], enforced
    testing = mx2.inside(f"postmap -q globex-hello.com {socketmap}")
    assert testing.returncode == 1 and testing.stdout == "", testing  # not found: opportunistic TLS
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "ben@globex-reach.com", "cleo@globex-mail.com", "sts-1"
    message.set_content("to a domain whose policy says enforce")
    with globex["mx2"].submission("ben@globex-reach.com") as smtp:
        smtp.send_message(message)
    globex["mx1"].inbox("cleo@globex-mail.com", "sts-1")
    log = mx2.inside("cat /var/log/mailbox-iac/postfix.log").stdout
    assert "Verified TLS connection established to mx1.globex-mail.com" in log, log[-3000:]


def _spki_sha256(host: Host) -> str:
    """DANE-EE(3) SPKI(1) SHA-256(1) of the certificate a host's port 25 serves."""
    with outside(host, "judge.example") as smtp:
        smtp.starttls(context=ssl._create_unverified_context())  # noqa: S323  # nosec B323 (DANE judges, not the CA)
        der = smtp.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
    spki = (
        x509.load_der_x509_certificate(der).public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    return hashlib.sha256(spki).hexdigest()


def test_recipients_tlsa_records_are_enforced_dane(tenants: dict[str, Demo], globex: dict[str, Sender]) -> None:
    """globex-hello.com (MX mx1.globex-mail.com) publishes only a `testing` MTA-STS policy: what mx2 verifies
    there comes from DANE alone, through mx2's validating resolver and the sandbox's signed root."""
    mx1, mx2 = globex["mx1"].host, globex["mx2"].host
    demo = tenants["globex"]
    [zone] = cloudflare(demo, "GET", "/zones?name=globex-mail.com")
    wrong = {"type": "TLSA", "name": "_25._tcp.mx1.globex-mail.com", "content": "3 1 1 " + "00" * 32, "ttl": 60}
    record = cloudflare(demo, "POST", f"/zones/{zone['id']}/dns_records", wrong)
    log = "/var/log/mailbox-iac/postfix.log"
    try:
        mx2.inside("unbound-control -c /etc/unbound/unbound.conf flush_zone globex-mail.com")
        seen = len(mx2.inside(f"cat {log}").stdout)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "cleo@globex-reach.com", "dan@globex-hello.com", "dane-1"
        message.set_content("to a domain whose MX publishes TLSA")
        with globex["mx2"].submission("cleo@globex-reach.com") as smtp:
            smtp.send_message(message)
        deadline = time.monotonic() + 30
        while not (
            tried := [line for line in mx2.inside(f"cat {log}").stdout[seen:].splitlines() if " status=" in line]
        ):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        # The TLSA does not match the certificate: not delivered, held for a retry.
        assert "to=<dan@globex-hello.com>" in tried[0] and "status=deferred" in tried[0], tried
        right = {**wrong, "content": f"3 1 1 {_spki_sha256(mx1)}"}
        cloudflare(demo, "PUT", f"/zones/{zone['id']}/dns_records/{record['id']}", right)
        # Forget the old records: unbound's cache, and the smtp processes' own (a reload ends them).
        mx2.inside("unbound-control -c /etc/unbound/unbound.conf flush_zone globex-mail.com && postfix reload")
        mx2.inside("postqueue -f")
        globex["mx1"].inbox("dan@globex-hello.com", "dane-1")
        after = mx2.inside(f"cat {log}").stdout[seen:]
        assert "Verified TLS connection established to mx1.globex-mail.com" in after, after
    finally:
        cloudflare(demo, "DELETE", f"/zones/{zone['id']}/dns_records/{record['id']}")
