"""The Hostwinds dynamic providers driven through Pulumi's own servicer, against the emulator over HTTP."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import textwrap

import pytest
from pulumi.runtime import proto

from hostwinds_dynamic.client import HostwindsClient
from hostwinds_dynamic.provider import InstanceProvider, ReverseDnsProvider
from tests.conftest import REPO
from tests.emulators import API_KEY, Emulator
from tests.providers.servicer import Aborted, Driver

DEBIAN = "b1e32484-ea0d-4875-921f-2d01fd7b4341"
INPUTS = {"location_id": 12, "template": DEBIAN, "rid": 52, "srvrname": "mbx-acme-mx1", "ssh_keys": ["mailbox-iac"]}


def driver(emu: Emulator, **kw: float) -> Driver:
    provider = InstanceProvider(**{"rate": 50.0, "poll_interval": 0.05, "build_timeout": 10.0, **kw})
    return Driver(provider, emu.config)


def test_full_lifecycle(hostwinds: Emulator) -> None:
    d = driver(hostwinds)
    inputs, failures = d.check(INPUTS)
    assert failures == [] and inputs["billing_cycle"] == "monthly"
    id_, outs = d.create(inputs)
    assert outs["status"] == "ACTIVE" and outs["main_ip"].startswith("198.51.100.")
    assert outs["serviceid"] == int(id_) and outs["srvrname"] == "mbx-acme-mx1"
    assert "password" not in outs and "configkey" not in outs

    read_id, read_outs = d.read(id_, outs)
    assert (read_id, read_outs) == (id_, outs)  # read returns exactly what create returned
    assert d.diff(id_, outs, inputs).changes == proto.DiffResponse.DIFF_NONE

    renamed = {**inputs, "srvrname": "mbx-acme-mx1-b"}
    diff = d.diff(id_, outs, renamed)
    assert diff.changes == proto.DiffResponse.DIFF_SOME and list(diff.replaces) == []
    outs = d.update(id_, outs, renamed)
    assert hostwinds.state()["instances"][0]["srvrname"] == "mbx-acme-mx1-b" == outs["srvrname"]

    moved = {**renamed, "location_id": 7}
    with pytest.raises(
        Aborted,
        match=r"changing location_id would replace server 'mbx-acme-mx1-b' .* "
        "label the pull request `mailbox-iac:allow-server-replacement`, or run `mailbox-iac up --allow "
        "server-replacement`",
    ):
        d.diff(id_, outs, moved)
    diff = d.diff(id_, outs, {**moved, "allow_replace": True})
    assert list(diff.replaces) == ["location_id"] and diff.deleteBeforeReplace

    d.delete(id_, outs)
    assert hostwinds.state()["instances"] == []
    assert d.read(id_, outs) == ("", {})
    d.delete(id_, outs)  # already gone: tolerated


def test_interrupted_create_adopts_instead_of_buying_twice(hostwinds: Emulator) -> None:
    with HostwindsClient(hostwinds.url, API_KEY, rate=50) as c:  # the first `up` ordered, then crashed
        c.add_instance(
            template=DEBIAN, rid=52, location_id=12, srvrname="mbx-acme-mx1", keys=[], billingcycle="monthly"
        )
    id_, outs = driver(hostwinds).create(driver(hostwinds).check(INPUTS)[0])
    instances = hostwinds.state()["instances"]
    assert len(instances) == 1 and instances[0]["serviceid"] == int(id_) and outs["status"] == "ACTIVE"
    assert hostwinds.state()["requests"]["by_action"]["add_instance"] == 1


def test_order_whose_reply_timed_out_is_found_not_repeated(hostwinds: Emulator) -> None:
    hostwinds.faults(slow_rate=1.0, slow_seconds=1.0, actions=["add_instance"])
    d = driver(hostwinds, timeout=0.3)  # the reply comes after the client gave up; the order went through
    _, outs = d.create(d.check(INPUTS)[0])
    assert outs["status"] == "ACTIVE"
    assert len(hostwinds.state()["instances"]) == 1
    assert hostwinds.state()["requests"]["by_action"]["add_instance"] == 1


def test_transient_faults_are_survived(hostwinds: Emulator) -> None:
    hostwinds.emu.rng.seed(3)
    hostwinds.faults(error_rate=0.15, http_5xx_rate=0.1, actions=["get_instances", "get_instance", "terminate"])
    d = driver(hostwinds)
    id_, outs = d.create(d.check(INPUTS)[0])
    assert outs["status"] == "ACTIVE"
    d.delete(id_, outs)
    assert hostwinds.state()["instances"] == []


def test_check_names_each_bad_field(hostwinds: Emulator) -> None:
    _, failures = driver(hostwinds).check(
        {"location_id": "seattle", "template": DEBIAN, "rid": 0, "srvrname": "bad name!", "billing_cycle": "weekly"}
    )
    assert dict(failures) == {
        "location_id": "location_id must be a positive integer, got 'seattle'",
        "rid": "rid must be a positive integer, got 0",
        "srvrname": "srvrname: at most 64 letters, digits, '-', '_' or '.'",
        "billing_cycle": "billing_cycle must be one of monthly, quarterly, semiannually, annually, biennially, triennially, hourly",
    }


def test_invalid_input_fails_fast_with_the_api_message(hostwinds: Emulator) -> None:
    d = driver(hostwinds)
    with pytest.raises(Aborted, match="Hostwinds add_instance: Location Id is invalid."):
        d.create({**d.check(INPUTS)[0], "location_id": 999})
    assert hostwinds.state()["requests"]["by_action"]["add_instance"] == 1


def test_failed_and_stuck_builds_have_clear_errors(hostwinds: Emulator) -> None:
    hostwinds.faults(failed_builds=True)
    d = driver(hostwinds, build_timeout=1.0)
    with pytest.raises(Aborted, match=r"the build of 'mbx-acme-mx1' \(serviceid \d+\) failed with status ERROR"):
        d.create(d.check(INPUTS)[0])
    hostwinds.faults(failed_builds=False, stuck_builds=True)
    with pytest.raises(Aborted, match="is still BUILD after 1s; run again later: the server will be adopted"):
        d.create(d.check({**INPUTS, "srvrname": "other"})[0])


def test_locked_server_is_not_terminated(hostwinds: Emulator) -> None:
    d = driver(hostwinds)
    id_, outs = d.create(d.check(INPUTS)[0])
    with HostwindsClient(hostwinds.url, API_KEY, rate=50) as c:
        c.call("toggle_lock", {"serviceid": int(id_)})
    with pytest.raises(Aborted, match="is locked at Hostwinds; unlock it"):
        d.delete(id_, outs)
    assert len(hostwinds.state()["instances"]) == 1


def test_missing_api_key_says_how_to_set_it(hostwinds: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOSTWINDS_API_KEY", raising=False)
    d = Driver(InstanceProvider(), {"hostwinds:endpoint": hostwinds.url})
    with pytest.raises(Aborted, match="pulumi config set --secret hostwinds:apiKey"):
        d.create(INPUTS)


def test_pickled_provider_round_trips_in_a_fresh_process(hostwinds: Emulator) -> None:
    d = driver(hostwinds)
    id_, outs = d.create(d.check(INPUTS)[0])
    assert len(d.pickled) < 600  # by reference: module path + plain attributes, no code, no clients
    script = textwrap.dedent(f"""
        import base64, dill, os
        os.environ["HOSTWINDS_API_URL"] = {hostwinds.url!r}
        os.environ["HOSTWINDS_API_KEY"] = {API_KEY!r}
        p = dill.loads(base64.b64decode({d.pickled!r}))
        print(type(p).__module__, type(p).__name__, p.poll_interval, p.read({id_!r}, {outs!r}).outs["main_ip"])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO / "tests")
    assert result.stdout.split() == ["hostwinds_dynamic.provider", "InstanceProvider", "0.05", outs["main_ip"]], (
        result.stderr
    )
    assert b"HostwindsClient" not in base64.b64decode(d.pickled)


def test_no_secret_in_logs_or_errors(hostwinds: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    d = driver(hostwinds)
    id_, outs = d.create(d.check(INPUTS)[0])
    d.read(id_, outs)
    hostwinds.emu.instances[int(id_)].locked = 1
    with pytest.raises(Aborted) as info:
        d.delete(id_, outs)
    inst = hostwinds.emu.instances[int(id_)]
    assert "'password': '***'" in caplog.text  # get_instance replies are logged, redacted
    for secret in (API_KEY, inst.password, inst.configkey):
        assert secret not in caplog.text and secret not in info.value.details


def test_reverse_dns_is_set_and_read_back_over_dns(hostwinds: Emulator) -> None:
    d = driver(hostwinds)
    sid, outs = d.create(d.check(INPUTS)[0])
    r = Driver(ReverseDnsProvider(rate=50), hostwinds.config)
    inputs, failures = r.check({"serviceid": int(sid), "ip": outs["main_ip"], "hostname": "mail.acme-mail.com"})
    assert failures == []
    rid, routs = r.create(inputs)
    assert hostwinds.state()["rdns"] == {outs["main_ip"]: "mail.acme-mail.com"}
    assert r.read(rid, routs) == (rid, routs)

    hostwinds.emu.rdns[outs["main_ip"]] = "changed.example.net"  # behind Pulumi's back
    _, drifted = r.read(rid, routs)
    assert drifted["hostname"] == "changed.example.net"
    diff = r.diff(rid, drifted, inputs)
    assert diff.changes == proto.DiffResponse.DIFF_SOME and list(diff.replaces) == []
    assert r.update(rid, drifted, inputs)["hostname"] == "mail.acme-mail.com"
    assert r.read(rid, routs)[1]["hostname"] == "mail.acme-mail.com"
    assert list(r.diff(rid, routs, {**inputs, "ip": "198.51.100.99"}).replaces) == ["ip"]
