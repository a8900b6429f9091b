"""Field syntax and cross-field rules, each with its exact message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file, load_paths


def only_error(write_spec, data: dict[str, Any]) -> str:
    with pytest.raises(SpecInvalid) as info:
        load_file(write_spec(data))
    assert len(info.value.errors) == 1, info.value.errors
    err = info.value.errors[0]
    return f"{err.field}: {err.message}"


def test_duplicate_mailbox(write_spec, spec_data) -> None:
    spec_data["domains"][0]["mailboxes"] = ["alice", "bob", {"local": "alice", "name": "Again"}]
    assert only_error(write_spec, spec_data) == (
        "domains[0].mailboxes[2].local: mailbox alice@tiny.example is declared twice (also mailboxes[0])"
    )


def test_duplicate_domain(write_spec, spec_data) -> None:
    spec_data["domains"].append({"name": "tiny.example"})
    assert (
        only_error(write_spec, spec_data)
        == "domains[1].name: domain 'tiny.example' is declared twice (also domains[0])"
    )


def test_unknown_server_reference(write_spec, spec_data) -> None:
    spec_data["domains"][0]["server"] = "mx9"
    assert only_error(write_spec, spec_data) == "domains[0].server: unknown server 'mx9' (declared: mx1)"


def test_server_required_when_ambiguous(write_spec, spec_data) -> None:
    spec_data["servers"]["mx2"] = {"hostname": "mx2.tiny.example"}
    assert only_error(write_spec, spec_data) == "domains[0].server: required: the tenant has 2 servers"


def test_server_fields_may_come_from_defaults_but_must_exist(write_spec, spec_data) -> None:
    del spec_data["defaults"]["server"]["image"]
    assert only_error(write_spec, spec_data) == (
        "servers.mx1.image: required (here or in defaults.server.image): a Hostwinds template id"
    )


def test_server_hostname_must_be_in_a_tenant_zone(write_spec, spec_data) -> None:
    spec_data["servers"]["mx1"]["hostname"] = "mail.elsewhere.example"
    assert only_error(write_spec, spec_data) == (
        "servers.mx1.hostname: must lie in one of the tenant's zones so its A record can be managed"
    )


@pytest.mark.parametrize(
    ("hostname", "message"),
    [
        ("mail.tiny.example.", "hostname 'mail.tiny.example.' must not end with a dot"),
        ("Mail.tiny.example", "hostname 'Mail.tiny.example' must be lower case"),
        ("mail..tiny.example", "hostname 'mail..tiny.example' has an invalid label ''"),
        ("-mail.tiny.example", "hostname '-mail.tiny.example' has an invalid label '-mail'"),
        ("localhost", "'localhost' is not a fully qualified hostname"),
        (
            "mail.tіny.example",
            "hostname 'mail.t\\u0456ny.example' is not ASCII; write internationalised names in punycode (xn--...)",
        ),
        ("mail.tiny.example\nx", "hostname 'mail.tiny.example\\nx' contains white space"),
    ],
)
def test_hostnames(write_spec, spec_data, hostname: str, message: str) -> None:
    spec_data["servers"]["mx1"]["hostname"] = hostname
    assert only_error(write_spec, spec_data) == f"servers.mx1.hostname: {message}"


@pytest.mark.parametrize("local", ["a b", ".alice", "alice.", "al..ice", "al/ice", "al+ice", "ALICE", "x" * 65, "é"])
def test_local_parts_follow_dot_atom(write_spec, spec_data, local: str) -> None:
    spec_data["domains"][0]["mailboxes"] = [local]
    assert "domains[0].mailboxes[0].local: local part" in only_error(write_spec, spec_data)


def test_spf_lookup_budget_counts_the_spec_terms(write_spec, spec_data) -> None:
    spec_data["domains"][0]["spf"] = {"extra": [f"include:s{i}.example" for i in range(9)] + ["ip4:192.0.2.0/24"]}
    load_file(write_spec(spec_data))  # 1 (mx) + 9 = 10: allowed
    spec_data["domains"][0]["spf"]["extra"].append("a:relay.example")
    assert (
        only_error(write_spec, spec_data) == "domains[0].spf.extra: SPF would need 11 DNS lookups; RFC 7208 allows 10"
    )


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("-all", "SPF term '-all' is added by mailbox-iac itself; remove it from the spec"),
        (
            "redirect=_spf.example",
            "SPF term 'redirect=_spf.example' is added by mailbox-iac itself; remove it from the spec",
        ),
        ("ptr", "SPF 'ptr' is deprecated by RFC 7208 (slow, unreliable); use ip4/ip6/a instead"),
        ("ip4:300.1.1.1", "SPF term 'ip4:300.1.1.1': '300.1.1.1' is not an IP address or network"),
        ("ip6:192.0.2.1", "SPF term 'ip6:192.0.2.1': address family does not match ip6"),
        ("include:", "SPF term 'include:' needs a domain (include:example.com)"),
        ("include:a b", "SPF term 'include:a b' has an invalid domain 'a b'"),
        ("bogus:x", "'bogus:x' is not an SPF mechanism mailbox-iac accepts (include, a, mx, exists, ip4, ip6)"),
    ],
)
def test_spf_terms(write_spec, spec_data, term: str, message: str) -> None:
    spec_data["domains"][0]["spf"] = {"extra": [term]}
    assert only_error(write_spec, spec_data) == f"domains[0].spf.extra[0]: {message}"


def test_dkim_key_size_at_least_2048(write_spec, spec_data) -> None:
    spec_data["domains"][0]["dkim"] = {"key_size": 1024}
    assert only_error(write_spec, spec_data) == "domains[0].dkim.key_size: Input should be 2048, 3072 or 4096"


@pytest.mark.parametrize(("limit", "ok"), [(0, False), (1, True), (500, True), (501, False)])
def test_daily_limit_bounds(write_spec, spec_data, limit: int, ok: bool) -> None:
    spec_data["domains"][0]["mailboxes"] = [{"local": "alice", "daily_limit": limit}]
    if ok:
        assert load_file(write_spec(spec_data)).tenant.domains[0].mailboxes[0].daily_limit == limit
    else:
        assert only_error(write_spec, spec_data).startswith("domains[0].mailboxes[0].daily_limit: Input should be")


def test_catch_all_must_be_a_mailbox(write_spec, spec_data) -> None:
    spec_data["domains"][0]["catch_all"] = "nobody"
    assert only_error(write_spec, spec_data) == "domains[0].catch_all: 'nobody' is not a mailbox of tiny.example"


def test_forward_alias_cannot_shadow_a_mailbox(write_spec, spec_data) -> None:
    spec_data["domains"][0]["forwards"] = {"alice": ["x@other.example"]}
    assert only_error(write_spec, spec_data) == "domains[0].forwards.alice: alice@tiny.example is already a mailbox"


def test_no_mail_names(write_spec, spec_data) -> None:
    spec_data["domains"][0]["no_mail"] = ["www", "www.tiny.example"]
    assert only_error(write_spec, spec_data) == (
        "domains[0].no_mail[1]: 'www.tiny.example' cannot be a no-mail name (it is used or repeated)"
    )
    spec_data["domains"][0]["no_mail"] = ["mail"]
    assert "cannot be a no-mail name" in only_error(write_spec, spec_data)


def test_zone_must_contain_the_domain(write_spec, spec_data) -> None:
    spec_data["domains"][0]["zone"] = "other.example"
    with pytest.raises(SpecInvalid) as info:
        load_file(write_spec(spec_data))
    errs = info.value.errors
    assert "domains[0].zone: zone 'other.example' does not contain the domain 'tiny.example'" in [
        f"{e.field}: {e.message}" for e in errs
    ]


def test_defaults_merge_field_by_field(write_spec, spec_data) -> None:
    spec_data["defaults"]["domain"] = {"dmarc": {"policy": "reject", "rua": "d@{domain}"}}
    spec_data["domains"][0]["dmarc"] = {"policy": "none"}
    spec_data["defaults"]["mailbox"] = {"daily_limit": 12, "warmup": {"max_per_day": 9}}
    spec_data["domains"][0]["mailboxes"] = [{"local": "a", "warmup": {"enabled": False}}]
    d = load_file(write_spec(spec_data)).tenant.domains[0]
    assert (d.dmarc.policy, d.dmarc.rua) == ("none", "d@tiny.example")
    m = d.mailboxes[0]
    assert (m.daily_limit, m.warmup.enabled, m.warmup.max_per_day) == (12, False, 9)


def test_a_domain_belongs_to_one_tenant(tmp_path: Path, write_spec, spec_data) -> None:
    write_spec(spec_data, "tiny.yaml")
    other = {**spec_data, "tenant": "mallory", "servers": {"mx1": {"hostname": "mx.mallory.example"}}}
    other["domains"] = [{"name": "mallory.example"}, {"name": "tiny.example"}]
    write_spec(other, "mallory.yaml")
    with pytest.raises(SpecInvalid) as info:
        load_paths([tmp_path])
    # mallory.yaml is read first, so the second claim (tiny's own) is the one reported, citing mallory's line.
    messages = [f"{Path(e.path).name}:{e.line}: {e.field}: {e.message}" for e in info.value.errors]
    assert messages == [
        f"tiny.yaml:11: domains[0].name: domain 'tiny.example' already belongs to tenant 'mallory' ({tmp_path}/mallory.yaml:12)",
        f"tiny.yaml:11: domains[0].name: zone 'tiny.example' already belongs to tenant 'mallory' ({tmp_path}/mallory.yaml:12)",
    ]


def test_tenant_ids_are_unique_across_files(tmp_path: Path, write_spec, spec_data) -> None:
    write_spec(spec_data, "a.yaml")
    copy_ = {**spec_data, "servers": {"mx1": {"hostname": "mail.b.example"}}, "domains": [{"name": "b.example"}]}
    write_spec(copy_, "b.yaml")
    with pytest.raises(
        SpecInvalid, match=r"b.yaml:1:1: tenant: tenant id 'tiny' already belongs to tenant 'tiny' \(.*a.yaml:1\)"
    ):
        load_paths([tmp_path])
