"""`python -m mailbox_iac` = the `mailbox-iac` command."""

from mailbox_iac.cli import main

main()
