"""A milter on the submission ports: a logged-in mailbox sends only with a header From it may use.

Postfix ties the envelope sender to the SASL login (`reject_sender_login_mismatch`); nothing in Postfix
looks at the header From, which is what the reader sees and DMARC aligns. This filter reads the same
`sender_logins` map (address -> logins) so that both rules come from one file, and refuses a message
whose From names an address the login may not use, or that has no From or several.

This file is copied to the mail host and run there by Debian's python3 with python3-milter
(`python3 from_guard.py SOCKET SENDER_LOGINS`): standard library only at the top, so that the pure
`refusal` can be tested here without pymilter.
"""

from __future__ import annotations

import os
import sys
from email.utils import getaddresses


def parse_logins(text: str) -> dict[str, frozenset[str]]:
    """login -> the addresses it may send as, from a Postfix `address login[,login...]` table."""
    allowed: dict[str, set[str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 2 or line.startswith("#"):
            continue
        for login in fields[1].split(","):
            allowed.setdefault(login.lower(), set()).add(fields[0].lower())
    return {login: frozenset(addresses) for login, addresses in allowed.items()}


def refusal(login: str | None, from_headers: list[str], allowed: dict[str, frozenset[str]]) -> str | None:
    """Why the message is refused, or None. Mail nobody logged in for is not this filter's to judge."""
    if not login:
        return None
    if len(from_headers) != 1:
        return f"a message needs exactly one From header (RFC 5322 section 3.6), this one has {len(from_headers)}"
    addresses = [address.lower() for _, address in getaddresses(from_headers)]
    if not addresses or "" in addresses:
        return "the From header holds no address"
    mine = allowed.get(login.lower(), frozenset())
    foreign = [address for address in addresses if address not in mine]
    if foreign:
        return f"{login} may not send with From: {', '.join(foreign)}"
    return None


class _Table:
    """The sender_logins map, read again when the file behind the path (a release's) changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.seen: tuple[str, int] | None = None
        self.allowed: dict[str, frozenset[str]] = {}

    def current(self) -> dict[str, frozenset[str]]:
        real = os.path.realpath(self.path)
        seen = (real, os.stat(real).st_mtime_ns)
        if seen != self.seen:
            with open(real, encoding="utf-8") as table:
                self.allowed = parse_logins(table.read())
            self.seen = seen
        return self.allowed


def main(socket: str, table_path: str) -> None:
    import Milter  # type: ignore[import-not-found]  # Debian's python3-milter, on the mail host only

    table = _Table(table_path)
    go_on: int = Milter.CONTINUE
    reject: int = Milter.REJECT

    class FromGuard(Milter.Base):  # type: ignore[misc]
        def envfrom(self, mailfrom: str, *params: str) -> int:
            self.login = self.getsymval("{auth_authen}")
            self.froms: list[str] = []
            return go_on

        def header(self, name: str, value: str) -> int:
            if name.lower() == "from":
                self.froms.append(value)
            return go_on

        def eoh(self) -> int:
            why = refusal(self.login, self.froms, table.current())
            if why is None:
                return go_on
            print(f"refused ({self.getsymval('i')}): {why}", flush=True)
            self.setreply("550", "5.7.1", why)
            return reject

    Milter.factory = FromGuard
    Milter.runmilter("from-guard", socket, timeout=60)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
