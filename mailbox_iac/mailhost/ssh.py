"""SSH to a mail host with paramiko: key login, a pinned host key, quoted commands, atomic uploads.

The host key is recorded on first contact (it becomes a resource output) and verified on every later
contact; a different key stops everything with a message that says what to check. Commands are argv
lists joined with `shlex.join`, never strings built from values; secrets never travel in argv.

`session` keeps the connections to each pinned host open for the life of the process (a provider process
serves a whole engine run): a refresh of a host with 25 mailboxes logs in once or twice, not 27 times.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import posixpath
import secrets
import shlex
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import paramiko


class SshError(Exception):
    pass


class HostKeyMismatch(SshError):
    pass


class SshUnreachable(SshError):
    """No SSH session could be opened: nothing answered, or the login was refused."""


class SshDropped(SshError):
    """The session ended under a command or a transfer. Every change on the host is staged and then
    switched in one step by a script detached from SSH, so the host is on its old or its new release,
    never between; the next `up` looks again and finishes the work."""

    def __init__(self, target: SshTarget, doing: str, cause: BaseException | str) -> None:
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}".rstrip(": ")
        super().__init__(
            f"the SSH session to {target.host}:{target.port} dropped while {doing} ({reason}); the host is on its "
            "previous configuration or the new one, never a mix: run `mailbox-iac up` again to finish"
        )


# What a dropped session raises inside an SFTP transfer (OSError is left out there: a missing file is one).
_TRANSFER_DROPPED = (paramiko.SSHException, EOFError, ConnectionError, TimeoutError)


class RemoteCommandFailed(SshError):
    def __init__(self, command: str, status: int, stderr: str) -> None:
        self.command, self.status, self.stderr = command, status, stderr
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        super().__init__(f"`{command}` exited with {status}:\n{tail}")


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int
    user: str
    private_key: str  # OpenSSH or PEM private key text (a secret)
    host_key: str = ""  # "ssh-ed25519 AAAA..." pinned; empty on first contact

    def __repr__(self) -> str:
        return f"SshTarget({self.user}@{self.host}:{self.port}, host_key={self.host_key[:24]!r})"

    @classmethod
    def of(cls, props: Mapping[str, Any]) -> SshTarget:
        """From a MailHost's properties or outputs (connection.SSH_KEYS)."""
        return cls(
            str(props["host"]),
            int(props.get("port") or 22),
            str(props.get("user") or "root"),
            str(props["private_key"]),
            str(props.get("host_key") or ""),
        )


def load_private_key(text: str) -> paramiko.PKey:
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise SshError("the SSH private key is not an Ed25519, ECDSA or RSA key in OpenSSH or PEM format")


class _RecordFirstKey(paramiko.MissingHostKeyPolicy):
    """Accept the key of a host we have never seen, so it can be pinned. Only used when nothing is pinned."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        return None


class SshConnection:
    def __init__(self, target: SshTarget, timeout: float = 20.0) -> None:
        self.target = target
        self.client = paramiko.SSHClient()
        name = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
        if target.host_key:
            kind, _, data = target.host_key.partition(" ")
            key = paramiko.PKey.from_type_string(kind, base64.b64decode(data.split()[0]))
            self.client.get_host_keys().add(name, kind, key)
            self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            self.client.set_missing_host_key_policy(_RecordFirstKey())
        try:
            self.client.connect(
                target.host,
                target.port,
                target.user,
                pkey=load_private_key(target.private_key),
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException as exc:
            got = f"{exc.key.get_name()} {exc.key.get_base64()}"
            raise HostKeyMismatch(
                f"the SSH host key of {target.host}:{target.port} changed: pinned {target.host_key[:60]}..., "
                f"offered {got[:60]}.... This happens when a server was rebuilt or when someone is in the "
                "middle. If the server was rebuilt on purpose, replace the MailHost resource (or clear its "
                "host_key); otherwise stop and investigate."
            ) from None
        except (paramiko.SSHException, OSError) as exc:
            raise SshUnreachable(f"cannot connect to {target.user}@{target.host}:{target.port}: {exc}") from None
        _without_nagle(self.client)
        self._sftp: paramiko.SFTPClient | None = None

    @property
    def host_key(self) -> str:
        transport = self.client.get_transport()
        if transport is None:
            raise SshError("not connected")
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"

    @property
    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def __enter__(self) -> SshConnection:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._sftp:
            self._sftp.close()
        self.client.close()

    def run(self, argv: list[str] | str, *, check: bool = True, stdin: bytes | None = None) -> tuple[int, str, str]:
        """Run a command (argv list, quoted here; or a fixed script string). Returns (status, stdout, stderr)."""
        command = argv if isinstance(argv, str) else shlex.join(argv)
        shown = command if len(command) < 80 else command[:80] + "..."
        try:
            chan_in, chan_out, chan_err = self.client.exec_command(command, timeout=600)  # argv quoted  # nosec B601
            if stdin is not None:
                chan_in.write(stdin)
                chan_in.channel.shutdown_write()
            out = chan_out.read().decode("utf-8", "replace")
            err = chan_err.read().decode("utf-8", "replace")
            status = chan_out.channel.recv_exit_status()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SshDropped(self.target, f"running `{shown}`", exc) from None
        if status == -1:  # the channel closed without an exit status: the session is gone
            raise SshDropped(self.target, f"running `{shown}`", "no exit status")
        if check and status != 0:
            raise RemoteCommandFailed(command if len(command) < 200 else command[:200] + "...", status, err)
        return status, out, err

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self.client.open_sftp()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise SshDropped(self.target, "opening SFTP", exc) from None
        return self._sftp

    def put(self, path: str, data: bytes, mode: int = 0o644, owner: str = "root", group: str = "root") -> None:
        """Write a file atomically: a temporary file beside it, mode and owner set, then rename over."""
        tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.{secrets.token_hex(4)}.tmp")
        try:
            with self.sftp.open(tmp, "wb") as f:
                f.chmod(mode)
                f.write(data)
            if (owner, group) != ("root", "root"):
                self.run(["chown", f"{owner}:{group}", tmp])
            self.sftp.posix_rename(tmp, path)
        except _TRANSFER_DROPPED as exc:
            raise SshDropped(self.target, f"uploading {path}", exc) from None

    def read(self, path: str) -> bytes | None:
        try:
            with self.sftp.open(path, "rb") as f:
                data: Any = f.read()
                return bytes(data)
        except FileNotFoundError:
            return None
        except _TRANSFER_DROPPED as exc:
            raise SshDropped(self.target, f"reading {path}", exc) from None


def _without_nagle(client: paramiko.SSHClient) -> None:
    """Every command is a few small packets each way (open a channel, exec, its output, its exit): with
    Nagle's algorithm on, each waits for the server's delayed ACK (40 ms on Linux), as OpenSSH's own client
    avoids by setting TCP_NODELAY too."""
    transport = client.get_transport()
    if transport is not None and isinstance(transport.sock, socket.socket):
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass
class _Kept:
    """The open sessions to one host: idle ones, and how many are open or being opened."""

    ready: threading.Condition = field(default_factory=threading.Condition)
    idle: list[SshConnection] = field(default_factory=list)
    size: int = 0


_KEPT: dict[tuple[str, int, str, str, str], _Kept] = {}
_KEPT_GUARD = threading.Lock()
# A change waits this long for a kept session before it opens another, up to MAX_SESSIONS per host, so that
# a long step (an ACME order, a converge) does not hold the others up; reads only ever wait (a refresh of a
# host logs in once).
WAIT_FOR_KEPT = 1.0
MAX_SESSIONS = 4  # the dynamic provider's worker threads


def _take(kept: _Kept, target: SshTarget, read_only: bool) -> SshConnection:
    with kept.ready:
        deadline = time.monotonic() + (float("inf") if read_only else WAIT_FOR_KEPT)
        while True:
            while kept.idle:
                conn = kept.idle.pop()
                if conn.alive:
                    return conn
                conn.close()
                kept.size -= 1
            left = deadline - time.monotonic()
            if kept.size < MAX_SESSIONS and (kept.size == 0 or left <= 0):
                kept.size += 1
                break
            kept.ready.wait(timeout=None if read_only or kept.size >= MAX_SESSIONS else left)
    try:
        return SshConnection(target)
    except BaseException:
        with kept.ready:
            kept.size -= 1
            kept.ready.notify()
        raise


@contextlib.contextmanager
def session(target: SshTarget, read_only: bool = False) -> Iterator[SshConnection]:
    """A connection to `target` for one caller at a time (paramiko's SFTP client is not to be shared),
    kept open for the next caller and opened again when it dropped. Kept under the pin and the login key:
    a caller that pins another host key never gets these sessions. Unpinned (a first contact): never kept.
    `read_only`: the caller waits for an open session rather than opening another."""
    if not target.host_key:
        with SshConnection(target) as conn:
            yield conn
        return
    login = hashlib.sha256(target.private_key.encode()).hexdigest()
    with _KEPT_GUARD:
        kept = _KEPT.setdefault((target.host, target.port, target.user, target.host_key, login), _Kept())
    conn = _take(kept, target, read_only)
    dropped = False
    try:
        yield conn
    except SshDropped:
        dropped = True
        raise
    finally:
        with kept.ready:
            if dropped:
                conn.close()
                kept.size -= 1
            else:
                kept.idle.append(conn)
            kept.ready.notify()
