"""Pulumi dynamic providers for the mail host and its mailbox accounts, over SSH.

THIS MODULE PATH IS PERMANENT (`mailbox_iac.mailhost.provider`): state pickles these classes by reference.

`MailHostProvider` converges a host to the rendered configuration of a `MailHostPlan`; `read` hashes
the live files, so a change made by hand on the server is drift. `delete` puts the package's original
configuration back and reloads; mail already delivered stays in the maildirs.
`CertificateProvider` gets the host its TLS certificate over ACME (certbot on the host).
`MailboxProvider` manages one account. The password arrives as a secret, is hashed in this process and
only the hash reaches the host; state keeps the password as an encrypted secret so rotation can be seen.
An account written is proven by its logins (IMAPS, submission) before its create or update returns.
"""

from __future__ import annotations

import logging
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from mailbox_iac.batches import GroupCommit
from mailbox_iac.checks import login
from mailbox_iac.checks.result import Result, until_passing
from mailbox_iac.mailhost import accounts, acme, apply, facts, harden, render
from mailbox_iac.mailhost.connection import SSH_KEYS, Connection
from mailbox_iac.mailhost.resolver import root_from_environment
from mailbox_iac.mailhost.ssh import SshError, SshTarget, SshUnreachable, session
from mailbox_iac.plan.model import MailHostPlan
from mailbox_iac.recent import Recent
from mailbox_iac.unknown import has_unknown

log = logging.getLogger("mailbox_iac.mailhost")


def _differing(olds: dict[str, Any], news: dict[str, Any], *keys: str) -> list[str]:
    """The keys whose new value is unknown yet (a preview) or differs from the old one."""
    return [k for k in keys if has_unknown(news.get(k)) or str(olds.get(k)) != str(news.get(k))]


def _ssh_outs(props: dict[str, Any], host_key: str) -> dict[str, Any]:
    return {
        "host": str(props["host"]),
        "port": int(props.get("port") or 22),
        "user": str(props.get("user") or "root"),
        "private_key": props["private_key"],
        "host_key": host_key,
    }


def _pinned_target(props: dict[str, Any]) -> SshTarget:
    """The host of a resource that comes after the MailHost: it uses the host key the MailHost recorded."""
    if not props.get("host_key"):
        raise SshError("host_key is required: pass the MailHost's recorded host_key (never connect unpinned)")
    return SshTarget.of(props)


def plan_from(data: dict[str, Any]) -> MailHostPlan:
    """The plan arrives as plain data (lists, not tuples): rebuild the frozen dataclass."""
    return MailHostPlan(
        server=data["server"],
        hostname=data["hostname"],
        domains=tuple(data["domains"]),
        mailboxes=tuple((a, int(q)) for a, q in data["mailboxes"]),
        aliases=tuple((src, tuple(t)) for src, t in data["aliases"]),
        dkim=tuple((d, s) for d, s in data["dkim"]),
        mta_sts_policies=tuple((d, p) for d, p in data["mta_sts_policies"]),
        sending_limits=tuple((a, int(n)) for a, n in data.get("sending_limits", ())),  # older states lack it
        warmups=tuple((a, s, int(n), int(i)) for a, s, n, i in data.get("warmups", ())),  # and this
        ipv6=bool(data.get("ipv6", False)),
    )


def desired_files(props: dict[str, Any]) -> dict[str, render.File]:
    keys = {tuple(k.split("/", 1)): pem for k, pem in (props.get("dkim_keys") or {}).items()}
    return render.render(plan_from(props["plan"]), keys, root_from_environment())


def _gone(props: dict[str, Any], why: SshUnreachable) -> None:
    """A host that cannot be reached at all (a terminated server) holds nothing: refresh reports the
    resource gone and the next `up` applies it again, which is safe because applying is idempotent. A
    changed host key is never taken for "gone": it raises."""
    log.warning("mail host %s is not reachable (%s): reporting it as gone", props.get("host"), why)


class _OnHost(ResourceProvider):
    """A resource that lives on a mail host: read and removed over SSH. A host that cannot be reached is
    reported gone (see `_gone`); `_live` returning None means the resource is not on the host."""

    def _live(self, conn: Connection, props: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError

    def _remove(self, conn: Connection, props: dict[str, Any]) -> None:
        raise NotImplementedError

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            with session(SshTarget.of(props), read_only=True) as conn:
                outs = self._live(conn, props)
        except SshUnreachable as exc:
            _gone(props, exc)
            return ReadResult(id_="", outs={})
        return ReadResult(id_, outs) if outs is not None else ReadResult(id_="", outs={})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        try:
            with session(SshTarget.of(props)) as conn:
                self._remove(conn, props)
        except SshUnreachable as exc:  # a server that is gone has nothing left to undo
            _gone(props, exc)


class MailHostProvider(_OnHost):
    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        plan = plan_from(props["plan"])
        files = desired_files(props)
        release = render.release_id(files)
        with session(SshTarget.of(props)) as conn:
            networks = list(props.get("operator_networks") or [])
            live, hardening = apply.converge(conn, plan, release, files, networks)
            host_key = conn.host_key
        log.info("mail host %s now on release %s", props["host"], release)
        return {
            **_ssh_outs(props, host_key),
            "hostname": props["plan"]["hostname"],
            "release": release,
            "files": live,
            "hardening": hardening,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._apply(props)
        return CreateResult(f"{outs['host']}:{outs['port']}", outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply({**news, "host_key": news.get("host_key") or olds.get("host_key", "")}))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _differing(olds, news, "host", "port")
        changed = list(replaces)
        if any(has_unknown(news.get(k)) for k in ("plan", "dkim_keys", "private_key")):
            changed.append("files")
        else:
            desired = {p: f.sha256 for p, f in desired_files(news).items()}
            if desired != olds.get("files"):
                changed.append("files")
            if olds.get("hardening") != harden.expected() or (olds.get("operator_networks") or []) != (
                news.get("operator_networks") or []
            ):
                changed.append("hardening")
            if news.get("private_key") != olds.get("private_key") or news.get("user", "root") != olds.get("user"):
                changed.append("ssh")
            if news.get("host_key") and news["host_key"] != olds.get("host_key"):
                changed.append("host_key")
        return DiffResult(changes=bool(changed), replaces=replaces)

    def _live(self, conn: Connection, props: dict[str, Any]) -> dict[str, Any]:
        return {
            **{k: props[k] for k in SSH_KEYS},
            "hostname": props.get("hostname", ""),
            "release": facts.HOST.read(conn).current_release.split("-")[0],
            "files": apply.live_digests(conn),
            "hardening": harden.STATUS.read(conn),
        }

    def _remove(self, conn: Connection, props: dict[str, Any]) -> None:
        conn.run(apply.restore_script())


class CertificateProvider(_OnHost):
    """The mail host's certificates over ACME, one per name (see acme.py). Outputs say whether each name's
    certificate is served, names it alone and is valid for more than the renewal window: a renewal by the
    host's own timer changes nothing here, an expiring or wrong certificate is a change for the next `up`."""

    def _obtain(self, props: dict[str, Any], force: bool) -> dict[str, Any]:
        with session(_pinned_target(props)) as conn:
            cert = acme.obtain(
                conn, list(props["names"]), acme.directory(props.get("directory")), str(props.get("email") or ""), force
            )
        return self._outs(props, cert)

    def _outs(self, props: dict[str, Any], served: dict[str, acme.Served]) -> dict[str, Any]:
        return {
            **_ssh_outs(props, str(props.get("host_key") or "")),
            "names": list(props["names"]),
            "directory": props.get("directory") or "",
            "email": props.get("email") or "",
            "one_per_name": True,
            "valid": acme.valid_for(served, list(props["names"]), acme.now()),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['host']}:{props['names'][0]}", self._obtain(props, force=False))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        moved = acme.directory(olds.get("directory")) != acme.directory(news.get("directory"))
        return UpdateResult(self._obtain(news, force=moved))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _differing(olds, news, "host", "port")
        # `one_per_name`: states from before per-name certificates lack it, and get them on the next `up`.
        changed = replaces + _differing(olds, news, "names", "email", "private_key", "one_per_name")
        if acme.directory(olds.get("directory")) != acme.directory(news.get("directory")):
            changed.append("directory")
        if not olds.get("valid"):
            changed.append("valid")
        return DiffResult(changes=bool(changed), replaces=replaces)

    def _live(self, conn: Connection, props: dict[str, Any]) -> dict[str, Any]:
        return self._outs(props, acme.SERVED.read(conn))

    def _remove(self, conn: Connection, props: dict[str, Any]) -> None:
        acme.remove(conn)


# A refresh reads every mailbox of a host at once: one command reads all of the host's accounts for the
# reads of the next few seconds (recent.py); a write forgets them.
_ACCOUNTS: Recent[tuple[str, int, str], dict[str, tuple[str, int]]] = Recent(5.0)


def _write_accounts(target: SshTarget, lines: list[tuple[str, str]]) -> None:
    with session(target) as conn:
        accounts.write_accounts(conn, lines)


# The accounts a run creates or changes on one host, written together (batches.py): one command for the
# mailboxes the engine sends at once, rather than three round trips each.
_ACCOUNT_WRITES: GroupCommit[SshTarget, tuple[str, str]] = GroupCommit(_write_accounts)


def _host(props: dict[str, Any]) -> tuple[str, int, str]:
    return str(props["host"]), int(props.get("port") or 22), str(props.get("host_key") or "")


# A new account logs in at once; a changed password within a second or so (Dovecot reads a passwd-file
# again at most once a second), and certbot may swap the certificate the host serves meanwhile.
LOGIN_WITHIN = 15.0


def _logs_in(target: SshTarget, address: str, password: str) -> None:
    """The account logs in over IMAPS and submission, TLS pinned to the certificate the host says, over its
    pinned SSH session, that it serves: the placeholder until ACME has run, the issued one after (its
    domain's readiness gate then verifies that one for the mail hostname)."""

    def logins() -> list[Result]:
        with session(target, read_only=True) as conn:
            served = (conn.read(render.TLS_CERT) or b"").decode()
        return login.logins(target.host, target.host, address, password, login.pinned_tls(served))

    until_passing(logins, f"{address}: its account is on the host but does not log in", LOGIN_WITHIN, 0.5)


class MailboxProvider(_OnHost):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        # During a preview, inputs computed by other resources (a new server's IP) are unknown and may be
        # absent: only a value known to be empty is an error. The host key is checked when connecting: in a
        # preview the engine echoes a MailHost's inputs as its outputs, where the key is not recorded yet.
        failures = [
            CheckFailure(k, f"{k} is required")
            for k in ("host", "private_key", "address", "password")
            if k in news and news[k] in ("", None)
        ]
        return CheckResult(news, failures)

    def _write(self, props: dict[str, Any]) -> dict[str, Any]:
        target = _pinned_target(props)
        line = accounts.account_line(props["address"], props["password"], int(props["quota_mb"]))
        _ACCOUNTS.forget(_host(props))
        _ACCOUNT_WRITES.submit(target, (props["address"], line))
        _logs_in(target, props["address"], props["password"])
        return self._outs(props, verified=True, quota=int(props["quota_mb"]))

    def _outs(self, props: dict[str, Any], verified: bool, quota: int) -> dict[str, Any]:
        return {
            **_ssh_outs(props, str(props.get("host_key") or "")),
            "address": props["address"],
            "password": props["password"],
            "quota_mb": quota,
            "verified": verified,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(props["address"], self._write(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._write(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _differing(olds, news, "address", "host", "port")
        changed = replaces + _differing(olds, news, "password", "quota_mb", "private_key")
        # An empty host key is one not known yet (a preview echoes a MailHost's inputs), not a new key.
        if news.get("host_key") and news.get("host_key") != olds.get("host_key"):
            changed.append("host_key")
        if not olds.get("verified", True):
            changed.append("verified")
        return DiffResult(changes=bool(changed), replaces=replaces)

    def _live(self, conn: Connection, props: dict[str, Any]) -> dict[str, Any] | None:
        found = _ACCOUNTS.get(_host(props), lambda: accounts.ACCOUNTS.read(conn)).get(props["address"])
        if found is None:
            return None
        argon2_hash, quota = found
        return self._outs(props, accounts.verify_password(argon2_hash, props["password"]), quota)

    def _remove(self, conn: Connection, props: dict[str, Any]) -> None:
        _ACCOUNTS.forget(_host(props))
        accounts.delete_account(conn, props["address"])
