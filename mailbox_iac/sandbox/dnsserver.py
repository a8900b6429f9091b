"""A small authoritative DNS server over UDP and TCP, answering from a lookup function.

The sandbox's emulators use it so that every check (PTR, records at the zone's authoritative server)
goes over the real DNS protocol with a real resolver library. With a `RootKey` it also answers as a
DNSSEC-signed root holding every name: a query with the DO bit gets its answer signed by the root's key,
and a name or type that is not there a signed NSEC that denies exactly it ("black lies", RFC 4470's
minimal covering), so that the hosts' validating resolvers see a world where DANE can be checked.
"""

from __future__ import annotations

import socketserver
import struct
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.dnssectypes
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():
    # dns.dnssec loads dnspython's DSA module, which cryptography >= 51 warns about on every start; the
    # sandbox signs with ECDSA only, and the warning would land in the emulators' address lines.
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import dns.dnssec

# (qname without trailing dot, lower case; rdtype text) -> (rcode, [(rdata text, ttl)])
Lookup = Callable[[str, str], tuple[int, list[tuple[str, int]]]]


@dataclass(frozen=True)
class RootKey:
    """The sandbox root's signing key (ECDSA P-256, algorithm 13), made at each start."""

    private: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @property
    def dnskey(self) -> dns.rdtypes.ANY.DNSKEY.DNSKEY:
        return dns.dnssec.make_dnskey(self.private.public_key(), dns.dnssectypes.Algorithm.ECDSAP256SHA256, flags=257)

    def sign(self, rrset: dns.rrset.RRset) -> dns.rrset.RRset:
        """The RRSIG of `rrset`, as an RRset of its own."""
        now = int(time.time())
        rrsig = dns.dnssec.sign(
            rrset, self.private, dns.name.root, self.dnskey, inception=now - 3600, expiration=now + 7 * 86400
        )
        return dns.rrset.from_rdata(rrset.name, rrset.ttl, rrsig)


ROOT_SOA = "root.sandbox.invalid. hostmaster.sandbox.invalid. 1 7200 3600 604800 300"
# What a denial says is there at a name: the types the lookup is asked about for an NSEC's bitmap.
_PRESENT = ("A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "PTR", "TLSA", "CAA", "SRV")


def _text(name: dns.name.Name) -> str:
    """A name as lookups take it: lower case, no final dot, the root "" (dnspython would say "@")."""
    return "" if name == dns.name.root else name.to_text(omit_final_dot=True).lower()


def _rrset(name: dns.name.Name, rdtype: str, rows: list[tuple[str, int]]) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(name, min(ttl for _, ttl in rows), "IN", rdtype, [text for text, _ in rows])


def _signed_lookup(lookup: Lookup, key: RootKey) -> Lookup:
    """`lookup` with the root's own records in front: its SOA and its key."""

    def rooted(name: str, rdtype: str) -> tuple[int, list[tuple[str, int]]]:
        if name == "":
            rows = {"SOA": [(ROOT_SOA, 300)], "DNSKEY": [(key.dnskey.to_text(), 3600)]}.get(rdtype, [])
            return 0, rows
        return lookup(name, rdtype)

    return rooted


def _deny(reply: dns.message.Message, qname: dns.name.Name, lookup: Lookup, key: RootKey) -> None:
    """No such name or type: NOERROR with an NSEC whose range holds qname alone, listing what is there."""
    name = _text(qname)
    present = [t for t in _PRESENT if (found := lookup(name, t))[0] == 0 and found[1]]
    nxt = dns.name.Name((b"\x00", *qname.labels))
    nsec = _rrset(qname, "NSEC", [(f"{nxt} {' '.join([*present, 'RRSIG', 'NSEC'])}", 300)])
    soa = _rrset(dns.name.root, "SOA", [(ROOT_SOA, 300)])
    reply.set_rcode(dns.rcode.NOERROR)
    for rrset in (soa, nsec):
        reply.authority += [rrset, key.sign(rrset)]


def answer(query: bytes, lookup: Lookup, key: RootKey | None = None, udp: bool = False) -> bytes | None:
    """The reply to one query. Signed replies over UDP keep to the asker's size and are truncated past it."""
    try:
        msg = dns.message.from_wire(query)
    except Exception:
        return None
    reply = dns.message.make_response(msg)
    reply.flags |= dns.flags.AA
    if len(msg.question) != 1:
        reply.set_rcode(dns.rcode.FORMERR)
        return reply.to_wire()
    q = msg.question[0]
    signer = key if key is not None and msg.ednsflags & dns.flags.DO else None
    if signer is not None:
        lookup = _signed_lookup(lookup, signer)
        reply.use_edns(0, dns.flags.DO, 1232)
    rcode, rows = lookup(_text(q.name), dns.rdatatype.to_text(q.rdtype))
    reply.set_rcode(dns.rcode.Rcode(rcode))
    if rows:
        rrset = _rrset(q.name, dns.rdatatype.to_text(q.rdtype), rows)
        reply.answer += [rrset, signer.sign(rrset)] if signer is not None else [rrset]
    elif signer is not None and rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        _deny(reply, q.name, lookup, signer)
    if signer is None or not udp:
        return reply.to_wire()
    try:
        return reply.to_wire(max_size=max(msg.payload, 512))
    except dns.exception.TooBig:
        truncated = dns.message.make_response(msg)
        truncated.flags |= dns.flags.AA | dns.flags.TC
        return truncated.to_wire()


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True


class DnsServer:
    """Serves `lookup` on host:port (UDP and TCP, same port), signed by `key` when given. `port=0` picks a
    free one."""

    def __init__(self, lookup: Lookup, host: str = "127.0.0.1", port: int = 0, key: RootKey | None = None) -> None:
        self.lookup = lookup
        self.key = key
        outer = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                out = answer(data, outer.lookup, outer.key, udp=True)
                if out:
                    sock.sendto(out, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = self.request.recv(2)
                if len(head) < 2:
                    return
                (length,) = struct.unpack("!H", head)
                data = b""
                while len(data) < length:
                    chunk = self.request.recv(length - len(data))
                    if not chunk:
                        return
                    data += chunk
                out = answer(data, outer.lookup, outer.key)
                if out:
                    self.request.sendall(struct.pack("!H", len(out)) + out)

        # With port 0 the system picks a free UDP port, whose TCP twin may be taken: then pick again.
        for _ in range(50):
            self.udp = socketserver.ThreadingUDPServer((host, port), Udp)
            self.port = self.udp.server_address[1]
            try:
                self.tcp = _TcpServer((host, self.port), Tcp)
                break
            except OSError:
                self.udp.server_close()
                if port:
                    raise
        else:
            raise OSError(f"no port on {host} is free for both UDP and TCP")
        for server in (self.udp, self.tcp):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, args=(0.05,), name="dns", daemon=True).start()
        self.address = f"{host}:{self.port}"

    def close(self) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()
