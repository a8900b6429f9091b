"""The server backends a spec may name (`servers.<name>.backend`), by name. Adding one: a line here."""

from __future__ import annotations

from mailbox_iac.servers.backend import ServerBackend
from mailbox_iac.servers.hostwinds import Hostwinds

_BACKENDS: dict[str, ServerBackend] = {"hostwinds": Hostwinds()}


class UnknownBackend(KeyError):
    pass


def register(backend: ServerBackend) -> None:
    """Make `backend` available under its name (tests register their double this way)."""
    _BACKENDS[backend.name] = backend


def get(name: str) -> ServerBackend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise UnknownBackend(f"unknown server backend {name!r} (known: {', '.join(known())})") from None


def known() -> list[str]:
    return sorted(_BACKENDS)


def by_module(module: str) -> ServerBackend | None:
    """The backend whose resources carry the type-token module `module` (drift's layer of a finding)."""
    return next((b for b in _BACKENDS.values() if b.module == module), None)


def by_server_type(type_token: str) -> ServerBackend | None:
    return next((b for b in _BACKENDS.values() if b.server_type == type_token), None)
