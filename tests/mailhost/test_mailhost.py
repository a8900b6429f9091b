"""The mail host against real daemons: sshd, Postfix, Dovecot, OpenDKIM in a sandbox VPS, configured by
the MailHost and Mailbox providers through Pulumi's own servicer."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import time
from concurrent import futures
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
from pulumi.runtime import proto

from mailbox_iac import keys
from mailbox_iac.dns import records
from mailbox_iac.mailhost import accounts, apply, facts, render
from mailbox_iac.mailhost import provider as mailhost_provider
from mailbox_iac.mailhost.provider import MailboxProvider, MailHostProvider, desired_files
from mailbox_iac.mailhost.resolver import RESOLVER_LINES
from mailbox_iac.mailhost.ssh import SshDropped
from tests.mailhost.conftest import TLS, MailVps
from tests.providers.servicer import Aborted, Driver

ALICE, BOB = "alice@acme-mail.com", "bob@acme-mail.com"


@pytest.fixture(scope="module")
def host(mail_vps: MailVps, mailhost_inputs: dict[str, Any]) -> dict[str, Any]:
    """The MailHost, created once for the module; returns its outputs."""
    _, outs = Driver(MailHostProvider()).create(mailhost_inputs)
    return outs


def mailbox(mail_vps: MailVps, host: dict[str, Any], address: str, password: str) -> dict[str, Any]:
    return {**mail_vps.ssh_inputs(host["host_key"]), "address": address, "password": password, "quota_mb": 2048}


def logs_in_soon(mail_vps: MailVps, user: str, password: str) -> None:
    """Dovecot looks at a changed passwd-file at most once a second: a new password works within one (a
    Mailbox's create waits the same way)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            mail_vps.imap_login(user, password).logout()
            return
        except imaplib.IMAP4.error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_for_message(mail_vps: MailVps, user: str, password: str, subject: str) -> bytes:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        im = mail_vps.imap_login(user, password)
        im.select("INBOX")
        _, found = im.search(None, "SUBJECT", f'"{subject}"')
        if found[0]:
            _, data = im.fetch(found[0].split()[-1], "(RFC822)")
            im.logout()
            return bytes(data[0][1])  # type: ignore[index]
        im.logout()
        time.sleep(0.3)
    raise AssertionError(f"{subject!r} never arrived for {user}")


def daemon_pids(mail_vps: MailVps) -> str:
    with mail_vps.connect() as c:
        return c.run("cat /var/spool/postfix/pid/master.pid /run/dovecot/master.pid /run/opendkim/opendkim.pid")[1]


def test_apply_pins_the_host_key_and_passes_postfix_check(mail_vps: MailVps, host: dict[str, Any]) -> None:
    assert host["host_key"] == mail_vps.vps.host_key()
    assert host["files"] == {p: f.sha256 for p, f in desired_files(mail_vps.inputs()).items()}
    with mail_vps.connect() as c:
        assert c.run(["postfix", "check"])[0] == 0
        assert facts.HOST.read(c).missing_packages == ()  # present: nothing to install
        assert facts.HOST.read(c).systemd is False  # detected: this host drives the daemons directly
        listening = c.run("ss -ltnH")[1]
    for port in (25, 465, 587, 993):
        assert f":{port} " in listening


# The root's DNSKEY with the DO bit, asked of the host's own resolver; prints the reply's AD bit (0 or 1).
_AD_OF_ROOT_KEY = (
    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); "
    "s.sendto(bytes.fromhex('12340100000100000000000100003000010000291000000080000000'), ('127.0.0.1', 53)); "
    "print((s.recv(4096)[3] >> 5) & 1)"
)


def test_the_host_resolves_through_its_own_validating_resolver(mail_vps: MailVps, host: dict[str, Any]) -> None:
    with mail_vps.connect() as c:
        assert c.read("/etc/resolv.conf") == RESOLVER_LINES.encode()
        assert c.run(["/usr/bin/python3", "-c", _AD_OF_ROOT_KEY])[1].strip() == "1"  # validated: AD set
        assert c.run(["unbound-control", "-c", "/etc/unbound/unbound.conf", "status"])[0] == 0


def test_mail_flows_and_is_dkim_signed(mail_vps: MailVps, host: dict[str, Any]) -> None:
    d = Driver(MailboxProvider())
    for address, pw in ((ALICE, "alice-pass-1"), (BOB, "bob-pass-1")):
        inputs, failures = d.check(mailbox(mail_vps, host, address, pw))
        assert failures == []
        _, outs = d.create(inputs)
        assert outs["verified"] is True
    mail_vps.imap_login(ALICE, "alice-pass-1").logout()

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = ALICE, BOB, "flow-587"
    msg.set_content("hello over submission")
    mail_vps.submit(ALICE, "alice-pass-1", msg, port=587)
    raw = wait_for_message(mail_vps, BOB, "bob-pass-1", "flow-587")
    assert b"DKIM-Signature:" in raw and b"d=acme-mail.com" in raw and b"s=s2026" in raw

    public = keys.dkim_public_from_private(mail_vps.dkim["acme-mail.com/s2026"])

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s2026._domainkey.acme-mail.com."
        return records.dkim(public).encode()

    assert dkim.verify(raw, dnsfunc=dns)

    msg.replace_header("Subject", "flow-465")
    mail_vps.submit(ALICE, "alice-pass-1", msg, port=465)
    wait_for_message(mail_vps, BOB, "bob-pass-1", "flow-465")


def test_sending_as_another_mailbox_or_without_auth_is_refused(mail_vps: MailVps, host: dict[str, Any]) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = BOB, ALICE, "spoof"
    msg.set_content("x")
    # alice may only send as alice
    with pytest.raises(smtplib.SMTPRecipientsRefused), smtplib.SMTP(mail_vps.address, 587, timeout=20) as s:
        s.starttls(context=TLS)
        s.login(ALICE, "alice-pass-1")
        s.sendmail(BOB, [ALICE], msg.as_bytes())
    with smtplib.SMTP(mail_vps.address, 25, timeout=20) as s:  # no open relay on port 25
        s.ehlo("outside.example")
        code, _ = s.docmd("MAIL FROM:<someone@outside.example>")
        code, text = s.docmd("RCPT TO:<victim@elsewhere.example>")
        assert code == 454 or code >= 550, text


def test_password_change_works_without_restart(mail_vps: MailVps, host: dict[str, Any]) -> None:
    d = Driver(MailboxProvider())
    pids = daemon_pids(mail_vps)
    old = d.check(mailbox(mail_vps, host, ALICE, "alice-pass-1"))[0]
    new = d.check(mailbox(mail_vps, host, ALICE, "alice-pass-2"))[0]
    _, outs = d.read(ALICE, {**old, "verified": True})
    assert d.diff(ALICE, outs, new).changes == proto.DiffResponse.DIFF_SOME
    d.update(ALICE, outs, new)
    assert d.read(ALICE, {**new, "verified": True})[1]["verified"]  # the read before is forgotten, not reused
    logs_in_soon(mail_vps, ALICE, "alice-pass-2")
    with pytest.raises(imaplib.IMAP4.error):
        mail_vps.imap_login(ALICE, "alice-pass-1")
    assert daemon_pids(mail_vps) == pids
    with mail_vps.connect() as c:  # the hash, never the password, is on disk
        stored = c.run(["cat", "/var/lib/mailbox-iac/users/acme-mail.com/alice"])[1]
    assert stored.startswith(f"{ALICE}:{{ARGON2ID}}$argon2id$") and "alice-pass-2" not in stored


def test_a_password_written_twice_in_a_second_still_changes_the_files_mtime(mail_vps: MailVps) -> None:
    """Dovecot reloads a passwd-file when its mtime (seconds) or size changed; a new password's line has
    the same size, so each write moves the mtime past the last one's even within one second."""
    path = accounts.account_path("dan@acme-mail.com")
    with mail_vps.connect() as c:
        stamps = []
        for password in ("dan-pass-1", "dan-pass-2", "dan-pass-3"):
            accounts.write_accounts(
                c, [("dan@acme-mail.com", accounts.account_line("dan@acme-mail.com", password, 1024))]
            )
            stamps.append(int(c.run(["stat", "-c", "%Y", path])[1]))
        accounts.delete_account(c, "dan@acme-mail.com")
    assert stamps == sorted(set(stamps)), stamps


def test_deleted_mailbox_can_no_longer_log_in(mail_vps: MailVps, host: dict[str, Any]) -> None:
    d = Driver(MailboxProvider())
    inputs = d.check(mailbox(mail_vps, host, "carol@acme-mail.com", "carol-pass-1"))[0]
    id_, outs = d.create(inputs)
    mail_vps.imap_login("carol@acme-mail.com", "carol-pass-1").logout()
    d.delete(id_, outs)
    with pytest.raises(imaplib.IMAP4.error):
        mail_vps.imap_login("carol@acme-mail.com", "carol-pass-1")
    assert d.read(id_, outs) == ("", {})


def test_mailboxes_created_at_once_each_log_in(mail_vps: MailVps, host: dict[str, Any]) -> None:
    """The engine creates a host's mailboxes at once; those that arrive while one is being written are
    written together in one command (batches.py), each with its own password."""
    addresses = [f"crowd{i}@acme-mail.com" for i in range(6)]

    def create(address: str) -> tuple[str, dict[str, Any]]:
        d = Driver(MailboxProvider())
        return d.create(d.check(mailbox(mail_vps, host, address, f"{address}-pass"))[0])

    with futures.ThreadPoolExecutor(max_workers=len(addresses)) as pool:
        created = list(pool.map(create, addresses))
    assert [outs["verified"] for _, outs in created] == [True] * len(addresses)
    for address in addresses:
        logs_in_soon(mail_vps, address, f"{address}-pass")
    with pytest.raises(imaplib.IMAP4.error):
        mail_vps.imap_login(addresses[0], f"{addresses[1]}-pass")
    for id_, outs in created:
        Driver(MailboxProvider()).delete(id_, outs)


def test_a_hand_edit_is_drift_and_up_repairs_it(
    mail_vps: MailVps, host: dict[str, Any], mailhost_inputs: dict[str, Any]
) -> None:
    d = Driver(MailHostProvider())
    id_, live = d.read(f"{mail_vps.address}:22", host)
    assert live["files"] == host["files"]
    assert d.diff(id_, live, mailhost_inputs).changes == proto.DiffResponse.DIFF_NONE
    with mail_vps.connect() as c:
        c.run("echo 'smtpd_helo_required = no' >> /etc/postfix/main.cf")
        c.run("echo 'nameserver 192.0.2.53' > /etc/resolv.conf")  # as a DHCP client would put it back
    _, drifted = d.read(id_, host)
    for path in ("postfix/main.cf", "unbound/resolv.conf"):
        assert drifted["files"][path] != host["files"][path]
    assert d.diff(id_, drifted, mailhost_inputs).changes == proto.DiffResponse.DIFF_SOME
    repaired = d.update(id_, drifted, mailhost_inputs)
    assert repaired["files"] == host["files"]
    with mail_vps.connect() as c:
        assert c.read("/etc/resolv.conf") == RESOLVER_LINES.encode()


def _refused_keeping_the_old(
    mail_vps: MailVps, host: dict[str, Any], files: dict[str, render.File], error: type[Exception], match: str
) -> None:
    """Converging to `files` fails with `error`, and the host keeps the release and the files it had."""
    with mail_vps.connect() as c:
        before = facts.HOST.read(c).current_release
        with pytest.raises(error, match=match):
            apply.converge(c, mail_vps.mailhost, render.release_id(files), files)
        assert facts.HOST.read(c).current_release == before
        assert apply.live_digests(c) == host["files"]


def test_invalid_configuration_is_refused_and_the_old_keeps_serving(mail_vps: MailVps, host: dict[str, Any]) -> None:
    files = desired_files(mail_vps.inputs())
    broken = {
        **files,
        "postfix/main.cf": render.File(files["postfix/main.cf"].content + "this line is not a parameter\n"),
    }
    _refused_keeping_the_old(mail_vps, host, broken, apply.ConfigRejected, "refused before activation")
    mail_vps.imap_login(BOB, "bob-pass-1").logout()


def test_a_milter_that_dies_at_start_rolls_the_release_back_naming_it(mail_vps: MailVps, host: dict[str, Any]) -> None:
    """Without the wait, Postfix would answer every login 454 4.3.0 (its milters' default action) until
    the readiness gate gave up; the activation fails at once, and the old release serves again."""
    files = desired_files(mail_vps.inputs())
    dying = {**files, render.FROM_GUARD_SCRIPT: render.File("raise SystemExit('no milter today')\n")}
    _refused_keeping_the_old(
        mail_vps, host, dying, apply.ActivationFailed, "rolled back: not listening: mailbox-iac-from-guard"
    )
    mail_vps.submission_login(BOB, "bob-pass-1")  # the rollback started the old milter again


def test_a_crashed_opendkim_is_restarted_by_its_own_supervisor(mail_vps: MailVps) -> None:
    """AutoRestart: the pid file's process watches the worker and starts another when it dies (as Debian's
    OpenDKIM 2.11 has been seen to on a first connection); Postfix's milter answers again."""
    with mail_vps.connect() as c:
        supervisor = c.run("cat /run/opendkim/opendkim.pid")[1].strip()
        [worker] = c.run(["pgrep", "-P", supervisor, "opendkim"])[1].split()
        c.run(["kill", "-SEGV", worker])
        for _ in range(100):
            workers = c.run(["pgrep", "-P", supervisor, "opendkim"])[1].split()
            if workers and workers != [worker] and c.run(["sh", "-c", "ss -ltn | grep -q 127.0.0.1:8891"])[0] == 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"no new OpenDKIM worker under {supervisor} listens on 8891")
        assert c.run("cat /run/opendkim/opendkim.pid")[1].strip() == supervisor
    mail_vps.submission_login(BOB, "bob-pass-1")


def test_a_dropped_connection_leaves_old_or_new_never_a_mix(mail_vps: MailVps, host: dict[str, Any]) -> None:
    files = desired_files(mail_vps.inputs())
    changed = {**files, "postfix/main.cf": render.File(files["postfix/main.cf"].content + "# a new comment\n")}
    release = render.release_id(changed)
    with mail_vps.connect() as c:
        old_release = facts.HOST.read(c).current_release
        name = apply.stage(c, release, changed)  # the connection drops after staging: nothing is live yet
    with mail_vps.connect() as c:
        assert facts.HOST.read(c).current_release == old_release
        assert apply.live_digests(c) == host["files"]
        # now the drop happens right after activation starts: the detached script finishes on its own
        script = apply.activation_script(name, old_release, ["postfix"], systemd=False)
        c.put(f"{apply.RELEASES}/{name}/.activate.sh", script.encode(), 0o700)
        c.run(f"setsid -f sh {apply.RELEASES}/{name}/.activate.sh > /dev/null 2>&1 < /dev/null")
    with mail_vps.connect() as c:
        apply.wait_for_activation(c, name)
        assert facts.HOST.read(c).current_release == name
        assert apply.live_digests(c) == {p: f.sha256 for p, f in changed.items()}
    # and back to the planned configuration
    Driver(MailHostProvider()).update(
        f"{mail_vps.address}:22",
        host,
        mail_vps.inputs(host["host_key"]),
    )


def test_second_apply_changes_and_reloads_nothing(
    mail_vps: MailVps, host: dict[str, Any], mailhost_inputs: dict[str, Any]
) -> None:
    pids = daemon_pids(mail_vps)
    outs = Driver(MailHostProvider()).update(f"{mail_vps.address}:22", host, mailhost_inputs)
    assert outs["files"] == host["files"] and daemon_pids(mail_vps) == pids


def test_a_different_host_key_stops_everything(mail_vps: MailVps, host: dict[str, Any]) -> None:
    _, other = keys.ssh_key()
    fake = "ssh-ed25519 " + other.split()[1]
    with pytest.raises(Aborted, match="the SSH host key of .* changed"):
        Driver(MailHostProvider()).read(f"{mail_vps.address}:22", {**host, "host_key": fake})


def test_an_account_that_does_not_log_in_fails_its_create_naming_the_login(
    mail_vps: MailVps, host: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create returns once the account logs in (over the host's placeholder certificate here: no ACME in
    this suite); with Dovecot stopped it fails, saying which login and never the password."""
    monkeypatch.setattr(mailhost_provider, "LOGIN_WITHIN", 1.0)
    address, password = "dora@acme-mail.com", "dora-pass-1"
    with mail_vps.connect() as c:
        c.run(["doveadm", "stop"])
    try:
        with pytest.raises(
            Aborted, match=f"{address}: its account is on the host but does not log in after 1s: login.imap {address}: "
        ) as e:
            Driver(MailboxProvider()).create(mailbox(mail_vps, host, address, password))
        assert password not in str(e.value)
    finally:
        with mail_vps.connect() as c:
            c.run("dovecot < /dev/null > /dev/null 2>&1")  # a daemon: it keeps no channel open
        logs_in_soon(mail_vps, BOB, "bob-pass-1")
        with mail_vps.connect() as c:
            accounts.delete_account(c, address)


def test_mailbox_needs_a_pinned_host_key(mail_vps: MailVps, host: dict[str, Any]) -> None:
    d = Driver(MailboxProvider())
    inputs, failures = d.check(mailbox(mail_vps, {"host_key": ""}, ALICE, "x"))
    assert failures == []  # in a preview the key may not be known yet
    with pytest.raises(Aborted, match="host_key is required: pass the MailHost's recorded host_key"):
        d.create(inputs)


def test_commands_are_not_held_back_by_nagle_and_root_has_a_fresh_images_home(mail_vps: MailVps) -> None:
    """Each command is a few small packets: without TCP_NODELAY each waits out a delayed ACK. And the
    sandbox host's root home is its own, as on a new Debian image: this machine's shell start-up files
    (a pyenv init, say) would run on every command and make the host slower and unlike a real one."""
    with mail_vps.connect() as c:
        transport = c.client.get_transport()
        assert transport is not None and isinstance(transport.sock, socket.socket)
        assert transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert c.read("/root/.bashrc") == Path("/usr/share/base-files/dot.bashrc").read_bytes()
        assert c.run("echo $PATH")[1].strip() == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


KILL_MY_SESSION = (
    'p=$$; while ! grep -q "^sshd" "/proc/$p/comm"; do p=$(cut -d" " -f4 "/proc/$p/stat"); done; kill -9 "$p"'
)


def test_a_session_that_drops_says_so_and_what_to_do(mail_vps: MailVps, host: dict[str, Any]) -> None:
    with mail_vps.connect() as c, pytest.raises(SshDropped) as dropped:
        c.run(["sh", "-c", KILL_MY_SESSION])  # the session's own sshd process dies under the command
    message = str(dropped.value)
    assert f"the SSH session to {mail_vps.address}:22 dropped while running `sh -c" in message
    assert "never a mix: run `mailbox-iac up` again" in message
    with mail_vps.connect() as c:
        transport = c.client.get_transport()
        assert transport is not None
        transport.close()
        with pytest.raises(SshDropped, match="dropped while running `true`"):
            c.run(["true"])
        with pytest.raises(SshDropped, match="dropped while opening SFTP"):
            c.put("/tmp/x", b"x")
    with mail_vps.connect() as c:  # and the host is as it was
        assert apply.live_digests(c) == host["files"]


def test_removing_the_mail_host_gives_the_host_back_to_its_packages(mail_vps: MailVps, host: dict[str, Any]) -> None:
    """Last in this module: a MailHost's delete. Debian's own files are back in place, the daemons run with
    them (policyd-rate-limit with its package's file, not the day's), nothing of ours is left to start."""
    with mail_vps.connect() as c:
        debian_rate_limits = c.read(f"{render.ROOT}/original/policyd-rate-limit.yaml")
    assert debian_rate_limits and b"mailbox-iac" not in debian_rate_limits
    Driver(MailHostProvider()).delete(f"{mail_vps.address}:22", host)
    with mail_vps.connect() as c:
        for live in render.LINKS.values():
            assert c.run(["test", "-L", live], check=False)[0] != 0, live
        assert c.read("/etc/policyd-rate-limit.yaml") == debian_rate_limits
        pid = c.run(["cat", render.RATE_LIMIT_PID])[1].strip()
        assert c.run(["cat", f"/proc/{pid}/cmdline"])[1].endswith(
            "policyd-rate-limit\0-f\0/etc/policyd-rate-limit.yaml\0"
        )
        for gone in (render.RATE_LIMIT_LIVE, render.CURRENT, apply.RELEASES):
            assert c.run(["test", "-e", gone], check=False)[0] != 0, gone
        assert c.read("/etc/resolv.conf") != RESOLVER_LINES.encode()
        assert c.read("/etc/postfix/main.cf") is None  # the image's postfix was installed unconfigured
