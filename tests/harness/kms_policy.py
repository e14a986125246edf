"""Customer managed key policies for Parameter Store SecureStrings, which moto never evaluates.

Parameter Store encrypts and decrypts a SecureString with its KMS key on the caller's behalf:
``kms:ViaService`` is ``ssm.<region>.amazonaws.com`` and the encryption context is
``PARAMETER_ARN`` (Parameter Store, "How AWS Systems Manager Parameter Store uses AWS KMS"). A key
policy that does not allow the caller refuses the parameter; moto stores the ``KeyId`` and never
asks. This model evaluates, for a parameter whose key is a customer managed key of the emulator:

* ``PutParameter`` of a ``SecureString`` with a ``KeyId``: the key must exist (``InvalidKeyId``
  otherwise) and allow ``kms:GenerateDataKey`` (Advanced tier: envelope encryption) or
  ``kms:Encrypt`` (Standard);
* ``GetParameter`` / ``GetParameters`` with ``WithDecryption``: ``kms:Decrypt``;
* an instance reading a staged copy (ssm_model.py, the onboarding script): ``kms:Decrypt`` as the
  instance's role session, whose ``aws:userid`` is ``role-id:ec2-instance-id`` ("Role assigned to
  an Amazon EC2 instance", IAM policy variables).

The request context: ``aws:userid``, ``aws:PrincipalArn`` (the role of an assumed-role session),
``aws:PrincipalAccount``, ``kms:CallerAccount``, ``kms:ViaService`` and
``kms:EncryptionContext:PARAMETER_ARN``. Operators: ``StringEquals``, ``StringLike``,
``StringNotEquals``, ``StringNotLike``, ``ArnEquals``, ``ArnLike`` (case-sensitive values,
case-insensitive keys); an explicit ``Deny`` wins. A statement whose principal is the account
(``...:root``) stands for "IAM policies may grant this", and the tests' identities are broad, so
it grants; ``aws/ssm`` and keys without a policy are not evaluated.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

ACCESS_DENIED = "AccessDeniedException"
# The Parameter Store operations that reach a SecureString's key.
SSM_OPERATIONS = frozenset({"PutParameter", "GetParameter", "GetParameters"})
INVALID_KEY = "InvalidKeyId"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def parameter_arn(account: str, region: str, name: str) -> str:
    """Parameter Store's ``PARAMETER_ARN`` for a name (hierarchical names keep their leading /)."""
    return f"arn:aws:ssm:{region}:{account}:parameter{name if name.startswith('/') else '/' + name}"


def caller_context(account: str, user_id: str, arn: str) -> dict[str, str]:
    """The principal keys of a caller (``GetCallerIdentity``'s answer)."""
    principal = arn
    if ":assumed-role/" in arn:
        role = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
        principal = f"arn:aws:iam::{account}:role/{role}"
    return {"aws:userid": user_id, "aws:principalarn": principal, "aws:principalaccount": account}


def _principal_admits(statement: dict[str, Any], context: dict[str, str]) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    names = _as_list(principal.get("AWS")) if isinstance(principal, dict) else []
    account = context.get("aws:principalaccount", "")
    for name in map(str, names):
        if name == "*" or name == context.get("aws:principalarn"):
            return True
        if name in (account, f"arn:aws:iam::{account}:root"):
            return True  # "IAM policies may grant": the tests' identities are broad
    return False


def _matches(operator: str, actual: str, expected: str) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return actual == expected
    if operator in ("StringLike", "ArnLike"):
        return fnmatch.fnmatchcase(actual, expected)
    if operator == "StringNotEquals":
        return actual != expected
    if operator == "StringNotLike":
        return not fnmatch.fnmatchcase(actual, expected)
    raise ValueError(f"kms_policy: condition operator {operator} is not modelled")


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            actual = context.get(key.lower())
            if actual is None:
                return False  # no ...IfExists operators: a missing key fails the condition
            values = [str(v) for v in _as_list(expected)]
            negated = operator.startswith("StringNot")
            hits = [_matches(operator, actual, v) for v in values]
            if not (all(hits) if negated else any(hits)):
                return False
    return True


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement.get("Action")))


def allows(policy: dict[str, Any], action: str, context: dict[str, str]) -> bool:
    """Whether the key policy lets the caller perform `action` (``kms:Decrypt``...)."""
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        if not _action_matches(statement, action) or not _principal_admits(statement, context):
            continue
        if not _conditions_hold(statement.get("Condition", {}), context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def customer_key(account: str, region: str, key_id: str | None) -> tuple[bool, Any]:
    """(exists, key): the customer managed key `key_id` (alias, id or ARN) names, None for
    ``aws/ssm`` or no key; exists is False when an alias or id names no key."""
    from moto.kms.models import kms_backends
    if not key_id or key_id in ("alias/aws/ssm",) or key_id.endswith(":alias/aws/ssm"):
        return True, None
    backend = kms_backends[account][region]
    if "alias/" in key_id:
        found = backend.get_key_id_from_alias(key_id.split(":", 5)[-1] if key_id.startswith("arn:") else key_id)
    else:
        found = key_id.rsplit("/", 1)[-1]
    key = backend.keys.get(found) if found else None
    return key is not None, key


def refusal(key: Any, action: str, context: dict[str, str]) -> tuple[int, str, str] | None:
    """AccessDeniedException when the key's policy refuses `action` to the context, or None."""
    if key is None or not getattr(key, "policy", None):
        return None
    policy = json.loads(key.policy) if isinstance(key.policy, str) else key.policy
    if allows(policy, action, context):
        return None
    return (400, ACCESS_DENIED, f"User: {context.get('aws:principalarn', '')} is not authorized to perform: "
                                f"{action} on resource: {key.arn} because no resource-based policy allows the "
                                f"{action} action")


def request_context(caller: dict[str, str], account: str, region: str, name: str) -> dict[str, str]:
    """The context Parameter Store's KMS call carries for `caller` and parameter `name`."""
    return {**caller, "kms:calleraccount": account, "kms:viaservice": f"ssm.{region}.amazonaws.com",
            "kms:encryptioncontext:parameter_arn": parameter_arn(account, region, name)}


def ssm_refusal(operation: str, account: str, region: str, caller: dict[str, str],
                request: dict[str, Any]) -> tuple[int, str, str] | None:
    """The error Parameter Store answers when the parameter's key refuses the caller, or None."""
    from moto.ssm.models import ssm_backends
    if operation == "PutParameter":
        if request.get("Type") != "SecureString" or not request.get("KeyId"):
            return None
        exists, key = customer_key(account, region, request["KeyId"])
        if not exists:
            return (400, INVALID_KEY, f"Invalid KeyId {request['KeyId']}")
        action = "kms:GenerateDataKey" if request.get("Tier") == "Advanced" else "kms:Encrypt"
        return refusal(key, action, request_context(caller, account, region, request.get("Name", "")))
    if operation not in ("GetParameter", "GetParameters") or request.get("WithDecryption") is not True:
        return None
    names = [request.get("Name", "")] if operation == "GetParameter" else request.get("Names", [])
    backend = ssm_backends[account][region]
    for name in names:
        versions = backend._parameters.get(name.split(":", 1)[0])
        if not versions:
            continue
        _, key = customer_key(account, region, versions[-1].keyid)
        refused = refusal(key, "kms:Decrypt", request_context(caller, account, region, name))
        if refused is not None:
            return refused
    return None


def instance_may_decrypt(account: str, region: str, instance_id: str, name: str) -> str | None:
    """None when the instance's role session may decrypt parameter `name`; otherwise why not."""
    from moto.ec2.models import ec2_backends
    from moto.ssm.models import ssm_backends
    versions = ssm_backends[account][region]._parameters.get(name)
    if not versions:
        return None
    _, key = customer_key(account, region, versions[-1].keyid)
    if key is None:
        return None
    association = ec2_backends[account][region].iam_instance_profile_associations.get(instance_id)
    roles = association.iam_instance_profile.roles if association is not None else []
    if not roles:
        return "the instance has no role credentials"
    role = roles[0]
    caller = caller_context(account, f"{role.id}:{instance_id}", f"arn:aws:sts::{account}:assumed-role/{role.name}/{instance_id}")
    refused = refusal(key, "kms:Decrypt", request_context(caller, account, region, name))
    return refused[2] if refused else None
