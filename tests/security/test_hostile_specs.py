"""A corpus of hostile specs (tests/security/hostile/): each ends in a clean validation error that names the
file, the line and the field, with exit code 1 and no traceback. Files too big to keep in git are made here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailbox_iac.cli import app
from tests.conftest import REPO

CORPUS = Path(__file__).parent / "hostile"


def refused(path: Path, expect: str) -> str:
    """`mailbox-iac validate` in this process (the corpus is large; test_cli runs the real command)."""
    result = CliRunner().invoke(app, ["validate", str(path)])
    out = result.stdout + result.stderr
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (out, result.exception)
    assert "Traceback" not in out
    assert expect in out, out
    return out


def test_the_real_command_refuses_too() -> None:
    path = sorted(CORPUS.glob("*.yaml"))[0]
    result = subprocess.run(
        [sys.executable, "-m", "mailbox_iac", "validate", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 1 and f"{path}:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_hostile_spec_is_refused_with_its_line(path: Path) -> None:
    expect = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect: ")
    out = refused(path, expect)
    assert f"{path}:" in out or f"{path.relative_to(REPO)}:" in out  # FILE:LINE:COL


def test_another_tenants_domain_is_refused() -> None:
    out = refused(CORPUS / "another-tenant", "already belongs to tenant 'alpha'")
    assert "mallory.yaml:11:5: domains[0].name: domain 'shared.example'" in out


def test_ten_megabyte_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("tenant: huge\n# " + "x" * (10 * 1024 * 1024) + "\n")
    refused(path, "larger than 4 MiB")


@pytest.mark.parametrize(
    "text", ["[" * 5000 + "]" * 5000, "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 200))], ids=["flow", "block"]
)
def test_deep_nesting_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    refused(path, "nesting")  # ours at 32 levels, or libyaml's own limit first


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(bytes(range(256)) * 64)
    refused(path, "garbage.yaml:")
