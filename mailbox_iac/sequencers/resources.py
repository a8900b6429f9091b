"""The sequencer resources a Pulumi program declares. Type tokens are part of state: never rename them."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from mailbox_iac.plan.model import MailboxPlan, SequencerAccountPlan
from mailbox_iac.sequencers.provider import SETTINGS, SequencerAccountProvider


class SequencerAccount(Resource, module="sequencers", name="Account"):
    """A mailbox's account in a sequencer workspace, connected (the sequencer logs in) or not at all."""

    status: pulumi.Output[int]

    def __init__(
        self,
        resource_name: str,
        *,
        plan: SequencerAccountPlan,
        mailbox: MailboxPlan,
        api_key: pulumi.Input[str],
        password: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "kind": plan.kind,
            "base_url": "",  # the provider's MAILBOX_IAC_<KIND>_URL, else the sequencer's own
            "api_key": api_key,
            "address": plan.address,
            "username": mailbox.username,
            "password": password,
            "smtp_host": mailbox.smtp_host,
            "smtp_port": mailbox.smtp_port,
            "imap_host": mailbox.imap_host,
            "imap_port": mailbox.imap_port,
            **{k: getattr(plan, k) for k in SETTINGS},
            "status": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["api_key", "password"])
        super().__init__(SequencerAccountProvider(), resource_name, props, pulumi.ResourceOptions.merge(opts, secret))
