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


_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = (
    _TRACEBACK,
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


class TracebackFilter:
    """The engine's live output as a person reads it: a provider's traceback (the SDK sends one with every
    error) is cut to its exception line. The full output belongs in the run's log file."""

    def __init__(self) -> None:
        self._indent: int | None = None  # while inside a traceback: the indent of its `error:` line

    def feed(self, line: str) -> str | None:
        """The line to show, or None to leave it out."""
        if self._indent is not None:
            if not line.strip() or line.strip() in _CHAINED or _indent(line) > self._indent:
                return None
            indent, self._indent = self._indent, None
            return " " * indent + "error: " + line.strip()
        if line.rstrip().endswith("error: " + _TRACEBACK):
            head = line.rstrip().removesuffix(_TRACEBACK)
            if head.strip() == "error:":  # the Diagnostics block: the exception line closes it
                self._indent = _indent(line)
                return None
            return head + "(see the diagnostics below)"  # a progress line
        return line
