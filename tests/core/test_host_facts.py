"""Host facts from fixtures: each reader's command answered by a strict fake host with a recorded output
(tests/core/host_facts/<reader>/<case>/: stdout, status, expected.json), shell metacharacters included;
and the steps a converge takes from desired state and facts (tests/core/host_steps/*.yaml)."""

from __future__ import annotations

import dataclasses
import json
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mailbox_iac.mailhost import accounts, acme, apply, facts, harden, vitals
from mailbox_iac.mailhost.render import CURRENT
from tests.fakehost import StrictHost

HERE = Path(__file__).parent
READERS: dict[str, facts.Reader[Any]] = {
    "host": facts.HOST,
    "digests": facts.digests_of(CURRENT),
    "links": facts.LINK_TARGETS,
    "hardening": harden.STATUS,
    "certificate": acme.SERVED,
    "accounts": accounts.ACCOUNTS,
    "vitals": vitals.of(vitals.DEFAULT_PROBE),
}
CASES = sorted(p for p in (HERE / "host_facts").glob("*/*") if p.is_dir())


def plain(fact: Any) -> Any:
    """A fact as JSON holds it."""
    if dataclasses.is_dataclass(fact) and not isinstance(fact, type):
        return {k: plain(v) for k, v in dataclasses.asdict(fact).items()}
    if isinstance(fact, tuple | list):
        return [plain(v) for v in fact]
    if isinstance(fact, dict):
        return {k: plain(v) for k, v in fact.items()}
    return fact.isoformat() if isinstance(fact, datetime) else fact


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_reader_from_fixture(case: Path) -> None:
    reader = READERS[case.parent.name]
    status = int((case / "status").read_text()) if (case / "status").exists() else 0
    command = reader.command if isinstance(reader.command, str) else shlex.join(reader.command)
    host = StrictHost({command: (status, (case / "stdout").read_text())})
    assert plain(reader.read(host)) == json.loads((case / "expected.json").read_text())
    assert host.ran == [command]  # one command per fact


def test_every_reader_has_fixtures() -> None:
    assert {c.parent.name for c in CASES} == set(READERS)


STEPS = sorted((HERE / "host_steps").glob("*.yaml"))


@pytest.mark.parametrize("case", STEPS, ids=[c.stem for c in STEPS])
def test_prepare_steps_from_facts(case: Path) -> None:
    data = yaml.safe_load(case.read_text())
    host = StrictHost({step: (0, "") for step in data["steps"]})
    apply.prepare(host, facts.HostFacts(**data["facts"]), data["hostname"], data.get("sites", ()))
    assert host.ran == data["steps"]


def test_the_strict_host_refuses_what_it_was_not_told() -> None:
    with pytest.raises(AssertionError, match="unexpected command on the host: rm -rf /"):
        StrictHost().run(["rm", "-rf", "/"])
