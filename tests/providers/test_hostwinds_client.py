"""The Hostwinds client against the emulator over real HTTP: envelopes, typed errors, retries, limits, redaction."""

from __future__ import annotations

import logging

import pytest

from hostwinds_dynamic.client import (
    HostwindsAuthError,
    HostwindsClient,
    HostwindsInputError,
    HostwindsTransientError,
    HostwindsUnavailable,
    redact,
    unwrap,
)
from tests.emulators import API_KEY, Emulator


def client(emu: Emulator, **kw: float) -> HostwindsClient:
    return HostwindsClient(emu.url, API_KEY, **{"rate": 50.0, "backoff": 0.01, **kw})  # type: ignore[arg-type]


def test_envelopes_are_all_accepted() -> None:
    assert unwrap("x", {"success": [1]}) == [1]
    assert unwrap("x", [{"id": 1}]) == [{"id": 1}]
    assert unwrap("x", {"id": 1}) == {"id": 1}
    assert unwrap("x", [{"result": "success", "message": "ok"}]) == [{"result": "success", "message": "ok"}]
    with pytest.raises(HostwindsInputError, match="A valid serviceid is required."):
        unwrap("get_instance", [{"result": "error", "message": "A valid serviceid is required.", "ERROR": "1"}])
    with pytest.raises(HostwindsAuthError):
        unwrap("get_instances", {"result": "error", "action": "Authorization", "message": "Not Authorized!"})


def test_bad_key_is_an_auth_error_and_not_retried(hostwinds: Emulator) -> None:
    with HostwindsClient(hostwinds.url, "wrong", rate=50, backoff=0.01) as c, pytest.raises(HostwindsAuthError):
        c.list_instances()
    assert hostwinds.state()["requests"]["total"] == 1


def test_input_error_with_http_200_is_never_retried(hostwinds: Emulator) -> None:
    with client(hostwinds) as c, pytest.raises(HostwindsInputError, match="Location Id is invalid."):
        c.add_instance(
            template="b1e32484-ea0d-4875-921f-2d01fd7b4341",
            rid=52,
            location_id=999,
            srvrname="x",
            keys=[],
            billingcycle="monthly",
        )
    assert hostwinds.state()["requests"]["by_action"] == {"add_instance": 1}


def test_unknown_action_is_an_input_error(hostwinds: Emulator) -> None:
    with client(hostwinds) as c, pytest.raises(HostwindsInputError, match="Invalid Action."):
        c.call("get_everything")


def test_transient_faults_are_retried_until_they_pass(hostwinds: Emulator) -> None:
    hostwinds.emu.rng.seed(7)
    hostwinds.faults(error_rate=0.2, http_5xx_rate=0.2)
    with client(hostwinds, retries=8) as c:
        for _ in range(15):
            assert c.list_instances() == []
    state = hostwinds.state()
    assert state["requests"]["total"] > 15  # some calls failed and were retried


def test_persistent_5xx_gives_up_after_the_retries(hostwinds: Emulator) -> None:
    hostwinds.faults(http_5xx_rate=1.0)
    with client(hostwinds, retries=3) as c, pytest.raises(HostwindsTransientError, match="HTTP 502"):
        c.list_instances()
    assert hostwinds.state()["requests"]["total"] == 4


def test_timeouts_are_transient(hostwinds: Emulator) -> None:
    hostwinds.faults(slow_rate=1.0, slow_seconds=1.0)
    with client(hostwinds, retries=1, timeout=0.2) as c, pytest.raises(HostwindsTransientError, match="ReadTimeout"):
        c.list_instances()


def test_non_idempotent_calls_are_not_retried(hostwinds: Emulator) -> None:
    hostwinds.faults(http_5xx_rate=1.0)
    with client(hostwinds, retries=5) as c, pytest.raises(HostwindsTransientError):
        c.call("add_instance", {}, idempotent=False)
    assert hostwinds.state()["requests"]["total"] == 1


def test_circuit_breaker_fails_fast_after_repeated_failures(hostwinds: Emulator) -> None:
    hostwinds.faults(http_5xx_rate=1.0)
    with client(hostwinds, retries=0) as c:
        for _ in range(5):
            with pytest.raises(HostwindsTransientError):
                c.list_instances()
        with pytest.raises(HostwindsUnavailable, match="5 failures in a row"):
            c.list_instances()
    assert hostwinds.state()["requests"]["total"] == 5


def test_rate_limit_holds(hostwinds: Emulator) -> None:
    with client(hostwinds, rate=4.0) as c:
        for _ in range(12):
            c.list_instances()
    assert hostwinds.state()["requests"]["max_per_second"] <= 4


def test_secrets_never_reach_logs_exceptions_or_repr(hostwinds: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with client(hostwinds) as c:
        c.add_instance(
            template="b1e32484-ea0d-4875-921f-2d01fd7b4341",
            rid=52,
            location_id=12,
            srvrname="s1",
            keys=["mailbox-iac"],
            billingcycle="monthly",
        )
        sid = c.find_by_name("s1")[0]["serviceid"]
        hostwinds.tamper(sid, ready_at=0)
        inst = c.get_instance(sid)
        assert inst and inst["password"] and inst["configkey"]
        assert API_KEY not in repr(c)
        hostwinds.faults(error_rate=1.0)
        with pytest.raises(HostwindsTransientError) as info:
            c.get_instance(sid)
    assert "get_instance" in caplog.text and "'API': '***'" in caplog.text
    for secret in (API_KEY, inst["password"], inst["configkey"]):
        assert secret not in caplog.text
        assert secret not in str(info.value)


def test_redact_reaches_every_depth() -> None:
    assert redact({"a": [{"password": "p", "b": {"configkey": "k", "API": "x"}}]}) == {
        "a": [{"password": "***", "b": {"configkey": "***", "API": "***"}}]
    }
