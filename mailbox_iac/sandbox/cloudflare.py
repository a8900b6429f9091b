"""A local emulator of the Cloudflare API v4 subset the DNS provider uses (shared/reference/cloudflare-api.md),
which also answers DNS queries for its zones, so every check uses the real DNS protocol.

The envelope (`success`, `errors`, `messages`, `result`, `result_info`), bearer-token auth (400 missing or
malformed, 403/10000 unknown or outside the token's zones and permissions), the rate limit (1,200 requests
per 5 minutes per token, then every call 429 with `retry-after` for 5 minutes; `Ratelimit` headers on
every reply), names stored as lower-case FQDNs, quoted TXT kept as the client split it (only a string
over 255 bytes is split), TTL 1 or 60-86400, MX priority required, `proxied` only on A/AAAA/CNAME, no
tags (a Free plan's quota is 0), comments of at most 100 characters, identical-record and CNAME
conflicts, 400/7003 for a malformed id and 404/81044 for a missing record, pagination.

Run-time settings, as a test injects faults: `POST /_emulator/limits` {requests, window, block},
`POST /_emulator/faults` {lose_create_replies: N (the next N creates are applied, then answered 502 with
an HTML page: a reply lost at the edge), slow_create_replies: seconds (each create is applied, then answered
that much later: a slow edge, where a run can be killed mid-call)},
`POST /_emulator/tokens` {token, zones: [names] | null, edit}. `GET /_emulator/state` dumps everything.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import math
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mailbox_iac.dns import txt
from mailbox_iac.sandbox.jsonhttp import JsonHandler, RoutedHandler, serve_in_background

TYPES = {
    "A",
    "AAAA",
    "CAA",
    "CERT",
    "CNAME",
    "DNSKEY",
    "DS",
    "HTTPS",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "OPENPGPKEY",
    "PTR",
    "SMIMEA",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
    "URI",
}
_TOKEN = re.compile(r"^Bearer ([A-Za-z0-9_-]{10,})$")
FIELDS = ("type", "name", "content", "ttl", "priority", "proxied", "comment", "tags")
_RECORD_ID = re.compile(r"^[0-9a-f]{32}$")
PROXIABLE = ("A", "AAAA", "CNAME")
MAX_COMMENT = 100  # Free plan


@dataclass
class Limits:
    requests: int = 1200  # per token, per window
    window: float = 300.0
    block: float = 300.0  # past the limit, every call of the token is refused this long


@dataclass
class Faults:
    lose_create_replies: int = 0
    slow_create_replies: float = 0.0

    def reply_lost(self) -> bool:
        """After a create was applied: wait as slow as the edge is set to be; True when its reply is lost."""
        time.sleep(self.slow_create_replies)
        if self.lose_create_replies > 0:
            self.lose_create_replies -= 1
            return True
        return False


@dataclass
class Scope:
    zones: set[str] | None = None  # zone names the token may see; None: all (Zone:Read everywhere)
    edit: bool = True  # DNS:Edit

    def sees(self, zone_name: str) -> bool:
        return self.zones is None or zone_name in self.zones


@dataclass
class _Usage:
    calls: collections.deque[float] = field(default_factory=collections.deque)
    blocked_until: float = 0.0
    answered: int = 0  # every call admitted since the start: what tests count
    refused: int = 0  # every call answered 429


class CfError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _id() -> str:
    return secrets.token_hex(16)


class CloudflareEmulator:
    def __init__(
        self, token: str, zones: list[str] | None = None, nameservers: tuple[str, ...] = ("ns1.sandbox.test",)
    ) -> None:
        self.token = token
        self.tokens: dict[str, Scope] = {token: Scope()}
        self.limits, self.faults = Limits(), Faults()
        self.usage: dict[str, _Usage] = collections.defaultdict(_Usage)
        self.nameservers = list(nameservers)
        self.lock = threading.RLock()
        self.zones: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        for name in zones or []:
            self.add_zone(name)

    # --- zones ---------------------------------------------------------------------------------------

    def add_zone(self, name: str) -> dict[str, Any]:
        with self.lock:
            for z in self.zones.values():
                if z["name"] == name:
                    return z
            zid, now = _id(), _now()
            zone = {
                "id": zid,
                "name": name,
                "status": "active",
                "type": "full",
                "paused": False,
                "development_mode": 0,
                "name_servers": self.nameservers,
                "original_name_servers": None,
                "original_registrar": None,
                "original_dnshost": None,
                "vanity_name_servers": [],
                "permissions": [],
                "cname_suffix": "",
                "verification_key": "",
                "account": {"id": "0" * 32, "name": "Sandbox Account"},
                "owner": {"id": None, "name": "Sandbox Account", "type": "organization"},
                "plan": {
                    "id": "0" * 32,
                    "name": "Free Website",
                    "price": 0,
                    "currency": "USD",
                    "frequency": "",
                    "is_subscribed": False,
                    "can_subscribe": False,
                    "legacy_id": "free",
                    "legacy_discount": False,
                    "externally_managed": False,
                },
                "meta": {
                    "step": 2,
                    "custom_certificate_quota": 0,
                    "page_rule_quota": 3,
                    "phishing_detected": False,
                    "cdn_only": False,
                    "dns_only": False,
                    "foundation_dns": False,
                },
                "tenant": {"id": None, "name": None},
                "tenant_unit": {"id": None},
                "activated_on": now,
                "created_on": now,
                "modified_on": now,
            }
            self.zones[zid] = zone
            self.records[zid] = {}
            return zone

    def _zone(self, zid: str, scope: Scope | None = None) -> dict[str, Any]:
        if zid not in self.zones:
            raise CfError(
                400, 7003, f"Could not route to /client/v4/zones/{zid}, perhaps your object identifier is invalid?"
            )
        if scope is not None and not scope.sees(self.zones[zid]["name"]):
            raise CfError(403, 10000, "Authentication error")
        return self.zones[zid]

    # --- tokens and the rate limit -----------------------------------------------------------------

    def admit(self, token: str) -> tuple[Scope, dict[str, str]]:
        """The token's scope and the rate-limit headers of this reply; 403 or 429 as CfError."""
        scope = self.tokens.get(token)
        if scope is None:
            raise CfError(403, 10000, "Authentication error")
        with self.lock:
            usage, now, limits = self.usage[token], time.monotonic(), self.limits
            while usage.calls and usage.calls[0] <= now - limits.window:
                usage.calls.popleft()
            if now >= usage.blocked_until and len(usage.calls) >= limits.requests:
                usage.blocked_until = now + limits.block
            if now < usage.blocked_until:
                usage.refused += 1
                raise RateLimited(str(max(1, math.ceil(usage.blocked_until - now))), limits)
            usage.calls.append(now)
            usage.answered += 1
            remaining = limits.requests - len(usage.calls)
            reset = max(1, math.ceil(usage.calls[0] + limits.window - now))
        return scope, _rate_headers(remaining, reset, limits)

    # --- records -------------------------------------------------------------------------------------

    def _normalise(self, zone: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        rec = {k: body[k] for k in FIELDS if k in body}
        if old:
            rec = {**{k: old[k] for k in FIELDS if k in old}, **rec}
        rtype = str(rec.get("type", "")).upper()
        if rtype not in TYPES:
            raise CfError(400, 1004, f"DNS Validation Error: invalid type {rec.get('type')!r}")
        name = _record_name(str(rec.get("name", "")), zone["name"])
        ttl = rec.get("ttl", 1)
        if not isinstance(ttl, int | float) or not (ttl == 1 or 60 <= ttl <= 86400):
            raise CfError(400, 9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.")
        content = _record_content(rtype, rec)
        _record_options(rtype, rec)
        return {
            "type": rtype,
            "name": name,
            "content": content,
            "ttl": int(ttl),
            "proxiable": rtype in PROXIABLE,
            "proxied": bool(rec.get("proxied", False)),
            "comment": rec.get("comment"),
            "tags": list(rec.get("tags") or []),
            "settings": {},
            "meta": {},
            **({"priority": int(rec["priority"])} if rtype in ("MX", "SRV", "URI") else {}),
        }

    def _conflicts(self, zid: str, rec: dict[str, Any], skip: str | None) -> None:
        for other in self.records[zid].values():
            if other["id"] == skip or other["name"] != rec["name"]:
                continue
            if other["type"] == rec["type"] and other["content"] == rec["content"]:
                raise CfError(400, 81058, "An identical record already exists.")
            if rec["type"] == "CNAME" and other["type"] in ("A", "AAAA", "CNAME"):
                raise CfError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
            if rec["type"] in ("A", "AAAA") and other["type"] == "CNAME":
                raise CfError(400, 81054, "A CNAME record with that host already exists.")

    def create_record(self, zid: str, body: dict[str, Any], scope: Scope | None = None) -> dict[str, Any]:
        with self.lock:
            rec = self._normalise(self._zone(zid, scope), body, None)
            self._conflicts(zid, rec, None)
            now = _now()
            rec = {"id": _id(), **rec, "created_on": now, "modified_on": now}
            self.records[zid][rec["id"]] = rec
            return rec

    def get_record(self, zid: str, rid: str, scope: Scope | None = None) -> dict[str, Any]:
        self._zone(zid, scope)
        if not _RECORD_ID.match(rid):
            raise CfError(
                400,
                7003,
                f"Could not route to /client/v4/zones/{zid}/dns_records/{rid}, perhaps your object "
                "identifier is invalid?",
            )
        if rid not in self.records[zid]:
            raise CfError(404, 81044, "Record does not exist.")
        return self.records[zid][rid]

    def update_record(
        self, zid: str, rid: str, body: dict[str, Any], merge: bool, scope: Scope | None = None
    ) -> dict[str, Any]:
        with self.lock:
            old = self.get_record(zid, rid, scope)
            rec = self._normalise(self._zone(zid), body, old if merge else None)
            self._conflicts(zid, rec, rid)
            rec = {"id": rid, **rec, "created_on": old["created_on"], "modified_on": _now()}
            self.records[zid][rid] = rec
            return rec

    def delete_record(self, zid: str, rid: str, scope: Scope | None = None) -> dict[str, Any]:
        with self.lock:
            self.get_record(zid, rid, scope)
            del self.records[zid][rid]
            return {"id": rid}

    def list_records(self, zid: str, q: dict[str, str], scope: Scope | None = None) -> list[dict[str, Any]]:
        self._zone(zid, scope)

        def match(rec: dict[str, Any]) -> bool:
            for key in ("name", "content"):
                for op in ("", ".exact", ".contains", ".startswith", ".endswith"):
                    want = q.get(key + op)
                    if want is None:
                        continue
                    have, want = str(rec[key]).lower(), want.lower()
                    ok = {
                        "": have == want,
                        ".exact": have == want,
                        ".contains": want in have,
                        ".startswith": have.startswith(want),
                        ".endswith": have.endswith(want),
                    }[op]
                    if not ok:
                        return False
            return not q.get("type") or rec["type"] == q["type"].upper()

        return sorted(
            (r for r in self.records[zid].values() if match(r)), key=lambda r: (r["name"], r["type"], r["id"])
        )

    # --- DNS answers -------------------------------------------------------------------------------

    def dns_lookup(self, name: str, rdtype: str) -> tuple[int, list[tuple[str, int]]]:
        """Authoritative answers for the emulator's zones (for DnsServer): NXDOMAIN for unknown names."""
        with self.lock:
            zone = max(
                (z for z in self.zones.values() if name == z["name"] or name.endswith("." + z["name"])),
                key=lambda z: len(z["name"]),
                default=None,
            )
            if zone is None:
                return (5, [])  # REFUSED: not our zone
            recs = [r for r in self.records[zone["id"]].values() if r["name"] == name]
            if name == zone["name"] and rdtype == "NS":
                return (0, [(f"{ns}.", 86400) for ns in self.nameservers])
            if name == zone["name"] and rdtype == "SOA":
                return (0, [(f"{self.nameservers[0]}. hostmaster.{name}. 1 7200 3600 604800 300", 300)])
            if not recs and name != zone["name"]:
                return (3, [])
            rows = []
            for r in recs:
                if r["type"] != rdtype:
                    continue
                ttl = 300 if r["ttl"] == 1 else r["ttl"]
                if rdtype == "MX":
                    rows.append((f"{r['priority']} {r['content'].rstrip('.')}.", ttl))
                elif rdtype == "TXT":
                    rows.append((r["content"] if r["content"].startswith('"') else txt.quote(r["content"]), ttl))
                else:
                    rows.append((r["content"], ttl))
            return (0, rows)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "zones": [{"id": z["id"], "name": z["name"]} for z in self.zones.values()],
                "records": {self.zones[z]["name"]: list(r.values()) for z, r in self.records.items()},
                "limits": asdict(self.limits),
                "faults": asdict(self.faults),
                "requests": {t[:6] + "...": len(u.calls) for t, u in self.usage.items()},
                "answered": {t[:6] + "...": u.answered for t, u in self.usage.items()},
                "refused": {t[:6] + "...": u.refused for t, u in self.usage.items()},
            }


class RateLimited(CfError):
    def __init__(self, retry_after: str, limits: Limits) -> None:
        super().__init__(
            429,
            971,
            f"More than {limits.requests} requests per {limits.window:g} seconds reached. Please wait and consider "
            "throttling your request speed",
        )
        self.headers = {"Retry-After": retry_after, **_rate_headers(0, int(retry_after), limits)}


def _rate_headers(remaining: int, reset: int, limits: Limits) -> dict[str, str]:
    return {
        "Ratelimit": f'"default";r={remaining};t={reset}',
        "Ratelimit-Policy": f'"burst";q={limits.requests};w={limits.window:g}',
    }


def _envelope(result: Any, info: dict[str, int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return body


def _page(items: list[Any], q: dict[str, str], default: int) -> tuple[list[Any], dict[str, int]]:
    page = max(1, int(q.get("page", 1)))
    per = max(1, int(q.get("per_page", default)))
    chunk = items[(page - 1) * per : page * per]
    return chunk, {
        "page": page,
        "per_page": per,
        "count": len(chunk),
        "total_count": len(items),
        "total_pages": max(1, -(-len(items) // per)),
    }


LOST_REPLY = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    b"<hr><center>cloudflare</center></body></html>"
)


def _record_name(raw: str, zone: str) -> str:
    """Cloudflare's spelling of a record name: lower case, no trailing dot, `@` the apex, relative names
    completed with the zone."""
    name = raw.strip().rstrip(".").lower()
    if not name:
        raise CfError(400, 9007, "Content for name is required.")
    if name == "@":
        return zone
    return name if name == zone or name.endswith("." + zone) else f"{name}.{zone}"


def _record_content(rtype: str, rec: dict[str, Any]) -> str:
    content = str(rec.get("content", ""))
    if rtype == "A":
        try:
            ipaddress.IPv4Address(content)
        except ValueError:
            raise CfError(400, 9005, "Content for A record must be a valid IPv4 address.") from None
    if rtype in ("MX", "SRV", "URI"):
        prio = rec.get("priority")
        if not isinstance(prio, int | float) or not 0 <= prio <= 65535:
            raise CfError(400, 9100, "priority is a required field.")
    if rtype == "MX":
        content = content.rstrip(".").lower() or "."
        if _is_ip(content):
            raise CfError(400, 9009, "Content for MX record must be a hostname.")
    if rtype == "TXT" and content.startswith('"'):
        # The client's strings are kept; only a string over 255 bytes comes back split.
        content = " ".join(txt.quote(piece) for piece in txt.strings(content))
    if len(content) > 2048 and rtype == "TXT":
        raise CfError(400, 9004, "TXT content is limited to 2048 characters.")
    return content


def _record_options(rtype: str, rec: dict[str, Any]) -> None:
    if rec.get("proxied") and rtype not in PROXIABLE:
        raise CfError(400, 9004, "This record type cannot be proxied.")
    if rec.get("tags"):
        raise CfError(400, 9300, f"DNS record has {len(rec['tags'])} tags, exceeding the quota of 0.")
    if len(str(rec.get("comment") or "")) > MAX_COMMENT:
        raise CfError(400, 9102, f"DNS record comment is longer than {MAX_COMMENT} characters.")


def _token(auth: str | None) -> str:
    if not auth:
        raise CfError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
    m = _TOKEN.match(auth)
    if not m:
        raise CfError(400, 6003, "Invalid request headers")
    return m.group(1)


def _error_body(exc: CfError) -> dict[str, Any]:
    return {"success": False, "errors": [{"code": exc.code, "message": exc.message}], "messages": [], "result": None}


def _emulator_endpoint(emu: CloudflareEmulator, handler: JsonHandler, method: str, path: str, raw: bytes) -> bool:
    """The test-only endpoints; True when `path` was one of them."""
    values = json.loads(raw) if method == "POST" and raw else {}
    if path == "/_emulator/state":
        handler.reply(200, emu.state())
    elif path == "/_emulator/zones" and method == "POST":
        handler.reply(200, emu.add_zone(values["name"]))
    elif path == "/_emulator/limits" and method == "POST":
        emu.limits = Limits(**{**asdict(emu.limits), **values})
        emu.usage.clear()
        handler.reply(200, asdict(emu.limits))
    elif path == "/_emulator/faults" and method == "POST":
        emu.faults = Faults(**{**asdict(emu.faults), **values})
        handler.reply(200, asdict(emu.faults))
    elif path == "/_emulator/tokens" and method == "POST":
        zones = values.get("zones")
        emu.tokens[values["token"]] = Scope(set(zones) if zones is not None else None, values.get("edit", True))
        handler.reply(200, {"token": values["token"][:6] + "..."})
    else:
        return False
    return True


def _route(
    emu: CloudflareEmulator, method: str, parts: list[str], q: dict[str, str], body: dict[str, Any], scope: Scope
) -> dict[str, Any]:
    if parts == ["user", "tokens", "verify"]:
        return _envelope({"id": "sandbox", "status": "active"})
    if parts == ["zones"] and method == "GET":
        zones = [
            z
            for z in emu.zones.values()
            if scope.sees(z["name"]) and (not q.get("name") or z["name"] == q["name"].lower())
        ]
        chunk, info = _page(sorted(zones, key=lambda z: z["name"]), q, 20)
        return _envelope(chunk, info)
    if len(parts) == 2 and parts[0] == "zones" and method == "GET":
        return _envelope(emu._zone(parts[1], scope))
    if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
        zid = parts[1]
        if method != "GET" and not scope.edit:
            raise CfError(403, 10000, "Authentication error")
        if len(parts) == 3 and method == "GET":
            chunk, info = _page(emu.list_records(zid, q, scope), q, 100)
            return _envelope(chunk, info)
        if len(parts) == 3 and method == "POST":
            return _envelope(emu.create_record(zid, body, scope))
        if len(parts) == 4:
            rid = parts[3]
            if method == "GET":
                return _envelope(emu.get_record(zid, rid, scope))
            if method in ("PUT", "PATCH"):
                return _envelope(emu.update_record(zid, rid, body, merge=method == "PATCH", scope=scope))
            if method == "DELETE":
                return _envelope(emu.delete_record(zid, rid, scope))
    raise CfError(400, 7000, "No route for that URI")


def make_handler(emu: CloudflareEmulator) -> type[RoutedHandler]:
    class Handler(RoutedHandler):
        def handle_method(self, method: str) -> None:
            url = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            raw = self.body()
            if url.path.startswith("/_emulator/") and _emulator_endpoint(emu, self, method, url.path, raw):
                return None
            parts = url.path.removeprefix("/client/v4").strip("/").split("/")
            headers: dict[str, str] = {}
            try:
                scope, headers = emu.admit(_token(self.headers.get("Authorization")))
                body = json.loads(raw) if raw else {}
                result = _route(emu, method, parts, q, body, scope)
                if method == "POST" and parts[-1:] == ["dns_records"] and emu.faults.reply_lost():
                    return self.reply_raw(502, LOST_REPLY, "text/html")  # applied; the reply is lost
                self.reply(200, result, headers)
            except RateLimited as exc:
                self.reply(exc.status, _error_body(exc), exc.headers)
            except CfError as exc:
                self.reply(exc.status, _error_body(exc), headers)
            except (ValueError, KeyError):
                self.reply(400, _error_body(CfError(400, 6007, "Malformed JSON in request body")), headers)
            return None

    return Handler


def serve(emu: CloudflareEmulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve_in_background(make_handler(emu), host, port, "cloudflare-emulator")
