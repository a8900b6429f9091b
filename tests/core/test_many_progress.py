"""The progress of `up --tenants`: plain lines for logs, a table redrawn in place on a terminal."""

from __future__ import annotations

from rich.console import Console

from mailbox_iac.ops.many import TenantRun, live_rows, progress_line, progress_view


def runs() -> list[TenantRun]:
    return [
        TenantRun("done-early", "converged", "done", 30, 1, started=10.0, ended=20.0),
        TenantRun("broken", "failed", "failed", 3, 3, started=11.0, ended=25.0, error="boom"),
        TenantRun("busy", "running", "up", 12, 1, started=12.0),
        TenantRun("done-late", "converged", "done", 30, 1, started=13.0, ended=40.0),
        TenantRun("waiting"),
    ]


def test_rows_put_running_then_failed_then_latest_finished() -> None:
    rows = live_rows(runs())
    assert [r[0] for r in rows] == ["busy", "broken", "done-late", "done-early"]  # pending ones are counted only
    assert rows[0][1:4] == ("running", "up", "12")
    assert len(live_rows(runs(), limit=2)) == 2


def test_the_view_shows_counts_and_each_tenant() -> None:
    console = Console(record=True, width=100)
    console.print(progress_view(runs()))
    text = console.export_text()
    assert "converged 2/5, failed 1, running 1, pending 1" in text
    assert "busy" in text and "broken" in text and "waiting" not in text
    assert progress_line(runs()).startswith("converged 2/5, failed 1, running 1, pending 1: busy(up 12,")
