"""The kinds of failure a run ends in: permanent (running again cannot help), a guard-rail violation (a
permanent kind: a safety rule refused the change and names its opt-in), or transient (a retry may succeed).

Raised in our own process, an error is known by its class. What a provider raises reaches us only as the
engine's text, where the class name heads the exception line of its traceback: `kind_of` looks for the
names of every `Permanent` subclass there. The inline program's errors are remembered by `Watched`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    permanent = "permanent"
    violation = "violation"
    transient = "transient"


class Permanent(Exception):
    """Running again cannot fix it until someone changes the spec, the stack or the world."""


class GuardRailViolation(Permanent):
    """A safety rule refused the change (changes.py, a backend's replacement rule); the message names the opt-in."""


ENGINE_PERMANENT = ("the stack is currently locked",)  # the engine's own refusal: another run holds its lock


def _subclasses(cls: type) -> list[type]:
    direct: list[type] = cls.__subclasses__()
    return [sub for d in direct for sub in (d, *_subclasses(d))]


def _named(text: str, cls: type) -> bool:
    return any(re.search(rf"\b{sub.__name__}\b", text) for sub in (cls, *_subclasses(cls)))


def kind_of(exc: BaseException) -> Kind:
    if isinstance(exc, GuardRailViolation):
        return Kind.violation
    if isinstance(exc, Permanent):
        return Kind.permanent
    text = str(exc)
    if _named(text, GuardRailViolation):
        return Kind.violation
    if _named(text, Permanent) or any(marker in text for marker in ENGINE_PERMANENT):
        return Kind.permanent
    return Kind.transient


@dataclass
class Watched:
    """An inline program that remembers the permanent error it raised: the engine hands only its text on,
    and a `pulumi.RunError` prints without its class name."""

    program: Callable[[], None]
    raised: Permanent | None = None

    def __call__(self) -> None:
        try:
            self.program()
        except Permanent as exc:
            self.raised = exc
            raise

    def failure(self, exc: BaseException) -> BaseException:
        """What a run that failed with `exc` failed of: the program's own error when it raised one."""
        return self.raised or exc
