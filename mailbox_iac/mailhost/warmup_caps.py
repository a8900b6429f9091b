"""The day's sending caps of mailboxes warming up, written into policyd-rate-limit's configuration.

A mailbox whose warm-up starts on day 0 may send `start_per_day` messages that day, `increment_per_day`
more each day after, up to its daily limit; before day 0 it gets day 0's cap. policyd-rate-limit reads
fixed limits once, when it starts, so this script derives the day's file from the release's one and the
warm-up schedule beside it. It runs before each start of the daemon, and a timer restarts the daemon when
a day turns (00:00 UTC).

This file is copied to the mail host and run there by Debian's python3
(`python3 warmup_caps.py CONFIG SCHEDULE OUT [--today YYYY-MM-DD]`): standard library only, so that the
pure functions can be tested here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, date, datetime
from typing import Any


def cap_on(day: int, start_per_day: int, increment_per_day: int, daily_limit: int) -> int:
    """Messages a mailbox may send on `day` of its warm-up (0: the first day)."""
    return min(daily_limit, start_per_day + max(day, 0) * increment_per_day)


def derived(config: dict[str, Any], schedule: dict[str, dict[str, Any]], today: date) -> dict[str, Any]:
    """The configuration with each scheduled login's limit lowered to `today`'s cap."""
    limits = dict(config["limits_by_id"])
    for login, warmup in sorted(schedule.items()):
        if login not in limits:
            raise ValueError(f"{login} is scheduled to warm up but has no daily limit")
        ((daily_limit, window),) = limits[login]
        day = (today - date.fromisoformat(warmup["start"])).days
        limits[login] = [[cap_on(day, warmup["start_per_day"], warmup["increment_per_day"], daily_limit), window]]
    return {**config, "limits_by_id": limits}


def _json(path: str) -> Any:
    """A JSON file, its `#` comment lines (a header) left out."""
    with open(path, encoding="utf-8") as f:
        return json.loads("".join(line for line in f if not line.startswith("#")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="policyd-rate-limit's configuration with the daily limits")
    parser.add_argument("schedule", help="JSON: login -> {start, start_per_day, increment_per_day}")
    parser.add_argument("out", help="the day's configuration, written atomically")
    parser.add_argument("--today", type=date.fromisoformat, help="the day to cap for (default: today in UTC)")
    args = parser.parse_args(argv)
    today = args.today or datetime.now(UTC).date()
    try:
        text = json.dumps(derived(_json(args.config), _json(args.schedule), today), indent=1)
    except (OSError, ValueError, KeyError) as exc:  # a clear line for the activation log, not a traceback
        sys.exit(f"warmup_caps: {exc}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(f"{args.out}.tmp", "w", encoding="utf-8") as f:
        f.write(f"# Written by mailbox-iac from {args.config} for {today.isoformat()}: warm-up caps applied.\n{text}\n")
    os.replace(f"{args.out}.tmp", args.out)


if __name__ == "__main__":
    main()
