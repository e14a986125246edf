"""``AWS::CloudFormation::StackSet`` in templates, which moto's CloudFormation skips.

Registered by ``moto_launcher.py`` (moto finds resource types among ``CloudFormationModel``'s
subclasses). It does what CloudFormation's resource handler does
(aws-cloudformation-resource-providers-cloudformation, ``aws-cloudformation-stackset``):

* **Create**: the StackSet from ``TemplateURL`` (an object in the emulator's S3, as ``sam package``
  leaves it; path-style or virtual-hosted URL) or ``TemplateBody``, with its ``Parameters``,
  ``PermissionModel`` and roles, then the instances of ``StackInstancesGroup``. A
  ``SERVICE_MANAGED`` StackSet is refused while the account's organizations (trusted) access is off,
  with CloudFormation's message "You must enable organizations access to operate a service managed
  stack set"; a ``SELF_MANAGED`` one whose ``AdministrationRoleARN`` or ``ExecutionRoleName`` role
  does not exist in its account is refused as StackSets fails it. A ``SELF_MANAGED`` instance fails
  where CloudFormation would fail it (``stackset_permissions.py``): an execution role below the
  StackSets floor or below the template's handler permissions (the reason names the action), or a
  Region that's disabled by default whose regional service principal the administration role does
  not trust; beyond ``OperationPreferences``' failure tolerance the resource fails with the
  handler's "Stack set operation [...] was unexpectedly stopped or failed. status reason(s): [...]".
* **Delete**: the instances of ``StackInstancesGroup`` (the handler's model), then the StackSet,
  which AWS refuses while other instances remain ("Before you can delete a stack set, all of its
  member stack instances must be deleted", DeleteStackSet): instances another actor created (the
  connector's account-discovery) make the deletion fail.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any
from urllib.parse import urlparse

from moto.cloudformation.exceptions import StackSetNotFoundException, ValidationError
from moto.cloudformation.models import cloudformation_backends
from moto.core.common_models import CloudFormationModel
from moto.iam.models import iam_backends
from moto.s3.models import s3_backends

import stackset_permissions

# Set by moto_launcher.py: which accounts have organizations access on.
ORGANIZATIONS_ACCESS: set[str] = set()


def template_from_url(url: str, account_id: str) -> str:
    """The body of an S3 object URL (path-style ``https://s3.<region>.amazonaws.com/<bucket>/<key>``
    or virtual-hosted ``https://<bucket>.s3...amazonaws.com/<key>``)."""
    parsed = urlparse(url)
    host, path = parsed.netloc, parsed.path.lstrip("/")
    match = re.match(r"^(?P<bucket>[^.]+)\.s3[.-]", host)
    bucket, key = (match.group("bucket"), path) if match else tuple(path.split("/", 1))
    partition = s3_backends[account_id]["aws"]
    return partition.get_object(bucket, key).value.decode()


def instances_refused(account_id: str, admin: str | None, execution: str | None, body: str,
                      groups: list[dict[str, Any]], preferences: dict[str, Any]) -> dict[tuple[str, str], str]:
    """The self-managed instances CloudFormation would fail (stackset_permissions.py: the execution
    role below the StackSets floor or the template's handler permissions, an administration role
    without the regional service principal of a Region that's disabled by default), by (account,
    region). More failures in a Region than OperationPreferences tolerate (none by default) fail
    the operation, and with it the resource, as the StackSet handler reports it; nothing is created
    then."""
    admin_arn = admin or f"arn:aws:iam::{account_id}:role/AWSCloudFormationStackSetAdministrationRole"
    role = execution or "AWSCloudFormationStackSetExecutionRole"
    targets = [(a, r) for g in groups for a in g.get("DeploymentTargets", {}).get("Accounts", []) for r in g["Regions"]]
    refused = {}
    for target, region in targets:
        reason = stackset_permissions.refusal(account_id, admin_arn, role, target, region, body, ("create", "read"))
        if reason:
            refused[(target, region)] = reason
    for region in {r for _, r in targets}:
        in_region = [t for t in targets if t[1] == region]
        failed = sum(1 for t in in_region if t in refused)
        if "FailureToleranceCount" in preferences:
            tolerance = int(preferences["FailureToleranceCount"])
        elif "FailureTolerancePercentage" in preferences:
            tolerance = math.floor(len(in_region) * int(preferences["FailureTolerancePercentage"]) / 100)
        else:
            tolerance = 0
        if failed > tolerance:
            raise ValidationError(message=stackset_permissions.failure_message(str(uuid.uuid4()), refused.values()))
    return refused


def role_exists(account_id: str, name: str) -> bool:
    try:
        iam_backends[account_id]["global"].get_role(name)
        return True
    except Exception:  # noqa: BLE001 - moto raises its own not-found error
        return False


class StackSetResource(CloudFormationModel):
    """One StackSet created by a stack."""

    # moto files models by the service named in their module (moto.<service>...).
    __module__ = "moto.cloudformation.harness_stackset_resource"

    def __init__(self, stackset_id: str, name: str, account_id: str, region: str, groups: list[dict[str, Any]]):
        self.stackset_id = stackset_id
        self.name = name
        self.account_id = account_id
        self.region = region
        self.groups = groups

    @property
    def physical_resource_id(self) -> str:
        return self.stackset_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return "StackSetName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFormation::StackSet"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "StackSetId"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "StackSetId":
            return self.stackset_id
        raise ValidationError(message=f"unknown attribute {attribute_name}")

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> "StackSetResource":
        props = cloudformation_json.get("Properties", {})
        name = props.get("StackSetName") or resource_name
        model = props.get("PermissionModel", "SELF_MANAGED")
        if model == "SERVICE_MANAGED" and account_id not in ORGANIZATIONS_ACCESS:
            raise ValidationError(message="You must enable organizations access to operate a service managed stack set")
        admin = props.get("AdministrationRoleARN")
        execution = props.get("ExecutionRoleName")
        if model == "SELF_MANAGED":
            admin_name = (admin or "arn:aws:iam::x:role/AWSCloudFormationStackSetAdministrationRole").rsplit("/", 1)[1]
            if not role_exists(account_id, admin_name):
                raise ValidationError(message=f"Account {account_id} should have '{admin_name}' role with trust "
                                              "relationship to CloudFormation service.")
        body = template_from_url(props["TemplateURL"], account_id) if props.get("TemplateURL") else props["TemplateBody"]
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in props.get("Parameters", [])}
        groups = props.get("StackInstancesGroup", [])
        refused: dict[tuple[str, str], str] = {}
        if model == "SELF_MANAGED":
            for group in groups:
                for target in group.get("DeploymentTargets", {}).get("Accounts", []):
                    role = execution or "AWSCloudFormationStackSetExecutionRole"
                    if not role_exists(target, role):
                        raise ValidationError(message=f"Account {target} should have '{role}' role with trust "
                                                      "relationship to Role '" + str(admin) + "'.")
            refused = instances_refused(account_id, admin, execution, body, groups, props.get("OperationPreferences", {}))
        backend = cloudformation_backends[account_id][region_name]
        stackset = backend.create_stack_set(name=name, template=body, parameters=parameters, tags={},
                                            permission_model=model, admin_role=admin, exec_role=execution,
                                            description=props.get("Description"))
        for group in groups:
            targets = group.get("DeploymentTargets", {})
            accounts = targets.get("Accounts", [])
            if model == "SERVICE_MANAGED":
                backend.create_stack_instances(stackset.id, accounts, group["Regions"], parameters=[],
                                               deployment_targets=targets)
                continue
            for target in accounts:
                regions = [r for r in group["Regions"] if (target, r) not in refused]
                if regions:
                    backend.create_stack_instances(stackset.id, [target], regions, parameters=[], deployment_targets=None)
        return cls(stackset.id, name, account_id, region_name, groups)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str) -> None:
        props = cloudformation_json.get("Properties", {})
        groups = props.get("StackInstancesGroup", [])
        cls(resource_name, props.get("StackSetName") or resource_name, account_id, region_name, groups).delete(
            account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        """The handler's instances, then the StackSet: moto refuses (StackSetNotEmpty) while others
        remain. A StackSet already gone is deleted (a handler's NotFound on delete)."""
        backend = cloudformation_backends[account_id][region_name]
        try:
            stackset = backend.describe_stack_set(self.name)
        except StackSetNotFoundException:
            return
        for group in self.groups:
            accounts = group.get("DeploymentTargets", {}).get("Accounts", [])
            stackset.delete_stack_instances(accounts, group["Regions"])
        backend.delete_stack_set(self.name)

    def is_created(self) -> bool:
        return True
