"""One sandbox VPS (network + mount namespace, real sshd) per test module, configured by the product's
own providers over SSH, exactly as a real Debian server would be."""

from __future__ import annotations

import imaplib
import smtplib
import ssl
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from mailbox_iac import keys
from mailbox_iac.mailhost.ssh import SshConnection, SshTarget
from mailbox_iac.plan.model import MailHostPlan
from mailbox_iac.plan.planner import plan
from mailbox_iac.sandbox.dnsserver import DnsServer, RootKey
from mailbox_iac.sandbox.vps import Vps, ensure_bridge
from mailbox_iac.spec.load import load_file
from tests.conftest import SPECS

GATEWAY = "198.51.100.1/24"
ROOT_ADDRESS = "198.51.100.1"
TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE  # the self-signed certificate of a fresh host; real ones come with ACME


@dataclass
class MailVps:
    vps: Vps
    private_key: str
    mailhost: MailHostPlan
    dkim: dict[str, str] = field(default_factory=dict)  # "domain/selector" -> private PEM

    @property
    def address(self) -> str:
        return self.vps.address

    def ssh_inputs(self, host_key: str = "") -> dict[str, Any]:
        return {"host": self.address, "port": 22, "user": "root", "private_key": self.private_key, "host_key": host_key}

    def inputs(self, host_key: str = "") -> dict[str, Any]:
        """A MailHost's inputs for this host."""
        return {**self.ssh_inputs(host_key), "plan": asdict(self.mailhost), "dkim_keys": self.dkim}

    def connect(self) -> SshConnection:
        return SshConnection(SshTarget(self.address, 22, "root", self.private_key, self.vps.host_key()))

    def imap_login(self, user: str, password: str) -> imaplib.IMAP4_SSL:
        im = imaplib.IMAP4_SSL(self.address, 993, ssl_context=TLS, timeout=20)
        im.login(user, password)
        return im

    def submission_login(self, user: str, password: str) -> None:
        """A login over submission (587, STARTTLS), as a mail client makes it."""
        with smtplib.SMTP(self.address, 587, timeout=20) as smtp:
            smtp.starttls(context=TLS)
            smtp.login(user, password)

    def submit(self, user: str, password: str, message: Any, port: int = 587) -> None:
        if port == 465:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.address, 465, context=TLS, timeout=20)
        else:
            smtp = smtplib.SMTP(self.address, port, timeout=20)
            smtp.starttls(context=TLS)
        with smtp:
            smtp.login(user, password)
            smtp.send_message(message)


@pytest.fixture(scope="module")
def mail_vps(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[MailVps]:
    index = 20 + zlib.crc32(request.module.__name__.encode()) % 200
    private, public = keys.ssh_key()
    state = plan(load_file(SPECS / "acme.yaml").tenant)
    mailhost = state.mailhosts[0]
    vps = Vps(f"t{index}", f"198.51.100.{index}", mailhost.hostname, tmp_path_factory.mktemp("vps"))
    vps.stop()
    ensure_bridge(GATEWAY)
    key = RootKey()  # a signed root that holds nothing: the host's resolver has a root to start from
    root = DnsServer(lambda _name, _rdtype: (5, []), ROOT_ADDRESS, 53, key)
    vps.start([public], GATEWAY, nameserver=ROOT_ADDRESS)
    dkim = {f"{d}/{s}": keys.dkim_key()[0] for d, s in mailhost.dkim}
    zone = tmp_path_factory.mktemp("dns") / "root.zone"
    zone.write_text(f". 60 NS root.test.\nroot.test. 60 A {ROOT_ADDRESS}\n. 60 DNSKEY {key.dnskey.to_text()}\n")
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MAILBOX_IAC_DNS_ROOT", str(zone))  # what the providers read (the sandbox sets it too)
            yield MailVps(vps, private, mailhost, dkim)
    finally:
        vps.stop()
        root.close()


@pytest.fixture(scope="module")
def mailhost_inputs(mail_vps: MailVps) -> dict[str, Any]:
    return mail_vps.inputs()
