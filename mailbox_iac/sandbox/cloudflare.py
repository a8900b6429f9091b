"""A local emulator of the Cloudflare API v4 subset the DNS provider uses (shared/reference/cloudflare-api.md),
which also answers DNS queries for its zones, so every check uses the real DNS protocol.

The envelope (`success`, `errors`, `messages`, `result`, `result_info`), bearer-token auth (400 missing or
malformed, 403 unknown), names stored as lower-case FQDNs, quoted TXT split at 255 bytes, TTL 1 or
60-86400, MX priority required, identical-record and CNAME conflicts, 404/81044 for missing records,
pagination. `GET /_emulator/state` dumps everything.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mailbox_iac.dns import txt
from mailbox_iac.sandbox.jsonhttp import JsonHandler, serve_in_background

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

    def _zone(self, zid: str) -> dict[str, Any]:
        if zid not in self.zones:
            raise CfError(
                400, 7003, f"Could not route to /client/v4/zones/{zid}, perhaps your object identifier is invalid?"
            )
        return self.zones[zid]

    # --- records -------------------------------------------------------------------------------------

    def _normalise(self, zone: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        rec = {k: body[k] for k in FIELDS if k in body}
        if old:
            rec = {**{k: old[k] for k in FIELDS if k in old}, **rec}
        rtype = str(rec.get("type", "")).upper()
        if rtype not in TYPES:
            raise CfError(400, 1004, f"DNS Validation Error: invalid type {rec.get('type')!r}")
        name = str(rec.get("name", "")).strip().rstrip(".").lower()
        if not name:
            raise CfError(400, 9007, "Content for name is required.")
        if name == "@":
            name = zone["name"]
        elif name != zone["name"] and not name.endswith("." + zone["name"]):
            name = f"{name}.{zone['name']}"
        ttl = rec.get("ttl", 1)
        if not isinstance(ttl, int | float) or not (ttl == 1 or 60 <= ttl <= 86400):
            raise CfError(400, 9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.")
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
            content = txt.quote(txt.canonical(content))  # quoted strings over 255 bytes come back split
        if len(content) > 2048 and rtype == "TXT":
            raise CfError(400, 9004, "TXT content is limited to 2048 characters.")
        return {
            "type": rtype,
            "name": name,
            "content": content,
            "ttl": int(ttl),
            "proxiable": rtype in ("A", "AAAA", "CNAME"),
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

    def create_record(self, zid: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            rec = self._normalise(self._zone(zid), body, None)
            self._conflicts(zid, rec, None)
            now = _now()
            rec = {"id": _id(), **rec, "created_on": now, "modified_on": now}
            self.records[zid][rec["id"]] = rec
            return rec

    def get_record(self, zid: str, rid: str) -> dict[str, Any]:
        self._zone(zid)
        if rid not in self.records[zid]:
            raise CfError(404, 81044, "Record does not exist.")
        return self.records[zid][rid]

    def update_record(self, zid: str, rid: str, body: dict[str, Any], merge: bool) -> dict[str, Any]:
        with self.lock:
            old = self.get_record(zid, rid)
            rec = self._normalise(self._zone(zid), body, old if merge else None)
            self._conflicts(zid, rec, rid)
            rec = {"id": rid, **rec, "created_on": old["created_on"], "modified_on": _now()}
            self.records[zid][rid] = rec
            return rec

    def delete_record(self, zid: str, rid: str) -> dict[str, Any]:
        with self.lock:
            self.get_record(zid, rid)
            del self.records[zid][rid]
            return {"id": rid}

    def list_records(self, zid: str, q: dict[str, str]) -> list[dict[str, Any]]:
        self._zone(zid)

        def match(rec: dict[str, Any]) -> bool:
            for field in ("name", "content"):
                for op in ("", ".exact", ".contains", ".startswith", ".endswith"):
                    want = q.get(field + op)
                    if want is None:
                        continue
                    have, want = str(rec[field]).lower(), want.lower()
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


def make_handler(emu: CloudflareEmulator) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            raw = self.body()
            if url.path == "/_emulator/state":
                return self.reply(200, emu.state())
            if url.path == "/_emulator/zones" and method == "POST":
                return self.reply(200, emu.add_zone(json.loads(raw)["name"]))
            parts = url.path.removeprefix("/client/v4").strip("/").split("/")
            try:
                auth = self.headers.get("Authorization")
                if not auth:
                    raise CfError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
                m = _TOKEN.match(auth)
                if not m:
                    raise CfError(400, 6003, "Invalid request headers")
                if m.group(1) != emu.token:
                    raise CfError(403, 10000, "Authentication error")
                body = json.loads(raw) if raw else {}
                self.reply(200, self._route(method, parts, q, body))
            except CfError as exc:
                self.reply(
                    exc.status,
                    {
                        "success": False,
                        "errors": [{"code": exc.code, "message": exc.message}],
                        "messages": [],
                        "result": None,
                    },
                )
            except (ValueError, KeyError):
                self.reply(
                    400,
                    {
                        "success": False,
                        "errors": [{"code": 6007, "message": "Malformed JSON in request body"}],
                        "messages": [],
                        "result": None,
                    },
                )

        def _route(self, method: str, parts: list[str], q: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
            if parts == ["user", "tokens", "verify"]:
                return _envelope({"id": "sandbox", "status": "active"})
            if parts == ["zones"] and method == "GET":
                zones = [z for z in emu.zones.values() if not q.get("name") or z["name"] == q["name"].lower()]
                chunk, info = _page(sorted(zones, key=lambda z: z["name"]), q, 20)
                return _envelope(chunk, info)
            if len(parts) == 2 and parts[0] == "zones" and method == "GET":
                return _envelope(emu._zone(parts[1]))
            if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
                zid = parts[1]
                if len(parts) == 3 and method == "GET":
                    chunk, info = _page(emu.list_records(zid, q), q, 100)
                    return _envelope(chunk, info)
                if len(parts) == 3 and method == "POST":
                    return _envelope(emu.create_record(zid, body))
                if len(parts) == 4:
                    rid = parts[3]
                    if method == "GET":
                        return _envelope(emu.get_record(zid, rid))
                    if method in ("PUT", "PATCH"):
                        return _envelope(emu.update_record(zid, rid, body, merge=method == "PATCH"))
                    if method == "DELETE":
                        return _envelope(emu.delete_record(zid, rid))
            raise CfError(400, 7000, "No route for that URI")

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


def serve(emu: CloudflareEmulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve_in_background(make_handler(emu), host, port, "cloudflare-emulator")
