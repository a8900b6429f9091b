"""The MTA-STS policy a domain serves (RFC 8461 §3.3): `https://mta-sts.<domain>/.well-known/mta-sts.txt`
answers 200, as text/plain, with the planned policy, over a certificate that verifies for that name."""

from __future__ import annotations

import http.client
import socket
import ssl

from mailbox_iac.checks.result import Check, Result, Severity, Stage

SERVED = Check(
    "mta_sts.policy",
    Severity.error,
    frozenset({Stage.verify, Stage.health}),
    "the domain's MTA-STS policy is served as planned (HTTPS, 200, text/plain, verified certificate)",
)
PATH = "/.well-known/mta-sts.txt"


class _Https(http.client.HTTPSConnection):
    """HTTPS to `ip`, the certificate verified for the policy host (no name lookup of our own)."""

    def __init__(self, ip: str, host: str, tls: ssl.SSLContext, port: int) -> None:
        super().__init__(host, port, timeout=15, context=tls)
        self._ip, self._tls = ip, tls

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), 15)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def policy(domain: str, ip: str, planned: str, tls: ssl.SSLContext, port: int = 443) -> Result:
    host = f"mta-sts.{domain}"
    conn = _Https(ip, host, tls, port)
    try:
        conn.request("GET", PATH, headers={"Host": host})
        response = conn.getresponse()
        body = response.read(65536).decode("utf-8", "replace")
    except ssl.SSLCertVerificationError as exc:
        return SERVED.result(domain, False, f"https://{host}: {exc.verify_message}")
    except (OSError, http.client.HTTPException) as exc:
        return SERVED.result(domain, False, f"https://{host}: {type(exc).__name__}")
    finally:
        conn.close()
    kind = response.getheader("Content-Type", "")
    if response.status != 200 or not kind.startswith("text/plain"):
        return SERVED.result(domain, False, f"https://{host}{PATH}: {response.status} {kind or 'no Content-Type'}")
    if body != planned:
        return SERVED.result(domain, False, f"serves {body[:80]!r}, planned {planned[:80]!r}")
    return SERVED.result(domain, True)
