"""SPF terms a spec may add, and the RFC 7208 DNS-lookup budget."""

from __future__ import annotations

import ipaddress
import re

MAX_LOOKUPS = 10  # RFC 7208 section 4.6.4
_LOOKUP_MECHANISMS = {"include", "a", "mx", "exists"}
_END = r"(?![\s\S])"  # end of string in both ECMA-262 and Python (`$` also matches before a final newline)
_DOMAIN_SPEC = r"[a-z0-9._%{}-]+"


def _ci(word: str) -> str:
    """`word` in any case, without a flag (JSON Schema patterns have none): mechanisms are case-insensitive."""
    return "".join(f"[{c}{c.upper()}]" for c in word)


# The terms accepted, as one pattern: also the JSON Schema's (schema/tenant.schema.json).
SPF_TERM_PATTERN = (
    rf"^[+~?-]?(?:(?:{_ci('include')}|{_ci('exists')}):{_DOMAIN_SPEC}"
    rf"|(?:{_ci('a')}|{_ci('mx')})(?::{_DOMAIN_SPEC})?(?:/[0-9]{{1,2}})?(?://[0-9]{{1,3}})?"
    rf"|{_ci('ip4')}:[0-9./]+|{_ci('ip6')}:[0-9a-fA-F:./]+){_END}"
)


def _mechanism(body: str) -> str:
    return re.split(r"[:/=]", body, maxsplit=1)[0].lower()


def check_term(term: str) -> str:
    """Validate one extra SPF term (`include:_spf.google.com`, `ip4:192.0.2.0/24`, `~a:relay.example.com`)."""
    body = term[1:] if term[:1] in "+-~?" else term
    name = _mechanism(body)
    arg = body[len(name) + 1 :] if body[len(name) : len(name) + 1] == ":" else ""
    if name == "all" or body.lower().startswith(("v=spf1", "redirect=", "exp=")):
        raise ValueError(f"SPF term {term!r} is added by mailbox-iac itself; remove it from the spec")
    if name == "ptr":
        raise ValueError("SPF 'ptr' is deprecated by RFC 7208 (slow, unreliable); use ip4/ip6/a instead")
    if name not in {"include", "exists", "a", "mx", "ip4", "ip6"}:
        raise ValueError(f"{term!r} is not an SPF mechanism mailbox-iac accepts (include, a, mx, exists, ip4, ip6)")
    if name in {"include", "exists"} and not arg:
        raise ValueError(f"SPF term {term!r} needs a domain ({name}:example.com)")
    domain = arg.split("/", 1)[0] if name not in {"ip4", "ip6"} else ""
    if domain and not re.fullmatch(_DOMAIN_SPEC, domain):
        raise ValueError(f"SPF term {term!r} has an invalid domain {domain!r}")
    if not re.search(SPF_TERM_PATTERN, term):
        raise ValueError(f"SPF term {term!r} is not valid: {name}:<domain>, and for a and mx /<prefix> (//<v6 prefix>)")
    if name in {"ip4", "ip6"}:
        try:
            net = ipaddress.ip_network(arg, strict=False)
        except ValueError:
            raise ValueError(f"SPF term {term!r}: {arg!r} is not an IP address or network") from None
        if (name == "ip4") != (net.version == 4):
            raise ValueError(f"SPF term {term!r}: address family does not match {name}")
    return term


def lookup_count(terms: list[str]) -> int:
    """DNS-querying terms among `terms` (nested includes are not followed: that needs live DNS)."""
    count = 0
    for term in terms:
        body = term[1:] if term[:1] in "+-~?" else term
        if _mechanism(body) in _LOOKUP_MECHANISMS | {"redirect"}:
            count += 1
    return count
