"""The spec's limits and effective defaults, apart from its pydantic models so that code on a mail host's
side (render.py, in every provider process) reads them without building the models.

Effective defaults are of settings that `defaults.*` may also set (so the models hold None for "not set"):
the published schema shows them, `resolve.py` applies them.
"""

DAILY_LIMIT_MAX = 500
DEFAULT_QUOTA_MB = 1024
DEFAULT_DAILY_LIMIT = 30
DEFAULT_BACKEND = "hostwinds"
DEFAULT_BILLING_CYCLE = "monthly"
