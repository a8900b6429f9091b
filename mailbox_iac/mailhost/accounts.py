"""Mailbox accounts on the host: one Dovecot passwd-file per mailbox (`users/<domain>/<local>`).

One file per account means parallel creates never contend for a shared file and each change is one
atomic rename. Passwords are hashed (ARGON2ID) in this process; only the hash crosses the wire and lands
on disk. Dovecot re-reads a passwd-file when it changes, so new passwords work without any restart.
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mailbox_iac.mailhost import facts
from mailbox_iac.mailhost.connection import Connection
from mailbox_iac.mailhost.render import USERS_DIR, user_line

# OWASP's Argon2id configuration (19 MiB, 2 passes; libsodium, Dovecot's ARGON2ID, verifies only
# parallelism 1). The passwords are 24 random letters and digits (143 bits): no cost setting protects them
# further, while every login and every account written pays it (34 ms instead of 32 MiB x 3 passes' 86 ms).
# Hashes already on a host keep their own parameters: the hash carries them.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(argon2_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(argon2_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def account_path(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{USERS_DIR}/{domain}/{local}"


def account_line(address: str, password: str, quota_mb: int) -> str:
    """The account's passwd-file line, with the password hashed (in this process: ARGON2ID, slow on purpose)."""
    return user_line(address, hash_password(password), quota_mb)


# Accounts as `path` and `line` pairs on stdin (a line holds the hash, never the password, and no newline),
# each written beside its file and renamed over it. Dovecot reloads a passwd-file only when its mtime (whole
# seconds) or size changed, and a new password's line has the old one's size: a file rewritten within the
# second it was last written would keep serving the old password. The new file's mtime is moved past the
# old one's when the clock has not.
_WRITE_ACCOUNTS = """set -e
umask 077
while IFS= read -r path && IFS= read -r line; do
  install -d -m 0750 -o root -g dovecot "${path%/*}"
  old=$(stat -c %Y "$path" 2>/dev/null || echo 0)
  new="${path%/*}/.${path##*/}.new"
  printf '%s\\n' "$line" > "$new"
  chown root:dovecot "$new" && chmod 0640 "$new" && mv -f "$new" "$path"
  [ "$(stat -c %Y "$path")" -gt "$old" ] || touch -m -d "@$((old + 1))" "$path"
done
"""


def write_accounts(conn: Connection, lines: list[tuple[str, str]]) -> None:
    """Write accounts, each an `(address, account_line(...))`, in one command."""
    data = "".join(account_path(address) + "\n" + line.rstrip("\n") + "\n" for address, line in lines)
    conn.run(["sh", "-c", _WRITE_ACCOUNTS], stdin=data.encode())


def parse_accounts(_status: int, out: str) -> dict[str, tuple[str, int]]:
    """`grep -r -Z` lines (`./<domain>/<local>`, NUL, the file's line) -> {address: (hash, quota MB)}. An
    emptied file (a deleted account) prints no line, so it is absent, as a missing one is."""
    found = {}
    for row in out.splitlines():
        path, nul, line = row.partition("\0")
        domain, slash, local = path.removeprefix("./").partition("/")
        if nul and slash:
            found[f"{local}@{domain}"] = parse_account(f"{local}@{domain}", line)
    return found


# Every account of the host in one command (a refresh reads all of a host's mailboxes at once).
ACCOUNTS = facts.Reader(f"cd {USERS_DIR} 2>/dev/null && grep -r -Z --exclude='.*' '' . ; true", parse_accounts)


def parse_account(address: str, line: str) -> tuple[str, int]:
    """(hash, quota MB) from a passwd-file line; ("", 0) for a line that is not this account's."""
    fields = line.strip().split(":")
    if len(fields) < 2 or fields[0] != address:
        return ("", 0)
    quota = re.search(r"userdb_quota_rule=\*:storage=(\d+)M", line)
    return fields[1].removeprefix("{ARGON2ID}"), int(quota.group(1)) if quota else 0


def delete_account(conn: Connection, address: str) -> None:
    """Remove the account and end its open sessions (mail stays in the maildir until the host goes).

    The file is emptied, not removed: Dovecot keeps serving its cached copy of a passwd-file that has
    disappeared, while an emptied one is re-read and no longer knows the user."""
    conn.put(account_path(address), b"", 0o640, "root", "dovecot")
    # Dovecot looks at a changed passwd-file at most once a second: return only once it no longer knows
    # the user, so that "deleted" means "cannot log in".
    conn.run(
        [
            "sh",
            "-c",
            'for i in $(seq 40); do doveadm user "$1" >/dev/null 2>&1 || exit 0; sleep 0.25; done; exit 1',
            "sh",
            address,
        ]
    )
    conn.run(["doveadm", "kick", address], check=False)
