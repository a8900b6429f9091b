"""`health.yaml` at the checkout's root: what a project's `mailbox-iac health` asks and when it complains. All
optional; without the file the documented defaults hold (README: health). Read like a spec: unknown fields,
duplicate keys and bad values are refused with FILE:LINE:COL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mailbox_iac.checks.blocklist import DEFAULT_LISTS, Blocklist
from mailbox_iac.mailhost.vitals import DEFAULT_PROBE
from mailbox_iac.spec.load import validated

FILE = "health.yaml"
_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?")


class ListEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^\n\r]+$")]
    zone: Annotated[str, Field(pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")]
    kind: Literal["ip", "domain"]
    refusals: dict[str, str] = {}  # answers that are the list refusing the question, not a listing


class HealthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blocklists: list[ListEntry] | None = None  # None: checks.blocklist.DEFAULT_LISTS
    outbound_probe: str = DEFAULT_PROBE  # host[:port] each mail host opens port 25 to
    max_deferred: Annotated[int, Field(ge=0)] = 25
    max_bounces_24h: Annotated[int, Field(ge=0)] = 10

    @field_validator("outbound_probe")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if not _HOST_PORT.fullmatch(value):
            raise ValueError(f"{value!r} is not host[:port] (a name or an IPv4 address, e.g. aspmx.l.google.com:25)")
        return value

    def lists(self) -> tuple[Blocklist, ...]:
        if self.blocklists is None:
            return DEFAULT_LISTS
        return tuple(Blocklist(b.name, b.zone, b.kind, dict(b.refusals)) for b in self.blocklists)


def load(project_dir: Path) -> HealthConfig:
    """The project's health.yaml, or the defaults when there is none (`SpecInvalid` when it is wrong)."""
    path = project_dir / FILE
    return validated(path, HealthConfig) if path.exists() else HealthConfig()
