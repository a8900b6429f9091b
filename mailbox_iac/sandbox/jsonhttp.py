"""What the sandbox's HTTP emulators share: a quiet JSON request handler and a background server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK wait between

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests and the sandbox log want no request lines

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.reply_raw(status, json.dumps(body).encode(), "application/json", headers)

    def reply_raw(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class RoutedHandler(JsonHandler):
    """Every HTTP method goes to `handle_method(method)`: an emulator routes by path itself."""

    def handle_method(self, method: str) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:
        self.handle_method("GET")

    def do_POST(self) -> None:
        self.handle_method("POST")

    def do_PUT(self) -> None:
        self.handle_method("PUT")

    def do_PATCH(self) -> None:
        self.handle_method("PATCH")

    def do_DELETE(self) -> None:
        self.handle_method("DELETE")


def serve_in_background(handler: type[BaseHTTPRequestHandler], host: str, port: int, name: str) -> ThreadingHTTPServer:
    """Serve in a daemon thread; the caller owns `server.shutdown()`."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True).start()
    return server
