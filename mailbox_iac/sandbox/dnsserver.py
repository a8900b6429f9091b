"""A small authoritative DNS server over UDP and TCP, answering from a lookup function.

The sandbox's emulators use it so that every check (PTR, records at the zone's authoritative server)
goes over the real DNS protocol with a real resolver library.
"""

from __future__ import annotations

import socketserver
import struct
import threading
from collections.abc import Callable

import dns.flags
import dns.message
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

# (qname without trailing dot, lower case; rdtype text) -> (rcode, [(rdata text, ttl)])
Lookup = Callable[[str, str], tuple[int, list[tuple[str, int]]]]


def answer(query: bytes, lookup: Lookup) -> bytes | None:
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
    name = q.name.to_text(omit_final_dot=True).lower()
    rcode, rows = lookup(name, dns.rdatatype.to_text(q.rdtype))
    reply.set_rcode(dns.rcode.Rcode(rcode))
    for text, ttl in rows:
        rrset = reply.find_rrset(reply.answer, q.name, dns.rdataclass.IN, q.rdtype, create=True)
        rrset.add(dns.rdata.from_text(dns.rdataclass.IN, q.rdtype, text), ttl)
    return reply.to_wire()


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True


class DnsServer:
    """Serves `lookup` on host:port (UDP and TCP, same port). `port=0` picks a free one."""

    def __init__(self, lookup: Lookup, host: str = "127.0.0.1", port: int = 0) -> None:
        self.lookup = lookup
        outer = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                out = answer(data, outer.lookup)
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
                out = answer(data, outer.lookup)
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
