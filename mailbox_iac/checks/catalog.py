"""Every check mailbox-iac runs, and where: reports and docs list them from here."""

from __future__ import annotations

from mailbox_iac.checks import blocklist, dns, login, mailbox, mta_sts, ptr, queue, reach, sequencer, tls
from mailbox_iac.checks.result import Check, Stage

ALL: tuple[Check, ...] = (
    dns.RECORD,
    dns.NO_AAAA,
    ptr.PTR,
    login.IMAP,
    login.SMTP,
    tls.VERIFIED,
    tls.EXPIRY,
    tls.DAYS_LEFT,
    tls.LAPSING,
    mta_sts.SERVED,
    mailbox.DEPLOYED,
    sequencer.CONNECTED,
    blocklist.IP_LISTED,
    blocklist.DOMAIN_LISTED,
    blocklist.UNANSWERED,
    reach.SSH,
    reach.OUTBOUND_25,
    reach.INBOUND,
    reach.IDENTITY,
    queue.DEFERRED,
    queue.BOUNCES,
)


def at(stage: Stage) -> tuple[Check, ...]:
    return tuple(c for c in ALL if stage in c.stages)
