"""JSON Schema of tenant specs, published for editors (`mailbox-iac schema`, schema/tenant.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from mailbox_iac.spec.model import TenantSpec


def _closed_maps(node: Any) -> None:
    """A map whose keys are checked (`servers`, `forwards`) refuses other keys, as the loader does."""
    if isinstance(node, dict):
        if "patternProperties" in node and "properties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _closed_maps(value)
    elif isinstance(node, list):
        for value in node:
            _closed_maps(value)


def schema_json() -> str:
    schema = TenantSpec.model_json_schema(mode="validation")
    _closed_maps(schema)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "mailbox-iac/tenant.schema.json",
        **schema,
    }
    return json.dumps(schema, indent=2, sort_keys=True)
