"""Guard-rail opt-ins for one change, named where the change is made: on the run (`--allow`, or
`MAILBOX_IAC_ALLOW` for `pulumi up`) or, in CI, by a label on the pull request
(`mailbox-iac:allow-<name>`). Each stands for the stack setting of the same meaning, which stays for
stacks that want it always; an opt-in that lives in a committed stack file needs a second change to
take it back. Pure."""

from __future__ import annotations

from collections.abc import Mapping

ENV = "MAILBOX_IAC_ALLOW"
LABEL = "mailbox-iac:allow-"
ALLOWANCES = {
    "mass-changes": "mailbox-iac:allowMassChanges",
    "server-replacement": "mailbox-iac:allowServerReplacement",
    "destroy": "mailbox-iac:allowDestroy",
}


class UnknownAllowance(ValueError):
    pass


def parse(text: str) -> frozenset[str]:
    """`mass-changes,destroy` (a label's name may stand for its allowance) -> the allowances named."""
    names = {n.strip().removeprefix(LABEL) for n in text.split(",") if n.strip()}
    unknown = sorted(names - ALLOWANCES.keys())
    if unknown:
        raise UnknownAllowance(
            f"unknown allowance {', '.join(map(repr, unknown))}: name one or more of {', '.join(ALLOWANCES)}, "
            "comma-separated"
        )
    return frozenset(names)


def from_environment(env: Mapping[str, str]) -> frozenset[str]:
    return parse(env.get(ENV, ""))


def how_to(name: str, command: str = "up") -> str:
    """How a refusal tells the user to opt in, for this change only."""
    plain = f" (`{ENV}={name} pulumi {command}` with the plain CLI)" if command == "up" else ""
    return (
        f"label the pull request `{LABEL}{name}`, or run `mailbox-iac {command} --allow {name}`{plain}; "
        f"`{ALLOWANCES[name]}: true` in the stack's file allows it for every run"
    )
