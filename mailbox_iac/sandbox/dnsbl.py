"""The blocklists on the sandbox's DNS: every zone of `checks.blocklist.DEFAULT_LISTS` answers NXDOMAIN (not
listed) but for the answers in `.state/sandbox/blocklists.json` ({question: address}). A test or a demo lists
an address or a domain, or makes a list refuse the resolver (127.255.255.254), with `answer`; the file is
read at every question, so a change shows at once."""

from __future__ import annotations

import json
from pathlib import Path

from mailbox_iac.checks.blocklist import DEFAULT_LISTS, question


def _listings(base: Path) -> dict[str, str]:
    try:
        return dict(json.loads((base / "blocklists.json").read_text()))
    except FileNotFoundError:
        return {}


def lookup(base: Path, name: str, rdtype: str) -> tuple[int, list[tuple[str, int]]] | None:
    """The answer to `name` when it is a blocklist's question (None otherwise): its listing, else NXDOMAIN."""
    name = name.rstrip(".").lower()
    if not any(name.endswith("." + b.zone) for b in DEFAULT_LISTS):
        return None
    found = _listings(base).get(name)
    if found is None:
        return (3, [])
    return (0, [(found, 60)] if rdtype == "A" else [])


def answer(base: Path, subject: str, list_name: str, address: str | None) -> None:
    """Make the list named `list_name` answer `address` about `subject` (None: not listed any more)."""
    [blocklist] = [b for b in DEFAULT_LISTS if b.name == list_name]
    listings = _listings(base)
    if address is None:
        listings.pop(question(subject, blocklist), None)
    else:
        listings[question(subject, blocklist)] = address
    tmp = base / "blocklists.json.tmp"
    tmp.write_text(json.dumps(listings, indent=2))
    tmp.rename(base / "blocklists.json")
