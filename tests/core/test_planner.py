"""The planner: record rules on the example tenants, facts, determinism, and properties."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbox_iac.dns import records, txt
from mailbox_iac.plan import render
from mailbox_iac.plan.model import DkimPublicKey, Facts, ServerIp
from mailbox_iac.plan.planner import plan
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file
from mailbox_iac.spec.model import MtaSts, TenantSpec
from mailbox_iac.spec.resolve import resolve
from tests.conftest import REPO, SPECS


def example(name: str):
    return load_file(SPECS / f"{name}.yaml").tenant


def test_globex_counts_and_record_rules() -> None:
    state = plan(example("globex"))
    assert (len(state.servers), len(state.mailboxes), len(state.mailhosts)) == (2, 50, 2)
    records = state.dns_records
    spf = Counter(r.name for r in records if r.type == "TXT" and r.value.startswith("v=spf1"))
    assert spf and max(spf.values()) == 1
    assert all(len(p.encode()) <= 255 for r in records if r.type == "TXT" for p in txt.strings(r.content))
    assert not [r for r in records if r.name.endswith(".") or r.zone.endswith(".")]
    assert len({r.key for r in records}) == len(records)
    assert not [r for r in records if "pct=" in r.value]


def test_acme_records_by_purpose() -> None:
    state = plan(example("acme"))
    by = {(r.purpose, r.name): r for r in state.dns_records}
    assert by[("mx", "acme-mail.com")].content == "mail.acme-mail.com"
    assert by[("mx", "acme-mail.com")].priority == 10
    assert by[("spf", "acme-mail.com")].value == "v=spf1 mx include:_spf.google.com -all"
    assert by[("dmarc", "_dmarc.acme-outreach.com")].value == (
        "v=DMARC1; p=none; rua=mailto:dmarc@acme-outreach.com; adkim=r; aspf=r"
    )
    assert by[("tls-rpt", "_smtp._tls.acme-mail.com")].value == "v=TLSRPTv1; rua=mailto:tlsrpt@acme-mail.com"
    null = [r for r in state.dns_records if r.purpose == "null-mx" and r.name == "www.acme-mail.com"]
    assert {(r.type, r.priority, r.value) for r in null} == {("MX", 0, "."), ("TXT", None, "v=spf1 -all")}
    assert by[("null-mx", "_dmarc.www.acme-mail.com")].value == "v=DMARC1; p=reject"
    host = state.mailhosts[0]
    assert ("sales@acme-mail.com", ("alice@acme-mail.com", "bob@acme-mail.com")) in host.aliases
    assert ("@acme-mail.com", ("alice@acme-mail.com",)) in host.aliases
    assert host.dkim == (("acme-mail.com", "s2026"), ("acme-outreach.com", "mail"))
    bob = next(m for m in state.mailboxes if m.address == "bob@acme-mail.com")
    assert (bob.smtp_port, bob.smtps_port, bob.imap_port, bob.daily_limit) == (587, 465, 993, 40)


def test_placeholders_until_facts_arrive() -> None:
    tenant = example("acme")
    pending = [r for r in plan(tenant).dns_records if r.needs]
    assert {r.needs for r in pending} == {
        ServerIp("mx1"),
        DkimPublicKey("acme-mail.com", "s2026"),
        DkimPublicKey("acme-outreach.com", "mail"),
    }
    assert {r.content for r in pending if r.type == "A"} == {"<server_ip:mx1>"}
    key = "MIIB" + "Q" * 380
    facts = Facts(server_ips={"mx1": "192.0.2.10"}, dkim_public_keys={("acme-mail.com", "s2026"): key})
    state = plan(tenant, facts)
    by = {r.key: r for r in state.dns_records}
    assert by["A:mail.acme-mail.com"].content == "192.0.2.10" and by["A:mail.acme-mail.com"].needs is None
    dkim = by["TXT:s2026._domainkey.acme-mail.com"]
    assert dkim.value == f"v=DKIM1; k=rsa; p={key}" and len(txt.strings(dkim.content)) == 2
    assert by["TXT:mail._domainkey.acme-outreach.com"].needs == DkimPublicKey("acme-outreach.com", "mail")


def rotated(tmp_path: Path, dkim: str) -> Path:
    spec = tmp_path / "acme.yaml"
    spec.write_text((SPECS / "acme.yaml").read_text().replace("dkim: {selector: s2026}", f"dkim: {dkim}"))
    return spec


def test_a_rotation_publishes_both_selectors_signs_with_the_new_one_and_retires_the_old_after_its_day(
    tmp_path: Path,
) -> None:
    tenant = load_file(rotated(tmp_path, "{selector: s2027, previous: [{selector: s2026, until: 2027-01-31}]}")).tenant
    for today, published in ((date(2027, 1, 31), ["s2027", "s2026"]), (date(2027, 2, 1), ["s2027"])):
        state = plan(tenant, Facts(today=today))
        dkim = [
            r.name.split(".", 1)[0] for r in state.dns_records if r.purpose == "dkim" and r.domain == "acme-mail.com"
        ]
        assert dkim == published
        keys = [(k.selector, k.signing) for k in state.dkim_keys if k.domain == "acme-mail.com"]
        assert keys == [(s, s == "s2027") for s in published]
        assert state.mailhosts[0].dkim[0] == ("acme-mail.com", "s2027")  # the host signs with the new key only
    kept = load_file(rotated(tmp_path, "{selector: s2027, previous: [{selector: s2026}]}")).tenant
    assert [k.selector for k in plan(kept, Facts(today=date(2099, 1, 1))).dkim_keys][:2] == ["s2027", "s2026"]


def test_a_selector_listed_twice_is_refused_where_it_is_written(tmp_path: Path) -> None:
    with pytest.raises(SpecInvalid) as err:
        load_file(rotated(tmp_path, "{selector: s2027, previous: [{selector: s2026}, {selector: s2027}]}"))
    assert [str(e) for e in err.value.errors] == [
        f"{tmp_path / 'acme.yaml'}:25:60: domains[0].dkim.previous[1].selector: selector 's2027' is listed twice"
    ]
    with pytest.raises(SpecInvalid, match=r"acme.yaml:25:58: domains\[0\].dkim.previous\[0\].until: a day"):
        load_file(rotated(tmp_path, "{selector: s2027, previous: [{selector: s2026, until: 2027-01-31T10:00:00}]}"))


def test_mta_sts_id_follows_the_policy() -> None:
    state = plan(example("acme"))
    policy = state.mailhosts[0].mta_sts_policies[0][1]
    assert policy == "version: STSv1\r\nmode: enforce\r\nmx: mail.acme-mail.com\r\nmax_age: 604800\r\n"
    published = {r.key: r.value for r in state.dns_records}["TXT:_mta-sts.acme-mail.com"]
    assert published == records.mta_sts_txt(policy)
    testing = records.mta_sts_policy(MtaSts(mode="testing"), ["mail.acme-mail.com"])
    assert records.mta_sts_txt(testing) != published
    assert re.fullmatch(r"v=STSv1; id=[0-9a-f]{20}", published)


label = st.from_regex(r"\A[a-z][a-z0-9]{0,10}\Z")
local = st.from_regex(r"\A[a-z0-9_-]{1,8}(\.[a-z0-9_-]{1,5})?\Z")


@st.composite
def tenant_specs(draw: st.DrawFn) -> dict[str, object]:
    domains = draw(st.lists(label, min_size=1, max_size=5, unique=True))
    servers = draw(st.lists(label, min_size=1, max_size=3, unique=True))
    base = domains[0] + ".example"
    return {
        "tenant": "t" + draw(label),
        "defaults": {"server": {"location": 1, "plan": 2, "image": "img"}, "ttl": draw(st.integers(60, 86400))},
        "servers": {f"s{s}": {"hostname": f"mx{i}.{base}"} for i, s in enumerate(servers)},
        "domains": [
            {
                "name": f"{d}.example",
                "server": f"s{draw(st.sampled_from(servers))}",
                "mailboxes": draw(st.lists(local, max_size=6, unique=True)),
                "dmarc": {"policy": draw(st.sampled_from(["none", "quarantine", "reject"]))},
                "spf": {"extra": draw(st.lists(st.sampled_from(["a", "mx:x.example", "ip4:192.0.2.1"]), max_size=4))},
            }
            for d in domains
        ],
    }


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(tenant_specs(), st.booleans())
def test_valid_specs_always_plan_deterministically(data: dict[str, object], with_ip: bool) -> None:
    tenant, problems = resolve(TenantSpec.model_validate(data))
    assert problems == []
    facts = Facts(server_ips={s: "192.0.2.1" for s in tenant.servers}) if with_ip else None
    first, second = plan(tenant, facts), plan(tenant, facts)
    assert first == second
    assert len({r.key for r in first.dns_records}) == len(first.dns_records)
    assert sum(len(d.mailboxes) for d in tenant.domains) == len(first.mailboxes)
    assert all(not r.name.endswith(".") for r in first.dns_records)
    if with_ip:
        assert not [r for r in first.dns_records if isinstance(r.needs, ServerIp)]


def test_examples_are_valid_files() -> None:
    assert sorted(p.name for p in (REPO / "specs").glob("*.yaml")) == ["acme.yaml", "demo.yaml", "globex.yaml"]
    assert Path(REPO / "schema" / "tenant.schema.json").exists()


def _as_plain(value: object) -> object:
    """What `plan --format json` must print, built the slow, obvious way."""
    if isinstance(value, (ServerIp, DkimPublicKey)):
        return str(value).strip("<>")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_as_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_plain(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("spec", [REPO / "specs" / "demo.yaml", SPECS / "acme.yaml", SPECS / "globex.yaml"])
def test_json_plan_holds_every_field_and_only_fields(spec: Path) -> None:
    state = plan(load_file(spec).tenant, Facts(server_ips={"mx1": "192.0.2.10"}))
    assert json.loads(render.as_json(state)) == _as_plain(state)
