"""The loader: every error names file, line, column and field; all errors of a file at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mailbox_iac.spec import yamlpos
from mailbox_iac.spec.errors import SpecInvalid
from mailbox_iac.spec.load import load_file, load_paths
from mailbox_iac.spec.yamlpos import MAX_BYTES


def errors_of(path: Path) -> list[str]:
    with pytest.raises(SpecInvalid) as info:
        load_file(path)
    return [str(e) for e in info.value.errors]


def test_valid_spec_loads(write_spec, spec_data) -> None:
    loaded = load_file(write_spec(spec_data))
    assert loaded.tenant.tenant == "tiny"
    assert [m.address for m in loaded.tenant.domains[0].mailboxes] == ["alice@tiny.example", "bob@tiny.example"]


def test_duplicate_key_names_both_lines(write_spec) -> None:
    text = "tenant: tiny\nservers: {}\ndomains: []\ntenant: other\n"
    [err] = errors_of(write_spec(text))
    assert err.endswith(
        "tiny.yaml:4:1: tenant: duplicate key 'tenant' (first defined on line 1); "
        "YAML would silently keep only the last one"
    )


def test_duplicate_nested_key_is_caught(write_spec) -> None:
    text = (
        "tenant: tiny\nservers:\n  mx1: {hostname: mail.tiny.example, location: 1, plan: 1, image: x}\n"
        "domains:\n  - name: tiny.example\n    mailboxes: [a]\n    mailboxes: [b]\n"
    )
    [err] = errors_of(write_spec(text))
    assert ":7:5: domains[0].mailboxes: duplicate key 'mailboxes'" in err


def test_unknown_field_suggests_the_close_one(write_spec, spec_data) -> None:
    spec_data["domains"][0]["mailboxs"] = []
    [err] = errors_of(write_spec(spec_data))
    assert ":15:3: domains[0].mailboxs: unknown field (did you mean 'mailboxes'?)" in err


def test_yaml_syntax_error_has_position(write_spec) -> None:
    [err] = errors_of(write_spec("tenant: tiny\ndomains: [\n  - a\n"))
    assert ":3:3: YAML error:" in err


def test_newline_in_local_part(write_spec, spec_data) -> None:
    spec_data["domains"][0]["mailboxes"] = ["alice", "evil\nmailbox"]
    [err] = errors_of(write_spec(spec_data))
    assert "domains[0].mailboxes[1].local: local part 'evil\\nmailbox' is not allowed" in err


def test_wrong_type_and_missing_field_are_all_reported(write_spec, spec_data) -> None:
    spec_data["defaults"]["server"]["plan"] = "fifty two"
    del spec_data["servers"]["mx1"]["hostname"]
    errs = errors_of(write_spec(spec_data))
    assert any("defaults.server.plan: expected a positive number or a name" in e for e in errs)
    assert any("servers.mx1.hostname: required field is missing" in e for e in errs)


def test_aliases_are_refused(write_spec) -> None:
    bomb = 'tenant: tiny\na: &a ["x","x","x"]\nb: &b [*a,*a,*a]\nc: [*b,*b,*b]\nservers: {}\ndomains: []\n'
    [err] = errors_of(write_spec(bomb))
    assert ":3:8: YAML error: YAML aliases (*name) are not allowed" in err


def test_a_scalar_alias_is_refused_where_it_stands(write_spec, spec_data) -> None:
    """libyaml composes an alias into the very node its anchor names: found as a node met twice."""
    text = "tenant: &t tiny\nservers: {}\ndomains:\n  - name: tiny.example\n    mailboxes: [*t]\n"
    [err] = errors_of(write_spec(text))
    assert ":5:17: YAML error: YAML aliases (*name) are not allowed" in err


@pytest.mark.parametrize(
    ("text", "where"), [("a: &x foo\n*x : bar\n", ":2:1:"), ("&k tenant: tiny\n*k : other\n", ":2:1:")]
)
def test_an_alias_as_a_key_is_refused(write_spec, text: str, where: str) -> None:
    [err] = errors_of(write_spec(text))
    assert f"{where} YAML error: YAML aliases (*name) are not allowed" in err


@pytest.mark.parametrize(
    ("levels", "message"),
    [(33, "nesting deeper than 32 levels"), (100, "nesting deeper than 32 levels"), (5000, "exceeded maximum nesting")],
)
def test_deep_nesting_is_refused(write_spec, levels: int, message: str) -> None:
    """Past 1,000 levels libyaml's scanner refuses first, before any node is built."""
    [err] = errors_of(write_spec("tenant: " + "[" * levels + "]" * levels + "\n"))
    assert re.search(r"\.yaml:1:\d+: YAML error: " + message, err)


def test_nesting_at_the_limit_reaches_validation(write_spec) -> None:
    [err] = errors_of(write_spec("tenant: " + "[" * 31 + "]" * 31 + "\nservers: {}\ndomains: []\n"))
    assert "deeper than" not in err and ":1:1: tenant: Input should be a valid string" in err


def test_huge_file_is_refused_before_parsing(write_spec) -> None:
    [err] = errors_of(write_spec("# " + "x" * MAX_BYTES + "\n"))
    assert err.endswith(":1:1: file is larger than 4 MiB; split the tenant")


def test_not_utf8_and_empty(write_spec, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"tenant: \xff\n")
    assert errors_of(bad)[0].endswith("file is not UTF-8 text (byte 8)")
    assert errors_of(write_spec(""))[0].endswith("file is empty")


def test_unknown_tag_is_an_error(write_spec) -> None:
    [err] = errors_of(write_spec("tenant: !!python/object:os.system x\nservers: {}\ndomains: []\n"))
    assert ":1:9: YAML error:" in err


def test_directory_reports_every_file(tmp_path: Path, write_spec, spec_data) -> None:
    write_spec("tenant: [", "one.yaml")
    write_spec({**spec_data, "tenant": "two", "extra": 1}, "two.yaml")
    with pytest.raises(SpecInvalid) as info:
        load_paths([tmp_path])
    assert sorted(Path(e.path).name for e in info.value.errors) == ["one.yaml", "two.yaml"]


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SpecInvalid, match="no spec files"):
        load_paths([tmp_path])


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2026-13-45", ":6:44: domains[0].mailboxes[0].warmup.start: '2026-13-45' is not a valid date: month must be"),
        ("'2026-11'", "warmup.start: a day (YYYY-MM-DD) is expected, not '2026-11'"),
        ("2026-11-30T10:00:00", "warmup.start: a day (YYYY-MM-DD) is expected, not a time"),
    ],
)
def test_a_warmup_start_must_be_a_day(write_spec, start: str, message: str) -> None:
    text = (
        "tenant: tiny\nservers:\n  mx1: {hostname: mail.tiny.example, location: 1, plan: 1, image: x}\n"
        f"domains:\n  - name: tiny.example\n    mailboxes: [{{local: a, warmup: {{start: {start}}}}}]\n"
    )
    [err] = errors_of(write_spec(text))
    assert message in err


def test_a_warmup_start_quoted_or_bare_is_the_same_day(write_spec) -> None:
    text = "tenant: tiny\nservers:\n  mx1: {hostname: mail.tiny.example, location: 1, plan: 1, image: x}\ndomains:\n"
    bare = load_file(
        write_spec(text + "  - {name: tiny.example, mailboxes: [{local: a, warmup: {start: 2026-11-30}}]}\n")
    )
    quoted = load_file(
        write_spec(text + "  - {name: tiny.example, mailboxes: [{local: a, warmup: {start: '2026-11-30'}}]}\n")
    )
    assert bare.tenant.domains[0].mailboxes[0].warmup == quoted.tenant.domains[0].mailboxes[0].warmup


@pytest.mark.parametrize("spec", sorted((Path(__file__).parents[2] / "specs").glob("*.yaml")), ids=lambda p: p.stem)
def test_libyaml_composes_what_the_strict_composer_does(spec: Path) -> None:
    """The fast path (libyaml's composer) gives the data and the positions the strict one gives."""
    text = spec.read_text()
    fast = yamlpos._build(str(spec), yaml.CSafeLoader(text))
    strict = yamlpos._build(str(spec), yamlpos._StrictComposer(text))
    assert fast[0].data == strict[0].data and fast[0].positions == strict[0].positions
    assert fast[1] == strict[1] == []
