"""The dynamic provider of a mailbox's account in a sequencer workspace (Instantly, Smartlead).

THIS MODULE PATH IS PERMANENT (`mailbox_iac.sequencers.provider`): state pickles the provider by reference.

- create: an account the workspace already has for the address is adopted (its settings updated), never
  added twice; a new one is added and its connection test awaited: when the sequencer cannot log in, the
  account is removed again and the create fails with the sequencer's own reason (nothing half-applied).
- read: the account as the sequencer sees it (the same shape as create's outputs), so a limit or warm-up
  changed in the sequencer's UI is drift; an account gone there reads as gone.
- update: names, daily limit and warm-up; on Smartlead also a new password or host (tested again). What a
  sequencer cannot change in place (Instantly: password and hosts; both: the address, workspace or key)
  is a replacement, deleting first: a workspace holds one account per address.
- delete: the account is removed from the workspace (one already gone is done). Removing, not pausing:
  the mailbox is gone from the spec, and a paused account would still count against the workspace.
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from mailbox_iac.sequencers.accounts import IN_PLACE, View, workspace

SETTINGS = ("first_name", "last_name", "daily_limit", "warmup")  # changed in place
CONNECTION = ("address", "username", "password", "smtp_host", "smtp_port", "imap_host", "imap_port")
WORKSPACE = ("kind", "base_url", "api_key")
INPUTS = WORKSPACE + CONNECTION + SETTINGS


def _outputs(props: dict[str, Any], view: View) -> dict[str, Any]:
    """Our inputs, with the settings and status as the sequencer reports them."""
    return {**{k: props.get(k) for k in INPUTS}, **view}


class SequencerAccountProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        with workspace(props) as seq:
            adopted = seq.find(props) is not None  # never added twice
            view = seq.change(props) if adopted else seq.add(props)
        return CreateResult(f"{props['kind']}:{props['address']}", _outputs(props, view))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with workspace(props) as seq:
            view = seq.find(props)
        if view is None:
            return ReadResult(None, {})  # gone from the workspace
        return ReadResult(id_, _outputs(props, view))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        in_place = IN_PLACE.get(str(news.get("kind")), ())
        replaces = [k for k in WORKSPACE + CONNECTION if k not in in_place and olds.get(k) != news.get(k)]
        changed = [k for k in WORKSPACE + CONNECTION + SETTINGS if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with workspace(news) as seq:
            return UpdateResult(_outputs(news, seq.change(news)))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with workspace(props) as seq:
            seq.remove(props)
