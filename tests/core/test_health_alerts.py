"""Health alerts: a tenant with problems is POSTed as JSON to its webhook, a healthy one is not, and an
alert that is not accepted is reported by tenant without the URL (which often holds a token)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mailbox_iac.checks import blocklist, dns, tls
from mailbox_iac.ops import health

NOW = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
LISTED = blocklist.IP_LISTED.result("192.0.2.7 on Spamhaus ZEN", False, "listed on Spamhaus ZEN (...)")
FINE = tls.DAYS_LEFT.result("mx1.acme.example (192.0.2.7:993)", True, "80 days left (expires 2027-02-23)")


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(
                {"path": self.path, "body": json.loads(self.rfile.read(int(self.headers["Content-Length"])))}
            )
            self.send_response(500 if self.path.startswith("/broken") else 204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def test_a_tenant_with_problems_is_posted_and_a_healthy_one_is_not(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = receiver
    results = {"acme": [LISTED, FINE], "globex": [FINE], "initech": [LISTED]}
    webhooks = {"acme": f"{url}/hooks/acme?token=s3cret", "globex": f"{url}/hooks/globex"}
    assert health.send_alerts(results, webhooks, NOW) == []
    [only] = received  # initech has no webhook, globex is healthy
    assert only["path"] == "/hooks/acme?token=s3cret"
    assert only["body"]["tenant"] == "acme" and only["body"]["checked_at"] == "2026-12-05T06:00:00+00:00"
    assert only["body"]["problems"] == [LISTED.as_dict()]
    assert "acme: 1 problem(s) (2 checks)" in only["body"]["text"]


def test_an_alert_not_accepted_names_the_tenant_never_the_url(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = receiver
    failed = health.send_alerts(
        {"acme": [LISTED], "globex": [LISTED]},
        {"acme": f"{url}/broken?token=s3cret", "globex": "http://127.0.0.1:9/?token=s3cret"},
        NOW,
    )
    assert failed == [
        "acme: the health webhook answered HTTP 500",
        "globex: the health webhook could not be reached (ConnectError)",
    ]
    assert not any("s3cret" in line or "127.0.0.1" in line for line in failed)


def test_the_page_escapes_what_it_shows_and_lists_problems_first() -> None:
    hostile = blocklist.UNANSWERED.result("<b>x</b> on URIBL", False, 'answered "<script>alert(1)</script>"')
    page = health.as_html({"acme": [FINE, LISTED, hostile], "globex": []}, ["initech"], NOW)
    assert page.startswith("<!doctype html>") and 'name="viewport"' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<b>x" not in page
    rows = page.split("<tr class=")[1:]
    assert [r.split('"')[1] for r in rows] == ["error", "warning", "ok"]
    assert "acme: 2 problem(s)" in page and "globex: healthy" in page and "initech" in page
    assert "http" not in page.replace('name="viewport"', "")  # self-contained: nothing fetched


def test_each_mailbox_takes_the_worst_status_of_its_domain_and_its_server() -> None:
    """A listed address fails every mailbox on that server; a domain's record only that domain's mailboxes;
    a neighbour's address (192.0.2.70) or a domain that only ends the same way (demo-acme.example) none."""
    record = dns.RECORD.result("TXT _dmarc.b.acme.example", False, "expected ..., got []")
    neighbour = blocklist.IP_LISTED.result("192.0.2.70 on Spamhaus ZEN", False, "listed")
    lookalike = blocklist.DOMAIN_LISTED.result("demo-acme.example on Spamhaus DBL", False, "listed")
    warned = tls.DAYS_LEFT.result("mx2.acme.example (192.0.2.8:993)", False, "12 days left")
    acme = health.Subjects(
        "acme",
        (),
        (),
        mailboxes=(
            ("ann@acme.example", "acme.example", "192.0.2.7"),
            ("bo@b.acme.example", "b.acme.example", "192.0.2.8"),
            ("cy@c.acme.example", "c.acme.example", "192.0.2.8"),
        ),
    )
    results = {"acme": [record, neighbour, lookalike, warned, FINE]}
    assert health.mailbox_statuses(results, [acme]) == {
        "acme": {"ann@acme.example": "ok", "bo@b.acme.example": "error", "cy@c.acme.example": "warning"}
    }
    results["acme"].append(LISTED)
    statuses = health.mailbox_statuses(results, [acme])
    assert statuses["acme"]["ann@acme.example"] == "error"
    page = health.as_html(results, [], NOW, statuses)
    table = page.split("<h3>Mailboxes</h3>")[1]
    assert [r.split("<td>")[1].split("<")[0] for r in table.split("<tr class=")[1:]] == [
        "ann@acme.example",
        "bo@b.acme.example",
        "cy@c.acme.example",
    ]
    assert json.loads(health.as_json(results, [], NOW, statuses))["mailboxes"] == statuses
