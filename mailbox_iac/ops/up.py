"""One tenant's `up` as every driver of ours runs it (`mailbox-iac up -s`, `up --tenants`): the stack held
for this run, what a killed run left behind undone (recovery.py), records already in the zone adopted
(adopt.py), then the engine."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from concurrent import futures
from typing import Any

from pulumi import automation as auto

from mailbox_iac import errors, recovery
from mailbox_iac.engine import Engine
from mailbox_iac.program import adopt_before_up
from mailbox_iac.program import main as tenant_program

# Steps the engine runs at once (`pulumi up --parallel`; the inline program gets as many threads, each
# holding a registration until its step is done). The engine's default, 4 per core, suits steps that
# compute; ours mostly wait on a remote (an SSH command, an API's build, a DNS gate). At 8, a host's
# certificate, the longest step after the build, waited 1-3.5 s behind its mailboxes' creates; at 32, behind
# the other host's, when two hosts finished together (globex: 50 mailboxes and 2 certificates at once).
STEPS_AT_ONCE = 64


def up(
    engine: Engine,
    tenant: str,
    say: Callable[[str], None],
    on_output: Callable[[str], None],
    on_event: Callable[[auto.EngineEvent], None] | None = None,
    refresh: bool = False,
    wait: bool = False,
    selecting: contextlib.AbstractContextManager[Any] | None = None,
    allow: frozenset[str] = frozenset(),
) -> auto.UpResult:
    """`selecting`: held while the stack is selected (runs in one process share the workspace's files);
    `allow`: the run's guard-rail opt-ins (allowances.py)."""
    imports: dict[str, str] = {}
    program = errors.Watched(lambda: tenant_program(engine.project_dir, imports, allow))
    with recovery.exclusive(engine.lock_dir, tenant, wait=wait):
        with selecting or contextlib.nullcontext():
            stack = engine.stack(tenant, program)
        with futures.ThreadPoolExecutor(max_workers=1) as reads:  # a CLI process beside recover's own
            config = reads.submit(stack.get_all_config)
            deployment = {} if stack.created else engine.recover(stack, say)  # a new stack has nothing to undo
            env = {**os.environ, **engine.env}
            imports.update(adopt_before_up(tenant, engine.project_dir, deployment, config.result(), env, say))
        try:
            return stack.up(
                on_output=on_output,
                on_event=on_event,
                show_secrets=False,
                refresh=refresh,
                color="never",
                parallel=STEPS_AT_ONCE,
            )
        except auto.CommandError as exc:
            if program.raised is None:
                raise
            raise program.raised from exc
