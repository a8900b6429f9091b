"""`up` for many tenant stacks at once: bounded parallelism, one log file per tenant, progress, retries.

Each tenant runs `pulumi up` through the Automation API in its own thread (inline programs are isolated by
the SDK's context variables; each run is its own `pulumi` process). One tenant's failure never stops the
others. A failure is retried when it is transient (errors.py); guard-rail violations, invalid specs and
stack configuration errors are permanent: running again cannot fix them. The Hostwinds rate limit holds across
all of them because every provider process shares one lock file per endpoint (hostwinds_dynamic.client).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pulumi import automation as auto
from rich.console import Console
from rich.live import Live
from rich.table import Table

from mailbox_iac import errors, failures
from mailbox_iac.engine import Engine
from mailbox_iac.ops import up as converging


@dataclass
class TenantRun:
    tenant: str
    status: str = "pending"  # pending, running, converged, failed
    phase: str = ""
    resources_done: int = 0
    attempts: int = 0
    started: float = 0.0
    ended: float = 0.0
    error: str = ""
    log: Path = field(default_factory=Path)

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started if self.started else 0.0


def run_many(
    tenants: list[str],
    engine: Engine,
    log_dir: Path,
    parallel: int = 10,
    retries: int = 2,
    on_progress: Callable[[list[TenantRun]], None] | None = None,
    progress_every: float = 2.0,
    allow: frozenset[str] = frozenset(),
) -> list[TenantRun]:
    log_dir.mkdir(parents=True, exist_ok=True)
    runs = [TenantRun(t, log=log_dir / f"{t}.log") for t in tenants]
    select_lock = threading.Lock()  # selecting stacks rewrites the workspace's shared files

    def converge(run: TenantRun) -> None:
        run.started = time.monotonic()
        with run.log.open("w") as log:
            while True:
                run.attempts += 1
                run.status, run.phase = "running", "selecting stack"
                try:

                    def on_event(event: auto.EngineEvent, run: TenantRun = run) -> None:
                        run.phase = "up"
                        if event.res_outputs_event:
                            run.resources_done += 1

                    converging.up(
                        engine,
                        run.tenant,
                        say=lambda line: print(line, file=log),
                        on_output=lambda line: print(line, file=log),
                        on_event=on_event,
                        selecting=select_lock,
                        allow=allow,
                    )
                    run.status, run.phase = "converged", "done"
                    break
                except Exception as exc:
                    message = str(exc)
                    log.write(f"\n--- attempt {run.attempts} failed ---\n{message}\n")
                    if run.attempts > retries or errors.kind_of(exc) is not errors.Kind.transient:
                        run.status, run.phase = "failed", "failed"
                        run.error = _summary(message)
                        break
                    run.phase = f"retrying ({run.attempts}/{retries})"
                    time.sleep(2.0 * run.attempts)
        run.ended = time.monotonic()

    done = threading.Event()

    def report() -> None:
        while not done.wait(progress_every):
            if on_progress:
                on_progress(runs)

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(converge, runs))
    done.set()
    reporter.join()
    if on_progress:
        on_progress(runs)
    return runs


def _summary(message: str) -> str:
    """The most useful line of a failed run: the error, not the whole engine transcript."""
    return " / ".join(failures.diagnostics(message, limit=3))[:300] or "failed"


def progress_line(runs: list[TenantRun]) -> str:
    counts = {s: sum(r.status == s for r in runs) for s in ("converged", "failed", "running", "pending")}
    running = ", ".join(
        f"{r.tenant}({r.phase} {r.resources_done}, {r.elapsed:.0f}s)" for r in runs if r.status == "running"
    )
    return (
        f"converged {counts['converged']}/{len(runs)}, failed {counts['failed']}, running {counts['running']}, "
        f"pending {counts['pending']}" + (f": {running}" if running else "")
    )


def live_rows(runs: list[TenantRun], limit: int = 20) -> list[tuple[str, str, str, str, str]]:
    """The rows of the live view (tenant, status, phase, resources done, elapsed): running tenants first,
    then failed ones, then the most recently finished; `limit` rows at most."""
    order = {"running": 0, "failed": 1, "converged": 2}
    shown = sorted(
        (r for r in runs if r.status != "pending"), key=lambda r: (order.get(r.status, 3), -(r.ended or r.started))
    )
    return [(r.tenant, r.status, r.phase, str(r.resources_done), f"{r.elapsed:.0f}s") for r in shown[:limit]]


def progress_view(runs: list[TenantRun]) -> Table:
    """The live view on a terminal: the counts, then one row per tenant (see `live_rows`)."""
    table = Table(title=progress_line(runs).split(":", 1)[0], title_justify="left")
    for column in ("tenant", "status", "phase", "resources", "elapsed"):
        table.add_column(column, justify="right" if column in ("resources", "elapsed") else "left")
    for row in live_rows(runs):
        table.add_row(*row)
    return table


@contextlib.contextmanager
def live_view() -> Iterator[Callable[[list[TenantRun]], None]]:
    """An `on_progress` for `run_many` that redraws the progress view in place on stderr."""
    with Live(console=Console(stderr=True), auto_refresh=False) as live:
        yield lambda runs: live.update(progress_view(runs), refresh=True)


def summary_table(runs: list[TenantRun]) -> str:
    rows = [f"{'tenant':<20} {'result':<10} {'resources':>9} {'attempts':>8} {'time':>7}  log / error"]
    for r in runs:
        rows.append(
            f"{r.tenant:<20} {r.status:<10} {r.resources_done:>9} {r.attempts:>8} {r.elapsed:>6.0f}s  "
            + (r.error or str(r.log))
        )
    return "\n".join(rows)
