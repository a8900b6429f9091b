"""The host's own validating resolver (Debian's unbound on 127.0.0.1): what DANE needs (Postfix trusts the
AD bit of the resolver in resolv.conf, `options trust-ad`), and what DNS blocklists need (they refuse
public resolvers). It recurses from the Internet's root with Debian's root key, or, where the provider
environment names another root (MAILBOX_IAC_DNS_ROOT: the sandbox's), forwards to that root's servers
and trusts its key. Pure, but for reading that file."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

LOCAL = "127.0.0.1"
CONTROL_SOCKET = "/run/unbound.ctl"  # `unbound-control flush_zone ...` for an operator
PID = "/run/unbound.pid"  # without systemd only (the unit runs it with -p)
RESOLVER_LINES = f"# Managed by mailbox-iac: unbound.\nnameserver {LOCAL}\noptions trust-ad edns0\n"


@dataclass(frozen=True)
class Root:
    """A DNS root other than the Internet's: its servers' addresses and its keys (DNSKEY or DS text)."""

    servers: tuple[str, ...]
    trust_anchors: tuple[str, ...]


def parse_root(text: str, source: str) -> Root:
    """A zone file of the root: `. NS` names with their `A`/`AAAA` records, and `. DNSKEY` (or `. DS`)."""
    try:
        zone = dns.zone.from_text(text, origin=dns.name.root, relativize=False, check_origin=False)
    except (dns.exception.DNSException, ValueError) as exc:
        raise ValueError(f"{source}: not a zone file of the DNS root: {exc}") from None
    root = zone.get_node(dns.name.root)
    anchors, servers = [], []
    for rdtype in (dns.rdatatype.DNSKEY, dns.rdatatype.DS):
        found = root.get_rdataset(dns.rdataclass.IN, rdtype) if root else None
        anchors += [f". {dns.rdatatype.to_text(rdtype)} {r.to_text()}" for r in found or ()]
    ns = root.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) if root else None
    for target in (r.target for r in ns or ()):
        node = zone.get_node(target)
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            found = node.get_rdataset(dns.rdataclass.IN, rdtype) if node else None
            servers += [str(ipaddress.ip_address(r.address)) for r in found or ()]
    if not servers or not anchors:
        raise ValueError(f"{source}: the root needs `. NS` servers with addresses, and a `. DNSKEY` or `. DS`")
    return Root(tuple(servers), tuple(anchors))


def root_from_environment() -> Root | None:
    """The root named by MAILBOX_IAC_DNS_ROOT (a file), or None: the Internet's. Read where the providers
    run, like MAILBOX_IAC_ACME_CA: it is the provider environment's, not the tenant's."""
    path = os.environ.get("MAILBOX_IAC_DNS_ROOT")
    if not path:
        return None
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"MAILBOX_IAC_DNS_ROOT: cannot read {path}: {exc.strerror}") from None
    return parse_root(text, f"MAILBOX_IAC_DNS_ROOT ({path})")


def unbound_conf(root: Root | None, ipv6: bool) -> str:
    """unbound.conf: answering this host only, validating; the whole file (Debian's conf.d is not read)."""
    if root is None:
        upstream = '  auto-trust-anchor-file: "/var/lib/unbound/root.key"\n'  # kept fresh by Debian's helper
    else:
        upstream = "".join(f'  trust-anchor: "{a}"\n' for a in root.trust_anchors)
        upstream += 'forward-zone:\n  name: "."\n' + "".join(f"  forward-addr: {s}\n" for s in root.servers)
    return f"""# Managed by mailbox-iac. Changes made here are reported as drift and overwritten.
server:
  interface: {LOCAL}
  port: 53
  access-control: 127.0.0.0/8 allow
  module-config: "validator iterator"
  do-ip6: {"yes" if ipv6 else "no"}
  chroot: ""
  username: "unbound"
  directory: "/etc/unbound"
  pidfile: "{PID}"
  use-syslog: no
  logfile: ""
  verbosity: 1
  harden-glue: yes
  harden-dnssec-stripped: yes
  val-clean-additional: yes
  prefetch: yes
{upstream}remote-control:
  control-enable: yes
  control-interface: {CONTROL_SOCKET}
"""
