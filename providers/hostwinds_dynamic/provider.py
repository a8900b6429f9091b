"""Pulumi dynamic providers for Hostwinds servers and their reverse DNS.

THIS MODULE PATH IS PERMANENT: Pulumi state pickles these classes by reference
(`hostwinds_dynamic.provider.InstanceProvider`); moving or renaming them breaks refresh and delete of
every existing stack. Instances hold plain data only; clients are built inside methods.

Configuration (read in `configure`, never stored in state): stack config `hostwinds:endpoint` and secret
`hostwinds:apiKey`, falling back to `HOSTWINDS_API_URL` / `HOSTWINDS_API_KEY`; `hostwinds:rdnsResolver`
(or `HOSTWINDS_RDNS_RESOLVER`, "host:port") is the DNS server asked for PTR records.
"""

from __future__ import annotations

import os
import time
from typing import Any

import dns.exception
import dns.resolver
import dns.reversename
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from hostwinds_dynamic import BILLING_CYCLES
from hostwinds_dynamic.client import (
    HostwindsClient,
    HostwindsError,
    HostwindsInputError,
    HostwindsTransientError,
)
from mailbox_iac import allowances
from mailbox_iac.errors import GuardRailViolation, Permanent
from mailbox_iac.unknown import has_unknown, is_unknown

DEFAULT_ENDPOINT = "https://clients.hostwinds.com/cloud/api.php"
REPLACE_KEYS = ("location_id", "template", "rid")  # a different image, place or plan is a new server
UPDATE_KEYS = ("srvrname", "billing_cycle")


class HostwindsBuildError(Permanent):
    """The build cannot go on as asked (several servers with one label)."""


class _Configured(ResourceProvider):
    """Reads endpoint and API key at configure time; nothing secret is ever an attribute that gets pickled."""

    _endpoint: str | None = None
    _api_key: str | None = None
    _resolver: str | None = None

    def __init__(self, rate: float = 2.0, timeout: float = 30.0) -> None:
        self.rate = rate
        self.timeout = timeout

    def configure(self, req: ConfigureRequest) -> None:
        self._endpoint = req.config.get("hostwinds:endpoint")
        self._api_key = req.config.get("hostwinds:apiKey")
        self._resolver = req.config.get("hostwinds:rdnsResolver")

    def _client(self) -> HostwindsClient:
        endpoint = self._endpoint or os.environ.get("HOSTWINDS_API_URL") or DEFAULT_ENDPOINT
        key = self._api_key or os.environ.get("HOSTWINDS_API_KEY")
        if not key:
            raise HostwindsError(
                "configure",
                "no API key: run `pulumi config set --secret hostwinds:apiKey <key>` or set HOSTWINDS_API_KEY",
            )
        return HostwindsClient(endpoint, key, rate=self.rate, timeout=self.timeout)


def _ints(props: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Numbers cross the engine as doubles (protobuf Struct): make the integer fields integers again."""
    out = dict(props)
    for key in keys:
        value = out.get(key)
        if isinstance(value, float) and value == int(value):
            out[key] = int(value)
    return out


def _failures(news: dict[str, Any], spec: dict[str, type]) -> list[CheckFailure]:
    failures = []
    news = _ints(news, *(k for k, kind in spec.items() if kind is int))
    for key, kind in spec.items():
        value = news.get(key)
        if has_unknown(value):
            continue
        if value is None or value == "":
            failures.append(CheckFailure(key, f"{key} is required"))
        elif kind is int and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1
        ):
            failures.append(CheckFailure(key, f"{key} must be a positive integer, got {value!r}"))
        elif kind is str and not isinstance(value, str):
            failures.append(CheckFailure(key, f"{key} must be a string, got {type(value).__name__}"))
    return failures


class InstanceProvider(_Configured):
    """A Hostwinds VPS. `create` adopts an existing server with the same unique `srvrname` instead of
    buying a second one, so a crashed or retried `pulumi up` never duplicates a server."""

    def __init__(
        self, rate: float = 2.0, poll_interval: float = 10.0, build_timeout: float = 1800.0, timeout: float = 30.0
    ) -> None:
        super().__init__(rate, timeout)
        self.poll_interval = poll_interval
        self.build_timeout = build_timeout

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = _failures(news, {"location_id": int, "template": str, "rid": int, "srvrname": str})
        keys = news.get("ssh_keys") or []
        if not has_unknown(keys) and (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
            failures.append(CheckFailure("ssh_keys", "ssh_keys must be a list of Hostwinds SSH key names"))
        cycle = news.get("billing_cycle") or "monthly"
        if not is_unknown(cycle) and cycle not in BILLING_CYCLES:
            failures.append(CheckFailure("billing_cycle", f"billing_cycle must be one of {', '.join(BILLING_CYCLES)}"))
        name = news.get("srvrname")
        if isinstance(name, str) and (len(name) > 64 or any(not (c.isalnum() or c in "-_.") for c in name)):
            failures.append(CheckFailure("srvrname", "srvrname: at most 64 letters, digits, '-', '_' or '.'"))
        return CheckResult(_ints(dict(news, ssh_keys=keys, billing_cycle=cycle), "location_id", "rid"), failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds, news = _ints(olds, "location_id", "rid"), _ints(news, "location_id", "rid")
        changed = [
            k for k in REPLACE_KEYS + UPDATE_KEYS if k in news and (has_unknown(news[k]) or olds.get(k) != news[k])
        ]
        replaces = [k for k in changed if k in REPLACE_KEYS]
        if replaces and not news.get("allow_replace"):
            raise GuardRailViolation(
                f"changing {', '.join(replaces)} would replace server {olds.get('srvrname')!r} "
                f"(serviceid {olds.get('serviceid')}, {olds.get('main_ip')}): a new IP without its sending "
                f"reputation and a new rDNS. If that is really wanted, {allowances.how_to('server-replacement')}"
            )
        # The new server carries the same srvrname; the old one must be gone before create() looks for it.
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces))

    def _outs(self, inputs: dict[str, Any], inst: dict[str, Any]) -> dict[str, Any]:
        """The one output shape, shared by create, update and read."""
        return {
            "allow_replace": bool(inputs.get("allow_replace")),
            "location_id": int(inst.get("location_id") or inputs["location_id"]),
            "template": str(inst.get("template_uuid") or inputs["template"]),
            "rid": int(inst.get("product_id") or inputs["rid"]),
            "srvrname": str(inst.get("srvrname", "")),
            "ssh_keys": list(inputs.get("ssh_keys") or []),  # applied at build only; not readable back
            "billing_cycle": str(inst.get("billingcycle") or inputs.get("billing_cycle") or "monthly"),
            "serviceid": int(inst["serviceid"]),
            "main_ip": str(inst.get("main_ip") or ""),
            "ip_v6": str(inst.get("ip_v6") or ""),
            "status": str(inst.get("status") or "").upper(),
        }

    def _find(self, client: HostwindsClient, props: dict[str, Any]) -> dict[str, Any] | None:
        found = client.find_by_name(props["srvrname"])
        if len(found) > 1:
            ids = ", ".join(str(i.get("serviceid")) for i in found)
            raise HostwindsBuildError(
                f"several Hostwinds servers are named {props['srvrname']!r} ({ids}); "
                "terminate or rename the extra ones, then run again"
            )
        if not found:
            return None
        inst = found[0]
        wrong = [
            k
            for k, field in (("location_id", "location_id"), ("template", "template_uuid"), ("rid", "product_id"))
            if inst.get(field) not in (None, "") and str(inst[field]) != str(props[k])
        ]
        if wrong:
            raise HostwindsBuildError(
                f"server {props['srvrname']!r} (serviceid {inst['serviceid']}) already exists with a different "
                f"{', '.join(wrong)}; terminate or rename it, or change the spec to match"
            )
        return inst

    def _order(self, client: HostwindsClient, props: dict[str, Any]) -> dict[str, Any]:
        """Order a server and return it once listed. A failed order is checked before it is retried."""
        for attempt in range(1, 4):
            try:
                client.add_instance(
                    template=props["template"],
                    rid=props["rid"],
                    location_id=props["location_id"],
                    srvrname=props["srvrname"],
                    keys=list(props.get("ssh_keys") or []),
                    billingcycle=props.get("billing_cycle") or "monthly",
                )
            except HostwindsTransientError:
                if attempt == 3:
                    raise
            deadline = time.monotonic() + max(30.0, 3 * self.poll_interval)
            while time.monotonic() < deadline:
                inst = self._find(client, props)
                if inst:
                    return inst
                time.sleep(min(self.poll_interval, 2.0))
        raise HostwindsBuildError(f"server {props['srvrname']!r} was ordered but never appeared in get_instances")

    def _wait_active(self, client: HostwindsClient, serviceid: int, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.build_timeout
        while True:
            inst = client.get_instance(serviceid)
            if inst is None:
                raise HostwindsBuildError(f"server {name!r} (serviceid {serviceid}) disappeared while building")
            status = str(inst.get("status", "")).upper()
            if status == "ACTIVE" and inst.get("main_ip"):
                return inst
            if status == "ERROR":
                raise HostwindsBuildError(
                    f"the build of {name!r} (serviceid {serviceid}) failed with status ERROR; "
                    "terminate it in Hostwinds and run again"
                )
            if time.monotonic() > deadline:
                raise HostwindsBuildError(
                    f"server {name!r} (serviceid {serviceid}) is still {status or 'building'} after "
                    f"{self.build_timeout:.0f}s; run again later: the server will be adopted, not ordered twice"
                )
            time.sleep(self.poll_interval)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = _ints(props, "location_id", "rid")
        with self._client() as client:
            inst = self._find(client, props) or self._order(client, props)
            inst = self._wait_active(client, int(inst["serviceid"]), props["srvrname"])
            return CreateResult(str(inst["serviceid"]), self._outs(props, inst))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self._client() as client:
            inst = client.get_instance(int(id_))
        if inst is None:
            return ReadResult(id_="", outs={})
        return ReadResult(id_, self._outs(props, inst))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with self._client() as client:
            if olds.get("srvrname") != news["srvrname"]:
                client.edit_instance(int(id_), news["srvrname"])
            if olds.get("billing_cycle") != news["billing_cycle"]:
                client.call("change_billing_cycle", {"serviceid": int(id_), "billingcycle": news["billing_cycle"]})
            inst = client.get_instance(int(id_))
        if inst is None:
            raise HostwindsBuildError(
                f"server {news['srvrname']!r} (serviceid {id_}) no longer exists; run `pulumi refresh`"
            )
        return UpdateResult(self._outs(news, inst))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self._client() as client:
            inst = client.get_instance(int(id_))
            if inst is None:
                return
            if int(inst.get("locked") or 0):
                raise HostwindsBuildError(
                    f"server {props.get('srvrname')!r} (serviceid {id_}) is locked at Hostwinds; "
                    "unlock it (toggle_lock) if it really should be terminated, then run again"
                )
            try:
                client.terminate(int(id_))
            except HostwindsInputError as exc:
                if "serviceid" not in exc.message.lower():  # gone already: a retried terminate
                    raise


def lookup_ptr(ip: str, resolver: str | None, timeout: float = 5.0) -> str:
    """The PTR of `ip` without trailing dot, or "" when there is none."""
    res = dns.resolver.Resolver(configure=resolver is None)
    if resolver:
        host, _, port = resolver.rpartition(":")
        res.nameservers = [host]
        res.port = int(port)
    res.lifetime = timeout
    try:
        answer = res.resolve(dns.reversename.from_address(ip), "PTR")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return ""
    return str(answer[0].target).rstrip(".").lower()


class ReverseDnsProvider(_Configured):
    """The PTR record of a server IP (`set_rdns`). Hostwinds has no read-back action, so `read` asks DNS."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(_ints(news, "serviceid"), _failures(news, {"serviceid": int, "ip": str, "hostname": str}))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds, news = _ints(olds, "serviceid"), _ints(news, "serviceid")
        changed = [k for k in ("serviceid", "ip", "hostname") if has_unknown(news.get(k)) or olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[k for k in changed if k != "hostname"])

    def _set(self, props: dict[str, Any]) -> dict[str, Any]:
        with self._client() as client:
            client.set_rdns(int(props["serviceid"]), props["ip"], props["hostname"])
        return {"serviceid": int(props["serviceid"]), "ip": props["ip"], "hostname": props["hostname"]}

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._set(props)
        return CreateResult(f"{outs['serviceid']}/{outs['ip']}", outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        resolver = self._resolver or os.environ.get("HOSTWINDS_RDNS_RESOLVER")
        try:
            hostname = lookup_ptr(props["ip"], resolver)
        except dns.exception.DNSException as exc:
            raise HostwindsError("rdns", f"cannot check the PTR of {props['ip']}: {type(exc).__name__}") from None
        return ReadResult(id_, {"serviceid": int(props["serviceid"]), "ip": props["ip"], "hostname": hostname})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._set(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to undo: Hostwinds has no action that removes a PTR, and terminate resets it."""


class SshKeyProvider(_Configured):
    """An SSH public key registered at Hostwinds under a name (`add_ssh_key`), for `Instance.ssh_keys`.
    Hostwinds has no action to list keys, so `read` trusts state."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self._client() as client:
            client.call("add_ssh_key", {"name": props["name"], "public_key": props["public_key"]})
        return CreateResult(props["name"], {"name": props["name"], "public_key": props["public_key"]})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("name", "public_key") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with self._client() as client:
            try:
                client.call("delete_ssh_key", {"name": props["name"]})
            except HostwindsInputError as exc:
                if "not found" not in exc.message.lower():
                    raise
