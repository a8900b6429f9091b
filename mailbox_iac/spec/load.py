"""Read spec files: YAML with positions -> pydantic model -> resolved tenant, all errors at once."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from mailbox_iac.spec import model
from mailbox_iac.spec.errors import Loc, SpecError, SpecInvalid
from mailbox_iac.spec.resolve import Tenant, resolve
from mailbox_iac.spec.yamlpos import MAX_BYTES, Document, parse_yaml


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside `X | None`, `list[X]`, `dict[str, X]` or `Annotated[X, ...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in reversed(typing.get_args(annotation)):
        found = _model_in(arg)
        if found:
            return found
    return None


def _fields_at(loc: Loc, root: type[BaseModel]) -> list[str]:
    """Field names allowed in the mapping at `loc` (list indexes and dict keys are stepped over)."""
    current: type[BaseModel] | None = root
    for part in loc:
        if current is None:
            return []
        if isinstance(part, str) and part in current.model_fields:
            current = _model_in(current.model_fields[part].annotation)
    return list(current.model_fields) if current else []


@dataclass(frozen=True)
class LoadedSpec:
    doc: Document
    spec: model.TenantSpec
    tenant: Tenant

    @property
    def warnings(self) -> list[SpecError]:
        """Valid, but receivers will not do what the spec seems to want: said, never refused."""
        return [self.doc.error(loc, message) for loc, message in self.tenant.warnings]


def _message(err: dict[str, object], root: type[BaseModel]) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        loc = err["loc"]
        if not isinstance(loc, tuple):
            return msg
        allowed = _fields_at(loc[:-1], root)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        return "unknown field " + (f"(did you mean {close[0]!r}?)" if close else f"(allowed: {', '.join(allowed)})")
    if kind == "missing":
        return "required field is missing"
    return msg.removeprefix("Value error, ")


def _validation_errors(doc: Document, exc: ValidationError, root: type[BaseModel]) -> list[SpecError]:
    out = []
    for err in exc.errors():
        loc: Loc = tuple(p for p in err["loc"] if p != "[key]" and not str(p).startswith("function-"))
        out.append(doc.error(loc, _message(dict(err), root)))
    return out


M = typing.TypeVar("M", bound=BaseModel)


def validated(path: Path, root: type[M]) -> M:
    """Any YAML file of ours (a spec, health.yaml) read as `root`, with the spec's limits and its
    `FILE:LINE:COL: field: message` errors, all at once (`SpecInvalid`)."""
    doc, errors = _document(path)
    found = _model(doc, errors, root)
    if errors:
        raise SpecInvalid(errors)
    return found


def _model(doc: Document, errors: list[SpecError], root: type[M]) -> M:
    try:
        return root.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecInvalid(errors + _validation_errors(doc, exc, root)) from None


def _document(path: Path) -> tuple[Document, list[SpecError]]:
    """The file parsed with positions and the errors found on the way; `SpecInvalid` when there is nothing
    to validate (unreadable, too big, not UTF-8, empty)."""
    name = str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SpecInvalid(
                [SpecError(name, 1, 1, "", f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB; split the tenant")]
            )
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecInvalid([SpecError(name, 1, 1, "", f"file is not UTF-8 text (byte {exc.start})")]) from None
    except OSError as exc:
        raise SpecInvalid([SpecError(name, 1, 1, "", f"cannot read file: {exc.strerror}")]) from None
    doc, errors = parse_yaml(name, text)
    if doc.data is None:
        raise SpecInvalid(errors or [SpecError(name, 1, 1, "", "the document is empty (null); a spec is a mapping")])
    return doc, errors


def load_file(path: Path) -> LoadedSpec:
    """Load and validate one tenant spec; raises `SpecInvalid` with every error found in it."""
    doc, errors = _document(path)
    spec = _model(doc, errors, model.TenantSpec)
    tenant, problems = resolve(spec)
    errors += [doc.error(loc, message) for loc, message in problems]
    if errors:
        raise SpecInvalid(errors)
    return LoadedSpec(doc, spec, tenant)


def spec_files(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus `*.yaml`/`*.yml` directly inside named directories."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
        else:
            out.append(p)
    return out


def _ownership_errors(loaded: list[LoadedSpec]) -> list[SpecError]:
    """A tenant id, domain, zone or server hostname belongs to exactly one spec (tenant isolation)."""
    errors = []
    owners: dict[tuple[str, str], tuple[LoadedSpec, Loc]] = {}

    def claim(kind: str, value: str, ls: LoadedSpec, loc: Loc) -> None:
        first = owners.setdefault((kind, value), (ls, loc))
        if first[0] is not ls:
            other, other_loc = first
            line = other.doc.position(other_loc)[0]
            errors.append(
                ls.doc.error(
                    loc, f"{kind} {value!r} already belongs to tenant {other.tenant.tenant!r} ({other.doc.path}:{line})"
                )
            )

    for ls in loaded:
        claim("tenant id", ls.tenant.tenant, ls, ("tenant",))
        for name, server in ls.tenant.servers.items():
            claim("server hostname", server.hostname, ls, ("servers", name, "hostname"))
        for i, d in enumerate(ls.tenant.domains):
            claim("domain", d.name, ls, ("domains", i, "name"))
            claim("zone", d.zone, ls, ("domains", i, "zone" if d.zone != d.name else "name"))
    return errors


def load_paths(paths: Iterable[Path]) -> list[LoadedSpec]:
    """Load every spec under `paths` and check them against each other; raises with all errors."""
    files = spec_files(paths)
    if not files:
        raise SpecInvalid([SpecError(str(p), 1, 1, "", "no spec files (*.yaml) found") for p in paths])
    loaded, errors = [], []
    for f in files:
        try:
            loaded.append(load_file(f))
        except SpecInvalid as exc:
            errors += exc.errors
    errors += _ownership_errors(loaded)
    if errors:
        raise SpecInvalid(errors)
    return loaded
