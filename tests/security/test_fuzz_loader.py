"""The spec loader fuzzed with hypothesis: whatever the bytes, the answer is a spec or a clean SpecInvalid
naming a position; and whatever the loader accepts can be planned and rendered into mail-server files."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbox_iac.mailhost import render
from mailbox_iac.plan.planner import plan
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import LoadedSpec, load_file
from tests.conftest import BASE_SPEC

FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
YAML_BITS = st.sampled_from(
    [
        "tenant:",
        "domains:",
        "- ",
        "name:",
        "mailboxes:",
        "&a",
        "*a",
        "!!",
        "{",
        "}",
        "[",
        "]",
        ":",
        "\n",
        "  ",
        "'",
        '"',
        "#",
        "|",
        ">",
        "%YAML 1.1\n",
        "---\n",
        "\\",
        "\t",
        "?",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=80),
    st.sampled_from(["ada", "a.example", "mail.a.example", "../x", "x\ny", "", "*", "@", "-1", "1e999"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def load_text(text: str) -> LoadedSpec | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_file(path)
        except SpecInvalid as exc:
            assert exc.errors, "SpecInvalid without an error"
            for err in exc.errors:
                assert err.line >= 1 and err.column >= 1 and str(err).startswith(str(path))
            return None


def planned_and_rendered(loaded: LoadedSpec) -> None:
    state = plan(loaded.tenant)
    for mailhost in state.mailhosts:
        keys = {(d, s): "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n" for d, s in mailhost.dkim}
        render.render(mailhost, keys)


@FUZZ
@given(st.lists(st.one_of(YAML_BITS, st.text(max_size=10)), max_size=40).map("".join))
def test_any_text_is_a_spec_or_a_clean_error(text: str) -> None:
    loaded = load_text(text)
    if loaded is not None:
        planned_and_rendered(loaded)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


ALL_PATHS = _paths(BASE_SPEC)[1:]


@FUZZ
@given(st.sampled_from(ALL_PATHS), VALUES, st.sampled_from([None, "name", "display", "ttl", "quota_mb", "aliases"]))
def test_mutated_spec_is_a_spec_or_a_clean_error(path: tuple[Any, ...], value: Any, extra: str | None) -> None:
    data = copy.deepcopy(BASE_SPEC)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    if extra and isinstance(parent, dict):
        parent[extra] = value
    loaded = load_text(yaml.safe_dump(data, allow_unicode=True))
    if loaded is not None:
        planned_and_rendered(loaded)
