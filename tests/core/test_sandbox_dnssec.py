"""The sandbox's signed root, judged by a validator we did not write: Debian's unbound, run with the hosts'
own resolver configuration (resolver.unbound_conf), sets AD on what the sandbox DNS answers, and a denial
of a name or a type is proven too; an answer signed by a key it does not trust is bogus (SERVFAIL)."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from mailbox_iac.mailhost.resolver import Root, parse_root, unbound_conf
from mailbox_iac.sandbox.dnsserver import DnsServer, RootKey

RECORDS = {
    ("mail.a.example", "A"): [("192.0.2.1", 300)],
    ("a.example", "MX"): [("10 mail.a.example.", 300)],
    ("_25._tcp.mail.a.example", "TLSA"): [("3 1 1 " + "ab" * 32, 300)],
}


def lookup(name: str, rdtype: str) -> tuple[int, list[tuple[str, int]]]:
    if not name.endswith("a.example"):
        return 5, []
    if (name, rdtype) in RECORDS:
        return 0, RECORDS[(name, rdtype)]
    return (0, []) if any(n == name for n, _ in RECORDS) else (3, [])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unbound(tmp: Path, root: Root) -> Iterator[int]:
    """unbound with the hosts' configuration, moved to a free port and run as this user."""
    port = _free_port()
    conf = unbound_conf(root, ipv6=False)
    for option, value in {
        "port": str(port),
        "username": '""',
        "directory": f'"{tmp}"',
        "pidfile": f'"{tmp}/unbound.pid"',
        "control-interface": f"{tmp}/unbound.ctl",
    }.items():
        conf = re.sub(rf"^(\s*{option}:).*$", rf"\1 {value}", conf, flags=re.M)
    conf = conf.replace("server:\n", "server:\n  do-not-query-localhost: no\n", 1)  # the root is on loopback here
    (tmp / "unbound.conf").write_text(conf)
    check = subprocess.run(["unbound-checkconf", str(tmp / "unbound.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen(["unbound", "-d", "-c", str(tmp / "unbound.conf")], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if proc.poll() is not None:
                raise AssertionError("unbound exited")
            try:
                dns.query.udp(dns.message.make_query("a.example", "SOA"), "127.0.0.1", port=port, timeout=0.2)
                break
            except dns.exception.Timeout:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait()


@pytest.fixture
def key() -> RootKey:
    return RootKey()


@pytest.fixture
def server(key: RootKey) -> Iterator[DnsServer]:
    srv = DnsServer(lookup, key=key)
    yield srv
    srv.close()


@pytest.fixture
def validator(tmp_path: Path, server: DnsServer, key: RootKey) -> Iterator[int]:
    text = f". 86400 IN NS root.test.\nroot.test. 86400 IN A 127.0.0.1\n. 3600 IN DNSKEY {key.dnskey.to_text()}\n"
    root = parse_root(text, "root.zone")
    assert root.servers == ("127.0.0.1",)
    yield from _unbound(tmp_path, Root((f"127.0.0.1@{server.port}",), root.trust_anchors))


def ask(port: int, name: str, rdtype: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype, want_dnssec=True), "127.0.0.1", port=port, timeout=5)


@pytest.mark.parametrize(
    ("name", "rdtype", "found"),
    [
        ("mail.a.example", "A", "192.0.2.1"),
        ("a.example", "MX", "10 mail.a.example."),
        ("_25._tcp.mail.a.example", "TLSA", "3 1 1 " + "ab" * 32),
        ("mail.a.example", "AAAA", None),  # the name is there, the type is not
        ("nothing.a.example", "TLSA", None),  # no such name
    ],
)
def test_answers_and_denials_validate(validator: int, name: str, rdtype: str, found: str | None) -> None:
    reply = ask(validator, name, rdtype)
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AD, reply
    values = [r.to_text() for rrset in reply.answer for r in rrset if rrset.rdtype == dns.rdatatype.from_text(rdtype)]
    assert values == ([found] if found else []), reply


def test_an_answer_signed_by_another_key_is_bogus(tmp_path: Path, server: DnsServer) -> None:
    stranger = f". DNSKEY {RootKey().dnskey.to_text()}"
    for port in _unbound(tmp_path, Root((f"127.0.0.1@{server.port}",), (stranger,))):
        assert ask(port, "mail.a.example", "A").rcode() == dns.rcode.SERVFAIL


def test_queries_without_the_do_bit_get_unsigned_answers(server: DnsServer) -> None:
    reply = dns.query.udp(dns.message.make_query("mail.a.example", "A"), "127.0.0.1", port=server.port, timeout=5)
    assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.A]
    missing = dns.query.udp(dns.message.make_query("nothing.a.example", "A"), "127.0.0.1", port=server.port)
    assert missing.rcode() == dns.rcode.NXDOMAIN  # black lies only for those who validate


@pytest.mark.parametrize(
    "text",
    ["", ". 3600 IN DNSKEY 257 3 13 AAAA\n", ". 86400 IN NS r.test.\nr.test. IN A 10.0.0.1\n", "not a zone {"],
)
def test_a_root_file_without_servers_or_keys_is_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match=r"^root\.zone: "):
        parse_root(text, "root.zone")
