"""Runs a provider plugin module (the SDK's dynamic-provider server `pulumi.dynamic`, the sandbox's
stand-in Cloudflare plugin) so that it never outlives the engine that started it (see lifetime.py): a
SIGKILL of a run would otherwise leave it running, perhaps in the middle of a create over SSH.
`python -m mailbox_iac.plugin_host MODULE ARGS...` (the launchers that bootstrap and the sandbox write).
"""

from __future__ import annotations

import runpy
import sys

from mailbox_iac.lifetime import exit_with_parent


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m mailbox_iac.plugin_host MODULE [ARGS...]")
    module = sys.argv.pop(1)
    exit_with_parent()
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
