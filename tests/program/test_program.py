"""The tenant program under Pulumi mocks: the resource graph, DnsRecord inputs, secrets, guard rails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi.log
import pytest
from pulumi.runtime import resource, rpc

from mailbox_iac import program, sdk_tuning
from mailbox_iac.dns import txt
from tests.conftest import SPECS
from tests.program.harness import Recorder, run

ACME = {"spec": str(SPECS / "acme.yaml"), "allowedZones": ["acme-mail.com", "acme-outreach.com"]}
GLOBEX_ZONES = [
    f"globex-{n}"
    for n in (
        "mail.com",
        "reach.com",
        "hello.com",
        "team.com",
        "news.com",
        "sales.net",
        "growth.net",
        "partners.net",
        "connect.io",
        "direct.io",
    )
]
SDK_STACK_TRACE = resource._get_stack_trace  # as the SDK has it, before any program here replaces it
GLOBEX = {"spec": str(SPECS / "globex.yaml"), "allowedZones": GLOBEX_ZONES}


@pytest.fixture(scope="module")
def acme() -> Recorder:
    return run("acme", ACME)


def test_acme_graph_counts(acme: Recorder) -> None:
    assert acme.counts() == {
        "ChangeBudget": 1,
        "SshKey": 2,
        "Instance": 1,
        "ReverseDns": 1,
        "DkimKey": 2,
        "DnsRecord": 22,
        "MailHost": 1,
        "Certificate": 1,
        "Password": 5,
        "Mailbox": 5,
        "Readiness": 2,  # one per domain
        "Published": 2,
    }


def test_globex_graph_counts() -> None:
    counts = run("globex", GLOBEX).counts()
    assert (
        counts["Instance"],
        counts["MailHost"],
        counts["Mailbox"],
        counts["Password"],
        counts["DkimKey"],
        counts["Published"],
        counts["Readiness"],
    ) == (2, 2, 50, 50, 10, 10, 10)
    # 2 mail-host A and HELO SPF, 7 per domain, null MX trio for www, 9 domains' DMARC report authorisations
    assert counts["DnsRecord"] == 2 * 2 + 10 * 7 + 3 + 9


def test_dependencies_wait_only_where_needed(acme: Recorder) -> None:
    server, budget = acme.urn("server-mx1"), acme.urn("change-budget")
    dkim = acme.urn("dkim-acme-mail.com-s2026")
    assert server in acme.named("dns-A-mail.acme-mail.com").dependencies
    assert server in acme.named("dns-A-mta-sts.acme-mail.com").dependencies
    assert dkim in acme.named("dns-TXT-s2026._domainkey.acme-mail.com").dependencies
    for independent in (
        "dns-TXT-acme-mail.com",
        "dns-TXT-_dmarc.acme-mail.com",
        "dns-MX-acme-mail.com",
        "dns-TXT-_mta-sts.acme-mail.com",
    ):
        deps = acme.named(independent).dependencies
        assert server not in deps and dkim not in deps and budget in deps
    # the servers' order goes first: what can wait registers once the operator key is at the backend
    key_at_backend = acme.urn("hostwinds-ssh-key")
    for waits in ("dns-MX-acme-mail.com", "password-alice@acme-mail.com", "dkim-acme-mail.com-s2026"):
        assert key_at_backend in acme.named(waits).dependencies
    assert acme.named("server-mx1").dependencies == {budget, key_at_backend}
    assert acme.urn("dns-A-mail.acme-mail.com") in acme.named("rdns-mx1").dependencies
    assert server in acme.named("rdns-mx1").dependencies
    mailhost = acme.urn("mailhost-mx1")
    assert {server, dkim} <= acme.named("mailhost-mx1").dependencies
    # a host signs only with keys the zone's servers already answer, which waits for no server
    published = acme.named("dkim-published-acme-mail.com")
    assert acme.urn("dkim-published-acme-mail.com") in acme.named("mailhost-mx1").dependencies
    assert acme.urn("dns-TXT-s2026._domainkey.acme-mail.com") in published.dependencies
    assert server not in published.dependencies
    assert [r["name"] for r in published.inputs["records"]] == ["s2026._domainkey.acme-mail.com"]
    mailbox = acme.named("mailbox-alice@acme-mail.com")
    assert mailhost in mailbox.dependencies and acme.urn("password-alice@acme-mail.com") in mailbox.dependencies
    assert acme.urn("hostwinds-ssh-key") in acme.named("server-mx1").dependencies
    gate = acme.named("ready-acme-mail.com")
    ready = gate.dependencies
    assert {
        acme.urn("mailbox-alice@acme-mail.com"),
        acme.urn("mailbox-bob@acme-mail.com"),
        acme.urn("rdns-mx1"),
        acme.urn("dns-TXT-_dmarc.acme-mail.com"),
    } <= ready
    # only its own domain's records and mailboxes
    assert not {acme.urn("dns-TXT-_dmarc.acme-outreach.com"), acme.urn("mailbox-dave@acme-outreach.com")} & ready
    assert acme.urn("mailbox-carol@acme-mail.com") in ready and "mailboxes" not in gate.inputs  # no password
    certificate = acme.named("certificate-mx1")
    # HTTP-01 validation needs every name to resolve, and the mail host's nginx to answer on port 80.
    assert {
        mailhost,
        acme.urn("dns-A-mail.acme-mail.com"),
        acme.urn("dns-A-mta-sts.acme-mail.com"),
        acme.urn("dns-A-mta-sts.acme-outreach.com"),
    } <= certificate.dependencies
    assert acme.urn("certificate-mx1") in ready  # readiness verifies the certificate


def test_certificate_inputs(acme: Recorder) -> None:
    cert = acme.named("certificate-mx1")
    assert cert.inputs["names"] == ["mail.acme-mail.com", "mta-sts.acme-mail.com", "mta-sts.acme-outreach.com"]
    assert cert.inputs["directory"] == ""  # the provider's default: the sandbox's Pebble, else Let's Encrypt
    assert cert.secret_outputs == ["private_key"]
    staging = run("acme", {**ACME, "acmeDirectory": "https://acme-staging-v02.api.letsencrypt.org/directory"})
    assert staging.named("certificate-mx1").inputs["directory"].startswith("https://acme-staging-v02.")


def test_dns_record_inputs(acme: Recorder) -> None:
    mx = acme.named("dns-MX-acme-mail.com").inputs
    assert {k: mx[k] for k in ("zoneId", "name", "type", "content", "ttl", "priority")} == {
        "zoneId": "zone-acme-mail.com",
        "name": "acme-mail.com",
        "type": "MX",
        "content": "mail.acme-mail.com",
        "ttl": 3600,
        "priority": 10,
    }
    spf = acme.named("dns-TXT-acme-mail.com").inputs
    assert spf["content"] == '"v=spf1 mx include:_spf.google.com -all"' and "priority" not in spf
    dkim = acme.named("dns-TXT-s2026._domainkey.acme-mail.com").inputs["content"]
    assert dkim == '"v=DKIM1; k=rsa; p=MIIBPUBLIC"'
    assert acme.named("dns-A-mail.acme-mail.com").inputs["content"] == "192.0.2.10"
    for r in acme.by_type("DnsRecord"):
        assert not r.inputs["name"].endswith(".") and r.inputs["zoneId"].startswith("zone-")
        if r.inputs["type"] == "TXT":
            assert all(len(s.encode()) <= 255 for s in txt.strings(r.inputs["content"]))


def test_secrets_are_secret(acme: Recorder) -> None:
    assert acme.named("ssh-key").secret_outputs == ["private_key"]
    assert acme.named("dkim-acme-mail.com-s2026").secret_outputs == ["private_key"]
    assert acme.named("password-alice@acme-mail.com").secret_outputs == ["password"]
    assert set(acme.named("mailbox-alice@acme-mail.com").secret_outputs) == {"private_key", "password"}
    outputs = {k: v for k, (v, _) in acme.outputs.items()}
    secret = {k for k, (_, is_secret) in acme.outputs.items() if is_secret}
    assert secret == {"mailbox_passwords"}
    assert outputs["mailbox_passwords"]["alice@acme-mail.com"] == "generated-password"
    alice = outputs["mailboxes"]["alice@acme-mail.com"]
    assert (alice["smtp_port"], alice["smtp_tls"], alice["imap_port"], alice["username"]) == (
        587,
        "starttls",
        993,
        "alice@acme-mail.com",
    )
    assert "password" not in alice
    assert outputs["servers"]["mx1"]["ip"] == "192.0.2.10"
    assert set(outputs["dns_records"]) == {"acme-mail.com", "acme-outreach.com"}


def test_servers_are_protected_unless_replacement_is_allowed(acme: Recorder) -> None:
    assert acme.named("server-mx1").inputs["allow_replace"] is False
    allowed = run("acme", {**ACME, "allowServerReplacement": True})
    assert allowed.named("server-mx1").inputs["allow_replace"] is True
    for_the_run = run("acme", ACME, allow=frozenset({"server-replacement"}))
    assert for_the_run.named("server-mx1").inputs["allow_replace"] is True
    assert for_the_run.named("change-budget").inputs["allow_mass_changes"] is False


def test_zones_outside_the_allow_list_fail_the_run() -> None:
    with pytest.raises(
        program.ProgramError,
        match=r"stack acme may only manage acme-mail.com, but the spec also uses acme-outreach.com",
    ):
        run("acme", {**ACME, "allowedZones": ["acme-mail.com"]})
    with pytest.raises(program.ProgramError, match="set the zones this stack may manage"):
        run("acme", {"spec": ACME["spec"]})


def test_a_spec_of_another_tenant_is_refused() -> None:
    with pytest.raises(program.ProgramError, match="declares tenant 'acme', but this is stack 'globex'"):
        run("globex", {**ACME})


def test_mass_change_flag_reaches_the_budget(acme: Recorder) -> None:
    budget = acme.named("change-budget").inputs
    assert budget["allow_mass_changes"] is False and len(budget["dns_records"]) == 22 and len(budget["mailboxes"]) == 5
    assert run("acme", {**ACME, "allowMassChanges": True}).named("change-budget").inputs["allow_mass_changes"] is True


def test_the_plain_clis_program_takes_the_runs_opt_ins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILBOX_IAC_ALLOW", "mailbox-iac:allow-mass-changes")  # a label's name stands for it
    assert run("acme", ACME).named("change-budget").inputs["allow_mass_changes"] is True
    monkeypatch.setenv("MAILBOX_IAC_ALLOW", "mass-change")
    with pytest.raises(program.ProgramError, match=r"MAILBOX_IAC_ALLOW: unknown allowance 'mass-change': name one"):
        run("acme", ACME)


def test_real_credential_providers_run_through_the_mocks() -> None:
    rec = run("acme", ACME, run_providers=True)
    dkim: dict[str, Any] = rec.named("dns-TXT-s2026._domainkey.acme-mail.com").inputs
    value = txt.canonical(dkim["content"])
    assert value.startswith("v=DKIM1; k=rsa; p=MIIBIjAN") and len(txt.strings(dkim["content"])) == 2
    password = rec.named("mailbox-alice@acme-mail.com").inputs["password"]
    assert len(rpc.unwrap_rpc_secret(password)) == 24


def test_sdk_debug_lines_are_dropped_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(pulumi.log, "debug", lambda message, *_args, **_kwargs: sent.append(message))
    monkeypatch.setattr(resource, "_get_stack_trace", resource._get_stack_trace)  # restored after the test
    sdk_tuning.apply({"MAILBOX_IAC_SDK_DEBUG": "1"})
    pulumi.log.debug("kept")
    sdk_tuning.apply({})
    pulumi.log.debug("dropped")
    assert sent == ["kept"]


def test_each_resource_keeps_the_source_position_the_sdk_gives_it(monkeypatch: pytest.MonkeyPatch) -> None:
    positions: list[tuple[Any, Any]] = []
    declaring_frame = sdk_tuning.declaring_frame

    def both() -> Any:
        ours = declaring_frame()
        positions.append((ours.frames[0].pc, SDK_STACK_TRACE().frames[0].pc))
        return ours

    monkeypatch.setattr(sdk_tuning, "declaring_frame", both)
    monkeypatch.setattr(resource, "_get_stack_trace", resource._get_stack_trace)
    recorder = run("acme", ACME)
    assert len(positions) == len(recorder.registered)  # the stack registered before the program ran
    assert all(ours == theirs and ours.line > 0 for ours, theirs in positions)
    uri, line = recorder.named("dns-MX-acme-mail.com").declared_at
    assert uri == Path(program.__file__).as_uri()
    assert "cloudflare.DnsRecord(" in Path(program.__file__).read_text().splitlines()[line - 1]
