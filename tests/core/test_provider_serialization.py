"""One process declares thousands of dynamic resources when `up --tenants` runs many inline programs:
serializing their providers must neither overflow the stack nor change the bytes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pulumi.dynamic import dynamic

import mailbox_iac.engine  # noqa: F401 (installs the bounded serializer)
from mailbox_iac.readiness import ReadinessProvider


def test_thousands_of_providers_serialize_in_one_process() -> None:
    first = dynamic.serialize_provider(ReadinessProvider())
    with ThreadPoolExecutor(8) as pool:  # as `up --parallel 8` would
        results = set(pool.map(lambda _: dynamic.serialize_provider(ReadinessProvider()), range(1500)))
    assert results == {first}
