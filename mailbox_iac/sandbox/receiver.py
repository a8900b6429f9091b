"""The sandbox's stand-in for another mail server on the Internet: a listener on the sandbox network's
port 25 that greets like an MX and says goodbye. What `health` has each host probe its port 25 out against
(MAILBOX_IAC_HEALTH_PROBE), as a real host probes aspmx.l.google.com."""

from __future__ import annotations

import socketserver
import threading

GREETING = b"220 mx.sandbox.test ESMTP sandbox\r\n"


class _Greet(socketserver.StreamRequestHandler):
    timeout = 10

    def handle(self) -> None:
        self.wfile.write(GREETING)
        for line in self.rfile:
            if line.strip().upper() == b"QUIT":
                self.wfile.write(b"221 2.0.0 bye\r\n")
                return
            self.wfile.write(b"502 5.5.1 this sandbox MX only greets\r\n")


class Receiver(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str, port: int = 25) -> None:
        super().__init__((address, port), _Greet)
        self.target = f"{address}:{port}"
        threading.Thread(target=self.serve_forever, name="sandbox-mx", daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
