"""Shared helpers: tiny valid specs to mutate, and a writer that returns the file path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest_plugins = ["tests.emulators"]

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "tests" / "specs"  # the tests' own tenants (the examples in specs/ are the product's)

BASE_SPEC: dict[str, Any] = {
    "tenant": "tiny",
    "defaults": {"server": {"location": 12, "plan": 52, "image": "debian-12"}},
    "servers": {"mx1": {"hostname": "mail.tiny.example"}},
    "domains": [{"name": "tiny.example", "mailboxes": ["alice", "bob"]}],
}


@pytest.fixture
def spec_data() -> dict[str, Any]:
    return copy.deepcopy(BASE_SPEC)


@pytest.fixture
def write_spec(tmp_path: Path):
    def write(content: dict[str, Any] | str, name: str = "tiny.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return path

    return write


SANDBOX_DIRS = ("e2e", "mailhost")  # real VPS hosts in network namespaces: root, and minutes


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`-m "not sandbox"`: the sub-minute loop without root (what .github/workflows/checks.yml runs)."""
    for item in items:
        if Path(str(item.path)).relative_to(REPO / "tests").parts[0] in SANDBOX_DIRS:
            item.add_marker(pytest.mark.sandbox)
