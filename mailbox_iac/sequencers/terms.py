"""A mailbox's settings in each sequencer's own terms. Pure."""

from __future__ import annotations

from typing import Any

from mailbox_iac.spec.model import Warmup

INSTANTLY_MAX_INCREMENT = 4  # Instantly's warm-up increment: 'disabled' or '0'..'4' more a day


def instantly_warmup(warmup: Warmup) -> dict[str, Any]:
    """Instantly's `warmup` object: its daily volume, ramp and reply rate (the ramp capped at Instantly's 4),
    and whether it runs (`enabled`: Instantly switches that apart, in a background job)."""
    step = min(warmup.increment_per_day, INSTANTLY_MAX_INCREMENT)
    return {
        "enabled": warmup.enabled,
        "limit": warmup.max_per_day,
        "increment": str(step) if step else "disabled",
        "reply_rate": warmup.reply_rate_percent,
    }


def smartlead_warmup(warmup: Warmup) -> dict[str, Any]:
    """Smartlead's warm-up fields of an account: on or off, its daily volume, ramp and reply rate."""
    return {
        "warmup_enabled": warmup.enabled,
        "total_warmup_per_day": warmup.max_per_day,
        "daily_rampup": warmup.increment_per_day,
        "reply_rate_percentage": warmup.reply_rate_percent,
    }


WARMUP_TERMS = {"instantly": instantly_warmup, "smartlead": smartlead_warmup}
