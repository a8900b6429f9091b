"""The Pulumi engine through the Automation API, with inline programs (no language plugin needed).

Everything that runs `up`, `preview`, `refresh` or `destroy` goes through here so that the rules hold in
one place: the project's `pulumi` and dynamic-provider launcher are on PATH, state goes to the configured
backend, secrets are encrypted with the passphrase, and the CLI never prints secret values.
"""

from __future__ import annotations

import functools
import json
import os
import pickle  # to undo the SDK's patch of pickle; nothing is unpickled here  # nosec B403
import shutil
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode  # the SDK's own modes of opening a stack
from pulumi.dynamic import dynamic

from mailbox_iac import project, recovery

PROJECT = "mailbox-iac"
_SDK_SERIALIZE_PROVIDER = dynamic.serialize_provider
_SERIALIZING = threading.Lock()


def _pickle_own(method: Any) -> Any:
    """pickle's own `_batch_setitems`, under however many sorting wrappers the SDK has stacked on it."""
    while method.__module__ != "pickle":
        cells = dict(zip(method.__code__.co_freevars, method.__closure__ or (), strict=True))
        method = cells["unsorted_batch_setitems"].cell_contents
    return method


def _serialize_provider(provider: Any) -> str:
    """The SDK's dynamic-provider serializer (pulumi 3.272, pulumi/dynamic/dynamic.py) wraps pickle's
    `_Pickler._batch_setitems` in one more sorting layer at every call and never undoes it, and swaps
    `pickle.Pickler` globally. In one process that declares ~1,000 dynamic resources (about 40 tenants in
    one `up --tenants` run, whose programs all run inline here) that ends in RecursionError. Each call now
    starts from pickle's own method, one at a time; the bytes it produces are unchanged."""
    with _SERIALIZING:
        pickle._Pickler._batch_setitems = _pickle_own(pickle._Pickler._batch_setitems)  # type: ignore[attr-defined]
        result: str = _SDK_SERIALIZE_PROVIDER(provider)
        return result


dynamic.serialize_provider = _serialize_provider


class EngineMissing(RuntimeError):
    pass


def pulumi_bin_dir() -> Path:
    """The directory holding `pulumi` and `pulumi-resource-pulumi-python` (the project's .venv/bin)."""
    venv_bin = Path(sys.prefix) / "bin"
    if (venv_bin / "pulumi").exists() and (venv_bin / "pulumi-resource-pulumi-python").exists():
        return venv_bin
    found = shutil.which("pulumi")
    if found and shutil.which("pulumi-resource-pulumi-python"):
        return Path(found).parent
    raise EngineMissing("no Pulumi engine found: run `bash scripts/bootstrap` (it builds or finds one)")


@functools.cache
def _pulumi_command(root: str) -> auto.PulumiCommand:
    """The CLI under `root`, whose version the Automation API checks (a `pulumi version` process) once per
    process rather than for every stack opened."""
    return auto.PulumiCommand(root=root)


class _Workspace(auto.LocalWorkspace):
    """The SDK's local workspace, reading a stack's outputs (after every `up`, and for `Stack.outputs()`)
    with its two `stack output` processes, masked and revealed, side by side instead of one after the other."""

    MASK = "[secret]"  # what the masked listing shows for a secret output

    def stack_outputs(self, stack_name: str) -> auto.OutputMap:
        argv = ["stack", "output", "--json", "--stack", stack_name]

        def listing(extra: list[str]) -> dict[str, Any]:
            return dict(json.loads(self._run_pulumi_cmd_sync([*argv, *extra]).stdout))

        with futures.ThreadPoolExecutor(max_workers=2) as pool:
            masked, revealed = pool.map(listing, ([], ["--show-secrets"]))
        return {k: auto.OutputValue(value=v, secret=masked.get(k) == self.MASK) for k, v in revealed.items()}


class EngineStack(auto.Stack):
    """The SDK's stack, opened with one CLI process fewer, whose `up` reads its summary beside its outputs.

    - Opening: the SDK runs `pulumi stack select` (and `stack init` after that fails, for a new stack),
      although every command it runs names the stack. In a file backend, a stack exists when its
      checkpoint file does: an existing one opens with no process (`mode` None), a new one with
      `stack init` alone (`created`).
    - After the engine, `Stack.up` reads the outputs, then its summary (the last history entry), each a CLI
      process of about 0.4 s, one after the other: here the summary is read while the outputs are."""

    def __init__(self, name: str, workspace: auto.Workspace, mode: StackInitMode | None) -> None:
        if mode is None:  # what the SDK's constructor keeps, without its `stack select`
            self.name, self.workspace, self._mode = name, workspace, StackInitMode.SELECT
        else:
            super().__init__(name, workspace, mode)
        self.created = mode is StackInitMode.CREATE
        self._summarizing: bool | None = None  # during `up`: the `show_secrets` its summary is read with
        self._summary: tuple[bool, auto.UpdateSummary | None] | None = None

    def up(self, *args: Any, **kwargs: Any) -> auto.UpResult:
        self._summarizing = bool(kwargs.get("show_secrets", True)) and not self._remote
        try:
            return super().up(*args, **kwargs)
        finally:
            self._summarizing, self._summary = None, None

    def outputs(self) -> auto.OutputMap:
        if self._summarizing is None:
            return super().outputs()
        with futures.ThreadPoolExecutor(max_workers=1) as pool:
            summary = pool.submit(super().info, self._summarizing)
            outputs = super().outputs()
            self._summary = (self._summarizing, summary.result())
        return outputs

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        if self._summary is not None and self._summary[0] == show_secrets:
            (_, summary), self._summary = self._summary, None
            return summary
        return super().info(show_secrets)


@dataclass(frozen=True)
class Engine:
    """Where state lives and how it is protected. `backend_url` is e.g. `file:///path` or `s3://...`;
    `project_dir` holds the Pulumi.yaml (the repository root, whose stack config lives in `stacks/`).
    The secrets provider is Pulumi's own choice: the stack file's `secretsprovider` (awskms://, gcpkms://,
    azurekeyvault://, hashivault://, Pulumi Cloud's) or, without one, the backend's default (a passphrase
    for a file or bucket backend: `passphrase`, else PULUMI_CONFIG_PASSPHRASE[_FILE] in the environment)."""

    backend_url: str
    project_dir: Path
    passphrase: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def local(
        cls,
        state_dir: Path,
        project_dir: Path | None = None,
        passphrase: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Engine:
        """A file backend under `state_dir` (development, tests, the sandbox). Without `project_dir`, a
        minimal project is made under `state_dir` (tests that must not touch the repository's stacks/)."""
        (state_dir / "backend").mkdir(parents=True, exist_ok=True)
        if project_dir is None:
            project_dir = state_dir / "project"
            project_dir.mkdir(parents=True, exist_ok=True)
            if not (project_dir / "Pulumi.yaml").exists():
                (project_dir / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n")
        return cls(project.local_backend_url(state_dir), project_dir, passphrase, dict(env or {}))

    @classmethod
    def for_project(cls, project_dir: Path, env: Mapping[str, str] | None = None) -> Engine:
        """The repository's engine, with the backend Pulumi would pick: PULUMI_BACKEND_URL, else
        `backend.url` in Pulumi.yaml (a team's shared one), else the local file backend in `.state/`."""
        shared = os.environ.get("PULUMI_BACKEND_URL") or project.backend_url(project_dir)
        if shared:
            return cls(shared, project_dir, env=dict(env or {}))
        return cls.local(project_dir / ".state", project_dir, env=env)

    def env_vars(self) -> dict[str, str]:
        bin_dir = pulumi_bin_dir()
        passphrase = {"PULUMI_CONFIG_PASSPHRASE": self.passphrase} if self.passphrase is not None else {}
        return {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PULUMI_BACKEND_URL": self.backend_url,
            "PULUMI_PYTHON_CMD": sys.executable,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            **passphrase,
            **self.env,
        }

    def _workspace(self, program: Callable[[], None]) -> _Workspace:
        """The project's workspace (its Pulumi.yaml is in `project_dir`) running `program` inline."""
        return _Workspace(
            work_dir=str(self.project_dir),
            program=program,
            env_vars=self.env_vars(),
            pulumi_command=_pulumi_command(str(pulumi_bin_dir().parent)),
        )

    def stack(
        self,
        name: str,
        program: Callable[[], None],
        config: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> EngineStack:
        """Create or select a stack running `program` inline, with the given config set on it."""
        self._repair(name)
        workspace = self._workspace(program)
        found = recovery.checkpoint_found(self.backend_url, PROJECT, name)
        if found is None:
            stack = EngineStack(name, workspace, StackInitMode.CREATE_OR_SELECT)
        else:
            try:
                stack = EngineStack(name, workspace, None if found else StackInitMode.CREATE)
            except auto.StackAlreadyExistsError:  # made by another process since
                stack = EngineStack(name, workspace, None)
        values = {k: auto.ConfigValue(v) for k, v in (config or {}).items()}
        values |= {k: auto.ConfigValue(v, secret=True) for k, v in (secrets or {}).items()}
        if values:
            stack.set_all_config(values)
        return stack

    @property
    def lock_dir(self) -> Path:
        """Where runs of this checkout hold their stacks (`recovery.exclusive`)."""
        return self.project_dir / ".state" / "locks"

    def _repair(self, name: str) -> None:
        recovery.repair_sidecars(self.backend_url, PROJECT, name, lambda line: print(line, file=sys.stderr))

    def recover(self, stack: auto.Stack, say: Callable[[str], None]) -> dict[str, Any]:
        """Undo what a killed run left behind before the next `up`: stale engine locks and pending
        operations (see recovery.py). Call it while holding `recovery.exclusive` for the stack.
        Returns the stack's checkpoint as it now is."""
        recovery.break_stale_locks(self.backend_url, PROJECT, stack.name, say)
        deployment = stack.export_stack()
        cleaned, pending = recovery.without_pending(deployment.deployment or {})
        if pending:
            stack.import_stack(auto.Deployment(version=deployment.version, deployment=cleaned))
            say(
                f"stack {stack.name!r}: a run that was interrupted left {len(pending)} operation(s) unfinished "
                f"({', '.join(pending[:4])}{', ...' if len(pending) > 4 else ''}); this run does them again, "
                "finding what they had already made"
            )
        return cleaned

    def existing(self, name: str) -> EngineStack:
        """An existing stack, for reading its outputs (raises `StackNotFoundError`)."""
        self._repair(name)
        found = recovery.checkpoint_found(self.backend_url, PROJECT, name)
        if found is False:
            raise auto.StackNotFoundError(auto.CommandResult("", f"error: no stack named '{name}' found", 255))
        return EngineStack(name, self._workspace(lambda: None), None if found else StackInitMode.SELECT)
