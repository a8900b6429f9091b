"""One list of settings (mailbox_iac/settings.py): everything the code reads is in it, and the README's
table is it."""

from __future__ import annotations

import re

from mailbox_iac import settings
from tests.conftest import REPO

SOURCES = [*(REPO / "mailbox_iac").rglob("*.py"), *(REPO / "providers").rglob("*.py"), REPO / "scripts" / "bootstrap"]
ENV = re.compile(
    r"""(?:environ(?:\.get)?\(|environ\[|getenv\(|env\.get\()["']([A-Z][A-Z0-9_]+)["']|\$\{(MAILBOX_IAC_[A-Z_]+)"""
)
STACK = re.compile(r"""cfg\.get(?:_bool|_float|_object|_int)?\(["']([A-Za-z]+)["']""")
PROVIDER = re.compile(r"""config(?:\(\))?\.get\(["']([a-z-]+:[A-Za-z]+)["']""")  # also get_all_config().get
HOSTWINDS_POLL = re.compile(r'POLL_SETTING = "([A-Za-z]+)"')


def read_by_the_code() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        if path.name == "settings.py" or "sandbox" in path.parts:  # the sandbox's own plumbing is not a setting
            continue
        text = path.read_text()
        found |= {a or b for a, b in ENV.findall(text)}
        found |= {f"mailbox-iac:{k}" for k in STACK.findall(text) + HOSTWINDS_POLL.findall(text)}
        found |= set(PROVIDER.findall(text))
    return found


def test_every_setting_the_code_reads_is_listed() -> None:
    listed = {s.name for s in (*settings.STACK, *settings.ENVIRONMENT)}
    read = read_by_the_code()
    assert read - listed - {"PATH", "HOME"} == set()
    assert len(read) >= 25  # the scan finds them (a broken pattern would find none)


def test_the_readme_shows_the_list() -> None:
    assert settings.markdown() in (REPO / "README.md").read_text()
