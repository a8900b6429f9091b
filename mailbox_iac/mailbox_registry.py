"""The mailbox registry: a tenant stack's tenants, servers, domains and mailboxes upserted into SQLite or
PostgreSQL (`mailbox-iac export --to URL`), one database that a warm-up engine, a unified inbox or an
analytics service reads instead of each stack's outputs.

Tables (the same in both; every row keyed by what names it, `exported_at` the last export that saw it):

- `tenants(tenant, exported_at, deleted_at)`
- `servers(tenant, name, hostname, ip, service_id, exported_at, deleted_at)`, key (tenant, name)
- `domains(domain, tenant, server, exported_at, deleted_at)`, key domain
- `mailboxes(address, tenant, domain, server, username, display_name, smtp_host, smtp_port, smtp_tls,
  imap_host, imap_port, imap_tls, daily_limit, warmup_enabled, warmup_limit, warmup_increment, password,
  exported_at, deleted_at)`, key address

An export of a tenant writes what its stack holds now and marks the tenant's rows it no longer holds with
`deleted_at` (kept, never removed; a row that comes back is live again). `password` is filled only when
the export is asked to (`--show-secrets`), else emptied: the table never keeps a password nobody asked for.
Re-running an export changes nothing but `exported_at`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from mailbox_iac.export import rows as mailbox_rows


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]  # besides the key, tenant (where it is not the key) and the two timestamps

    def all(self) -> tuple[str, ...]:
        tenant = () if "tenant" in self.key else ("tenant",)
        return (*self.key, *tenant, *self.columns, "exported_at", "deleted_at")


TABLES = (
    Table("tenants", ("tenant",), ()),
    Table("servers", ("tenant", "name"), ("hostname", "ip", "service_id")),
    Table("domains", ("domain",), ("server",)),
    Table(
        "mailboxes",
        ("address",),
        (
            "domain",
            "server",
            "username",
            "display_name",
            "smtp_host",
            "smtp_port",
            "smtp_tls",
            "imap_host",
            "imap_port",
            "imap_tls",
            "daily_limit",
            "warmup_enabled",
            "warmup_limit",
            "warmup_increment",
            "password",
        ),
    ),
)
_INTEGERS = {"smtp_port", "imap_port", "daily_limit", "warmup_limit", "warmup_increment"}


class Connection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


def _ddl(table: Table) -> str:
    def kind(column: str) -> str:
        return "BOOLEAN" if column == "warmup_enabled" else "INTEGER" if column in _INTEGERS else "TEXT"

    columns = ", ".join(f"{c} {kind(c)}" + (" NOT NULL" if c in table.key else "") for c in table.all())
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({columns}, PRIMARY KEY ({', '.join(table.key)}))"


def _upsert(table: Table) -> str:
    """One row in: inserted, or its columns updated and made live again. SQLite and PostgreSQL both take it.
    (The SQL's names are this module's constants; every value is a parameter.)"""
    names = table.all()
    updates = ", ".join(f"{c} = excluded.{c}" for c in names if c not in table.key)
    columns, values, key = ", ".join(names), ", ".join("?" for _ in names), ", ".join(table.key)
    return f"INSERT INTO {table.name} ({columns}) VALUES ({values}) ON CONFLICT ({key}) DO UPDATE SET {updates}"  # noqa: S608  # nosec B608


def snapshot(outputs: dict[str, Any], passwords: dict[str, str] | None) -> dict[str, list[dict[str, Any]]]:
    """table -> rows (without timestamps) of one tenant stack's outputs. Pure."""
    tenant = str(outputs["tenant"])
    mailboxes = outputs.get("mailboxes", {})
    servers = [
        {
            "tenant": tenant,
            "name": name,
            "hostname": s.get("hostname"),
            "ip": s.get("ip"),
            "service_id": s.get("serviceid"),
        }
        for name, s in sorted(outputs.get("servers", {}).items())
    ]
    domains = {d: {"domain": d, "tenant": tenant, "server": None} for d in outputs.get("dns_records", {})}
    boxes = []
    for row in mailbox_rows(mailboxes, passwords):
        m = mailboxes[row["email"]]
        domains[m["domain"]] = {"domain": m["domain"], "tenant": tenant, "server": m["server"]}
        box = {c: (None if row.get(c) == "" else row.get(c)) for c in TABLES[3].columns}
        box |= {"address": row["email"], "tenant": tenant, "domain": m["domain"], "server": m["server"]}
        box["display_name"] = row["from_name"]
        boxes.append(box)
    return {
        "tenants": [{"tenant": tenant}],
        "servers": servers,
        "domains": [domains[d] for d in sorted(domains)],
        "mailboxes": boxes,
    }


@contextmanager
def connect(url: str) -> Iterator[tuple[Connection, str]]:
    """(connection, its placeholder) for `sqlite:///relative.db`, `sqlite:////absolute.db` or
    `postgresql://...` (psycopg, imported only then)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite" and not parts.netloc and len(parts.path) > 1:
        with closing(sqlite3.connect(parts.path[1:])) as conn:
            yield conn, "?"
    elif parts.scheme in ("postgresql", "postgres"):
        import psycopg

        with psycopg.connect(url) as pg:
            yield pg, "%s"
    else:
        raise ValueError(f"{url!r} is not a registry: write sqlite:///PATH or postgresql://USER@HOST/DB")


def write(
    url: str, outputs: dict[str, Any], passwords: dict[str, str] | None, now: datetime | None = None
) -> dict[str, int]:
    """Upsert one tenant's rows, mark the ones it no longer has; table -> rows written. One transaction."""
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    found = snapshot(outputs, passwords)
    tenant = found["tenants"][0]["tenant"]
    with connect(url) as (conn, mark):
        cur = conn.cursor()
        for table in TABLES:
            cur.execute(_ddl(table))
        for table in TABLES:
            names = table.all()
            for row in found[table.name]:
                values = [*(row.get(c) for c in names[:-2]), at, None]
                cur.execute(_upsert(table).replace("?", mark), values)
            kept = [tuple(row[k] for k in table.key) for row in found[table.name]]
            key = ", ".join(table.key)
            live = f"SELECT {key} FROM {table.name} WHERE tenant = {mark} AND deleted_at IS NULL"  # noqa: S608  # nosec B608
            cur.execute(live, [tenant])
            where = " AND ".join(f"{k} = {mark}" for k in table.key)
            for gone in [tuple(r) for r in cur.fetchall() if tuple(r) not in kept]:
                mark_gone = f"UPDATE {table.name} SET deleted_at = {mark} WHERE {where}"  # noqa: S608  # nosec B608
                cur.execute(mark_gone, [at, *gone])
        conn.commit()
    return {name: len(rows) for name, rows in found.items()}
