"""Record values for mail authentication (anchors.md section 4). Pure string builders, no I/O."""

from __future__ import annotations

import hashlib

from mailbox_iac.spec.model import Dmarc, MtaSts, Spf, TlsRpt

MX_PRIORITY = 10
NULL_MX = "."  # RFC 7505: preference 0, exchange "."


def spf(policy: Spf) -> str:
    # `mx` authorises the domain's own mail host without waiting for its IP (one lookup of the ten).
    return " ".join(["v=spf1", "mx", *policy.extra, policy.all])


SPF_NOTHING = "v=spf1 -all"
SPF_HELO = "v=spf1 a -all"  # the mail hostname sends as itself only (its A record)


def dkim(public_key_b64: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_key_b64}"


def dmarc(policy: Dmarc) -> str:
    """RFC 9989: no `pct` (removed); `t=y` replaces pct=0 as the test mode."""
    tags = ["v=DMARC1", f"p={policy.policy}"]
    if policy.subdomain_policy:
        tags.append(f"sp={policy.subdomain_policy}")
    if policy.rua:
        tags.append(f"rua=mailto:{policy.rua}")
    tags += [f"adkim={policy.adkim}", f"aspf={policy.aspf}"]
    if policy.testing:
        tags.append("t=y")
    return "; ".join(tags)


DMARC_REJECT = "v=DMARC1; p=reject"


def mta_sts_policy(policy: MtaSts, mx_hosts: list[str]) -> str:
    """The policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461, CRLF lines)."""
    lines = ["version: STSv1", f"mode: {policy.mode}", *(f"mx: {h}" for h in mx_hosts), f"max_age: {policy.max_age}"]
    return "\r\n".join(lines) + "\r\n"


def mta_sts_txt(policy_text: str) -> str:
    """`id` changes whenever the policy does (20 hex characters, within the 32 alphanumerics allowed)."""
    return f"v=STSv1; id={hashlib.sha256(policy_text.encode()).hexdigest()[:20]}"


def tls_rpt(policy: TlsRpt) -> str:
    return f"v=TLSRPTv1; rua=mailto:{policy.rua}"
