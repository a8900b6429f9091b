"""The `mailbox-iac` command. Thin: parse arguments, call the library, print, choose the exit code.

No `from __future__ import annotations` here: typer reads every command's annotations at each start,
and string annotations cost it 332 evals (15 ms of each process). Names imported for type checking only
are quoted."""

import contextlib
import gc
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mailbox_iac import allowances, failures, lifetime, project
from mailbox_iac.plan import render
from mailbox_iac.plan.planner import plan as make_plan
from mailbox_iac.sandbox.cli import app as sandbox_app
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file, load_paths
from mailbox_iac.spec.schema import schema_json

# What needs the engine (the Pulumi SDK, the Automation API) or a cloud's client is imported by the
# commands that use it: validate, plan and --help start without them.
if TYPE_CHECKING:
    from pulumi.automation import Stack

    from mailbox_iac.engine import Engine

app = typer.Typer(
    help="Declarative mailboxes: validate tenant specs, plan them, and converge them with Pulumi.\n\n"
    "Exit codes everywhere: 0 done / nothing to change, 2 changes or problems found (preview, drift, verify), "
    "1 error (bad input or usage, a failed run). Run from the checkout or any directory below it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(sandbox_app, name="sandbox")
STACK_HELP = "Tenant stack (its spec: specs/<stack>.yaml, or mailbox-iac:spec in stacks/Pulumi.<stack>.yaml)"
Allow = Annotated[
    str,
    typer.Option(
        "--allow",
        envvar=allowances.ENV,
        help="Guard-rail opt-ins for this run only, comma-separated: mass-changes, server-replacement, destroy "
        "(a pull request's labels `mailbox-iac:allow-<name>` are passed here by the workflows)",
    ),
]


def _allowed(text: str) -> frozenset[str]:
    try:
        return allowances.parse(text)
    except allowances.UnknownAllowance as exc:
        typer.echo(f"--allow: {exc}", err=True)
        raise typer.Exit(code=1) from None


def _version(value: bool) -> None:
    if value:
        from importlib import metadata  # 90 ms of imports that no other command needs

        typer.echo(f"mailbox-iac {metadata.version('mailbox-iac')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version_flag: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """Declarative mailboxes: validate tenant specs, plan them, and converge them with Pulumi."""


def _tenant_stack(root: Path, stack: str) -> str:
    """`stack` if it names a tenant with a spec (else `NoTenant`: exit 1 before anything is created)."""
    project.tenant_spec(root, stack)
    return stack


class Format(StrEnum):
    text = "text"
    json = "json"


class HealthFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"
    instantly_csv = "instantly-csv"
    smartlead_csv = "smartlead-csv"
    emailbison_csv = "emailbison-csv"


def _fail(exc: SpecInvalid, fmt: Format) -> typer.Exit:
    if fmt is Format.json:
        typer.echo(json.dumps({"valid": False, "errors": [e.as_dict() for e in exc.errors]}, indent=2))
    else:
        for e in exc.errors:
            typer.echo(str(e), err=True)
        files = len({e.path for e in exc.errors})
        typer.echo(f"{len(exc.errors)} error(s) in {files} file(s)", err=True)
    return typer.Exit(code=1)


@app.command()
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Spec files or directories (default: specs/)")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.text,
) -> None:
    """Check specs: syntax, fields, cross-field rules, and that no domain belongs to two tenants.

    Exit code 0 when every spec is valid, 1 otherwise; each error is `FILE:LINE:COL: field: message`.
    Warnings (valid, but receivers will not do what the spec seems to want) go to stderr and keep exit 0.
    """
    paths = paths or [_default_specs()]
    try:
        loaded = load_paths(paths)
    except SpecInvalid as exc:
        raise _fail(exc, fmt) from None
    warnings = [w for ls in loaded for w in ls.warnings]
    if fmt is Format.json:
        files = [ls.doc.path for ls in loaded]
        found = [w.as_dict() for w in warnings]
        typer.echo(json.dumps({"valid": True, "files": files, "errors": [], "warnings": found}, indent=2))
    else:
        for w in warnings:
            typer.echo(f"warning: {w}", err=True)
        mailboxes = sum(len(d.mailboxes) for ls in loaded for d in ls.tenant.domains)
        typer.echo(
            f"{len(loaded)} spec(s) valid: {', '.join(ls.tenant.tenant for ls in loaded)} ({mailboxes} mailboxes)"
        )


@app.command()
def plan(
    spec: Annotated[Path, typer.Argument(help="One tenant spec, e.g. specs/acme.yaml")],
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="A stack: show what `up` of this spec would create, update and delete there, from the stack's "
            "checkpoint (no preview run, no provider called)",
        ),
    ] = None,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="The stack is one of the local sandbox")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.text,
) -> None:
    """Show the desired state a spec asks for: servers, DNS records, mail hosts, mailboxes.

    Values known only after creation (server IPs, DKIM keys) appear as <placeholders>. No secrets.
    With --against STACK: the changes instead, each field old => new, and what the guard rails would refuse.
    Exit code with --against: 0 no changes, 2 changes, 1 refused or an error.
    """
    try:
        loaded = load_file(spec)
    except SpecInvalid as exc:
        raise _fail(exc, fmt) from None
    if against is None:
        state = make_plan(loaded.tenant)
        typer.echo(render.as_json(state) if fmt is Format.json else render.as_text(state), nl=False)
        return
    from pulumi.automation import CommandError

    from mailbox_iac.engine import EngineMissing
    from mailbox_iac.ops.against import against as stack_changes

    engine = _engine(sandbox)
    try:
        found, refused = stack_changes(engine.existing(against), loaded.tenant)
    except (CommandError, EngineMissing) as exc:  # the stack or its checkpoint could not be read
        _failed(f"cannot read stack {against!r}:", exc, f"check that stack {against!r} exists: `pulumi stack ls`")
        raise typer.Exit(code=1) from None
    title = f"{spec} against stack {against}"
    typer.echo(
        render.changes_json(found, refused) if fmt is Format.json else render.changes_text(title, found, refused),
        nl=False,
    )
    raise typer.Exit(code=1 if refused else 2 if found else 0)


def _failed(what: str, exc: Exception, next_step: str) -> None:
    """An engine failure as a person reads it: what failed, the engine's diagnostic lines, what to do next."""
    typer.echo(what, err=True)
    for line in failures.diagnostics(str(exc)) or [f"{type(exc).__name__}: {exc}"]:
        typer.echo(f"  {line}", err=True)
    typer.echo(f"next: {next_step}", err=True)


def _default_specs() -> Path:
    """specs/ of the checkout around the working directory (or ./specs outside one)."""
    try:
        return project.find_root() / "specs"
    except project.NoProject:
        return Path("specs")


def _engine(sandbox: bool) -> "Engine":
    from mailbox_iac.engine import Engine
    from mailbox_iac.sandbox import run as sandbox_run

    root = project.find_root()
    if not sandbox:
        return Engine.for_project(root)
    info = sandbox_run.read_info(root)
    if not info:
        typer.echo("the sandbox is not running: start it with `mailbox-iac sandbox up`", err=True)
        raise typer.Exit(code=1)
    # The sandbox's stacks live and die with it: their state is in .state/sandbox/, which `down` removes.
    return Engine.local(sandbox_run.state_dir(root), root, env=sandbox_run.environment(info))


@contextlib.contextmanager
def _engine_log(engine: "Engine", stack: str) -> Iterator[tuple[Callable[[str], None], Callable[[str], None], Path]]:
    """(say, show, log path) for one stack's engine run: our lines to stderr, the engine's output to stdout
    with tracebacks cut; both whole in .state/logs/<stack>.log."""
    log_path = engine.project_dir / ".state" / "logs" / f"{stack}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    live = failures.TracebackFilter()
    with log_path.open("a") as log:

        def say(line: str) -> None:
            print(line, file=log, flush=True)
            typer.echo(line, err=True)

        def show(line: str) -> None:
            print(line, file=log, flush=True)
            if (shown := live.feed(line)) is not None:
                typer.echo(shown)

        yield say, show, log_path


def _each_deployed(
    engine: "Engine", names: list[str], read: Callable[[str, "Stack"], None]
) -> tuple[list[str], list[str]]:
    """`read` each tenant's stack: (the tenants with no stack yet, one error line per tenant that could not
    be read). A tenant that fails is named; the others are still read."""
    from pulumi.automation import StackNotFoundError

    not_deployed, errors = [], []
    for tenant in names:
        try:
            try:
                stack = engine.existing(tenant)
            except StackNotFoundError:
                not_deployed.append(tenant)  # a spec not applied yet has nothing to check
                continue
            read(tenant, stack)
        except Exception as exc:
            errors.append(f"{tenant}: {'; '.join(failures.diagnostics(str(exc), limit=3)) or type(exc).__name__}")
    return not_deployed, errors


def _tenants(selection: str) -> list[str]:
    """`all` = every stack in stacks/ that has a spec; otherwise a comma-separated list, each checked."""
    root = project.find_root()
    if selection != "all":
        return [_tenant_stack(root, t.strip()) for t in selection.split(",") if t.strip()]
    return project.tenant_stacks(root)


@app.command()
def up(
    stack: Annotated[str | None, typer.Option("--stack", "-s", help=STACK_HELP)] = None,
    tenants: Annotated[str | None, typer.Option(help="Many tenants at once: `all` or a,b,c")] = None,
    parallel: Annotated[int, typer.Option(help="With --tenants: how many stacks run at once")] = 10,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Run against the local sandbox's emulators")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Refresh state from the real world first")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="If another run holds the stack, wait for it instead of exiting 1")
    ] = False,
    allow: Allow = "",
) -> None:
    """Converge tenants: `pulumi up --yes` of their stacks.

    With --stack: the engine's own progress output, then the mailbox table (no passwords: use
    `export --show-secrets`). With --tenants: up to --parallel stacks at once, a progress line every few
    seconds, one log file per tenant in .state/logs/, a summary table; one tenant's failure never stops
    the others, transient failures are retried. Exit 0 when all converged, 1 otherwise.
    """
    from pulumi.automation import CommandError

    from mailbox_iac import adopt, cloudflare_api, recovery
    from mailbox_iac import export as exporter
    from mailbox_iac.engine import EngineMissing
    from mailbox_iac.ops import up as converging

    if (stack is None) == (tenants is None):
        typer.echo("give either --stack NAME or --tenants all|a,b,...", err=True)
        raise typer.Exit(code=1)
    allowed = _allowed(allow)
    if stack is not None:
        _tenant_stack(project.find_root(), stack)
    engine = _engine(sandbox)
    if tenants is not None:
        from mailbox_iac.ops import many

        names = _tenants(tenants)
        if not names:
            typer.echo(f"no tenant stacks selected by {tenants!r}", err=True)
            raise typer.Exit(code=1)
        lines = contextlib.nullcontext(lambda rs: typer.echo(many.progress_line(rs), err=True))
        # On a terminal a table redrawn in place; plain lines for logs and CI.
        with many.live_view() if sys.stderr.isatty() else lines as show:
            runs = many.run_many(
                names, engine, engine.project_dir / ".state/logs", parallel, on_progress=show, allow=allowed
            )
        typer.echo(many.summary_table(runs))
        raise typer.Exit(code=0 if all(r.status == "converged" for r in runs) else 1)
    try:
        with _engine_log(engine, stack or "") as (say, show, log_path):
            result = converging.up(engine, stack or "", say, show, refresh=refresh, wait=wait, allow=allowed)
    except (recovery.StackLocked, adopt.AdoptionConflict, cloudflare_api.CloudflareError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    except (CommandError, EngineMissing) as exc:
        _failed(
            f"up of stack {stack!r} failed:",
            exc,
            f"fix what is named above, then run `mailbox-iac up -s {stack}` again: it resumes where this run "
            f"stopped (the whole engine output: {log_path.relative_to(engine.project_dir)})",
        )
        raise typer.Exit(code=1) from None
    mailboxes = result.outputs.get("mailboxes")
    if mailboxes:
        typer.echo("")
        typer.echo(exporter.render(exporter.rows(mailboxes.value, None), "csv").replace(",", "  "))


@app.command()
def verify(
    stack: Annotated[str, typer.Option("--stack", "-s", help=STACK_HELP)],
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Ask the local sandbox's DNS")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.text,
) -> None:
    """Check that every mailbox is ready: each planned record of its domain answers at the zone's
    authoritative DNS, the server's PTR is its mail hostname, it logs in over IMAPS and SMTP 587, its host
    serves a certificate that verifies (a warning 14 days before it expires), its domain serves the
    planned MTA-STS policy, and each sequencer workspace it is handed to reports its account connected.
    Check ids and where each runs: mailbox_iac/checks/catalog.py.

    Exit code 0 all ready (warnings allowed), 2 some not ready, 1 error.
    """
    from pulumi.automation import CommandError

    from mailbox_iac.checks import mailbox, sequencer
    from mailbox_iac.engine import EngineMissing
    from mailbox_iac.program import deployed_state

    engine = _engine(sandbox)
    _tenant_stack(engine.project_dir, stack)
    try:
        deployed = engine.existing(stack)
        state, outputs = deployed_state(deployed, engine.project_dir)
        env = {**os.environ, **engine.env}
        config = deployed.get_all_config() if state.sequencer_accounts else {}
        keys = {k.removeprefix("mailbox-iac:"): v.value for k, v in config.items()}
        results = mailbox.verify(
            state,
            outputs["mailbox_passwords"],
            env.get("MAILBOX_IAC_DNS_RESOLVER"),
            env.get("MAILBOX_IAC_TLS_ROOTS"),
            lambda account: sequencer.connected(account, keys.get(account.api_key), env),
        )
    except KeyError as exc:
        typer.echo(
            f"cannot verify stack {stack!r}: it has no {exc.args[0]!r} output yet, so its first `up` never finished."
            f" Run `mailbox-iac up -s {stack}`{' --sandbox' if sandbox else ''}: it resumes where that run stopped.",
            err=True,
        )
        raise typer.Exit(code=1) from None
    except (CommandError, EngineMissing, SpecInvalid) as exc:
        _failed(f"cannot verify stack {stack!r}:", exc, f"check that stack {stack!r} exists: `pulumi stack ls`")
        raise typer.Exit(code=1) from None
    ready = {a: mailbox.ready(checks) for a, checks in results.items()}
    if fmt is Format.json:
        typer.echo(
            json.dumps(
                {a: {"ready": ready[a], "failed": [c.as_dict() for c in cs if not c.ok]} for a, cs in results.items()},
                indent=2,
            )
        )
    else:
        for address, checks in results.items():
            failed = [f"{c.check.severity.value}: {c.name}: {c.detail}" for c in checks if not c.ok]
            typer.echo(
                f"{address:<40} {'ready' if ready[address] else 'NOT READY'}  {len(checks)} checks"
                + ("".join(f"\n    {f}" for f in failed))
            )
    raise typer.Exit(code=0 if all(ready.values()) else 2)


@app.command()
def preview(
    changed_since: Annotated[str, typer.Option(help="Git ref the change is compared with (the PR's base)")],
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Preview against the local sandbox")] = False,
    output_dir: Annotated[
        Path | None, typer.Option(help="Where summary.md, full.md and summary.json go (default: .state/preview/)")
    ] = None,
    allow: Allow = "",
) -> None:
    """Preview the tenants a change affects (their spec or stack file changed; shared code affects all),
    after validating every spec. A deleted spec is previewed as the destroy of its stack, refused unless
    the change allows it (--allow destroy: the PR's label) or that stack's config sets
    `mailbox-iac:allowDestroy: "true"`. Prints a Markdown summary that fits a
    PR comment (under 60,000 characters); the full output and JSON are written next to it.

    Exit code 0 no changes, 2 changes, 1 error or guard-rail violation.
    """
    from mailbox_iac.ops import preview as previewing

    allowed = _allowed(allow)
    root = project.find_root()
    output_dir = output_dir or root / ".state/preview"
    try:
        files = previewing.changed_files(changed_since, root)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    validation_errors: list[str] = []
    try:
        load_paths([root / "specs"])
    except SpecInvalid as exc:
        validation_errors = [str(e) for e in exc.errors]
    tenants = previewing.affected_tenants(files, _tenants("all"))
    removed = previewing.removed_tenants(files, root)
    engine = _engine(sandbox) if tenants or removed else None
    previews = (
        [previewing.preview_tenant(engine, t, allowed) for t in tenants]
        + [previewing.preview_removal(engine, t, allowed) for t in removed]
        if engine
        else []
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "full.md").write_text(previewing.full_markdown(previews))
    (output_dir / "summary.json").write_text(previewing.as_json(previews, validation_errors))
    summary = previewing.summary_markdown(previews, validation_errors, str(output_dir / "full.md"))
    (output_dir / "summary.md").write_text(summary)
    typer.echo(summary, nl=False)
    raise typer.Exit(code=previewing.exit_code(previews, validation_errors))


@app.command()
def destroy(
    stack: Annotated[str, typer.Option("--stack", "-s", help="The tenant stack whose spec was deleted")],
    sandbox: Annotated[bool, typer.Option("--sandbox", help="The stack is one of the local sandbox")] = False,
    allow: Allow = "",
) -> None:
    """Destroy a tenant whose spec was deleted: its servers, DNS records, mailboxes and the mail in them,
    then remove its stack. What the deploy workflow runs after a merge that deletes specs/<stack>.yaml.

    Refused while a spec declares the tenant, and unless stacks/Pulumi.<stack>.yaml sets
    `mailbox-iac:allowDestroy: "true"` or the run allows it (--allow destroy); servers' protection is lifted for this
    run only. The engine's output is shown and kept in .state/logs/<stack>.log. A stack that does not
    exist is nothing to do. Exit 0 destroyed (or nothing to destroy), 1 refused or failed: run it again.
    """
    from pulumi.automation import CommandError

    from mailbox_iac import recovery
    from mailbox_iac.ops import destroy as destroying

    allowed = _allowed(allow)
    engine = _engine(sandbox)
    try:
        with _engine_log(engine, stack) as (say, show, _):
            deleted = destroying.destroy(engine, stack, say, show, allow=allowed)
    except (destroying.DestroyRefused, recovery.StackLocked) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    except CommandError as exc:
        again = f"fix what is named above, then run `mailbox-iac destroy -s {stack}` again"
        _failed(f"destroy of stack {stack!r} failed:", exc, again)
        raise typer.Exit(code=1) from None
    typer.echo(f"{stack}: {deleted} resource(s) deleted", err=True)


@app.command()
def matrix(
    changed_since: Annotated[str | None, typer.Option(help="Only tenants affected since this git ref")] = None,
) -> None:
    """Print a GitHub Actions job matrix, one job per tenant stack (all, or those a change affects), each
    with its `action`: `up`, or `destroy` for a tenant whose spec the change deleted.

    A ref of zeros (GitHub's `before` of a push that created the branch) has nothing to compare with:
    every tenant is in the matrix.
    """
    from mailbox_iac.ops import preview as previewing
    from mailbox_iac.ops.scaleout import github_matrix

    tenants, removed = _tenants("all"), []
    if changed_since and set(changed_since) == {"0"}:
        typer.echo(f"{changed_since}: no previous commit (a new branch): every tenant", err=True)
    elif changed_since:
        root = project.find_root()
        try:
            files = previewing.changed_files(changed_since, root)
        except ValueError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=1) from None
        tenants, removed = previewing.affected_tenants(files, tenants), previewing.removed_tenants(files, root)
    typer.echo(github_matrix(tenants, removed))


@app.command(name="operator-stacks")
def operator_stacks(
    repo: Annotated[str, typer.Option(help="Git URL the operator clones")],
    branch: Annotated[str, typer.Option(help="Branch to follow")] = "main",
    backend: Annotated[
        str, typer.Option(help="Shared Pulumi backend (s3://..., postgres://...)")
    ] = "s3://CHANGE-ME/mailbox-iac",
    namespace: Annotated[str, typer.Option(help="Kubernetes namespace")] = "mailbox-iac",
) -> None:
    """Print Pulumi Kubernetes Operator `Stack` resources, one per tenant (secrets come from a Kubernetes
    Secret named `mailbox-iac`: passphrase, hostwinds-api-key, cloudflare-api-token)."""
    from mailbox_iac.ops.scaleout import operator_stacks as generate

    typer.echo(generate(_tenants("all"), repo, branch, namespace, backend), nl=False)


class DriftFormat(StrEnum):
    markdown = "markdown"
    json = "json"


@app.command()
def drift(
    tenants: Annotated[str, typer.Option(help="`all` or a,b,c")] = "all",
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Stacks of the local sandbox")] = False,
    fmt: Annotated[DriftFormat, typer.Option("--format", help="Report format")] = DriftFormat.markdown,
    ignore_file: Annotated[
        Path | None, typer.Option(help="Known exceptions: [{tenant, type, name}] globs (default: drift-ignore.yaml)")
    ] = None,
) -> None:
    """Report what changed behind our back, read-only: state vs Hostwinds/Cloudflare/the mail host
    (refresh --preview-only), and live DNS vs the records the stack deployed, including records nobody
    declared.

    A tenant with a spec and no stack yet is reported as not deployed, not as an error; spec changes not
    applied yet are counted apart (they are not drift: `mailbox-iac up` applies them).
    Exit code 0 no drift, 2 drift, 1 error. Repair with `mailbox-iac up --refresh`.
    """
    from mailbox_iac import cloudflare_api
    from mailbox_iac.ops import drift as drifting

    engine = _engine(sandbox)
    env = {**os.environ, **engine.env}
    names = _tenants(tenants)
    findings: list[drifting.Finding] = []
    try:
        ignores = drifting.load_ignores(ignore_file or engine.project_dir / "drift-ignore.yaml")
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    cloudflare = cloudflare_api.client(env)
    not_applied = {}

    def read(tenant: str, stack: "Stack") -> None:
        spec = load_file(project.tenant_spec(engine.project_dir, tenant)).tenant
        found, pending = drifting.stack_findings(
            tenant, stack, spec, env.get("MAILBOX_IAC_DNS_RESOLVER"), cloudflare, ignores
        )
        findings.extend(found)
        if pending:
            not_applied[tenant] = pending

    not_deployed, errors = _each_deployed(engine, names, read)
    checked = [t for t in names if t not in not_deployed]
    typer.echo(
        drifting.as_json(findings, not_deployed, not_applied)
        if fmt is DriftFormat.json
        else drifting.as_markdown(findings, checked, not_deployed, not_applied),
        nl=False,
    )
    for error in errors:
        typer.echo(f"error: {error}", err=True)
    if errors:
        typer.echo(
            "next: a tenant named above could not be checked (no outputs yet, or an API refusing "
            "its credentials); fix that and run drift again: the other tenants' findings are above",
            err=True,
        )
    raise typer.Exit(code=1 if errors else 2 if findings else 0)


@app.command()
def health(
    tenants: Annotated[str, typer.Option(help="`all` or a,b,c")] = "all",
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Stacks of the local sandbox (and its DNS)")] = False,
    fmt: Annotated[
        HealthFormat, typer.Option("--format", help="Report format (html: one self-contained page)")
    ] = HealthFormat.text,
    output: Annotated[Path | None, typer.Option(help="Write the report here instead of stdout")] = None,
    resolver: Annotated[
        str | None,
        typer.Option(
            envvar="MAILBOX_IAC_HEALTH_RESOLVER",
            help="host:port of the recursive resolver blocklists are asked through (default: the system's; "
            "public blocklists refuse public resolvers such as 8.8.8.8)",
        ),
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            help="Judge as of this day (YYYY-MM-DD, UTC): the certificates that lapse by then, the bounces "
            "of the 24 h before it"
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            envvar="MAILBOX_IAC_HEALTH_WEBHOOK",
            help="POST each tenant's problems here as JSON (a stack's mailbox-iac:healthWebhook wins for it)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check deployed tenants for what ends a mail domain's life without any change in our state: each
    server address on the IP blocklists (Spamhaus ZEN, Barracuda, SpamCop, Mailspike, PSBL) and each mail
    domain on the domain blocklists (Spamhaus DBL, URIBL); and every certificate its mail hosts serve (25
    and 587 after STARTTLS, 465, 993, the MTA-STS hosts' 443): a warning under 21 days left, an error under
    7; every record the stack deployed, still answered at its zone's servers; each host's 25, 587 and 993
    greeting from here; and, over one SSH session per host, its port 25 out (to health.yaml's
    `outbound_probe`, default aspmx.l.google.com:25), PTR = HELO = A, its deferred queue and its bounces of
    the last 24 h (warnings above health.yaml's `max_deferred`, 25, and `max_bounces_24h`, 10). A list that
    refuses the query (Spamhaus' 127.255.255.x, URIBL's 127.0.0.1) is reported as a resolver problem, never
    as a listing. The lists, probe and thresholds are the project's health.yaml (README: health). Reads the
    stacks' outputs and checkpoints, runs no engine. Check ids: mailbox_iac/checks/catalog.py.

    A tenant with problems is also POSTed, as JSON, to its webhook: its stack's `mailbox-iac:healthWebhook`,
    else --webhook (MAILBOX_IAC_HEALTH_WEBHOOK).

    Exit code 0 healthy, 2 problems found (warnings included), 1 error (a tenant that could not be read, a
    wrong health.yaml, an alert not accepted).
    """
    from mailbox_iac.checks.dns import asking as dns_asking
    from mailbox_iac.checks.login import trusted_tls
    from mailbox_iac.ops import health as checking
    from mailbox_iac.ops import health_config
    from mailbox_iac.program import stack_zones

    if resolver and not re.fullmatch(r".+:\d{1,5}", resolver):
        typer.echo(f"--resolver: {resolver!r} is not host:port (e.g. 127.0.0.1:53)", err=True)
        raise typer.Exit(code=1)
    engine = _engine(sandbox)
    try:
        config = health_config.load(engine.project_dir)
    except SpecInvalid as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    env = {**os.environ, **engine.env}
    if env.get("MAILBOX_IAC_HEALTH_PROBE"):  # the sandbox's receiving MX, or an operator's own
        config = config.model_copy(update={"outbound_probe": env["MAILBOX_IAC_HEALTH_PROBE"]})
    found, webhooks = [], {}

    def read(tenant: str, stack: "Stack") -> None:
        outputs = {k: v.value for k, v in stack.outputs().items()}
        settings = stack.get_all_config()
        found.append(checking.subjects(tenant, outputs, stack.export_stack().deployment, stack_zones(settings)))
        own = settings.get("mailbox-iac:healthWebhook")
        if own or webhook:
            webhooks[tenant] = own.value if own else str(webhook)

    not_deployed, errors = _each_deployed(engine, _tenants(tenants), read)
    now = datetime.now(UTC)
    asking = checking.Asking(
        config,
        dns_asking(resolver or (env.get("MAILBOX_IAC_DNS_RESOLVER") if sandbox else None)),
        env.get("MAILBOX_IAC_DNS_RESOLVER"),
        trusted_tls(env.get("MAILBOX_IAC_TLS_ROOTS")),
        as_of.replace(tzinfo=UTC) if as_of else now,
    )
    results = checking.check(found, asking)
    if fmt is HealthFormat.text:
        report = checking.as_text(results, not_deployed, now)
    else:
        render = checking.as_json if fmt is HealthFormat.json else checking.as_html
        report = render(results, not_deployed, now, checking.mailbox_statuses(results, found))
    if output:
        output.write_text(report)
    else:
        typer.echo(report, nl=False)
    unsent = checking.send_alerts(results, webhooks, now)
    for line in errors + unsent:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code=1 if errors or unsent else 2 if checking.problems(results) else 0)


@app.command()
def export(
    stack: Annotated[str, typer.Option("--stack", "-s", help=STACK_HELP)],
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", help="csv or json (our columns), or a sequencer's import file: instantly-csv, ..."),
    ] = ExportFormat.csv,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="Include the mailbox passwords")] = False,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="A stack of the local sandbox")] = False,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Upsert into a registry database instead: sqlite:///PATH or postgresql://USER@HOST/DB "
            "(tables in mailbox_iac/mailbox_registry.py)",
        ),
    ] = None,
) -> None:
    """Write one row per mailbox (email, SMTP/IMAP settings, from name, daily limit, warm-up) from a
    stack's outputs. instantly-csv, smartlead-csv and emailbison-csv are those sequencers' bulk-import files,
    their headers exactly; their password columns stay empty unless --show-secrets is given.

    With --to, the stack's tenant, servers, domains and mailboxes are upserted into a registry database
    (SQLite or PostgreSQL) instead; rows the stack no longer has are marked deleted, never removed.
    """
    from pulumi.automation import CommandError

    from mailbox_iac import export as exporter
    from mailbox_iac.engine import EngineMissing

    try:
        outputs = _engine(sandbox).existing(stack).outputs()
    except (CommandError, EngineMissing) as exc:
        _failed(f"cannot read stack {stack!r}:", exc, f"check that stack {stack!r} exists: `pulumi stack ls`")
        raise typer.Exit(code=1) from None
    if "mailboxes" not in outputs:
        typer.echo(f"stack {stack!r} has no mailboxes yet: run `pulumi up` for it first", err=True)
        raise typer.Exit(code=1)
    passwords = outputs["mailbox_passwords"].value if show_secrets and "mailbox_passwords" in outputs else None
    if to is not None:
        _to_registry(to, {k: v.value for k, v in outputs.items() if k != "mailbox_passwords"}, passwords)
        return
    table = exporter.rows(outputs["mailboxes"].value, passwords)
    typer.echo(exporter.render(table, fmt.value), nl=False)


def _to_registry(url: str, outputs: dict[str, object], passwords: dict[str, str] | None) -> None:
    """`export --to`: the registry written, or exit 1 naming the database without its password."""
    from urllib.parse import urlsplit

    from mailbox_iac import mailbox_registry

    parts = urlsplit(url)
    shown = url.replace(f":{parts.password}@", "@", 1) if parts.password else url
    try:
        written = mailbox_registry.write(url, outputs, passwords)
    except Exception as exc:  # the database's own errors (psycopg, sqlite3), whatever their class
        message = str(exc).replace(parts.password or "\0", "***")
        typer.echo(f"cannot write the registry {shown}: {message}", err=True)
        raise typer.Exit(code=1) from None
    counts = ", ".join(f"{n} {table}" for table, n in written.items())
    typer.echo(f"registry {shown}: {counts}; passwords {'written' if passwords is not None else 'not written'}")


@app.command(name="settings")
def settings_table() -> None:
    """List every setting mailbox-iac reads: stack configuration keys and environment variables."""
    from mailbox_iac import settings

    typer.echo(settings.markdown(), nl=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of tenant specs (for editors: yaml-language-server modeline)."""
    typer.echo(schema_json())


def main() -> None:
    """Run the command. Usage errors (unknown option, missing argument) exit 1 like every other error:
    exit 2 always means "changes or problems found"."""
    gc.freeze()  # what the imports built lives as long as the process: collections need not walk it again
    lifetime.end_children_on_sigterm()
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except (project.NoProject, project.NoTenant) as exc:  # run outside a checkout, or a stack with no spec
        typer.echo(str(exc), err=True)
        sys.exit(1)
    except Exception as exc:
        show = getattr(exc, "show", None)  # click's UsageError and ClickException (typer may vendor click)
        if not callable(show) or not isinstance(getattr(exc, "exit_code", None), int):
            raise
        show()
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
