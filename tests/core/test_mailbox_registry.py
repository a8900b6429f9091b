"""The mailbox registry (`export --to`) in SQLite and in a real PostgreSQL server (Debian's, started here):
upserts that a re-run leaves alone, removed mailboxes marked and kept, passwords only on request, one
tenant's export never touching another's rows."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mailbox_iac import mailbox_registry
from mailbox_iac.plan.planner import plan
from mailbox_iac.program import mailbox_output
from mailbox_iac.spec.load import load_file
from tests.conftest import SPECS

STATE = plan(load_file(SPECS / "acme.yaml").tenant)
OUTPUTS: dict[str, Any] = {
    "tenant": "acme",
    "servers": {s.name: {"serviceid": "1001", "ip": "203.0.113.7", "hostname": s.hostname} for s in STATE.servers},
    "mailboxes": {m.address: mailbox_output(m) for m in STATE.mailboxes},
    "dns_records": {r.domain: {r.key: "id"} for r in STATE.dns_records},
}
FIRST, SECOND = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/registry.db"  # sqlite:/// + an absolute path: four slashes
    url: str = request.getfixturevalue("postgres")
    with psycopg.connect(url, autocommit=True) as conn:
        for table in mailbox_registry.TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table.name}")
    return url


def rows(url: str, table: str) -> list[dict[str, Any]]:
    query = f"SELECT * FROM {table} ORDER BY 1, 2"  # noqa: S608  # nosec B608: a test's own constant names
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(query)]
    with psycopg.connect(url) as pg, pg.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return list(cur.execute(query))


def test_an_export_fills_every_table_and_a_rerun_changes_nothing_but_the_time(registry: str) -> None:
    written = mailbox_registry.write(registry, OUTPUTS, None, FIRST)
    assert written == {"tenants": 1, "servers": 1, "domains": 2, "mailboxes": 5}
    before = {t.name: rows(registry, t.name) for t in mailbox_registry.TABLES}
    mailbox_registry.write(registry, OUTPUTS, None, SECOND)
    after = {t.name: rows(registry, t.name) for t in mailbox_registry.TABLES}
    assert {t: [{**r, "exported_at": None} for r in rs] for t, rs in before.items()} == {
        t: [{**r, "exported_at": None} for r in rs] for t, rs in after.items()
    }
    bob = next(r for r in after["mailboxes"] if r["address"] == "bob@acme-mail.com")
    assert (bob["tenant"], bob["domain"], bob["smtp_port"], bob["imap_port"], bob["daily_limit"]) == (
        "acme",
        "acme-mail.com",
        587,
        993,
        40,
    )
    assert bool(bob["warmup_enabled"]) and bob["password"] is None and bob["deleted_at"] is None
    assert {r["exported_at"] for r in after["mailboxes"]} == {SECOND.isoformat()}
    assert [(d["domain"], d["server"]) for d in after["domains"]] == [
        ("acme-mail.com", "mx1"),
        ("acme-outreach.com", "mx1"),
    ]


def test_a_removed_mailbox_is_marked_not_lost_and_comes_back_live(registry: str) -> None:
    mailbox_registry.write(registry, OUTPUTS, None, FIRST)
    fewer = {**OUTPUTS, "mailboxes": {a: m for a, m in OUTPUTS["mailboxes"].items() if not a.startswith("erin@")}}
    mailbox_registry.write(registry, fewer, None, SECOND)
    marked = {r["address"]: r["deleted_at"] for r in rows(registry, "mailboxes")}
    assert marked["erin@acme-outreach.com"] == SECOND.isoformat()
    assert [a for a, at in marked.items() if at is not None] == ["erin@acme-outreach.com"]
    mailbox_registry.write(registry, OUTPUTS, None, SECOND)
    assert all(r["deleted_at"] is None for r in rows(registry, "mailboxes"))


def test_passwords_only_when_asked_and_emptied_when_not(registry: str) -> None:
    passwords = {a: f"pw-{i}" for i, a in enumerate(sorted(OUTPUTS["mailboxes"]))}
    mailbox_registry.write(registry, OUTPUTS, passwords, FIRST)
    assert [r["password"] for r in rows(registry, "mailboxes")] == [f"pw-{i}" for i in range(5)]
    mailbox_registry.write(registry, OUTPUTS, None, SECOND)
    assert {r["password"] for r in rows(registry, "mailboxes")} == {None}


def test_one_tenants_export_leaves_another_tenants_rows_alone(registry: str) -> None:
    other = {
        "tenant": "globex",
        "servers": {"mx9": {"serviceid": "9", "ip": "203.0.113.9", "hostname": "mx9.globex-mail.com"}},
        "mailboxes": {},
        "dns_records": {"globex-mail.com": {}},
    }
    mailbox_registry.write(registry, other, None, FIRST)
    mailbox_registry.write(registry, OUTPUTS, None, SECOND)
    servers = rows(registry, "servers")
    assert [(s["tenant"], s["name"], s["deleted_at"]) for s in servers] == [
        ("acme", "mx1", None),
        ("globex", "mx9", None),
    ]


def test_a_url_that_is_no_registry_is_refused() -> None:
    for url in ("mysql://db/x", "sqlite://host/x.db", "sqlite:///"):
        with pytest.raises(ValueError, match="is not a registry"):
            mailbox_registry.write(url, OUTPUTS, None)


def test_the_command_names_a_database_it_cannot_write_without_its_password(
    postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from mailbox_iac.cli import _to_registry

    wrong = postgres.replace("postgres@/postgres", "postgres:hunter2-secret@/no_such_db")
    with pytest.raises(typer.Exit) as exited:
        _to_registry(wrong, OUTPUTS, None)
    assert exited.value.exit_code == 1
    err = capsys.readouterr().err
    assert "cannot write the registry postgresql://postgres@/no_such_db" in err and "no_such_db" in err
    assert "hunter2" not in err
