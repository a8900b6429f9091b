"""JSON Schema of tenant specs, published for editors (`mailbox-iac schema`, schema/tenant.schema.json)."""

from __future__ import annotations

import json

from mailbox_iac.spec.model import TenantSpec


def schema_json() -> str:
    schema = TenantSpec.model_json_schema(mode="validation")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "mailbox-iac/tenant.schema.json",
        **schema,
    }
    return json.dumps(schema, indent=2, sort_keys=True)
