"""What a person reads when the engine fails: the failed resources and their errors, not the whole
transcript, not only its last line (which is often empty or a lock file's path). Pure."""

from __future__ import annotations

import re

_FRAME = re.compile(r'^(File ".*", line \d+.*|Traceback \(most recent call last\):|[\^~ ]+|During handling of .*)$')
_HEADER = re.compile(r"^  (\S.*\)):$")  # "  pulumi-python:dynamic/hostwinds:Instance (server-mx1):"
_PREFIX = re.compile(r"^(stdout|stderr): ?")
_CODE = re.compile(r"^code: -?\d+$")
_GENERIC = ("update failed", "preview failed", "refresh failed", "destroy failed", "Resource monitor has terminated")


def _diagnostics_section(text: str) -> list[str]:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Diagnostics:"), None)
    if start is None:
        return []
    section = []
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):  # "Resources:", "Outputs:", "Duration:", " stderr:"...
            break
        section.append(line)
    return section


def _resource_errors(section: list[str]) -> list[str]:
    found: list[str] = []
    resource, in_traceback, last = "", False, ""
    for raw in [*section, ""]:
        line = raw.strip()
        header = _HEADER.match(raw)
        if header or not line:
            if in_traceback and last:
                found.append(f"{resource}: {last}")
            in_traceback, last = False, ""
            resource = header.group(1) if header else resource
            continue
        if line.startswith("error: "):
            message = line.removeprefix("error: ")
            in_traceback = message.startswith("Traceback")
            if not in_traceback:
                found.append(f"{resource}: {message}" if resource else message)
        elif in_traceback and not _FRAME.match(line) and not raw.startswith("        "):
            last = line  # the exception line closes a provider's traceback
    return found


def diagnostics(text: str, limit: int = 12) -> list[str]:
    """The lines of an engine failure (a `CommandError`'s text) a person acts on, each once."""
    found = _resource_errors(_diagnostics_section(text))
    specific = [f for f in found if not any(g in f for g in _GENERIC)]
    lines = specific or found
    if not lines:  # no resource failed: the engine's own errors (a lock, a missing plugin, a bad backend)
        body = [_PREFIX.sub("", ln.strip()) for ln in text.splitlines()]
        body = [ln for ln in body if ln and not _CODE.match(ln)]
        lines = body if len(body) <= 4 else [ln for ln in body if "error" in ln.lower()] or body[-3:]
    unique = list(dict.fromkeys(line[:400] for line in lines))
    return unique[:limit] + ([f"... {len(unique) - limit} more (see the output above)"] if len(unique) > limit else [])
