"""Spec errors that name file, line, column and field, so a person can act on them."""

from __future__ import annotations

from dataclasses import dataclass

from mailbox_iac.errors import Permanent

# A location inside a YAML document: ("domains", 0, "mailboxes", 3, "local").
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class SpecError:
    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        field = f"{self.field}: " if self.field else ""
        return f"{self.path}:{self.line}:{self.column}: {field}{self.message}"

    def as_dict(self) -> dict[str, str | int]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


class SpecInvalid(Permanent):
    """Every error found in one or more spec files, reported together."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.path, e.line, e.column, e.field))
        super().__init__("\n".join(str(e) for e in self.errors))


def field_name(loc: Loc) -> str:
    """`("domains", 0, "name")` -> `domains[0].name`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
