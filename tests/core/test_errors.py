"""Failures by kind: our own exceptions by class, a provider's through the engine's text by class name, the
inline program's remembered; never by the wording of a message."""

from __future__ import annotations

import pytest

from hostwinds_dynamic.client import HostwindsInputError, HostwindsTransientError
from mailbox_iac import errors
from mailbox_iac.adopt import AdoptionConflict
from mailbox_iac.program import ProgramError
from mailbox_iac.recovery import StackLocked
from mailbox_iac.spec.errors import SpecInvalid

ENGINE_TEXT = """Diagnostics:
  pulumi-python:dynamic:Resource (change-budget):
    error: Traceback (most recent call last):
      File "/x/pulumi/dynamic/__main__.py", line 229, in Diff
        result = provider.diff(request.id, olds, news)
    {name}: tenant acme: 4 of 10 mailboxes (40%) would be deleted or replaced
"""


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (errors.GuardRailViolation("x"), errors.Kind.violation),
        (ProgramError("stack acme may only manage acme.com"), errors.Kind.permanent),
        (StackLocked("held"), errors.Kind.permanent),
        (AdoptionConflict("records in the way"), errors.Kind.permanent),
        (SpecInvalid([]), errors.Kind.permanent),
        (HostwindsInputError("add_instance", "bad location"), errors.Kind.permanent),
        (HostwindsTransientError("add_instance", "busy"), errors.Kind.transient),
        (TimeoutError("slow"), errors.Kind.transient),
    ],
)
def test_our_exceptions_by_class(exc: BaseException, kind: errors.Kind) -> None:
    assert errors.kind_of(exc) is kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("mailbox_iac.errors.GuardRailViolation", errors.Kind.violation),
        ("hostwinds_dynamic.client.HostwindsInputError", errors.Kind.permanent),
        ("hostwinds_dynamic.client.HostwindsTransientError", errors.Kind.transient),
        ("ConnectionResetError", errors.Kind.transient),
        ("NotAGuardRailViolationError", errors.Kind.transient),  # a name must be whole
    ],
)
def test_a_providers_exception_by_the_class_name_the_engine_printed(name: str, kind: errors.Kind) -> None:
    assert errors.kind_of(RuntimeError(ENGINE_TEXT.format(name=name))) is kind


def test_the_engines_own_lock_refusal_is_permanent() -> None:
    assert errors.kind_of(RuntimeError("error: the stack is currently locked by 1 lock(s)")) is errors.Kind.permanent


def test_an_inline_program_remembers_its_permanent_error() -> None:
    def program() -> None:
        raise ProgramError("stack acme may only manage acme.com")

    watched = errors.Watched(program)
    with pytest.raises(ProgramError):
        watched()
    engine_failure = RuntimeError("error: stack acme may only manage acme.com")  # no class name: a RunError
    assert errors.kind_of(engine_failure) is errors.Kind.transient
    assert errors.kind_of(watched.failure(engine_failure)) is errors.Kind.permanent
