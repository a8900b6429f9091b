"""Dynamic providers for key material generated here instead of by the `tls`/`random` plugins (which
cannot be downloaded offline): DKIM keys, the SSH key that reaches the mail hosts, mailbox passwords.

THIS MODULE PATH IS PERMANENT (`mailbox_iac.credentials.provider`): state pickles these by reference.
Values are generated once in `create` and kept in state as secrets; `read` returns them unchanged
(they exist nowhere else); any change of inputs is a replacement, i.e. a new value.
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider

from mailbox_iac import keys


class _Generated(ResourceProvider):
    INPUTS: tuple[str, ...] = ()

    def generate(self, props: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = {k: props.get(k) for k in self.INPUTS} | self.generate(props)
        return CreateResult(keys.password(16), outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in self.INPUTS if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)


class DkimKeyProvider(_Generated):
    INPUTS = ("domain", "selector", "bits")

    def generate(self, props: dict[str, Any]) -> dict[str, Any]:
        private, public = keys.dkim_key(int(props["bits"]))
        return {"private_key": private, "public_key": public}


class SshKeyProvider(_Generated):
    INPUTS = ("comment",)

    def generate(self, props: dict[str, Any]) -> dict[str, Any]:
        private, public = keys.ssh_key(str(props["comment"]))
        return {"private_key": private, "public_key": public}


class PasswordProvider(_Generated):
    INPUTS = ("address", "rotation")

    def generate(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"password": keys.password()}
