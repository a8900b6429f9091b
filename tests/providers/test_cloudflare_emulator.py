"""The sandbox's Cloudflare emulator, judged by Cloudflare's own Python SDK (`cloudflare` on PyPI): every
reply the project relies on parses, and the emulator fails the way Cloudflare fails (429 with Retry-After,
token scopes, 400/7003 for a malformed id, TXT kept as the client split it, no proxied TXT, no tags, short
comments, a create whose reply is lost at the edge)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cloudflare
import httpx
import pytest
from cloudflare import Cloudflare

from mailbox_iac import cloudflare_api
from mailbox_iac.sandbox.cloudflare import CloudflareEmulator, serve

TOKEN = "emulator-test-token-0123456789"
ZONES = ["alpha.example", "beta.example"]


@dataclass
class Emu:
    url: str

    def sdk(self, token: str = TOKEN) -> Cloudflare:
        return Cloudflare(api_token=token, base_url=self.url, max_retries=0)

    def post(self, path: str, **values: Any) -> None:
        httpx.post(self.url.replace("/client/v4", f"/_emulator/{path}"), json=values).raise_for_status()

    def zone(self, name: str) -> str:
        [zone] = self.sdk().zones.list(name=name).result
        return zone.id


@pytest.fixture
def emu() -> Iterator[Emu]:
    server = serve(CloudflareEmulator(TOKEN, ZONES))
    yield Emu(f"http://127.0.0.1:{server.server_address[1]}/client/v4")
    server.shutdown()


def test_the_sdk_parses_zones_and_the_record_lifecycle(emu: Emu) -> None:
    sdk, zid = emu.sdk(), emu.zone("alpha.example")
    zone = sdk.zones.get(zone_id=zid)
    assert zone is not None and zone.name == "alpha.example" and zone.status == "active"
    mx = sdk.dns.records.create(zone_id=zid, name="@", type="MX", content="mail.alpha.example", priority=10, ttl=300)
    assert mx is not None and mx.name == "alpha.example" and getattr(mx, "priority", None) == 10
    txt = sdk.dns.records.create(
        zone_id=zid, name="_dmarc", type="TXT", content='"v=DMARC1; p=none"', ttl=1, comment="managed by test"
    )
    assert txt is not None and txt.name == "_dmarc.alpha.example" and txt.comment == "managed by test"
    listed = sdk.dns.records.list(zone_id=zid, per_page=1)
    assert listed.result_info is not None and listed.result_info.per_page == 1 and len(listed.result) == 1
    assert len(list(listed)) == 2  # the SDK's own paging walks both pages
    updated = sdk.dns.records.update(
        txt.id, zone_id=zid, name="_dmarc", type="TXT", content='"v=DMARC1; p=reject"', ttl=1
    )
    assert updated is not None and updated.content == '"v=DMARC1; p=reject"'
    got = sdk.dns.records.get(txt.id, zone_id=zid)
    assert got is not None and got.content == '"v=DMARC1; p=reject"'
    sdk.dns.records.delete(txt.id, zone_id=zid)
    with pytest.raises(cloudflare.NotFoundError):
        sdk.dns.records.get(txt.id, zone_id=zid)


def test_an_identical_record_is_refused_with_81058(emu: Emu) -> None:
    sdk, zid = emu.sdk(), emu.zone("alpha.example")
    sdk.dns.records.create(zone_id=zid, name="www", type="A", content="192.0.2.1", ttl=1)
    with pytest.raises(cloudflare.BadRequestError, match="81058"):
        sdk.dns.records.create(zone_id=zid, name="www", type="A", content="192.0.2.1", ttl=1)


def test_a_malformed_record_id_is_400_7003_and_a_missing_one_404_81044(emu: Emu) -> None:
    sdk, zid = emu.sdk(), emu.zone("alpha.example")
    with pytest.raises(cloudflare.BadRequestError, match="7003"):
        sdk.dns.records.get("not-an-id", zone_id=zid)
    with pytest.raises(cloudflare.NotFoundError, match="81044"):
        sdk.dns.records.get("0" * 32, zone_id=zid)


def test_txt_keeps_the_clients_split_and_splits_only_long_strings(emu: Emu) -> None:
    sdk, zid = emu.sdk(), emu.zone("alpha.example")
    split = sdk.dns.records.create(zone_id=zid, name="s", type="TXT", content='"abc" "def"', ttl=1)
    assert split is not None and split.content == '"abc" "def"'
    long = sdk.dns.records.create(zone_id=zid, name="l", type="TXT", content='"' + "x" * 300 + '"', ttl=1)
    assert long is not None and long.content == '"' + "x" * 255 + '" "' + "x" * 45 + '"'


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"type": "TXT", "content": '"x"', "proxied": True}, "9004"),
        ({"type": "MX", "content": "mail.alpha.example", "priority": 10, "proxied": True}, "9004"),
        ({"type": "TXT", "content": '"x"', "tags": ["owner:me"]}, "9300"),
        ({"type": "TXT", "content": '"x"', "comment": "c" * 101}, "9102"),
    ],
    ids=["proxied-txt", "proxied-mx", "tags", "long-comment"],
)
def test_what_a_free_zone_refuses(emu: Emu, values: dict[str, Any], code: str) -> None:
    with pytest.raises(cloudflare.BadRequestError, match=code):
        emu.sdk().dns.records.create(zone_id=emu.zone("alpha.example"), name="r", ttl=1, **values)


def test_a_token_sees_and_edits_only_its_zones(emu: Emu) -> None:
    reader = "scoped-reader-token-0123456789"
    emu.post("tokens", token=reader, zones=["beta.example"], edit=False)
    sdk = emu.sdk(reader)
    assert [z.name for z in sdk.zones.list().result] == ["beta.example"]
    alpha, beta = emu.zone("alpha.example"), emu.zone("beta.example")
    with pytest.raises(cloudflare.PermissionDeniedError, match="10000"):
        sdk.dns.records.list(zone_id=alpha)
    assert sdk.dns.records.list(zone_id=beta).result == []
    with pytest.raises(cloudflare.PermissionDeniedError, match="10000"):
        sdk.dns.records.create(zone_id=beta, name="x", type="A", content="192.0.2.9", ttl=1)
    with pytest.raises(cloudflare.PermissionDeniedError):
        emu.sdk("unknown-token-0123456789").zones.list()


def test_past_the_rate_limit_every_call_is_429_with_retry_after(emu: Emu) -> None:
    emu.post("limits", requests=5, window=60, block=30)
    sdk = emu.sdk()
    for _ in range(5):
        sdk.zones.list()
    with pytest.raises(cloudflare.RateLimitError) as raised:
        sdk.zones.list()
    assert raised.value.response.headers["retry-after"] == "30"
    assert "971" in str(raised.value)
    assert raised.value.response.headers["ratelimit-policy"] == '"burst";q=5;w=60'


def test_our_reader_waits_out_the_rate_limit(emu: Emu) -> None:
    emu.post("limits", requests=3, window=1, block=1)
    api = cloudflare_api.client({"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_BASE_URL": emu.url})
    assert api is not None
    with api:
        for _ in range(6):
            assert [z["name"] for z in cloudflare_api.get(api, "/zones")["result"]] == ZONES


def test_a_lost_reply_is_an_html_502_after_the_record_was_made(emu: Emu) -> None:
    emu.post("faults", lose_create_replies=1)
    sdk, zid = emu.sdk(), emu.zone("alpha.example")
    with pytest.raises(cloudflare.InternalServerError):
        sdk.dns.records.create(zone_id=zid, name="lost", type="A", content="192.0.2.7", ttl=1)
    [made] = sdk.dns.records.list(zone_id=zid).result
    assert made.name == "lost.alpha.example"  # the record exists: only the reply was lost
    with pytest.raises(cloudflare.BadRequestError, match="81058"):
        sdk.dns.records.create(zone_id=zid, name="lost", type="A", content="192.0.2.7", ttl=1)


def test_parallel_readers_of_one_token_share_its_budget_and_are_never_refused(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three stacks' drifts at once (each its own client) read six zones' records: 24 calls against a limit
    of 8 a second (past it, a minute's block), spread by the one budget, none refused."""
    emu.post("limits", requests=8, window=1, block=60)
    monkeypatch.setattr(cloudflare_api, "BUDGET", (8, 1.0))

    def drift(_: int) -> list[int]:
        api = cloudflare_api.client({"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_BASE_URL": emu.url})
        assert api is not None
        with api:
            return [len(cloudflare_api.zone_records(api, zone)) for zone in ZONES * 2]

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(drift, range(3))) == [[0, 0, 0, 0]] * 3
    state = httpx.get(emu.url.replace("/client/v4", "/_emulator/state")).json()
    assert list(state["answered"].values()) == [24] and list(state["refused"].values()) == [0]
