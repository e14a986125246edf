"""What a self-managed StackSet's two roles must allow before CloudFormation deploys a stack
instance with them, which moto never checks. One definition for the emulator
(``stackset_resource.py`` for a template's ``AWS::CloudFormation::StackSet``, ``moto_launcher.py``
for ``CreateStackInstances`` / ``UpdateStackInstances``) and for
``tests/script/test_execution_role.py``.

The execution role (AWS CloudFormation User Guide, "Grant self-managed permissions"):

* "Your target account always needs full AWS CloudFormation permissions, which include permissions
  to create, update, delete, and describe stacks." and "You must add the S3 service action and
  resources to AWSCloudFormationStackSetExecutionRole policy statement for each target account for
  StackSets to work. StackSets uses these permissions to notify the stack instance state in the
  target accounts and in the administrator account." (``FLOOR``; the guide's example of the
  *minimum* is ``cloudformation:*`` and ``s3:*`` on ``*``);
* "The target account service role requires permissions to perform any operations that are
  specified in your AWS CloudFormation template": every permission a resource type's handler lists
  in AWS's resource provider schema (``handlers.<create|read|update|delete>.permissions``), read as
  cfn-lint ships the schemas: ``cfnlint/data/schemas/providers/<region>.json`` names each type's
  schema file under ``cfnlint/data/schemas/resources/``.

The administration role: "Be aware that to deploy stack instances into a target account that
resides in a Region that's disabled by default, you will also need to include the regional service
principal for that Region. Each Region that's disabled by default will have its own regional
service principal." (same page; its example adds ``cloudformation.ap-east-1.amazonaws.com``).

Evaluation is action-level: an action is allowed when some ``Allow`` statement's ``Action`` matches
it (IAM's ``*`` and ``?``, case-insensitive; a ``NotAction`` statement matches what it does not
list) and no ``Deny`` statement that applies to every resource without a condition matches it.
Resource ARNs and conditions are not evaluated (a conditioned or resource-scoped grant counts as a
grant), so a pass here is necessary, not sufficient, on AWS. A wildcard need (``cloudformation:*``)
is met only by a grant that covers all of it.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from pathlib import Path
from typing import Any, Iterable

import cfnlint
from cfnlint.decode import decode_str

SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
HANDLERS = ("create", "read", "update", "delete")

# "Regions launched before March 20, 2019 are enabled by default ... Regions launched after March
# 20, 2019 are disabled by default and referred to as opt-in Regions" (AWS Account Management
# Reference Guide, "Enable or disable AWS Regions in your account"). Which regions came before that
# date: AWS's own ordered region list, aws/aws-cdk packages/aws-cdk-lib/region-info/lib/
# aws-entities.ts, every region before RULE_CLASSIC_PARTITION_BECOMES_OPT_IN ("After this point,
# all regions in the 'aws' partition are opt-in"). The set is closed: every Region launched from
# now on is an opt-in one. cfn/onboarding.yaml's Rule and deploy/terraform's precondition list the
# same regions (tests/script/test_execution_role.py holds all three equal).
ENABLED_BY_DEFAULT = (
    "us-east-1", "eu-west-1", "us-west-1", "ap-southeast-1", "ap-northeast-1", "us-gov-west-1", "us-west-2",
    "sa-east-1", "ap-southeast-2", "cn-north-1", "us-iso-east-1", "eu-central-1", "ap-northeast-2", "ap-south-1",
    "us-east-2", "ca-central-1", "eu-west-2", "us-isob-east-1", "cn-northwest-1", "eu-west-3", "ap-northeast-3",
    "us-gov-east-1", "eu-north-1",
)
# The 'aws' partition's opt-in Regions the same list names after the marker, in launch order
# (Hong Kong, Bahrain, Cape Town, Milan, Jakarta, UAE, Zurich, Spain, Hyderabad, Melbourne, Tel Aviv,
# Calgary, Malaysia, Thailand, Mexico, Taipei, New Zealand): for messages and docs only; a Region
# missing from ENABLED_BY_DEFAULT is treated as opt-in whether or not it is named here.
OPT_IN = (
    "ap-east-1", "me-south-1", "af-south-1", "eu-south-1", "ap-southeast-3", "me-central-1", "eu-central-2",
    "eu-south-2", "ap-south-2", "ap-southeast-4", "il-central-1", "ca-west-1", "ap-southeast-5", "ap-southeast-7",
    "mx-central-1", "ap-east-2", "ap-southeast-6",
)

# Actions the execution role needs in every target account whatever the template holds (see the
# module's docstring). AWS's example of the minimum grants s3:*; its stated use ("to notify the
# stack instance state") is object traffic, so s3:GetObject at least is what is checked.
FLOOR = {
    "cloudformation:*": "Your target account always needs full AWS CloudFormation permissions, which include "
                        "permissions to create, update, delete, and describe stacks.",
    "s3:GetObject": "You must add the S3 service action and resources to AWSCloudFormationStackSetExecutionRole "
                    "policy statement for each target account for StackSets to work.",
}


# Handler permissions a handler calls only when a property changes a certain way, with the
# property: the member template never makes that change through the self-managed StackSet, and the
# execution role is denied the action on purpose (tests/script/test_execution_role.py quotes the
# schema's text of the property). iam:DeleteRolePermissionsBoundary strips the boundary from a role,
# which is what the boundary exists to prevent ("Deleting the permissions boundary for a role might
# increase its permissions", IAM API Reference, DeleteRolePermissionsBoundary): every role the
# StackSet writes keeps RolePermissionsBoundary, one value per StackSet.
ONLY_WHEN = {
    ("AWS::IAM::Role", "update", "iam:DeleteRolePermissionsBoundary"): "PermissionsBoundary",
}


def enabled_by_default(region: str) -> bool:
    return region in ENABLED_BY_DEFAULT


def regional_principal(region: str) -> str:
    """CloudFormation's service principal in a Region that is disabled by default."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"cloudformation.{region}.{suffix}"


# ---------------------------------------------------------------- resource provider schemas
@functools.lru_cache(maxsize=None)
def _providers() -> tuple[dict[str, str], ...]:
    """Every region's map of resource type -> schema file (cfn-lint ships one per region),
    us-east-1's first."""
    files = sorted((SCHEMAS / "providers").glob("*.json"), key=lambda p: (p.stem != "us-east-1", p.stem))
    return tuple(json.loads(p.read_text()) for p in files if p.name != "sam.json")


@functools.lru_cache(maxsize=None)
def _schema_file(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / "resources" / f"{name}.json").read_text())


def schema(resource_type: str) -> dict[str, Any]:
    """The type's resource provider schema (us-east-1's, where it exists)."""
    for provider in _providers():
        if resource_type in provider:
            return _schema_file(provider[resource_type])
    raise KeyError(f"no resource provider schema for {resource_type}")


@functools.lru_cache(maxsize=None)
def handler_permissions(resource_type: str) -> dict[str, tuple[str, ...]]:
    """handler -> the actions its schema lists, united over every region's schema of the type."""
    found: dict[str, set[str]] = {h: set() for h in HANDLERS}
    seen = False
    for provider in _providers():
        if resource_type not in provider:
            continue
        seen = True
        handlers = _schema_file(provider[resource_type]).get("handlers", {})
        for handler in HANDLERS:
            found[handler] |= set(handlers.get(handler, {}).get("permissions", []))
    if not seen:
        raise KeyError(f"no resource provider schema for {resource_type}")
    return {h: tuple(sorted(found[h])) for h in HANDLERS}


def template_resources(body: str) -> list[tuple[str, str]]:
    """(logical id, type) of every resource of a template, in template order (conditions ignored:
    stricter than CloudFormation, which skips a resource whose condition is false)."""
    template, matches = decode_str(body)
    if template is None:
        raise ValueError(f"template not readable: {matches}")
    return [(logical, str(r.get("Type"))) for logical, r in template.get("Resources", {}).items()]


# ---------------------------------------------------------------- action-level evaluation
def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements_of(document: Any) -> list[dict[str, Any]]:
    """The statements of a policy document (a JSON string or a dict)."""
    if isinstance(document, str):
        document = json.loads(document)
    return [s for s in as_list((document or {}).get("Statement")) if isinstance(s, dict)]


def _covers(pattern: Any, action: str) -> bool:
    return isinstance(pattern, str) and fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _names(statement: dict[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_covers(p, action) for p in as_list(statement["NotAction"]))
    return any(_covers(p, action) for p in as_list(statement.get("Action")))


def denies_everywhere(statement: dict[str, Any]) -> bool:
    """A Deny that applies to every resource whatever the request (no condition, no NotResource)."""
    return (statement.get("Effect") == "Deny" and not statement.get("Condition") and statement.get("NotResource") is None
            and "*" in as_list(statement.get("Resource")))


def allowed(statements: Iterable[dict[str, Any]], action: str) -> bool:
    """Whether the statements allow `action` at action level (see the module's docstring)."""
    granted = False
    for statement in statements:
        if not _names(statement, action):
            continue
        if denies_everywhere(statement):
            return False
        if statement.get("Effect") == "Allow":
            granted = True
    return granted


def needed_actions(resources: Iterable[tuple[str, str]], handlers: Iterable[str]) -> list[tuple[str, str, str, str]]:
    """(action, logical id, type, handler) for every permission the resources' handlers list, in
    template order, then the StackSets floor."""
    out = []
    handlers = tuple(handlers)
    for logical, resource_type in resources:
        permissions = handler_permissions(resource_type)
        for handler in handlers:
            out += [(action, logical, resource_type, handler) for action in permissions[handler]
                    if (resource_type, handler, action) not in ONLY_WHEN]
    return out


def missing(statements: list[dict[str, Any]], resources: Iterable[tuple[str, str]],
            handlers: Iterable[str]) -> list[tuple[str, str, str, str]]:
    """The needs the statements do not allow: the StackSets floor ("", "", "floor") first, then each
    resource's handler permissions."""
    gaps = [(action, "", "", "floor") for action in FLOOR if not allowed(statements, action)]
    return gaps + [need for need in needed_actions(resources, handlers) if not allowed(statements, need[0])]


# ---------------------------------------------------------------- the emulator's check
def role_named(account: str, name: str) -> Any:
    """The IAM role `name` of `account`, if it exists (without creating the account's backend)."""
    from moto.iam.models import iam_backends
    if account not in iam_backends:
        return None
    for backend in list(iam_backends[account].values()):
        for role in list(backend.roles.values()):
            if role.name == name:
                return role
    return None


def _default_document(policy: Any) -> Any:
    for version in getattr(policy, "versions", []):
        if getattr(version, "is_default", False):
            return version.document
    return getattr(policy, "document", None)


def role_statements(role: Any) -> list[dict[str, Any]]:
    """A moto role's identity-policy statements: inline policies and attached managed policies."""
    documents = list(role.policies.values()) + [_default_document(p) for p in role.managed_policies.values()]
    return [s for d in documents if d for s in statements_of(d)]


def trusts(role: Any, principal: str) -> bool:
    """Whether a moto role's trust policy lets `principal` (a service) assume it, at principal level."""
    for statement in statements_of(role.assume_role_policy_document):
        if statement.get("Effect") != "Allow" or not _names(statement, "sts:AssumeRole"):
            continue
        named = statement.get("Principal")
        services = as_list(named.get("Service")) if isinstance(named, dict) else as_list(named)
        if principal in services or "*" in services:
            return True
    return False


def refusal(admin_account: str, admin_role_arn: str, execution_role: str, target: str, region: str,
            template_body: str, handlers: Iterable[str]) -> str | None:
    """Why CloudFormation would fail this stack instance of a self-managed StackSet, or None. Roles
    the emulator does not have are not evaluated (their absence is refused where the StackSet is
    created, as before)."""
    admin_name = admin_role_arn.rsplit("/", 1)[-1]
    admin = role_named(admin_account, admin_name)
    if admin is None:
        return None
    if not enabled_by_default(region) and not trusts(admin, regional_principal(region)):
        return (f"Account {admin_account} should have '{admin_name}' role with trust relationship to CloudFormation "
                f"service: {region} is a Region that's disabled by default, and the role's trust policy does not "
                f"name its regional service principal {regional_principal(region)}")
    role = role_named(target, execution_role)
    if role is None:
        return None
    gaps = missing(role_statements(role), template_resources(template_body), handlers)
    if not gaps:
        return None
    action, logical, resource_type, handler = gaps[0]
    partition = admin_role_arn.split(":")[1] if admin_role_arn.startswith("arn:") else "aws"
    who = f"User: arn:{partition}:sts::{target}:assumed-role/{execution_role}/StackSets"
    denial = f"{who} is not authorized to perform: {action} because no identity-based policy allows the {action} action"
    if handler == "floor":
        return f"{denial} (StackSets needs it in every target account: {FLOOR[action]})"
    return f"{logical}: Resource handler returned message: \"{denial}\" ({resource_type}, {handler} handler)"


def instance_refusals(account: str, region: str, stack_set_name: str, targets: Iterable[tuple[str, str]],
                      handlers: Iterable[str]) -> dict[tuple[str, str], str]:
    """(target account, region) -> reason, for an instance operation on `account`'s StackSet in
    `region`; empty for a service-managed StackSet or one the emulator does not know."""
    from moto.cloudformation.models import cloudformation_backends
    try:
        stack_set = cloudformation_backends[account][region].describe_stack_set(stack_set_name)
    except Exception:  # noqa: BLE001 - moto's own not-found error; moto answers it itself
        return {}
    if getattr(stack_set, "permission_model", "SELF_MANAGED") != "SELF_MANAGED":
        return {}
    handlers = tuple(handlers)
    out = {}
    for target, target_region in targets:
        reason = refusal(account, stack_set.administration_role_arn, stack_set.execution_role_name, target,
                         target_region, stack_set.template, handlers)
        if reason:
            out[(target, target_region)] = reason
    return out


def failure_message(operation_id: str, reasons: Iterable[str]) -> str:
    """The StackSet resource handler's error when an operation fails (aws-cloudformation-resource-
    providers-cloudformation, BaseHandlerStd.buildErrorMessageForFailedOperation)."""
    text = f"Stack set operation [{operation_id}] was unexpectedly stopped or failed. status reason(s):"
    return text + "".join(f" [{r}]" for r in sorted(set(reasons)))

