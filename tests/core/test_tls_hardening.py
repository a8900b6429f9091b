"""Certificates, nginx and hardening as pure functions, and the certificate parser against real openssl."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailbox_iac.mailhost import acme, harden, render
from tests.core.test_mailhost_render import KEYS, MAILHOST


def test_nginx_serves_challenges_and_each_mta_sts_policy_under_its_name() -> None:
    conf = render.render(MAILHOST, KEYS)["nginx/nginx.conf"].content
    assert f"root {render.ACME_WEBROOT};" in conf
    assert "server_name mta-sts.acme-mail.com;" in conf
    assert f"alias {render.CURRENT}/mta-sts/acme-mail.com.txt;" in conf
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert conf.count("server_name mta-sts.") == len(MAILHOST.mta_sts_policies) == 2
    with pytest.raises(ValueError, match="refusing to write"):
        render.render(replace(MAILHOST, mta_sts_policies=(("a.example;\n}", "x"),)), KEYS)


def test_nginx_reloads_when_its_file_changes_not_when_a_policy_does() -> None:
    old = {"nginx/nginx.conf": "a", "mta-sts/a.example.txt": "b"}
    assert render.services_changed(old, {**old, "nginx/nginx.conf": "z"}) == ["nginx"]
    assert render.services_changed(old, {**old, "mta-sts/a.example.txt": "z"}) == []


def test_firewall_opens_exactly_the_mail_ports() -> None:
    table = harden.firewall_table()
    assert "policy drop;" in table
    assert "tcp dport { 22, 25, 80, 443, 465, 587, 993 } accept" in table
    assert "143" not in table and "110" not in table
    # Loading is idempotent: the table is declared, deleted, then defined again in one atomic file.
    assert harden.firewall_file().index("delete table inet mailbox_iac") < harden.firewall_file().index("chain input")


def test_ssh_keys_only_and_jails_for_each_login() -> None:
    dropin = harden.sshd_dropin()
    assert "PasswordAuthentication no" in dropin and "KbdInteractiveAuthentication no" in dropin
    assert harden.expected()["ssh"].startswith("kbdinteractiveauthentication no;")
    assert "backend = systemd" in harden.jail(systemd=True)
    assert "logpath = /var/log/auth.log" in harden.jail(systemd=False)
    for name in harden.JAILS:
        assert f"[{name}]\nenabled = true" in harden.jail(systemd=False)
    assert "banaction = nftables-multiport" in harden.jail(systemd=True)


def test_apply_script_checks_before_loading() -> None:
    script = harden.apply_script(systemd=False)
    assert script.index("sshd -t") < script.index("kill -HUP")
    assert script.index(f"nft -c -f {harden.FIREWALL}.new") < script.index(f"nft -f {harden.FIREWALL}\n")
    assert script.index("fail2ban-client -t") < script.index("fail2ban-client -x start")
    assert "systemctl enable -q mailbox-iac-firewall" in harden.apply_script(systemd=True)


def test_certbot_command_one_lineage_per_name() -> None:
    names = ["mail.a.example", "mta-sts.a.example"]
    assert acme.lineages(names) == ["mailbox-iac", "mailbox-iac.mta-sts.a.example"]
    assert [acme.served_file(c) for c in acme.lineages(names)] == ["mail.crt", "sites/mta-sts.a.example.crt"]
    argv = acme.certbot_argv("mta-sts.a.example", "mailbox-iac.mta-sts.a.example", "https://acme.test/dir", "", False)
    assert argv[:2] == ["certbot", "certonly"]
    assert "--register-unsafely-without-email" in argv and "--keep-until-expiring" in argv
    assert argv[-2:] == ["-d", "mta-sts.a.example"] and argv.count("-d") == 1
    assert argv[argv.index("--cert-name") + 1] == "mailbox-iac.mta-sts.a.example"
    assert argv[argv.index("--server") + 1] == "https://acme.test/dir"
    forced = acme.certbot_argv("m.a.example", "mailbox-iac", "https://acme.test/dir", "ops@a.example", force=True)
    assert "--force-renewal" in forced and forced[forced.index("--email") + 1] == "ops@a.example"


def test_deploy_hook_swaps_files_then_reloads(tmp_path: Path) -> None:
    hook = acme.deploy_hook(systemd=False)
    assert hook.index('mv "$K.new" "$K"') < hook.index('mv "$C.new" "$C"') < hook.index("postfix reload")
    assert "nginx -s reload" in hook and "doveadm reload" in hook
    assert "systemctl reload postfix dovecot nginx" in acme.deploy_hook(systemd=True)
    # Which files a lineage's certificate goes to, as sh decides it (the copying and reloads left out).
    decide = hook.split("if cmp")[0].replace("set -e", "") + 'echo "$C $K"\n'
    for lineage, files in [
        ("mailbox-iac", f"{render.TLS_CERT} {render.TLS_KEY}"),
        (
            "mailbox-iac.mta-sts.a.example",
            f"{render.SITE_CERTS}/mta-sts.a.example.crt {render.SITE_CERTS}/mta-sts.a.example.key",
        ),
    ]:
        env = {"PATH": "/usr/bin:/bin", "RENEWED_LINEAGE": f"/etc/letsencrypt/live/{lineage}"}
        out = subprocess.run(["sh", "-c", decide], env=env, capture_output=True, text=True, check=True).stdout
        assert out.strip() == files
    other = subprocess.run(["sh", "-c", decide], env={"RENEWED_LINEAGE": "/x/other"}, capture_output=True, text=True)
    assert other.returncode == 0 and other.stdout == ""  # a lineage of someone else's: left alone


def _certificate(tmp: Path, names: list[str], days: int) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pebble Intermediate CA 0a1b2c")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp / f"cert-{days}-{len(names)}-{names[0]}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _x509_text(path: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-issuer", "-enddate", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.parametrize(("days", "valid"), [(90, True), (29, False)])
def test_served_certificate_parsed_from_real_openssl(tmp_path: Path, days: int, valid: bool) -> None:
    names = ["mail.a.example", "mta-sts.a.example"]
    path = _certificate(tmp_path, names, days)
    cert = acme.parse_x509_text(_x509_text(path))
    assert cert.names == tuple(names)
    assert "Pebble Intermediate CA" in cert.issuer
    assert cert.valid_for(list(reversed(names)), acme.now()) is valid
    assert not cert.valid_for(["mail.a.example"], acme.now())
    assert not acme.parse_x509_text("").valid_for([], acme.now())  # no certificate at all


def test_each_name_has_a_certificate_of_its_own(tmp_path: Path) -> None:
    names = ["mail.a.example", "mta-sts.a.example", "mta-sts.b.example"]
    text = {n: acme.parse_x509_text(_x509_text(_certificate(tmp_path, [n], 90))) for n in names}
    served = {"mail.crt": text[names[0]]} | {f"sites/{n}.crt": text[n] for n in names[1:]}
    assert acme.valid_for(served, names, acme.now())
    assert not acme.valid_for(
        {k: v for k, v in served.items() if k != "sites/mta-sts.b.example.crt"}, names, acme.now()
    )
    shared = acme.parse_x509_text(_x509_text(_certificate(tmp_path, names, 90)))  # the old layout: one for all
    assert not acme.valid_for(dict.fromkeys(served, shared), names, acme.now())
