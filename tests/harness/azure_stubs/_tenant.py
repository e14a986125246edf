"""The tenant behind the stub ``az`` and ``aws`` (tests/script/test_azure_setup.py).

One JSON state file (``AZ_STUB_STATE``) holds what a Microsoft Entra tenant, its Azure subscriptions
and the AWS side the script reads would hold; every call is appended to ``AZ_STUB_CALLS`` before it
is answered, so a test sees exactly which commands ran, the refused ones included. Ids are derived
from names (uuid5), so a test knows them before the run.

The answers follow the real tools where the script depends on them: JSON by default, ``--query``
through JMESPath (the library both CLIs use), ``-o tsv`` as knack writes it (a row per list item,
values tab-separated, a nested list as its length, a top-level boolean in lower case), ``-o none``
nothing, ``--output text`` as the AWS CLI writes it; errors on stderr with a non-zero status.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

import jmespath  # the test puts its own interpreter (which has it) first on PATH as python3

NAMESPACE = uuid.UUID("6f1c4c0e-8a57-4f43-9d0a-7d3b9e3c2a11")

ONBOARDING_ROLE = "b64e21ea-ac4e-4cdf-9dc9-5b892992bee7"
RESOURCE_ADMINISTRATOR_ROLE = "cd570a14-e51a-42ad-bac8-bafd67325302"
CONTRIBUTOR_ROLE = "b24988ac-6180-42a0-ab88-20f7382dd24c"

# The built-in roles as the Azure built-in roles reference lists them (actions only).
BUILT_IN = {
    ONBOARDING_ROLE: ("Azure Connected Machine Onboarding", [
        "Microsoft.HybridCompute/machines/read",
        "Microsoft.HybridCompute/machines/write",
        "Microsoft.HybridCompute/privateLinkScopes/read",
        "Microsoft.GuestConfiguration/guestConfigurationAssignments/read",
    ]),
    RESOURCE_ADMINISTRATOR_ROLE: ("Azure Connected Machine Resource Administrator", [
        "Microsoft.HybridCompute/machines/read",
        "Microsoft.HybridCompute/machines/write",
        "Microsoft.HybridCompute/machines/delete",
        "Microsoft.HybridCompute/machines/extensions/write",
        "Microsoft.HybridCompute/*/read",
        "Microsoft.Resources/deployments/*",
    ]),
    CONTRIBUTOR_ROLE: ("Contributor", ["*"]),
}


def derived(kind: str, name: str) -> str:
    """The id the stub gives the object `kind` named `name` (tests compute the same)."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{name.lower()}"))


def empty_tenant(tenant_id: str, subscription_id: str) -> dict:
    return {
        "loggedIn": True,
        "tenantId": tenant_id,
        "subscriptions": {subscription_id: {"tenantId": tenant_id, "groups": {}, "providers": {}}},
        "current": subscription_id,
        "apps": [],
        "servicePrincipals": [],
        "roleDefinitions": [],
        "roleAssignments": [],
        "aws": {"stacks": {}, "issuer": None},
    }


class Refused(Exception):
    """An error the tool prints on stderr before exiting with `status`."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def load() -> dict:
    with open(os.environ["AZ_STUB_STATE"], encoding="utf-8") as f:
        return json.load(f)


def save(state: dict) -> None:
    path = os.environ["AZ_STUB_STATE"]
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def record(tool: str, args: list[str]) -> None:
    with open(os.environ["AZ_STUB_CALLS"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"cmd": tool, "args": args}) + "\n")


def split(args: list[str], flags: frozenset[str] = frozenset()) -> tuple[list[str], dict[str, list[str]]]:
    """The command words and the options (each option's values, in order); `flags` take no value."""
    words: list[str] = []
    options: dict[str, list[str]] = {}
    i = 0
    while i < len(args) and not args[i].startswith("-"):
        words.append(args[i])
        i += 1
    while i < len(args):
        name = args[i]
        if not name.startswith("-"):
            raise Refused(f"unrecognized arguments: {name}", 2)
        if name in flags:
            options.setdefault(name, []).append("")
            i += 1
            continue
        if i + 1 >= len(args):
            raise Refused(f"argument {name}: expected one argument", 2)
        options.setdefault(name, []).append(args[i + 1])
        i += 2
    return words, options


def tsv(data) -> str:
    """knack's _TsvOutput."""
    def obj(value) -> str:
        if isinstance(value, list):
            return str(len(value))
        if isinstance(value, dict):
            return ""
        return value if isinstance(value, str) else str(value)

    def row(value) -> str:
        if isinstance(value, dict):
            return "\t".join(obj(v) for _, v in sorted(value.items()))
        if isinstance(value, list):
            return "\t".join(obj(v) for v in value)
        if isinstance(value, bool):
            return obj(str(value).lower())
        return obj(value)

    if data is None:
        return ""
    rows = data if isinstance(data, list) else [data]
    return "".join(row(item) + "\n" for item in rows)


def aws_text(data) -> str:
    """The AWS CLI's text output, for the shapes the script reads (a scalar or a list of scalars)."""
    if isinstance(data, list):
        return "\t".join(aws_text(v).rstrip("\n") for v in data) + "\n" if data else ""
    return ("None" if data is None else str(data)) + "\n"


def query(data, expression: str | None):
    return jmespath.search(expression, data) if expression else data


def main(tool: str, handle) -> None:
    args = sys.argv[1:]
    record(tool, args)
    try:
        state = load()
        out = handle(state, args)
    except Refused as refused:
        print(f"ERROR: {refused}", file=sys.stderr)
        sys.exit(refused.status)
    if out:
        sys.stdout.write(out)
