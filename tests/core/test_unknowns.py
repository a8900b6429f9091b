"""Previews hand dynamic providers `pulumi.output.Unknown` objects for values not known yet (a new server's
IP, a new DKIM key), at any depth: `check` and `diff` of every provider take them without an error."""

from __future__ import annotations

from pulumi.output import UNKNOWN
from pulumi.runtime import rpc

from hostwinds_dynamic.provider import InstanceProvider, ReverseDnsProvider
from mailbox_iac.mailhost.provider import MailboxProvider, MailHostProvider
from mailbox_iac.unknown import has_unknown, is_unknown


def test_unknowns_are_found_at_any_depth() -> None:
    assert is_unknown(UNKNOWN) and is_unknown(rpc.UNKNOWN) and not is_unknown("x")
    assert has_unknown({"a": [1, {"b": UNKNOWN}]}) and not has_unknown({"a": [1, {"b": "c"}]})


def test_reverse_dns_of_a_new_server_checks_and_diffs() -> None:
    provider = ReverseDnsProvider()
    news = {"serviceid": UNKNOWN, "ip": UNKNOWN, "hostname": "mail.example.com"}
    assert provider.check({}, news).failures == []
    olds = {"serviceid": 7, "ip": "192.0.2.7", "hostname": "mail.example.com"}
    result = provider.diff("7/192.0.2.7", olds, news)
    assert result.changes and set(result.replaces or []) == {"serviceid", "ip"}


def test_instance_with_an_unknown_key_name_checks() -> None:
    news = {
        "location_id": 12,
        "template": "debian-12",
        "rid": 52,
        "srvrname": "mbx-t-mx1",
        "ssh_keys": ["k", UNKNOWN],
    }
    assert InstanceProvider().check({}, news).failures == []


def test_mail_host_with_a_new_dkim_key_diffs_as_a_file_change() -> None:
    olds = {"host": "192.0.2.7", "port": 22, "files": {"/etc/x": "00"}}
    news = {
        "host": "192.0.2.7",
        "port": 22,
        "plan": {"hostname": "mail.example.com"},
        "dkim_keys": {"example.com/s2": UNKNOWN},
    }
    result = MailHostProvider().diff("192.0.2.7:22", olds, news)
    assert result.changes and result.replaces == []


def test_mailbox_on_a_new_server_checks_and_diffs_as_a_replacement() -> None:
    news = {"host": UNKNOWN, "private_key": UNKNOWN, "address": "a@example.com", "password": UNKNOWN}
    assert MailboxProvider().check({}, news).failures == []
    olds = {"host": "192.0.2.7", "port": 22, "address": "a@example.com", "password": "p", "quota_mb": 1}
    assert MailboxProvider().diff("x", olds, {**news, "port": 22, "quota_mb": 1}).replaces == ["host"]
