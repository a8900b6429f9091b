"""The published JSON Schema says what the loader says: check-jsonschema (a validator we did not write)
and `mailbox-iac validate` give the same verdict on every example spec and every hostile-corpus file, and
each name pattern in the schema accepts exactly the strings its loader function accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbox_iac.dns import spf
from mailbox_iac.spec import names
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file
from tests.conftest import REPO

SCHEMA = REPO / "schema" / "tenant.schema.json"
CHECK_JSONSCHEMA = shutil.which("check-jsonschema") or str(
    Path(__import__("sys").executable).parent / "check-jsonschema"
)
HOSTILE = REPO / "tests" / "security" / "hostile"
FILES = sorted(
    [*(REPO / "specs").glob("*.yaml"), *HOSTILE.glob("*.yaml"), *(HOSTILE / "another-tenant").glob("*.yaml")]
)


def schema_accepts(path: Path) -> bool:
    result = subprocess.run(
        [CHECK_JSONSCHEMA, "--schemafile", str(SCHEMA), str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


def loader_accepts(path: Path) -> bool:
    try:
        load_file(path)
    except SpecInvalid:
        return False
    return True


def test_check_jsonschema_accepts_every_example_spec() -> None:
    examples = sorted((REPO / "specs").glob("*.yaml"))
    result = subprocess.run(
        [CHECK_JSONSCHEMA, "--schemafile", str(SCHEMA), *map(str, examples)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_schema_and_loader_agree(path: Path) -> None:
    assert schema_accepts(path) == loader_accepts(path)


def accepts(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


# Strings near the edges: the allowed characters, the ones that must be refused, and the structure (dots, @).
TEXT = st.text(alphabet="ab09-_.@+{}domainAZ \n\t\x00\x7fé/", max_size=70)
LONG = st.builds(
    lambda label, n: ".".join([label] * n), st.sampled_from(["a" * 63, "a" * 64, "b1", "9"]), st.integers(1, 5)
)
PAIRS = [
    (names.HOSTNAME_PATTERN, names.check_hostname),
    (names.LOCAL_PART_PATTERN, names.check_local_part),
    (names.ADDRESS_PATTERN, names.check_address),
    (names.DISPLAY_NAME_PATTERN, names.check_display_name),
    (names.IDENTIFIER_PATTERN, lambda v: names.check_identifier(v, "id")),
]


@pytest.mark.parametrize(("pattern", "check"), PAIRS, ids=["hostname", "local", "address", "display", "identifier"])
@settings(max_examples=600, deadline=None)
@given(value=st.one_of(TEXT, LONG, st.builds(lambda a, b: f"{a}@{b}", TEXT, LONG)))
def test_name_pattern_matches_its_check(pattern: str, check: Callable[[str], object], value: str) -> None:
    assert bool(re.search(pattern, value)) == accepts(check, value)


@pytest.mark.parametrize(
    "value", ["demo\n", "mail.example.com\n", "ada\n", "x@example.com\n", "include:evil.example\n", "a/24\n"]
)
def test_a_final_newline_is_refused_by_both(value: str) -> None:
    checks = [names.check_hostname, names.check_local_part, names.check_address, spf.check_term]
    assert not any(accepts(c, value) for c in checks)
    assert not any(
        re.search(p, value)
        for p in (names.HOSTNAME_PATTERN, names.LOCAL_PART_PATTERN, names.ADDRESS_PATTERN, spf.SPF_TERM_PATTERN)
    )
