"""A strict stand-in for a host (`mailhost.connection.Connection`): it answers only the commands it was
given and fails the test on any other, so a test states every command the code under it runs."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from mailbox_iac.mailhost.ssh import RemoteCommandFailed


@dataclass
class StrictHost:
    answers: dict[str, tuple[int, str]] = field(default_factory=dict)  # command -> (status, stdout)
    files: dict[str, bytes] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)

    def run(self, argv: list[str] | str, *, check: bool = True, stdin: bytes | None = None) -> tuple[int, str, str]:
        command = argv if isinstance(argv, str) else shlex.join(argv)
        if command not in self.answers:
            raise AssertionError(f"unexpected command on the host: {command}")
        self.ran.append(command)
        status, out = self.answers[command]
        if check and status != 0:
            raise RemoteCommandFailed(command, status, "")
        return status, out, ""

    def put(self, path: str, data: bytes, mode: int = 0o644, owner: str = "root", group: str = "root") -> None:
        self.files[path] = data

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)
