"""Role trust for ``sts:AssumeRole``, which moto never evaluates.

IAM: "A role trust policy is a required resource-based policy that is attached to a role in IAM.
The principals that you can specify in the trust policy include users, roles, accounts, and
services." A caller another account's trust policy does not name is refused with
``AccessDenied`` ("User: ... is not authorized to perform: sts:AssumeRole on resource: ...").

What this model evaluates, for a role that exists in the emulator:

* ``Principal.AWS``: an account id, ``arn:<partition>:iam::<account>:root``, ``*``, or a role or
  user ARN of the caller's account (the account is what is compared; see below);
* ``Condition`` ``aws:PrincipalOrgID`` (``StringEquals``): the caller's account must be a member
  of that organization;
* an explicit ``Deny`` statement that applies wins over any ``Allow``.

What it does not: ``aws:PrincipalArn`` and exact principal ARNs (the tests run every function
under one identity, not under its own role), and roles that do not exist (the harness seeds
accounts through a role ``test-admin`` that no account has). So it catches what matters for a
deployment topology: a member role that trusts the wrong *account*, as the member template did
before it trusted the account running the functions (a delegated administrator).
"""

from __future__ import annotations

import json
from typing import Any, Callable

ACCESS_DENIED = "AccessDenied"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _account_of(principal: str) -> str | None:
    """The account a trust policy's AWS principal names; ``*`` for anyone."""
    if principal == "*":
        return "*"
    if principal.isdigit() and len(principal) == 12:
        return principal
    parts = principal.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "iam":
        return parts[4]
    return None


def _admits(statement: dict[str, Any], caller: str, organization_of: Callable[[str], str | None],
            effect: str = "Allow") -> bool:
    """Whether a statement with `effect` applies to the caller's AssumeRole."""
    if statement.get("Effect") != effect:
        return False
    actions = _as_list(statement.get("Action"))
    if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
        return False
    principal = statement.get("Principal")
    aws = _as_list(principal.get("AWS")) if isinstance(principal, dict) else _as_list(principal)
    if not any(_account_of(str(p)) in (caller, "*") for p in aws):
        return False
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, wanted in (pairs or {}).items():
            if key.lower() == "aws:principalorgid" and operator.startswith("StringEquals"):
                if organization_of(caller) not in _as_list(wanted):
                    return False
    return True


def refusal(caller: str, caller_arn: str, role: Any, organization_of: Callable[[str], str | None]) -> tuple[int, str, str] | None:
    """AWS's answer when ``role`` (a moto IAM role) does not trust ``caller``'s account; None when
    it does."""
    document = role.assume_role_policy_document
    try:
        policy = json.loads(document) if isinstance(document, str) else document
    except ValueError:
        policy = {}
    statements = [s for s in _as_list((policy or {}).get("Statement")) if isinstance(s, dict)]
    denied = any(_admits(s, caller, organization_of, "Deny") for s in statements)
    if not denied and any(_admits(s, caller, organization_of) for s in statements):
        return None
    return (403, ACCESS_DENIED,
            f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role.arn}")
