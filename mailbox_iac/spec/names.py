"""Syntax of the names a spec may contain: hostnames, local parts, addresses, identifiers.

These are deliberately stricter than the RFCs where the RFC allows characters that would be dangerous
in the files and commands a name ends up in (maildir paths, Postfix maps, shell arguments).
"""

from __future__ import annotations

import re

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# RFC 5321 dot-atom restricted to letters, digits and . _ - : no '+' (Postfix's recipient delimiter),
# no '/' (maildir paths), no quotes, '$', '|' or other characters that mean something to a shell or map.
_LOCAL = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_IDENT = re.compile(r"[a-z][a-z0-9-]{0,39}")

# The same rules as JSON Schema patterns (schema/tenant.schema.json, for editors). They must mean the same in
# ECMA-262 and Python's `re.search` (what validators use), where `$` also matches before a final newline:
# hence END. tests/core/test_schema.py checks each pattern against its function on generated strings.
END = r"(?![\s\S])"
_LABEL_RE = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME_PATTERN = rf"^(?=[\s\S]{{1,253}}{END})(?:{_LABEL_RE}\.)+(?![0-9]+{END}){_LABEL_RE}{END}"
LOCAL_PART_PATTERN = rf"^(?=[\s\S]{{1,64}}{END})[a-z0-9_-]+(?:\.[a-z0-9_-]+)*{END}"
IDENTIFIER_PATTERN = rf"^[a-z][a-z0-9-]{{0,39}}{END}"
_TOKEN = rf"(?:{_LABEL_RE}|\{{domain\}})"
ADDRESS_PATTERN = (
    rf"^(?=[^@]{{1,64}}@)[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?=[\s\S]{{1,253}}{END})"
    rf"(?:(?:{_TOKEN}\.)+(?![0-9]+{END}){_TOKEN}|\{{domain\}}){END}"
)
DISPLAY_NAME_PATTERN = rf"^[^\x00-\x1f\x7f]{{0,128}}{END}"


def _printable(value: str) -> str:
    return value.encode("unicode_escape").decode("ascii")


def check_hostname(value: str) -> str:
    """A fully qualified, ASCII (punycode for IDNs), lower-case hostname without trailing dot."""
    if value != value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"hostname '{_printable(value)}' contains white space")
    if value.endswith("."):
        raise ValueError(f"hostname {value!r} must not end with a dot")
    if not value.isascii():
        raise ValueError(
            f"hostname '{_printable(value)}' is not ASCII; write internationalised names in punycode (xn--...)"
        )
    if value != value.lower():
        raise ValueError(f"hostname {value!r} must be lower case")
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2:
        raise ValueError(f"{value!r} is not a fully qualified hostname")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise ValueError(f"hostname {value!r} has an invalid label {label!r}")
    if labels[-1].isdigit():
        raise ValueError(f"hostname {value!r} has a numeric top-level label")
    return value


def check_local_part(value: str) -> str:
    if len(value) > 64 or not _LOCAL.fullmatch(value):
        raise ValueError(
            f"local part '{_printable(value)}' is not allowed: use lower-case letters, digits and . _ - "
            "(dot-atom, no leading, trailing or double dots, at most 64 characters)"
        )
    return value


def check_address(value: str) -> str:
    """An address written in a spec (report or forwarding target). `{domain}` stands for the domain."""
    local, at, domain = value.rpartition("@")
    if not at:
        raise ValueError(f"'{_printable(value)}' is not an email address")
    check_local_part(local.replace("+", "-"))
    check_hostname(domain.replace("{domain}", "a.domain"))  # a stand-in of the same length
    if not re.search(ADDRESS_PATTERN, value):
        raise ValueError(f"'{_printable(value)}': {{domain}} must stand for whole labels, e.g. reports@{{domain}}")
    return value


def check_identifier(value: str, what: str) -> str:
    if not _IDENT.fullmatch(value):
        raise ValueError(
            f"{what} '{_printable(value)}' must start with a letter and contain only a-z, 0-9 and '-' (max 40)"
        )
    return value


def check_display_name(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"display name '{_printable(value)}' contains control characters")
    if len(value) > 128:
        raise ValueError("display name is longer than 128 characters")
    return value


def is_within(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def name_parts(display_name: str, address: str) -> tuple[str, str]:
    """(first, last) as sequencers want names: the display name's first word and the rest; the local part
    when there is no display name."""
    name = display_name.strip()
    if not name:
        return address.split("@")[0], ""
    first, _, last = name.partition(" ")
    return first, last.strip()
