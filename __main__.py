"""The program `pulumi up` / `pulumi preview` run in this directory (the runtime in Pulumi.yaml).

It is the tenant program `mailbox-iac up` runs inline: same settings (stack config), guard rails and
outputs, so either driver can take over a stack the other deployed.
"""

from pathlib import Path

from mailbox_iac.program import main

main(Path(__file__).resolve().parent)
