"""Where the project is: the directory holding its `Pulumi.yaml`, found from any subdirectory the way
Pulumi finds it, so a command run from `specs/` never writes a second `Pulumi.yaml` or `.state/` there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

PROJECT_FILE = "Pulumi.yaml"


class NoProject(RuntimeError):
    pass


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` (default: the working directory) with a Pulumi.yaml."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / PROJECT_FILE).is_file():
            return directory
    raise NoProject(
        f"no {PROJECT_FILE} in {here} or any directory above it: run this inside a mailbox-iac checkout "
        "(the directory with Pulumi.yaml, specs/ and stacks/)"
    )


def settings(root: Path) -> dict[str, Any]:
    """Pulumi.yaml's contents (e.g. `backend.url`, which Pulumi itself honours)."""
    data = yaml.safe_load((root / PROJECT_FILE).read_text()) or {}
    return data if isinstance(data, dict) else {}


def backend_url(root: Path) -> str | None:
    backend = settings(root).get("backend")
    url = backend.get("url") if isinstance(backend, dict) else None
    return str(url) if url else None


def local_backend_url(state_dir: Path) -> str:
    """The file backend kept under `state_dir` (`.state/` of a checkout, `.state/sandbox/` of the sandbox)."""
    return f"file://{(state_dir / 'backend').resolve()}"


class NoTenant(ValueError):
    pass


def stack_file(root: Path, stack: str) -> Path:
    return root / "stacks" / f"Pulumi.{stack}.yaml"


def _spec_of(root: Path, stack: str) -> Path:
    """Where a stack's spec is: `mailbox-iac:spec` in its stack file, else specs/<stack>.yaml."""
    config: Any = {}
    if stack_file(root, stack).is_file():
        data = yaml.safe_load(stack_file(root, stack).read_text())
        config = (data.get("config") if isinstance(data, dict) else None) or {}
    return root / str(config.get("mailbox-iac:spec") or f"specs/{stack}.yaml")


def tenant_spec(root: Path, stack: str) -> Path:
    """The spec of a tenant stack. A stack without one is refused before anything (a stack, a stack file)
    is created for it."""
    spec = _spec_of(root, stack)
    if not spec.is_file():
        known = ", ".join(tenant_stacks(root)) or "none"
        raise NoTenant(
            f"stack {stack!r} has no tenant spec: {os.path.relpath(spec, root)} does not exist (tenant stacks here: "
            f"{known}). To add a tenant, write specs/{stack}.yaml first (README: Add a tenant)."
        )
    return spec


def tenant_stacks(root: Path) -> list[str]:
    """Every stack in stacks/ whose spec exists: the tenants of `--tenants all`."""
    names = (p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (root / "stacks").glob("Pulumi.*.yaml"))
    return sorted(n for n in names if _spec_of(root, n).is_file())
