"""IPv6 decided, not left to chance: off by default (every daemon on IPv4 only; readiness's dns.no-aaaa
proves no AAAA invites receivers onto IPv6), and refused where the backend cannot set an IPv6 PTR."""

from __future__ import annotations

import pytest

from mailbox_iac.mailhost import render
from mailbox_iac.plan.planner import plan
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file


def test_ipv6_is_decided_off_by_default_and_refused_where_no_ipv6_ptr_can_be_set(write_spec, spec_data) -> None:
    [host] = plan(load_file(write_spec(spec_data)).tenant).mailhosts
    files = render.render(host, dict.fromkeys(host.dkim, "-----BEGIN PRIVATE KEY-----"))
    assert "inet_protocols = ipv4\n" in files["postfix/main.cf"].content
    assert "listen = *\n" in files["dovecot/dovecot.conf"].content and "[::]" not in files["nginx/nginx.conf"].content
    spec_data["servers"]["mx1"]["ipv6"] = True
    with pytest.raises(SpecInvalid, match=r"servers.mx1.ipv6: Hostwinds documents reverse DNS \(set_rdns\) for IPv4"):
        load_file(write_spec(spec_data))
