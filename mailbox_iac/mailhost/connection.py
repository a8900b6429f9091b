"""What the mail-host code needs of a host: run a command, read and write a file. `ssh.SshConnection` is the
real one (paramiko); tests hold a strict fake that answers only the commands it was given."""

from __future__ import annotations

from typing import Protocol

SSH_KEYS = ("host", "port", "user", "private_key", "host_key")  # how a MailHost logs in: its inputs and outputs


class Connection(Protocol):
    def run(self, argv: list[str] | str, *, check: bool = True, stdin: bytes | None = None) -> tuple[int, str, str]:
        """Run an argv (quoted by the connection) or a fixed script; (status, stdout, stderr). `check`: a
        non-zero status raises `ssh.RemoteCommandFailed`."""
        ...

    def put(self, path: str, data: bytes, mode: int = 0o644, owner: str = "root", group: str = "root") -> None: ...

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        ...
