"""TXT quoting, splitting and the canonical comparison every diff relies on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailbox_iac.dns import txt


def test_short_value_is_one_quoted_string() -> None:
    assert txt.quote("v=spf1 mx -all") == '"v=spf1 mx -all"'


def test_long_value_splits_at_255_bytes() -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 400
    quoted = txt.quote(value)
    parts = txt.strings(quoted)
    assert [len(p.encode()) for p in parts] == [255, 163]
    assert txt.canonical(quoted) == value


def test_quotes_and_backslashes_are_escaped() -> None:
    assert txt.quote('a"b\\c') == '"a\\"b\\\\c"'
    assert txt.canonical('"a\\"b\\\\c"') == 'a"b\\c'


def test_unquoted_content_is_taken_as_is() -> None:
    assert txt.canonical("v=spf1 -all") == "v=spf1 -all"


def test_split_never_cuts_a_multibyte_character() -> None:
    parts = txt.split_bytes("é" * 200)
    assert all(len(p.encode()) <= 255 for p in parts) and "".join(parts) == "é" * 200


text = st.text(alphabet=st.characters(blacklist_categories=["Cs"], min_codepoint=32), max_size=900)


@given(text, st.integers(min_value=1, max_value=255))
def test_canonical_is_stable_under_resplitting(value: str, size: int) -> None:
    assert txt.canonical(txt.quote(value, size)) == txt.canonical(txt.quote(value)) == value


plain = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters='"\\'), max_size=600)


@given(plain, st.integers(min_value=1, max_value=255), st.sampled_from([" ", "  ", "\t"]))
def test_canonical_ignores_spacing_between_strings(value: str, size: int, sep: str) -> None:
    requoted = sep.join(f'"{p}"' for p in txt.split_bytes(value, size))
    assert txt.canonical(requoted) == value
