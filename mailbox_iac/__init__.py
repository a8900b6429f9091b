"""mailbox-iac: tenants' mailboxes declared in YAML, converged by Pulumi.

Two optional parts of our dependencies are turned off in every process that loads this package (the
`mailbox-iac` command, the Pulumi program, each provider plugin): both are imported eagerly whenever they
are installed, mailbox-iac uses neither, and together they cost about a third of a plugin's start.
A `None` in `sys.modules` makes their import fail, and both importers treat that as "not installed".
Pydantic's plugin search (every installed package's entry points, read at the first model) is turned off by
its documented variable unless the environment sets it.
"""

import os
import sys

UNUSED_IMPORTS = (
    "httpx._main",  # httpx's own command line: click, rich and pygments
    "invoke",  # paramiko runs it only for `Match exec` lines of an ssh_config, which mailbox-iac never reads
)

for _name in UNUSED_IMPORTS:
    sys.modules.setdefault(_name, None)  # type: ignore[arg-type]  # None: the import system's "not importable"

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
