"""Health of a mail host from outside and from inside: its greeting on a real socket, PTR = HELO = A asked
of a real DNS server, the bounce window and queue thresholds, the SSH access a checkpoint holds (its secret
unwrapped), and health.yaml read like a spec (positions, unknown fields, defaults)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbox_iac import checkpoint
from mailbox_iac.checks import catalog, queue, reach
from mailbox_iac.checks.blocklist import DEFAULT_LISTS
from mailbox_iac.checks.dns import asking
from mailbox_iac.checks.result import Stage
from mailbox_iac.mailhost import vitals
from mailbox_iac.ops import health, health_config
from mailbox_iac.sandbox.dnsserver import DnsServer
from mailbox_iac.spec.errors import SpecInvalid

HOST = "mail.acme-mail.com"


@pytest.fixture
def greeter() -> Iterator[list[int]]:
    """Two listeners on loopback: one greets like an MX, one like a refusing one; their ports."""
    servers = []
    for greeting in (b"220 mail.acme-mail.com ESMTP\r\n", b"554 5.7.1 no service\r\n"):
        sock = socket.create_server(("127.0.0.1", 0))
        servers.append(sock)

        def serve(s: socket.socket = sock, said: bytes = greeting) -> None:
            while True:
                try:
                    conn, _ = s.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(said)

        threading.Thread(target=serve, daemon=True).start()
    yield [s.getsockname()[1] for s in servers]
    for s in servers:
        s.close()


def test_an_inbound_port_must_greet_like_a_mail_server(greeter: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    ok_port, refusing_port = greeter
    trust = ssl.create_default_context()
    assert reach.inbound("127.0.0.1", HOST, ok_port, trust).ok
    refusing = reach.inbound("127.0.0.1", HOST, refusing_port, trust)
    assert not refusing.ok and refusing.detail == "greeted '554 5.7.1 no service'"
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    shut = reach.inbound("127.0.0.1", HOST, port, trust)
    assert not shut.ok and shut.detail.startswith("no greeting: ConnectionRefusedError")
    assert shut.subject == f"{HOST} (127.0.0.1:{port})"


def test_ptr_helo_and_a_must_name_the_same_host() -> None:
    answers = {
        ("7.2.0.192.in-addr.arpa", "PTR"): [(f"{HOST}.", 60)],
        (HOST, "A"): [("192.0.2.7", 60)],
        ("8.2.0.192.in-addr.arpa", "PTR"): [("vps-8.provider.example.", 60)],
    }
    server = DnsServer(lambda name, rtype: (0, answers.get((name.rstrip(".").lower(), rtype), [])))
    try:
        resolver = asking(server.address)
        assert reach.identity("192.0.2.7", HOST, HOST, resolver).ok
        helo = reach.identity("192.0.2.7", HOST, "localhost", resolver)
        assert not helo.ok and helo.detail == f"not {HOST} everywhere: HELO is 'localhost'"
        moved = reach.identity("192.0.2.8", HOST, HOST, resolver)  # a new address: PTR not set, A not moved
        assert moved.detail == (
            f"not {HOST} everywhere: PTR is ['vps-8.provider.example']; A of {HOST} is ['192.0.2.7']"
        )
    finally:
        server.close()


def test_bounces_count_in_the_24_hours_before_the_moment_judged() -> None:
    stamps = ("Dec  4 08:59:59", "Dec  4 09:00:01", "Dec  5 08:58:03")
    out = "now=1796461200\nzone=+0000\noutbound_status=0\noutbound=220 hi\n" + "".join(f"bounced={s}\n" for s in stamps)
    found = vitals.parse_vitals(0, out)
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert found.bounces_within(timedelta(hours=24), now) == 2
    assert found.bounces_within(timedelta(hours=24), now + timedelta(days=2)) == 0
    assert queue.bounces("192.0.2.7", 2, 1).detail == "2 bounced in 24 h (threshold 1)"
    assert queue.bounces("192.0.2.7", 2, 2).ok and not queue.deferred("192.0.2.7", 26, 25).ok


def test_health_reads_each_mail_host_login_from_the_checkpoint() -> None:
    """`stack export --show-secrets` wraps secrets as {"plaintext": json}; a MailHost being deleted is not read."""
    secret = {"4dabf18193072939515e22adf298e6c9": "1b47061264138c4ac30d75fd1eb44270", "plaintext": '"KEY"'}
    mail_host = {
        "type": checkpoint.MAIL_HOST,
        "outputs": {
            "host": "192.0.2.7",
            "port": 22,
            "user": "root",
            "private_key": secret,
            "host_key": "ssh-ed25519 A",
        },
    }
    deleting = {**mail_host, "delete": True, "outputs": {**mail_host["outputs"], "host": "192.0.2.9"}}  # type: ignore[dict-item]
    outputs = {"servers": {"mx1": {"ip": "192.0.2.7", "hostname": HOST}}, "mailboxes": {}}
    subjects = health.subjects("acme", outputs, {"resources": [mail_host, deleting]})
    [host] = subjects.hosts
    assert host.ssh is not None and (host.ip, host.hostname, host.ssh.private_key) == ("192.0.2.7", HOST, "KEY")
    assert host.ssh.host_key == "ssh-ed25519 A" and "KEY" not in repr(host)
    assert list(checkpoint.ssh_access({"resources": [mail_host, deleting]})) == ["192.0.2.7"]


def test_a_host_without_a_login_is_reported_not_skipped() -> None:
    config = health_config.HealthConfig(blocklists=[])
    ask = health.Asking(config, asking(None), None, ssl.create_default_context(), datetime.now(UTC))
    lone = health.Subjects("acme", (), (), hosts=(health.Host("127.0.0.1", HOST, None),))
    found = health._inside(lone.hosts[0], ask)
    assert [(r.check.id, r.ok, r.detail) for r in found] == [
        ("host.ssh", False, "the stack's checkpoint holds no mail host for this server")
    ]


def test_every_health_check_is_in_the_catalog() -> None:
    ids = {c.id for c in catalog.at(Stage.health)}
    assert {"reach.outbound-25", "reach.inbound", "reach.identity", "queue.deferred", "queue.bounces"} <= ids
    assert "ptr.hostname" not in ids  # health's PTR is reach.identity's


def test_health_yaml_defaults_and_its_own_lists(tmp_path: Path) -> None:
    assert health_config.load(tmp_path).lists() == DEFAULT_LISTS
    (tmp_path / "health.yaml").write_text(
        "blocklists:\n  - {name: Our list, zone: bl.ours.example, kind: ip, refusals: {127.0.0.9: busy}}\n"
        "outbound_probe: mx.ours.example:2525\nmax_deferred: 0\nmax_bounces_24h: 3\n"
    )
    config = health_config.load(tmp_path)
    [ours] = config.lists()
    assert (ours.name, ours.zone, ours.kind, ours.refusals) == (
        "Our list",
        "bl.ours.example",
        "ip",
        {"127.0.0.9": "busy"},
    )
    assert (config.outbound_probe, config.max_deferred, config.max_bounces_24h) == ("mx.ours.example:2525", 0, 3)
    assert "mx.ours.example 2525" in str(vitals.of(config.outbound_probe).command)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("max_deferd: 3\n", "health.yaml:1:1: max_deferd: unknown field (did you mean 'max_deferred'?)"),
        ("max_deferred: -1\n", "health.yaml:1:1: max_deferred: Input should be greater than or equal to 0"),
        (
            "outbound_probe: 'mx.example; reboot'\n",
            "health.yaml:1:1: outbound_probe: 'mx.example; reboot' is not host[:port]",
        ),
        ("blocklists:\n  - {name: x, zone: bl.example, kind: url}\n", "health.yaml:2:33: blocklists[0].kind:"),
        ("max_deferred: 1\nmax_deferred: 2\n", "health.yaml:2:1: max_deferred: duplicate key 'max_deferred'"),
    ],
)
def test_a_wrong_health_yaml_names_file_line_and_field(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "health.yaml").write_text(text)
    with pytest.raises(SpecInvalid) as found:
        health_config.load(tmp_path)
    assert error in str(found.value).replace(str(tmp_path) + "/", ""), str(found.value)
