"""Mail-host templates and scripts as pure functions: no injection, stable releases, the right reloads."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from mailbox_iac.mailhost import apply, render
from mailbox_iac.plan.planner import plan
from mailbox_iac.spec.load import load_file
from tests.conftest import SPECS

MAILHOST = plan(load_file(SPECS / "acme.yaml").tenant).mailhosts[0]
KEYS = {(d, s): "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n" for d, s in MAILHOST.dkim}


def test_render_is_complete_and_deterministic() -> None:
    files = render.render(MAILHOST, KEYS)
    assert files == render.render(MAILHOST, KEYS)
    assert render.release_id(files) == render.release_id(render.render(MAILHOST, KEYS))
    assert "myhostname = mail.acme-mail.com" in files["postfix/main.cf"].content
    assert "smtpd_milters = inet:127.0.0.1:8891" in files["postfix/main.cf"].content
    assert "Socket inet:8891@127.0.0.1" in files["opendkim/opendkim.conf"].content
    aliases = files["postfix/virtual_aliases"].content.splitlines()
    # identity rows before the catch-all, or the catch-all swallows every mailbox
    assert aliases.index("alice@acme-mail.com alice@acme-mail.com") < aliases.index(
        "@acme-mail.com alice@acme-mail.com"
    )
    key = files["opendkim/keys/acme-mail.com/s2026.private"]
    assert (key.mode, key.owner) == (0o600, "opendkim")
    assert "*@acme-mail.com s2026._domainkey.acme-mail.com" in files["opendkim/SigningTable"].content


@pytest.mark.parametrize(
    "evil",
    ["mail.acme-mail.com\nrelayhost = evil.example", "a b", "x;rm -rf /", "../../etc/passwd", "a$(id)"],
)
def test_no_value_can_inject_configuration(evil: str) -> None:
    with pytest.raises(ValueError, match="refusing to write"):
        render.render(replace(MAILHOST, hostname=evil), KEYS)
    with pytest.raises(ValueError, match="refusing to write"):
        render.render(replace(MAILHOST, mailboxes=((evil, 10),)), KEYS)


def test_missing_dkim_key_is_an_error() -> None:
    with pytest.raises(ValueError, match="no DKIM private key for acme-mail.com selector s2026"):
        render.render(MAILHOST, {})


def test_only_changed_services_reload() -> None:
    old = {"postfix/main.cf": "a", "dovecot/dovecot.conf": "b", "opendkim/KeyTable": "c", "mta-sts/x.txt": "d"}
    assert render.services_changed(old, old) == []
    assert render.services_changed(old, {**old, "postfix/main.cf": "z"}) == ["postfix"]
    assert render.services_changed(old, {**old, "mta-sts/x.txt": "z"}) == []
    assert render.services_changed({}, old) == ["dovecot", "opendkim", "postfix"]


def test_user_line_holds_a_hash_never_a_password() -> None:
    line = render.user_line("a@b.example", "$argon2id$v=19$m=32768,t=3,p=1$c2FsdA$aGFzaA", 512)
    assert (
        line
        == "a@b.example:{ARGON2ID}$argon2id$v=19$m=32768,t=3,p=1$c2FsdA$aGFzaA::::::userdb_quota_rule=*:storage=512M\n"
    )
    with pytest.raises(ValueError, match="not an ARGON2ID hash"):
        render.user_line("a@b.example", "plaintext-password", 512)
    with pytest.raises(ValueError):
        render.user_line("a@b.example", "$argon2id$x:y", 512)


def test_activation_script_with_and_without_systemd() -> None:
    direct = apply.activation_script("new-1", "old-1", ["postfix"], systemd=False)
    rollback, forward = direct.split("\n}\n", 1)  # the fail() function (rolls back, reloads all), then the switch
    assert "postfix reload" in forward and "systemctl" not in direct
    assert "kill -USR1" not in forward and "kill -USR1" in rollback  # opendkim did not change
    assert "ln -sfn releases/new-1 /etc/mailbox-iac/current.new && mv -T" in direct
    assert "ln -sfn releases/old-1" in direct  # the rollback
    # before the host's resolver is switched and the release kept, the daemons Postfix asks listen, or it fails
    listening = forward.index('fail "not listening: $deaf"')
    assert listening < forward.index("resolv.conf") and listening < forward.index("result ok")
    assert all(f"'{daemon}': {port}" in forward for daemon, port in [("opendkim", 8891), ("opendmarc", 8893)])
    with_systemd = apply.activation_script("new-1", "", ["dovecot", "opendkim"], systemd=True)
    assert "systemctl reload dovecot" in with_systemd and "systemctl reload opendkim" in with_systemd
    assert "systemctl reload postfix" not in with_systemd and "systemctl enable --now postfix" in with_systemd
    assert "postfix reload" not in with_systemd


def test_account_line_round_trips() -> None:
    from mailbox_iac.mailhost.accounts import parse_account

    line = render.user_line("a@b.example", "$argon2id$v=19$m=32768,t=3,p=1$c2FsdA$aGFzaA", 1024)
    assert parse_account("a@b.example", line) == ("$argon2id$v=19$m=32768,t=3,p=1$c2FsdA$aGFzaA", 1024)
    assert parse_account("other@b.example", line) == ("", 0)


def test_outbound_tls_follows_recipients_mta_sts_policies(tmp_path: Path) -> None:
    files = render.render(MAILHOST, KEYS)
    main_cf = files["postfix/main.cf"].content
    assert "smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix" in main_cf
    assert "smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt" in main_cf  # "secure" needs a CA to verify with
    conf = tmp_path / "mta-sts-daemon.yml"
    conf.write_text(files[render.STS_RESOLVER_CONFIG].content)
    # The resolver's own loader (Debian's python3, where the package lives) reads what the host will.
    show = "import json, sys; from postfix_mta_sts_resolver.utils import load_config as l; print(json.dumps(l(sys.argv[1])))"
    loaded = subprocess.run(
        ["/usr/bin/python3", "-c", show, str(conf)],
        capture_output=True,
        text=True,
        check=True,
    )
    cfg = json.loads(loaded.stdout)
    assert (cfg["host"], cfg["port"], cfg["cache"]["type"]) == ("127.0.0.1", 8461, "internal")
    assert cfg["default_zone"]["strict_testing"] is False  # `testing` policies are reported, not enforced


def test_each_policy_host_is_served_with_its_own_certificate() -> None:
    nginx = render.render(MAILHOST, KEYS)["nginx/nginx.conf"].content
    for name in MAILHOST.policy_hosts:
        block = nginx.split(f"server_name {name};", 1)[1].split("server {", 1)[0]
        cert, key = render.site_cert(name)
        assert f"ssl_certificate {cert};" in block and f"ssl_certificate_key {key};" in block
