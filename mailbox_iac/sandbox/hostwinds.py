"""A local emulator of the Hostwinds Cloud API, faithful to shared/reference/hostwinds-api.md.

It answers like the real service is documented to: one form-POST endpoint, errors with HTTP 200 as
`[{"result":"error",...}]`, reads wrapped in `{"success": ...}`, `add_instance` without a serviceid,
asynchronous builds (BUILD -> ACTIVE), root passwords in `get_instance`. Where the reference is unsure
we pick one behaviour and note it here:
- `add_ssh_key` takes `name` and `public_key`; `keys[]` in `add_instance` are key names that must exist.
- status values are upper case (`BUILD`, `ACTIVE`, `ERROR`); terminated instances vanish from listings.
- catalogue reads (`get_locations`, `get_public_images`) are lists under `success`; `get_price_list` is
  an object keyed by plan id.
- auth failures answer HTTP 200 with `[{"result":"error","action":"Authorization",...}]` unless
  `auth_status` asks for 401/403.
Faults (error bodies, 5xx, slow replies, stuck or failed builds, auth failure) can be set at start or at
run time (`POST /_emulator/faults`). `GET /_emulator/state` dumps everything, for tests.
"""

from __future__ import annotations

import ipaddress
import json
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from mailbox_iac.sandbox.jsonhttp import JsonHandler, serve_in_background

LOCATIONS = [
    {"id": 12, "name": "Seattle, WA", "country": "US"},
    {"id": 1, "name": "Dallas, TX", "country": "US"},
    {"id": 7, "name": "Amsterdam, NL", "country": "NL"},
]
IMAGES = [
    {"id": "b1e32484-ea0d-4875-921f-2d01fd7b4341", "name": "Debian 12", "type": "public"},
    {"id": "5f0a3c2e-8d7b-4c1a-9e6f-2b3d4c5e6f70", "name": "Ubuntu 24.04 LTS", "type": "public"},
]
PLANS = {
    "52": {"id": 52, "rid": 52, "name": "Unmetered SSD 1", "ram": 1024, "cpu": 1, "disk": 30, "monthly": "8.99"},
    "53": {"id": 53, "rid": 53, "name": "Unmetered SSD 2", "ram": 2048, "cpu": 1, "disk": 50, "monthly": "14.99"},
    "54": {"id": 54, "rid": 54, "name": "Unmetered SSD 3", "ram": 4096, "cpu": 2, "disk": 75, "monthly": "26.99"},
}
ACTION_NAMES = {
    "add_instance": "Add Instance",
    "edit_instance": "Edit Instance",
    "terminate": "Terminate",
    "set_rdns": "Set rDNS",
    "toggle_lock": "Toggle Lock",
    "add_ssh_key": "Add SSH Key",
    "delete_ssh_key": "Delete SSH Key",
    "change_billing_cycle": "Change Billing Cycle",
    "get_instance": "Get Instance",
    "get_instances": "Get Instances",
}
BILLING_CYCLES = {"monthly", "quarterly", "semiannually", "annually", "biennially", "triennially"}


@dataclass
class Faults:
    error_rate: float = 0.0  # documented error body, HTTP 200, transient message
    http_5xx_rate: float = 0.0
    slow_rate: float = 0.0  # reply only after `slow_seconds` (the client times out first)
    slow_seconds: float = 35.0
    stuck_builds: bool = False  # builds never finish
    failed_builds: bool = False  # builds end in ERROR
    auth_failure: bool = False
    actions: list[str] = field(default_factory=list)  # actions the rates apply to; empty = all


@dataclass
class Instance:
    serviceid: int
    srvrname: str
    template: str
    rid: int
    location_id: int
    billingcycle: str
    keys: list[str]
    status: str = "BUILD"
    main_ip: str = ""
    ip_v6: str = ""
    password: str = ""
    configkey: str = ""
    locked: int = 0
    ready_at: float = 0.0
    fate: str = "ACTIVE"  # what the build ends in: ACTIVE, ERROR, or BUILD (stuck)
    created_at: str = ""

    def view(self) -> dict[str, Any]:
        """The instance object as `get_instance` returns it (root password included, as the real API does)."""
        return {
            "serviceid": self.serviceid,
            "srvrname": self.srvrname,
            "name": self.srvrname,
            "hostname": f"hwsrv-{self.serviceid}.hostwindsdns.com",
            "status": self.status,
            "disp_status": self.status.lower(),
            "vm_state": "active" if self.status == "ACTIVE" else "building",
            "task_state": None if self.status != "BUILD" else "spawning",
            "power_state": 1 if self.status == "ACTIVE" else 0,
            "main_ip": self.main_ip,
            "ip_v6": self.ip_v6,
            "ips": None,
            "private_ip": "",
            "location_id": self.location_id,
            "product_id": self.rid,
            "template_uuid": self.template,
            "image_ref": self.template,
            "billingcycle": self.billingcycle,
            "locked": self.locked,
            "is_suspended": 0,
            "hourly": 0,
            "password": self.password,
            "configkey": self.configkey,
            "ssh_keys": list(self.keys),
            "created_at": self.created_at,
        }


class ApiError(Exception):
    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class HostwindsEmulator:
    def __init__(
        self,
        api_key: str = "sandbox-key",
        *,
        build_seconds: float = 2.0,
        ip_pool: str = "198.51.100.0/24",
        faults: Faults | None = None,
        auth_status: int = 200,
        on_active: Callable[[Instance], None] | None = None,
        on_terminate: Callable[[Instance], None] | None = None,
    ) -> None:
        self.api_key = api_key
        self.build_seconds = build_seconds
        self.faults = faults or Faults()
        self.auth_status = auth_status
        self.on_active = on_active
        self.on_terminate = on_terminate
        self.lock = threading.RLock()
        net = ipaddress.ip_network(ip_pool)
        self.free_ips = [str(ip) for ip in list(net.hosts())[9:]]
        self.instances: dict[int, Instance] = {}
        self.rdns: dict[str, str] = {}
        self.ssh_keys: dict[str, str] = {}
        self.next_id = 100001
        self.requests: deque[tuple[float, str]] = deque(maxlen=100_000)
        self.rng = random.Random()  # noqa: S311 (fault injection, not crypto)  # nosec B311

    # --- state transitions ------------------------------------------------------------------------

    def _advance(self, inst: Instance) -> None:
        """Builds finish lazily, when someone looks (like polling a real API)."""
        if inst.status != "BUILD" or inst.fate == "BUILD" or time.time() < inst.ready_at:
            return
        if inst.fate == "ERROR":
            inst.status = "ERROR"
            return
        inst.main_ip = self.free_ips.pop(0)
        inst.ip_v6 = f"2001:db8::{inst.serviceid:x}"
        inst.password = secrets.token_urlsafe(12)
        inst.configkey = secrets.token_hex(16)
        inst.status = "ACTIVE"
        if self.on_active:
            self.on_active(inst)

    def _instance(self, params: dict[str, Any]) -> Instance:
        try:
            inst = self.instances[int(params.get("serviceid", ""))]
        except (ValueError, KeyError):
            raise ApiError("A valid serviceid is required.", "721334") from None
        self._advance(inst)
        return inst

    def _unlocked(self, inst: Instance) -> None:
        if inst.locked:
            raise ApiError("This service is locked. Unlock it before making changes.")

    # --- actions ----------------------------------------------------------------------------------

    def add_instance(self, p: dict[str, Any]) -> Any:
        for key in ("template", "rid", "location_id"):
            if not p.get(key):
                raise ApiError(f"{key} is required.")
        if not any(str(loc["id"]) == str(p["location_id"]) for loc in LOCATIONS):
            raise ApiError("Location Id is invalid.", "342432")
        if not any(img["id"] == p["template"] for img in IMAGES):
            raise ApiError("Template is invalid.")
        if str(p["rid"]) not in PLANS:
            raise ApiError("Resource Id (rid) is invalid.")
        cycle = p.get("billingcycle") or "monthly"
        if cycle == "hourly":
            raise ApiError("Hourly products are disabled! Please contact customer service.")
        if cycle not in BILLING_CYCLES:
            raise ApiError("Billing cycle is invalid.")
        keys = p.get("keys[]", [])
        for k in keys:
            if k not in self.ssh_keys:
                raise ApiError(f"SSH key {k} not found.")
        qty = int(p.get("qty") or 1)
        fate = "BUILD" if self.faults.stuck_builds else "ERROR" if self.faults.failed_builds else "ACTIVE"
        for _ in range(qty):
            sid = self.next_id
            self.next_id += 1
            self.instances[sid] = Instance(
                serviceid=sid,
                srvrname=p.get("srvrname") or f"hwsrv-{sid}",
                template=p["template"],
                rid=int(p["rid"]),
                location_id=int(p["location_id"]),
                billingcycle=cycle,
                keys=list(keys),
                ready_at=time.time() + self.build_seconds,
                fate=fate,
                created_at=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            )
        return [
            {"result": "success", "action": "Invoice Paid", "message": "Invoice has been paid with account credit."},
            {"result": "success", "action": "Add Instance", "message": "Server is being Created!"},
        ]

    def get_instances(self, p: dict[str, Any]) -> Any:
        for inst in self.instances.values():
            self._advance(inst)
        return {"success": [i.view() for i in self.instances.values()]}

    def get_instance_ids(self, p: dict[str, Any]) -> Any:
        found = [i for i in self.instances.values() if str(p.get("search", "")) in i.srvrname]
        return {
            "success": [
                {
                    "id": i.serviceid,
                    "hostname": i.view()["hostname"],
                    "srvrname": i.srvrname,
                    "ips": None,
                    "dedicatedip": i.main_ip,
                    "ip_v6": i.ip_v6,
                }
                for i in found
            ]
        }

    def get_instance(self, p: dict[str, Any]) -> Any:
        return {"success": self._instance(p).view()}

    def edit_instance(self, p: dict[str, Any]) -> Any:
        inst = self._instance(p)
        self._unlocked(inst)
        if not p.get("srvrname"):
            raise ApiError("srvrname is required.")
        inst.srvrname = str(p["srvrname"])
        return [{"result": "success", "action": "Edit Instance", "message": "Instance server name has been updated"}]

    def terminate(self, p: dict[str, Any]) -> Any:
        inst = self._instance(p)
        self._unlocked(inst)
        del self.instances[inst.serviceid]
        if inst.main_ip:
            self.rdns.pop(inst.main_ip, None)
            self.free_ips.append(inst.main_ip)
        if self.on_terminate:
            self.on_terminate(inst)
        return [{"result": "success", "message": "Instance deleted"}]

    def change_billing_cycle(self, p: dict[str, Any]) -> Any:
        inst = self._instance(p)
        self._unlocked(inst)
        cycle = str(p.get("billingcycle") or "monthly")
        if cycle not in BILLING_CYCLES:
            raise ApiError("Billing cycle is invalid.")
        inst.billingcycle = cycle
        return [{"result": "success", "action": "Change Billing Cycle", "message": "Billing cycle has been updated."}]

    def toggle_lock(self, p: dict[str, Any]) -> Any:
        if not p.get("serviceid"):
            raise ApiError("Service Id is required.", "5529903")
        inst = self._instance(p)
        inst.locked = 0 if inst.locked else 1
        state = "locked" if inst.locked else "unlocked"
        return [{"result": "success", "action": "Toggle Lock", "message": f"Service has been {state}."}]

    def set_rdns(self, p: dict[str, Any]) -> Any:
        inst = self._instance(p)
        ip, name = str(p.get("ip", "")), str(p.get("rdns", ""))
        if not ip or ip not in (inst.main_ip, inst.ip_v6):
            raise ApiError("The IP address does not belong to this service.")
        if not name:
            raise ApiError("rdns is required.")
        self.rdns[ip] = name.rstrip(".")
        return [{"result": "success", "action": "Set rDNS", "message": "rDNS record updated."}]

    def add_ssh_key(self, p: dict[str, Any]) -> Any:
        if not p.get("name"):
            raise ApiError("name is required.")
        self.ssh_keys[str(p["name"])] = str(p.get("public_key", ""))
        return [{"result": "success", "action": "Add SSH Key", "message": "SSH key has been added."}]

    def delete_ssh_key(self, p: dict[str, Any]) -> Any:
        if self.ssh_keys.pop(str(p.get("name", "")), None) is None:
            raise ApiError("SSH key not found.")
        return [{"result": "success", "action": "Delete SSH Key", "message": "SSH key has been deleted."}]

    def get_locations(self, p: dict[str, Any]) -> Any:
        return {"success": LOCATIONS}

    def get_public_images(self, p: dict[str, Any]) -> Any:
        return {"success": IMAGES}

    def get_price_list(self, p: dict[str, Any]) -> Any:
        return {"success": PLANS}

    # --- dispatch ---------------------------------------------------------------------------------

    def handle(self, params: dict[str, Any]) -> tuple[int, Any, float]:
        """One API call: (HTTP status, JSON body, seconds to wait before answering)."""
        action = str(params.get("action", ""))
        with self.lock:
            self.requests.append((time.time(), action))
            f = self.faults
            if params.get("API") != self.api_key or f.auth_failure:
                return (
                    self.auth_status,
                    [{"result": "error", "action": "Authorization", "message": "Not Authorized!"}],
                    0,
                )
            handler = getattr(self, action, None) if action in ACTION_NAMES or action.startswith("get_") else None
            if handler is None or action.startswith("_") or action == "handle":
                return 200, [{"result": "error", "message": "Invalid Action.", "ERROR": "6734"}], 0
            if not f.actions or action in f.actions:
                roll = self.rng.random()
                if roll < f.http_5xx_rate:
                    return 502, {"error": "Bad Gateway"}, 0
                if roll < f.http_5xx_rate + f.error_rate:
                    human = ACTION_NAMES.get(action, action)
                    return (
                        200,
                        [
                            {
                                "result": "error",
                                "action": human,
                                "message": "The service is temporarily unavailable. Please try again.",
                            }
                        ],
                        0,
                    )
                delay = f.slow_seconds if roll < f.http_5xx_rate + f.error_rate + f.slow_rate else 0.0
            else:
                delay = 0.0
            try:
                return 200, handler(params), delay
            except ApiError as exc:
                body: dict[str, Any] = {
                    "result": "error",
                    "action": ACTION_NAMES.get(action, action),
                    "message": exc.message,
                }
                if exc.code:
                    body["ERROR"] = exc.code
                return 200, [body], delay

    def max_rate(self, window: float = 1.0) -> int:
        """The most API requests seen in any `window` seconds."""
        times = [t for t, _ in self.requests]
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def state(self) -> dict[str, Any]:
        with self.lock:
            for inst in self.instances.values():
                self._advance(inst)
            return {
                "instances": [i.view() for i in self.instances.values()],
                "rdns": dict(self.rdns),
                "ssh_keys": sorted(self.ssh_keys),
                "requests": {
                    "total": len(self.requests),
                    "by_action": Counter(a for _, a in self.requests),
                    "max_per_second": self.max_rate(),
                },
                "faults": asdict(self.faults),
            }

    def ptr_lookup(self, name: str, rdtype: str) -> tuple[int, list[tuple[str, int]]]:
        """Hostwinds is authoritative for its reverse zones: answer PTR from the rDNS map (for DnsServer)."""
        with self.lock:
            for ip, host in self.rdns.items():
                if ipaddress.ip_address(ip).reverse_pointer == name:
                    return (0, [(host + ".", 300)] if rdtype == "PTR" else [])
        return (3, [])  # NXDOMAIN

    def set_faults(self, values: dict[str, Any]) -> None:
        with self.lock:
            self.faults = Faults(**{**asdict(self.faults), **values})

    def tamper(self, serviceid: int, values: dict[str, Any]) -> None:
        """Change an instance behind the API's back (drift tests)."""
        with self.lock:
            inst = self.instances[serviceid]
            for key, value in values.items():
                setattr(inst, key, value)


def _form(body: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
        out[key] = values if key.endswith("[]") else values[-1]
    return out


def make_handler(emu: HostwindsEmulator) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            if self.path == "/cloud/api.php":
                status, body, delay = emu.handle(_form(self.body()))
                if delay:
                    time.sleep(delay)
                self.reply(status, body)
            elif self.path == "/_emulator/faults":
                emu.set_faults(json.loads(self.body() or b"{}"))
                self.reply(200, emu.state()["faults"])
            elif self.path.startswith("/_emulator/instances/"):
                emu.tamper(int(self.path.rsplit("/", 1)[1]), json.loads(self.body() or b"{}"))
                self.reply(200, {"ok": True})
            else:
                self.reply(404, {"error": "not found"})

        def do_GET(self) -> None:
            if self.path == "/_emulator/state":
                self.reply(200, emu.state())
            else:
                self.reply(404, {"error": "not found"})

    return Handler


def serve(emu: HostwindsEmulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; the caller owns `server.shutdown()`."""
    return serve_in_background(make_handler(emu), host, port, "hostwinds-emulator")
