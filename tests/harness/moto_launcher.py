"""Local AWS for the tests, the demo and the benchmark: moto server plus a thin fault-injecting layer.

Starts moto's WSGI application on a free loopback port (or the one given), with AWS managed IAM
policies loaded (so `AmazonSSMManagedInstanceCore` exists), and wraps it in a middleware that:

* records every call (service, operation, region, access key, account, injected or not) and serves
  the log at ``GET /_harness/calls`` (``DELETE`` clears it);
  ``POST /_harness/ssm-setting-age`` ``{"account", "region", "minutesAgo"}`` backdates DHMC's service
  setting's ``LastModifiedDate``;
  ``POST /_harness/ec2-launch-time`` ``{"account", "region", "instanceId", "minutesAgo"}`` makes EC2
  report an instance as launched that long ago;
* injects faults on demand, set with ``POST /_harness/faults`` and a JSON body
  ``{"rules": [rule, ...]}``. A rule is::

      {"service": "ec2",                 # signing name, or "*" (default)
       "operation": "AssociateIamInstanceProfile",   # or "*" (default)
       "share": 0.34,                    # share of matching calls that fail, exact and deterministic
       "match": "222233334444",          # optional: only calls whose decoded body contains this
       "region": "eu-west-1",            # optional: only calls signed for this region
       "limit": 5,                       # optional: at most this many injections
       "error": "throttle"}              # the service's real throttling error, or
                                         # {"status": 403, "code": "AccessDenied", "message": "..."}

  or a race: ``{"operation": "AssociateIamInstanceProfile", "race": ["from", "to"]}`` first replays
  the request with ``from`` replaced by ``to`` in its body (another actor winning the race), then
  lets the original through, which then meets the real state moto has after the other actor.
  ``GET /_harness/faults`` returns the rules with how many calls each one saw and injected.

It also emulates what moto lacks for StackSets: CloudFormation's organizations (trusted) access,
``DescribeOrganizationsAccess`` / ``ActivateOrganizationsAccess`` / ``DeactivateOrganizationsAccess``
(off until activated, per account), and while it is off, stack-instance operations on
service-managed StackSets (requests with ``DeploymentTargets``) fail as in AWS with
``ValidationError: You must enable organizations access to operate a service managed stack set``.

Stack instances can be made unhealthy, as a failed deployment leaves them: ``POST
/_harness/stack-instance-status`` ``{"account": "...", "region": "...", "status": "OUTDATED",
"detailedStatus": "FAILED", "reason": "..."}`` changes what ``ListStackInstances`` reports for that
instance until an ``UpdateStackInstances`` covering it succeeds. ``POST /_harness/stack-status``
``{"stackId": "...", "status": "DELETE_IN_PROGRESS"}`` shows a stack in the middle of an operation,
as CloudFormation does while it calls a custom resource (moto finishes stack operations at once). StackSet operations get
per-instance results, failure tolerance, running time and the 50-OU cap from ``stackset_model.py``;
the instances of a self-managed StackSet whose roles CloudFormation would refuse fail with the reason
(``stackset_permissions.py``: the execution role's grants against the StackSets floor and the
template's handler permissions, the administration role's trust in an opt-in Region).

What AWS enforces and moto does not, per account:

* **Opt-in regions.** ``POST /_harness/regions`` ``{"account": "...", "disabled": ["ap-east-1"]}``:
  ``DescribeRegions`` in that account leaves those regions out, any other call the account signs for
  one of them fails as AWS fails it (EC2 ``AuthFailure``, other services
  ``UnrecognizedClientException``), and StackSet instances there fail.
* **IAM propagation.** ``POST /_harness/iam-propagation`` ``{"seconds": 3}``: an instance profile
  created (or given a role) less than that long ago is refused by ``AssociateIamInstanceProfile``
  with EC2's ``InvalidParameterValue`` "Invalid IAM Instance Profile name", as IAM's eventual
  consistency makes EC2 answer right after the profile is created.
* **SSM registration lag.** ``POST /_harness/ssm-registration`` ``{"seconds": 60}``: an instance given
  an instance profile (``AssociateIamInstanceProfile``) is listed by ``DescribeInstanceInformation``
  only that long after, as its agent registers some time after the profile's credentials reach it
  ("it can take a few minutes for the managed node to be added to the list").
* **Token buckets.** ``POST /_harness/token-buckets`` ``{"rules": [{"service": "ec2", "operation":
  "AssociateIamInstanceProfile", "capacity": 100, "rate": 5}]}`` (the per-API bucket, sized as the connector's default pacing assumes): EC2 "throttles EC2 API requests for
  each AWS account on a per-Region basis" with token buckets; each (account, region) gets its own
  bucket per rule, and a call finding it empty gets the service's throttling error (logged as
  ``throttled``).
* **Delegated administrator.** ``POST /_harness/delegated-admin`` ``{"account": "..."}`` registers a
  StackSets (and Organizations) delegated administrator. Its CloudFormation calls with
  ``CallAs=DELEGATED_ADMIN`` act on the StackSets of the management account (where they live), its
  Organizations reads see the organization; ``CallAs=DELEGATED_ADMIN`` from any other account is
  refused, and so is ``ActivateOrganizationsAccess`` from anything but the management account.
* **Role trust.** ``sts:AssumeRole`` into a role that exists is refused (``AccessDenied``) unless its
  trust policy admits the caller's account (``role_trust.py``).

``AWS::CloudFormation::StackSet`` resources in templates come from ``stackset_resource.py`` (moto
skips the type): created from their ``TemplateURL`` in the emulator's S3 with their instances,
refused as AWS refuses them (service-managed without trusted access, self-managed without its
roles), and not deleted while instances another actor created remain.

Microsoft Entra's token endpoint (client credentials, over HTTPS on a port of its own) comes from
``entra_model.py``: ``GET /_harness/entra`` gives its authority URL, ``POST`` registers clients,
sets the token lifetime or makes it refuse. The same HTTPS server is Azure Resource Manager for
Arc machines (``arm_model.py``): ``POST /_harness/arm`` adds machines or throttles, ``GET`` lists
the machines left and every delete.

IAM outbound identity federation (``EnableOutboundWebIdentityFederation``,
``GetOutboundWebIdentityFederationInfo``, ``DisableOutboundWebIdentityFederation``) and STS
``GetWebIdentityToken`` come from ``federation_model.py``: RS256 tokens per account whose keys the
Entra stub uses to verify client assertions; ``GET /_harness/federation`` lists issuers and tokens.

Lambda's ``GetAccountSettings``, which moto lacks, answers each account's concurrency quota (1000,
all unreserved, unless ``POST /_harness/lambda-concurrency`` ``{"account": "...", "limit": 10}``
gives the reduced quota "new AWS accounts" start with, Lambda quotas).

Parameter Store's expiration policies, which moto stores but never applies, delete their parameter
once the time has passed (checked before every Systems Manager call).

Systems Manager's managed instances and Run Command, which moto lacks, come from ``ssm_model.py``
(``DescribeInstanceInformation``, ``SendCommand`` with SSM's validation and exact targeting,
``ListCommands``, ``ListCommandInvocations``, ``GetCommandInvocation``; outcomes chosen with
``POST /_harness/ssm-outcomes``). ``SendCommand``, ``PutEvents`` and SQS ``SendMessage(Batch)``
bodies are kept in the call log.

Prints ``READY <port>`` on stdout once it answers, and exits when its standard input closes (so a
test process that dies never leaves a server behind) or on SIGTERM. With ``--zygote SOCKET`` it is
instead a fork server for the tests (see ``zygote``): the imports are paid once per test run, not
once per test.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from fractions import Fraction
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote_plus

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

from moto.cloudformation.models import StackInstance, StackInstances  # noqa: E402
from moto.cloudformation.parsing import ResourceMap  # noqa: E402
from moto.cloudformation.responses import CloudFormationResponse  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402
import moto.iam.models as moto_iam  # noqa: E402
from moto.iam.models import Role as IamRole, iam_backends  # noqa: E402
from moto.ssm.models import Parameter as SsmParameter  # noqa: E402
from moto.server import DomainDispatcherApplication, create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from entra_model import EntraModel  # noqa: E402
import kms_policy  # noqa: E402
import role_trust  # noqa: E402
from federation_model import FEDERATION_OPERATIONS, FederationError, FederationModel, subject_of  # noqa: E402
import stackset_permissions  # noqa: E402
import stackset_resource  # noqa: E402,F401 - registers AWS::CloudFormation::StackSet with moto's CloudFormation
from ssm_model import OPERATIONS as SSM_OPERATIONS, SsmModel  # noqa: E402
from stackset_model import INSTANCE_OPERATIONS, StackSetModel, members  # noqa: E402

MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account: the one that creates the organization
MANAGEMENT_ACCESS_KEY = "testing"
PROPAGATION_ERROR = "Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"

try:  # moto >= 5 ships its own request handler (keep-alive friendly); optional
    from moto.moto_server.werkzeug_app import MotoRequestHandler  # type: ignore
except Exception:  # pragma: no cover
    MotoRequestHandler = None  # type: ignore

# Regions Account Management lists (commercial partition); the opt-in ones ("Regions introduced
# after March 20, 2019 are disabled by default", AWS General Reference).
OPT_IN_REGIONS = ("af-south-1", "ap-east-1", "ap-south-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
                  "ca-west-1", "eu-central-2", "eu-south-1", "eu-south-2", "il-central-1", "me-central-1", "me-south-1",
                  "mx-central-1")
ALL_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
               "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ca-central-1", "eu-central-1", "eu-north-1",
               "eu-west-1", "eu-west-2", "eu-west-3", "sa-east-1") + OPT_IN_REGIONS
# Operations whose request bodies the call log keeps (tests read what was sent).
KEPT_BODIES = ("PutEvents", "SendCommand", "SendMessage", "SendMessageBatch", "DeleteStackInstances")
JSON_SERVICES = {"ssm", "organizations", "sqs", "events", "logs", "dynamodb"}
THROTTLE_CODES = {
    "ec2": (503, "RequestLimitExceeded", "Request limit exceeded."),
    "ssm": (400, "ThrottlingException", "Rate exceeded"),
    "organizations": (400, "TooManyRequestsException", "AWS Organizations can't complete your request because another request is already in progress. Try again later."),
    "iam": (400, "Throttling", "Rate exceeded"),
    "sts": (400, "Throttling", "Rate exceeded"),
    "cloudformation": (400, "Throttling", "Rate exceeded"),
    "dynamodb": (400, "ProvisionedThroughputExceededException",
                 "The level of configured provisioned throughput for the table was exceeded."),
}
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")

Start = Callable[..., Any]


def get_account_id_from(access_key: str) -> str:
    """The account an access key belongs to. moto asks every partition's IAM backend of every
    account, creating the ones that do not exist yet, each loading the ~1,600 AWS managed
    policies: about 60 s of CPU for an organization of 50 accounts. A backend never created holds
    no key, so only the existing ones are asked (same answers)."""
    for account_id, account in list(iam_backends.items()):
        for backend in list(account.values()):
            if access_key in backend.access_keys:
                return account_id
    return moto_iam.DEFAULT_ACCOUNT_ID


moto_iam.get_account_id_from = get_account_id_from  # moto's request handling looks it up here

# The AWS managed policies as data, parsed once (before the zygote forks, so every emulator
# shares it) instead of once per account's IAM backend: half of an account's creation time.
AWS_MANAGED_POLICIES: dict[str, Any] = json.loads(moto_iam.aws_managed_policies_data)


def _init_aws_policies(self: Any) -> list[Any]:
    if not moto_iam.load_iam_aws_managed_policies():
        return []
    return [moto_iam.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data)
            for name, data in AWS_MANAGED_POLICIES.items()]


moto_iam.IAMBackend._init_aws_policies = _init_aws_policies  # type: ignore[method-assign]

# moto bug: AWS::KMS::Key passes the template's Tags ({Key, Value}, as CloudFormation writes them)
# to KMS's tagger, which reads {TagKey, TagValue} (KMS's API shape), and fails the stack.
import moto.kms.models as moto_kms  # noqa: E402
_moto_key_from_cfn = moto_kms.Key.create_from_cloudformation_json.__func__


def _key_from_cfn(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
                  **kwargs: Any) -> Any:
    properties = cloudformation_json.get("Properties", {})
    tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} if "Key" in t else t for t in properties.get("Tags", [])]
    fixed = {**cloudformation_json, "Properties": {**properties, "Tags": tags}}
    return _moto_key_from_cfn(cls, resource_name, fixed, account_id, region_name, **kwargs)


moto_kms.Key.create_from_cloudformation_json = classmethod(_key_from_cfn)  # type: ignore[method-assign]

# moto gap: CloudFormation's Ref of an AWS::IAM::ManagedPolicy is the policy's ARN; moto's model has
# no physical_resource_id, so a Ref resolved to the model object (cfn/onboarding.yaml passes its
# StackSetRolesBoundary to the member template and names it in the execution role's conditions).
moto_iam.ManagedPolicy.physical_resource_id = property(lambda self: self.arn)  # type: ignore[attr-defined]

# (account, region) -> fields of a stack instance summary that differ from moto's "all is well"
UNHEALTHY: dict[tuple[str, str], dict[str, Any]] = {}
_moto_instance_to_dict = StackInstance.to_dict


def _instance_to_dict(self: Any) -> dict[str, Any]:
    summary = _moto_instance_to_dict(self)
    override = UNHEALTHY.get((summary.get("Account"), summary.get("Region")))
    if override:
        summary = {**summary, **override}
    return summary


StackInstance.to_dict = _instance_to_dict  # type: ignore[method-assign]

_moto_create_instances = StackInstances.create_instances


def _create_instances(self: Any, accounts: list[str], regions: list[str], parameters: Any,
                      deployment_targets: dict[str, Any], permission_model: str) -> list[dict[str, Any]]:
    """Service-managed targets as AWS resolves them (DeploymentTargets): the accounts of the OUs and
    of every OU below them, each once, filtered by ``AccountFilterType`` ("INTERSECTION: StackSets
    deploys to the accounts specified in Accounts parameter"), never the management account
    ("StackSets doesn't deploy stack instances to the organization management account, even if the
    organization management account is in your organization or in an OU in your organization").
    moto looks one OU level down only, deploys an account once per OU that reaches it, ignores the
    filter and includes the management account."""
    if permission_model != "SERVICE_MANAGED" or not deployment_targets:
        return _moto_create_instances(self, accounts, regions, parameters, deployment_targets, permission_model)
    chosen = resolve_targets(self.org_backend, deployment_targets)
    return _moto_create_instances(self, sorted(chosen), regions, parameters, {}, permission_model)


def resolve_targets(org: Any, deployment_targets: dict[str, Any]) -> set[str]:
    """The accounts service-managed ``DeploymentTargets`` name (see ``_create_instances``)."""
    subtree = set(deployment_targets.get("OrganizationalUnitIds", []))
    grew = True
    while grew:
        below = {ou.id for ou in org.ou if ou.parent_id in subtree}
        grew = not below <= subtree
        subtree |= below
    in_ous = {a.id for a in org.accounts if a.parent_id in subtree}
    listed = set(deployment_targets.get("Accounts", []))
    mode = deployment_targets.get("AccountFilterType") or ("UNION" if listed else "NONE")
    chosen = {"INTERSECTION": in_ous & listed, "DIFFERENCE": in_ous - listed, "UNION": in_ous | listed}.get(mode, in_ous)
    if org.org is not None:
        chosen.discard(org.org.master_account_id)
    return chosen


StackInstances.create_instances = _create_instances  # type: ignore[method-assign]

_moto_delete_stack_instances = CloudFormationResponse.delete_stack_instances


def _delete_stack_instances(self: Any) -> Any:
    """DeleteStackInstances with service-managed ``DeploymentTargets`` ("For create and delete
    operations, specify OrganizationalUnitIds"): moto reads ``Accounts`` only and deletes nothing."""
    targets = self._get_params().get("DeploymentTargets")
    if not targets or self._get_param("Accounts"):
        return _moto_delete_stack_instances(self)
    name = self._get_param("StackSetName")
    stackset = self.cloudformation_backend.describe_stack_set(name)
    accounts = sorted(resolve_targets(stackset.instances.org_backend, targets))
    stackset = self.cloudformation_backend.delete_stack_instances(name, accounts, self._get_param("Regions", []))
    return ActionResult({"OperationId": stackset.operations[-1]["OperationId"]})


CloudFormationResponse.delete_stack_instances = _delete_stack_instances  # type: ignore[method-assign]


def _parameter_description(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """DescribeParameters' ``Policies`` as AWS answers them (ParameterInlinePolicy: "PolicyText: The
    JSON text of the policy", "PolicyType: The type of policy"): moto puts the parsed policy in both."""
    response = _moto_parameter_description(self, *args, **kwargs)
    for policy in response.get("Policies", []):
        text = policy.get("PolicyText")
        if isinstance(text, dict):
            policy.update(PolicyText=json.dumps(text), PolicyType=text.get("Type", ""), PolicyStatus="Pending")
    return response



_moto_parameter_description = SsmParameter.describe_response_object
SsmParameter.describe_response_object = _parameter_description  # type: ignore[method-assign]


def expire_parameters() -> None:
    """Parameter policies, Expiration: "Parameter Store deletes the parameter at the specified date
    and time" (moto keeps it). Run before every Systems Manager call, in every account and region."""
    from moto.ssm.models import ssm_backends

    now = time.time()
    for account_id, regions in list(ssm_backends.items()):
        for region, backend in list(regions.items()):
            parameters = getattr(backend, "_parameters", {})
            for name, versions in list(parameters.items()):
                policies = versions[-1].policies if versions else None
                if not policies:
                    continue
                try:
                    expiry = [p for p in json.loads(policies) if p.get("Type") == "Expiration"]
                    stamp = expiry[0]["Attributes"]["Timestamp"] if expiry else None
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if stamp and _timestamp(stamp) <= now:
                    parameters.pop(name, None)


def _timestamp(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _role_policy_list(self: Any) -> list[dict[str, str]]:
    """moto 5.2 fails GetAccountAuthorizationDetails for a role whose inline policy CloudFormation
    created (stored as a dict, quoted as bytes): serialise such documents first, as IAM returns
    them (URL-encoded JSON)."""
    from urllib import parse
    return [{"PolicyName": name, "PolicyDocument": parse.quote(p if isinstance(p, str) else json.dumps(p))}
            for name, p in self.policies.items()]


IamRole.role_policy_list = property(_role_policy_list)  # type: ignore[method-assign,assignment]


# CloudFormation's DeletionPolicy RetainExceptOnCreate "behaves like Retain for stack operations,
# except for the stack operation that initially created the resource" (DeletionPolicy attribute);
# moto knows only Retain. A stack delete here is never the rollback of such a resource's creation
# (moto refuses a failing create at once; the one stack deploy_like_sam deletes as CloudFormation's
# rollback would, onboarding.yaml's, has none), so it retains.
_moto_delete = ResourceMap.delete


def _delete_retaining_except_on_create(self: Any) -> None:
    for resource in self._resource_json_map.values():
        if resource.get("DeletionPolicy") == "RetainExceptOnCreate":
            resource["DeletionPolicy"] = "Retain"
    _moto_delete(self)


ResourceMap.delete = _delete_retaining_except_on_create  # type: ignore[method-assign]


class Rule:
    """One fault rule with its deterministic counters."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.service = spec.get("service", "*")
        self.operation = spec.get("operation", "*")
        self.share = Fraction(spec.get("share", 1)).limit_denominator(1000)
        self.match = spec.get("match")
        self.region = spec.get("region")
        self.limit = spec.get("limit")
        self.error = spec.get("error", "throttle")
        self.race = spec.get("race")
        self.seen: dict[str, int] = {}
        self.injected = 0

    def applies(self, service: str, operation: str, region: str, body: str) -> bool:
        if self.service not in ("*", service) or self.operation not in ("*", operation):
            return False
        if self.region is not None and self.region != region:
            return False
        return self.match is None or self.match in body

    def fires(self, key: str) -> bool:
        """Counts one matching call; true when this call is one of the chosen share."""
        n = self.seen.get(key, 0)
        self.seen[key] = n + 1
        if self.limit is not None and self.injected >= self.limit:
            return False
        fire = math.ceil((n + 1) * self.share) > math.ceil(n * self.share)
        if fire:
            self.injected += 1
        return fire

    def report(self) -> dict[str, Any]:
        return {**self.spec, "seen": self.seen, "injected": self.injected}


class Harness:
    """WSGI middleware: call log, fault injection and races in front of moto."""

    def __init__(self, app: Start) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.rules: list[Rule] = []
        self.calls: list[dict[str, Any]] = []
        # Shared with the StackSet resource model (stackset_resource.py).
        self.organizations_access: set[str] = stackset_resource.ORGANIZATIONS_ACCESS
        self.federation = FederationModel()
        self.entra = EntraModel()
        self.entra.jwks_for = self.federation.jwks
        self.entra.start()
        self.ssm = SsmModel(token_key=self.entra.key, arm=self.entra.arm, arm_url=lambda: self.entra.authority)
        self.stacksets = StackSetModel(UNHEALTHY)
        self.propagation_seconds = 0.0
        self.profiles_touched: dict[tuple[str, str], float] = {}
        self.delegated_admins: set[str] = set()
        self.lambda_concurrency: dict[str, int] = {}
        self.buckets: list[dict[str, Any]] = []
        self.bucket_state: dict[tuple[int, str, str], tuple[float, float]] = {}

    def __call__(self, environ: dict[str, Any], start: Start) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_harness/"):
            return self.control(environ, start, path)
        body = self.read_body(environ)
        service, region, access_key = self.signing(environ)
        operation = self.operation(environ, body)
        raw = body.decode("utf-8", "replace")
        decoded = unquote_plus(raw)
        error, races = self.decide(service, operation, region, decoded)
        account = get_account_id_from(access_key) if access_key else None
        call_as = (parse_qs(body.decode("utf-8", "replace")).get("CallAs") or [None])[0]
        record = {
            "service": service,
            "operation": operation,
            "region": region,
            "accessKey": access_key,
            "account": account,
            "injected": error is not None,
            "callAs": call_as,
            "body": body.decode("utf-8", "replace") if operation in KEPT_BODIES else None,
        }
        with self.lock:
            self.calls.append(record)
        if error is None:
            error = self.take_token(service, operation, account or "", region)
            record["throttled"] = error is not None
            record["injected"] = record["injected"] or error is not None
        if error is None:
            error = self.strict(service, operation, region, account or "", call_as, raw, access_key)
        if error is not None:
            return self.fail(start, service, *error)
        if self.acts_for_management(service, operation, account or "", call_as):
            environ["HTTP_AUTHORIZATION"] = environ.get("HTTP_AUTHORIZATION", "").replace(
                f"Credential={access_key}/", f"Credential={MANAGEMENT_ACCESS_KEY}/")
            environ.pop("HTTP_X_AMZ_SECURITY_TOKEN", None)
            account = MANAGEMENT_ACCOUNT
            record["account"] = account
        if service == "account" and environ.get("PATH_INFO") == "/listRegions":
            status, answer = self.list_regions(account or MANAGEMENT_ACCOUNT, body)
            payload = json.dumps(answer).encode()
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
            if status != 200:
                headers.append(("x-amzn-ErrorType", answer["__type"]))
            start(f"{status} {'OK' if status == 200 else 'Error'}", headers)
            return [payload]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if service == "cloudtrail" and target.startswith("CloudTrail_20131101."):
            # The Rust SDK sends CloudTrail's target by its Smithy shape name, which AWS accepts;
            # moto routes only the long form botocore sends.
            environ["HTTP_X_AMZ_TARGET"] = "com.amazonaws.cloudtrail.v20131101." + target
        if service == "lambda" and path.rstrip("/") == "/2016-08-19/account-settings":
            return self.account_settings(start, account or MANAGEMENT_ACCOUNT)
        if operation in FEDERATION_OPERATIONS and service in ("iam", "sts"):
            return self.outbound_federation(start, service, operation, account or MANAGEMENT_ACCOUNT, access_key, region, raw)
        if service == "ssm":
            expire_parameters()
        if service == "ssm" and operation in SSM_OPERATIONS:
            status, answer = self.ssm.handle(operation, record["account"] or "123456789012", region, body)
            payload = json.dumps(answer).encode()
            headers = [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))]
            if status != 200:
                headers.append(("x-amzn-ErrorType", answer["__type"]))
            start(f"{status} {'OK' if status == 200 else 'Error'}", headers)
            return [payload]
        if service == "cloudformation":
            answered = self.stacksets_gap(start, operation, record["account"] or "", decoded)
            if answered is not None:
                return answered
            payload = self.stacksets.answer(operation, raw)
            if payload is not None:
                start("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))])
                return [payload]
            if operation in INSTANCE_OPERATIONS:
                refused = self.self_managed_refusals(operation, record["account"] or "", region, raw)
                status, headers, response = self.call_app(environ)
                if status.startswith("200"):
                    self.stacksets.record(operation, raw, response, refused)
                start(status, headers)
                return [response]
            if operation == "UpdateStackSet":
                status, headers, response = self.call_app(environ)
                if status.startswith("200"):
                    targets = stack_set_instances(record["account"] or "", region, raw)
                    self.stacksets.record_rollout(raw, response, targets)
                start(status, headers)
                return [response]
        if service == "iam" and operation in ("CreateInstanceProfile", "AddRoleToInstanceProfile"):
            name = (parse_qs(raw).get("InstanceProfileName") or [""])[0]
            with self.lock:
                self.profiles_touched[(account or "", name)] = time.monotonic()
        if service == "ec2" and operation == "DescribeRegions" and self.stacksets.disabled_regions(account or ""):
            status, headers, response = self.call_app(environ)
            for name in self.stacksets.disabled_regions(account or ""):
                item = rb"<item>(?:(?!</item>).)*?<regionName>" + re.escape(name.encode()) + rb"</regionName>(?:(?!</item>).)*?</item>"
                response = re.sub(item, b"", response, flags=re.S)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            start(status, headers + [("Content-Length", str(len(response)))])
            return [response]
        for old, new in races:
            raced = body.replace(old.encode(), new.encode())
            self.replay(environ, raced)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start)

    # -- request inspection -------------------------------------------------------------------

    @staticmethod
    def read_body(environ: dict[str, Any]) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    @staticmethod
    def signing(environ: dict[str, Any]) -> tuple[str, str, str]:
        found = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not found:
            return ("unknown", "unknown", "")
        access_key, region, service = found.groups()
        return (service, region, access_key)

    @staticmethod
    def operation(environ: dict[str, Any], body: bytes) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.rsplit(".", 1)[-1]
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
        query = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
        return query[0] if query else environ.get("REQUEST_METHOD", "?")

    def decide(self, service: str, operation: str, region: str, body: str) -> tuple[tuple[int, str, str] | None, list[list[str]]]:
        races: list[list[str]] = []
        with self.lock:
            for rule in self.rules:
                if not rule.applies(service, operation, region, body):
                    continue
                if not rule.fires(f"{service}:{operation}"):
                    continue
                if rule.race:
                    races.append(rule.race)
                    continue
                if rule.error == "throttle":
                    return THROTTLE_CODES.get(service, (400, "Throttling", "Rate exceeded")), races
                e = rule.error
                return (int(e.get("status", 400)), e["code"], e.get("message", e["code"])), races
        return None, races

    # -- where AWS is stricter than moto ---------------------------------------------------------

    def strict(self, service: str, operation: str, region: str, account: str, call_as: str | None,
               body: str, access_key: str = "") -> tuple[int, str, str] | None:
        """An error AWS would answer here and moto would not, or None."""
        global_services = ("iam", "sts", "organizations", "account", "unknown")
        if service not in global_services and self.stacksets.region_disabled(account, region):
            if service == "ec2":
                return (401, "AuthFailure", "AWS was not able to validate the provided access credentials")
            return (400, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if service == "cloudformation":
            with self.lock:
                admins = set(self.delegated_admins)
            if call_as == "DELEGATED_ADMIN" and account not in admins:
                return (400, "ValidationError",
                        f"Account {account} is not registered as a delegated administrator for StackSets")
            if operation == "ActivateOrganizationsAccess" and account != MANAGEMENT_ACCOUNT:
                return (400, "ValidationError",
                        "Only the management account of the organization can activate organizations access")
            refused = self.stacksets.refuse(operation, body)
            if refused is not None:
                return refused
            if operation in INSTANCE_OPERATIONS:
                # Service-managed: "You can't target accounts outside your organization" (StackSets
                # user guide, service-managed considerations). The wording is the harness's.
                for target in members(parse_qs(body), "DeploymentTargets.Accounts"):
                    if organization_of(target) is None:
                        return (400, "ValidationError",
                                f"Account {target} is not in the organization: service-managed StackSets cannot target it")
        if service == "sts" and operation == "AssumeRole":
            return self.untrusted(account, access_key, region, body)
        if service == "ssm" and operation in kms_policy.SSM_OPERATIONS:
            return self.key_refusal(operation, account, access_key, region, body)
        if service == "ec2" and operation == "AssociateIamInstanceProfile":
            for instance in parse_qs(body).get("InstanceId", []):
                self.ssm.associated[(account, instance)] = time.monotonic()
        if service == "ec2" and operation == "AssociateIamInstanceProfile" and self.propagation_seconds > 0:
            params = parse_qs(body)
            name = (params.get("IamInstanceProfile.Name") or [""])[0]
            if not name:
                name = (params.get("IamInstanceProfile.Arn") or [""])[0].rsplit("/", 1)[-1]
            with self.lock:
                touched = self.profiles_touched.get((account, name))
            if touched is not None and time.monotonic() - touched < self.propagation_seconds:
                return (400, "InvalidParameterValue", PROPAGATION_ERROR.format(name=name))
        return None

    def untrusted(self, account: str, access_key: str, region: str, body: str) -> tuple[int, str, str] | None:
        """``AccessDenied`` when the role to assume exists and its trust policy does not admit the
        caller's account (role_trust.py)."""
        from moto.sts.models import sts_backends
        form = parse_qs(body)
        role_arn = (form.get("RoleArn") or [""])[0]
        parts = role_arn.split(":")
        if len(parts) < 6 or account not in sts_backends:
            return None
        target, name = parts[4], parts[5].rsplit("/", 1)[-1]
        role = role_named(target, name)
        if role is None:
            return None
        _, caller_arn, _ = sts_backends[account]["aws"].get_caller_identity(access_key, region)
        return role_trust.refusal(account, caller_arn, role, organization_of)

    def key_refusal(self, operation: str, account: str, access_key: str, region: str,
                    body: str) -> tuple[int, str, str] | None:
        """What Parameter Store answers when a SecureString's customer managed key refuses the
        caller (kms_policy.py)."""
        from moto.sts.models import sts_backends
        try:
            request = json.loads(body or "{}")
        except ValueError:
            return None
        if account not in sts_backends:
            return None
        user_id, arn, _ = sts_backends[account]["aws"].get_caller_identity(access_key, region)
        return kms_policy.ssm_refusal(operation, account, region, kms_policy.caller_context(account, user_id, arn), request)

    def take_token(self, service: str, operation: str, account: str, region: str) -> tuple[int, str, str] | None:
        """One token from the (account, region) bucket of each matching rule; throttled when empty."""
        now = time.monotonic()
        with self.lock:
            for n, rule in enumerate(self.buckets):
                if rule.get("service", "*") not in ("*", service) or rule.get("operation", "*") not in ("*", operation):
                    continue
                key = (n, account, region)
                tokens, last = self.bucket_state.get(key, (float(rule["capacity"]), now))
                tokens = min(float(rule["capacity"]), tokens + (now - last) * float(rule["rate"]))
                if tokens < 1.0:
                    self.bucket_state[key] = (tokens, now)
                    return THROTTLE_CODES.get(service, (400, "Throttling", "Rate exceeded"))
                self.bucket_state[key] = (tokens - 1.0, now)
        return None

    def acts_for_management(self, service: str, operation: str, account: str, call_as: str | None) -> bool:
        """A registered delegated administrator's StackSet calls (``CallAs=DELEGATED_ADMIN``) and
        Organizations reads act on the management account's state."""
        with self.lock:
            if account not in self.delegated_admins:
                return False
        if service == "cloudformation":
            return call_as == "DELEGATED_ADMIN"
        return service == "organizations" and operation.startswith(("List", "Describe"))

    def call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Runs moto and returns its whole answer."""
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            answer["status"], answer["headers"] = status, headers
            return lambda data: None

        payload = b"".join(self.app(environ, capture))
        return answer["status"], answer["headers"], payload

    @staticmethod
    def self_managed_refusals(operation: str, account: str, region: str, body: str) -> dict[tuple[str, str], str]:
        """The instances of a self-managed StackSet CloudFormation would fail
        (stackset_permissions.py): a create needs the create and read handlers' permissions, an
        update any handler's."""
        if operation not in ("CreateStackInstances", "UpdateStackInstances"):
            return {}
        params = parse_qs(body, keep_blank_values=True)
        targets = [(a, r) for a in members(params, "Accounts") for r in members(params, "Regions")]
        if not targets:
            return {}
        handlers = ("create", "read") if operation == "CreateStackInstances" else stackset_permissions.HANDLERS
        return stackset_permissions.instance_refusals(account, region, (params.get("StackSetName") or [""])[0],
                                                      targets, handlers)

    # -- what moto lacks -------------------------------------------------------------------------

    def stacksets_gap(self, start: Start, operation: str, account: str, body: str) -> Iterable[bytes] | None:
        """Organizations access for StackSets, per account; None lets moto answer."""
        if operation in ("ActivateOrganizationsAccess", "DeactivateOrganizationsAccess", "DescribeOrganizationsAccess"):
            with self.lock:
                if operation == "ActivateOrganizationsAccess":
                    self.organizations_access.add(account)
                elif operation == "DeactivateOrganizationsAccess":
                    self.organizations_access.discard(account)
                enabled = account in self.organizations_access
            result = f"<Status>{'ENABLED' if enabled else 'DISABLED'}</Status>" if operation.startswith("Describe") else ""
            payload = (
                f'<{operation}Response xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
                f"<{operation}Result>{result}</{operation}Result>"
                f"<ResponseMetadata><RequestId>harness</RequestId></ResponseMetadata></{operation}Response>"
            ).encode()
            start("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))])
            return [payload]
        instance_ops = ("CreateStackInstances", "UpdateStackInstances", "DeleteStackInstances")
        if operation in instance_ops and "DeploymentTargets" in body:
            with self.lock:
                enabled = account in self.organizations_access
            if not enabled:
                return self.fail(start, "cloudformation", 400, "ValidationError",
                                 "You must enable organizations access to operate a service managed stack set")
        return None

    def list_regions(self, caller: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Account Management ``ListRegions`` as its API reference documents it: without
        ``AccountId`` the caller's own regions; with it, "the caller must be an identity in the
        organization's management account or a delegated administrator account. The specified
        account ID must be a member account in the same organization ... and the organization must
        have trusted access enabled for the Account Management service"; "The management account
        can't specify its own AccountId". A region of ``POST /_harness/regions``' disabled list is
        ``DISABLED``; other opt-in regions ``ENABLED``, the rest ``ENABLED_BY_DEFAULT``."""
        from moto.organizations.models import organizations_backends
        request = json.loads(body or b"{}")
        target = request.get("AccountId")
        if target is not None:
            org = organizations_backends[MANAGEMENT_ACCOUNT]["aws"]
            with self.lock:
                allowed = caller == MANAGEMENT_ACCOUNT or caller in self.delegated_admins
            trusted = any(svc.get("ServicePrincipal") == "account.amazonaws.com" for svc in org.services)
            members = {a.id for a in org.accounts}
            if not allowed:
                return 403, {"__type": "AccessDeniedException", "message": "User is not authorized to perform: account:ListRegions on another account"}
            if target == MANAGEMENT_ACCOUNT:
                return 400, {"__type": "ValidationException", "message": "The management account can't specify its own AccountId."}
            if not trusted:
                return 403, {"__type": "AccessDeniedException", "message": "The request failed because the organization does not have trusted access enabled for the Account Management service (account.amazonaws.com)."}
            if target not in members:
                return 403, {"__type": "AccessDeniedException", "message": f"Account {target} is not a member of this organization."}
        account = target or caller
        disabled = self.stacksets.disabled_regions(account)
        rows = []
        for region in ALL_REGIONS:
            if region in disabled:
                status = "DISABLED"
            elif region in OPT_IN_REGIONS:
                status = "ENABLED"
            else:
                status = "ENABLED_BY_DEFAULT"
            rows.append({"RegionName": region, "RegionOptStatus": status})
        wanted = request.get("RegionOptStatusContains")
        if wanted:
            rows = [r for r in rows if r["RegionOptStatus"] in wanted]
        start = int(request.get("NextToken") or 0)
        size = max(1, min(int(request.get("MaxResults") or 50), 50))
        answer: dict[str, Any] = {"Regions": rows[start:start + size]}
        if start + size < len(rows):
            answer["NextToken"] = str(start + size)
        return 200, answer

    def account_settings(self, start: Start, account: str) -> Iterable[bytes]:
        """Lambda GetAccountSettings (moto has none): the account's concurrency quota, unreserved
        (no function of the tests reserves any)."""
        with self.lock:
            limit = self.lambda_concurrency.get(account, 1000)
        answer = {
            "AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                             "ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": limit},
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
        }
        payload = json.dumps(answer).encode()
        start("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    def outbound_federation(self, start: Start, service: str, operation: str, account: str,
                            access_key: str | None, region: str, raw: str) -> Iterable[bytes]:
        """IAM outbound identity federation and STS ``GetWebIdentityToken`` (federation_model.py)."""
        from moto.sts.models import sts_backends
        form = parse_qs(raw)
        try:
            if operation == "GetWebIdentityToken":
                _, caller, _ = sts_backends[account]["aws"].get_caller_identity(access_key or "", region)
                token, expiry = self.federation.token(account, subject_of(caller, role_arn_of), region, form)
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry))
                result = f"<WebIdentityToken>{token}</WebIdentityToken><Expiration>{stamp}</Expiration>"
            elif operation == "EnableOutboundWebIdentityFederation":
                result = f"<IssuerIdentifier>{self.federation.enable(account)}</IssuerIdentifier>"
            elif operation == "DisableOutboundWebIdentityFederation":
                self.federation.disable(account)
                result = ""
            else:
                issuer = self.federation.info(account)
                result = f"<IssuerIdentifier>{issuer}</IssuerIdentifier><JwtVendingEnabled>true</JwtVendingEnabled>"
        except FederationError as e:
            return self.fail(start, service, e.status, e.code, e.message)
        namespace = "https://sts.amazonaws.com/doc/2011-06-15/" if service == "sts" else "https://iam.amazonaws.com/doc/2010-05-08/"
        payload = (
            f'<{operation}Response xmlns="{namespace}"><{operation}Result>{result}</{operation}Result>'
            f"<ResponseMetadata><RequestId>harness</RequestId></ResponseMetadata></{operation}Response>"
        ).encode()
        start("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))])
        return [payload]

    # -- responses ------------------------------------------------------------------------------

    def replay(self, environ: dict[str, Any], body: bytes) -> None:
        copy = dict(environ)
        copy["wsgi.input"] = io.BytesIO(body)
        copy["CONTENT_LENGTH"] = str(len(body))
        for chunk in self.app(copy, lambda *a, **k: None):
            pass

    @staticmethod
    def fail(start: Start, service: str, status: int, code: str, message: str) -> Iterable[bytes]:
        if service in JSON_SERVICES:
            payload = json.dumps({"__type": code, "message": message}).encode()
            headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
        elif service == "ec2":
            payload = (
                "<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error>"
                f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                "<RequestID>harness-injected</RequestID></Response>"
            ).encode()
            headers = [("Content-Type", "text/xml")]
        else:
            payload = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{code}</Code><Message>{message}</Message></Error>"
                "<RequestId>harness-injected</RequestId></ErrorResponse>"
            ).encode()
            headers = [("Content-Type", "text/xml")]
        start(f"{status} Injected", headers + [("Content-Length", str(len(payload)))])
        return [payload]

    def control(self, environ: dict[str, Any], start: Start, path: str) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        result: Any
        with self.lock:
            if path == "/_harness/faults" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                self.rules = [Rule(r) for r in spec.get("rules", [])]
                result = {"rules": len(self.rules)}
            elif path == "/_harness/faults":
                result = {"rules": [r.report() for r in self.rules]}
            elif path == "/_harness/stack-instance-status" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                UNHEALTHY[(spec["account"], spec["region"])] = {
                    "Status": spec.get("status", "OUTDATED"),
                    "StatusReason": spec.get("reason", ""),
                    "StackInstanceStatus": {"DetailedStatus": spec.get("detailedStatus", "FAILED")},
                }
                result = {"unhealthy": len(UNHEALTHY)}
            elif path == "/_harness/stackset-failures" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                self.stacksets.set_failures(spec.get("failures", []))
                result = {"failures": len(spec.get("failures", []))}
            elif path == "/_harness/stackset-operations" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                if spec.get("finishRunning"):
                    result = {"finished": self.stacksets.finish_running()}
                else:
                    self.stacksets.set_running_polls(int(spec.get("runningPolls", 0)))
                    result = {"runningPolls": int(spec.get("runningPolls", 0))}
            elif path == "/_harness/regions" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                self.stacksets.set_disabled_regions(spec["account"], spec.get("disabled", []))
                result = {"account": spec["account"], "disabled": spec.get("disabled", [])}
            elif path == "/_harness/ssm-setting-age" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                result = {"changed": int(self.ssm.age_setting(spec["account"], spec["region"],
                                                             float(spec.get("minutesAgo", 0))))}
            elif path == "/_harness/ec2-launch-time" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                result = {"changed": set_launch_time(spec["account"], spec["region"], spec["instanceId"],
                                                     float(spec.get("minutesAgo", 0)))}
            elif path == "/_harness/ssm-registration" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                self.ssm.registration_seconds = float(spec.get("seconds", 0))
                result = {"seconds": self.ssm.registration_seconds}
            elif path == "/_harness/iam-propagation" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                self.propagation_seconds = float(spec.get("seconds", 0))
                result = {"seconds": self.propagation_seconds}
            elif path == "/_harness/token-buckets" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                self.buckets = spec.get("rules", [])
                self.bucket_state = {}
                result = {"rules": len(self.buckets)}
            elif path == "/_harness/delegated-admin" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                self.delegated_admins.add(spec["account"])
                result = {"delegatedAdmins": sorted(self.delegated_admins)}
            elif path == "/_harness/lambda-concurrency" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                self.lambda_concurrency[spec["account"]] = int(spec["limit"])
                result = {"account": spec["account"], "limit": int(spec["limit"])}
            elif path == "/_harness/stack-status" and method == "POST":
                # A stack in the middle of an operation, as CloudFormation shows it while it calls
                # a custom resource (moto's stack operations finish at once).
                spec = json.loads(self.read_body(environ) or b"{}")
                result = {"changed": set_stack_status(spec["stackId"], spec["status"])}
            elif path == "/_harness/ssm-outcomes" and method == "POST":
                spec = json.loads(self.read_body(environ) or b"{}")
                self.ssm.set_rules(spec.get("rules", []))
                result = {"rules": len(spec.get("rules", []))}
            elif path == "/_harness/entra" and method == "POST":
                result = self.entra.configure(json.loads(self.read_body(environ) or b"{}"))
            elif path == "/_harness/entra":
                result = self.entra.report()
            elif path == "/_harness/arm" and method == "POST":
                result = self.entra.arm.configure(json.loads(self.read_body(environ) or b"{}"))
            elif path == "/_harness/arm":
                result = self.entra.arm.report()
            elif path == "/_harness/federation":
                result = self.federation.report()
            elif path == "/_harness/calls" and method == "DELETE":
                self.calls = []
                result = {"calls": 0}
            elif path == "/_harness/calls":
                result = {"calls": list(self.calls)}
            else:
                start("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error":"unknown harness path"}']
        payload = json.dumps(result).encode()
        start("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]


def role_named(account: str, name: str) -> IamRole | None:
    """The IAM role `name` of `account`, if it exists (without creating the account's backend)."""
    role: IamRole | None = stackset_permissions.role_named(account, name)
    return role


def role_arn_of(account: str, name: str) -> str | None:
    """The ARN IAM gives the role `name` of `account` (with its path), if it exists."""
    role = role_named(account, name)
    return role.arn if role is not None else None


def organization_of(account: str) -> str | None:
    """The id of the organization `account` belongs to, if any."""
    from moto.organizations.models import organizations_backends
    if MANAGEMENT_ACCOUNT not in organizations_backends:
        return None
    backend = organizations_backends[MANAGEMENT_ACCOUNT]["aws"]
    org = getattr(backend, "org", None)
    if org is None:
        return None
    members = {a.id for a in backend.accounts} | {MANAGEMENT_ACCOUNT}
    return org.id if account in members else None


def stack_set_instances(account: str, region: str, body: str) -> list[tuple[str, str]]:
    """The (account, region) of every instance of the StackSet an ``UpdateStackSet`` names (its
    ``Accounts``/``Regions`` narrow them when given)."""
    from moto.cloudformation.models import cloudformation_backends
    params = parse_qs(body)
    name = (params.get("StackSetName") or [""])[0]
    try:
        stackset = cloudformation_backends[account][region].describe_stack_set(name)
    except Exception:  # noqa: BLE001 - moto answered 200: the StackSet exists; nothing to model otherwise
        return []
    accounts, regions = set(members(params, "Accounts")), set(members(params, "Regions"))
    return sorted((i.account_id, i.region_name) for i in stackset.stack_instances
                  if (not accounts or i.account_id in accounts) and (not regions or i.region_name in regions))


def set_launch_time(account: str, region: str, instance_id: str, minutes_ago: float) -> int:
    """Makes EC2 report the instance as launched `minutes_ago` (time passing, for checks that
    depend on an instance's age); how many were found."""
    from moto.ec2.models import ec2_backends
    try:
        instance = ec2_backends[account][region].get_instance(instance_id)
    except Exception:  # noqa: BLE001 - unknown instance: nothing changed
        return 0
    from datetime import timedelta

    from moto.core.utils import utcnow
    instance.launch_time = utcnow() - timedelta(minutes=minutes_ago)
    return 1


def set_stack_status(stack_id: str, status: str) -> int:
    """Sets the status CloudFormation reports for the stack ``stack_id``; how many were found."""
    from moto.cloudformation.models import cloudformation_backends
    changed = 0
    for account in list(cloudformation_backends.values()):
        for backend in list(account.values()):
            stack = backend.stacks.get(stack_id)
            if stack is not None:
                stack.status = status
                changed += 1
    return changed


def serve(host: str, port: int, ready: Callable[[int], None], stop_when: Callable[[], None] | None) -> None:
    """Runs one emulator on ``host:port`` (0 picks a free port); ``ready`` gets the port once it
    answers; ``stop_when`` (run in a thread) returns when the server must stop."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True  # type: ignore[attr-defined]
    extra = {"request_handler": MotoRequestHandler} if MotoRequestHandler else {}
    server = make_server(host, port, Harness(moto_app), threaded=True, **extra)
    server.daemon_threads = True  # type: ignore[attr-defined]

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if stop_when is not None:
        def watch() -> None:
            stop_when()
            stop()

        threading.Thread(target=watch, daemon=True).start()
    ready(server.server_port)
    server.serve_forever()


def zygote(path: str, idle_seconds: float) -> None:
    """A fork server for the tests: this process has paid for the imports (about 3 s of CPU, most
    of it moto's CloudFormation and EC2 modules) once; each connection to the Unix socket ``path``
    sends the client's process id and gets a fresh emulator, forked from here, answering ``READY
    <port> <pid>``. The emulator stops when the client process is gone or its pid is signalled;
    the zygote exits after ``idle_seconds`` without a request. One zygote per socket (a lock file
    held for its life); the socket's name carries a digest of the harness sources, so an edited
    harness never meets a stale zygote."""
    import fcntl
    import random
    import socket

    lock = open(path + ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another zygote serves this socket
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(idle_seconds)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    try:
        while True:
            try:
                connection, _ = listener.accept()
            except socket.timeout:
                return
            with connection:
                request = connection.makefile("r").readline().split()
                client = int(request[0]) if request and request[0].isdigit() else 0
                if os.fork() == 0:
                    listener.close()
                    lock.close()
                    random.seed()  # moto draws ids from random: each emulator its own sequence
                    answer = connection.makefile("w")

                    def ready(port: int) -> None:
                        answer.write(f"READY {port} {os.getpid()}\n")
                        answer.flush()
                        connection.close()

                    def client_gone() -> None:
                        while True:
                            time.sleep(0.5)
                            try:
                                os.kill(client, 0)
                            except OSError:
                                return

                    serve("127.0.0.1", 0, ready, client_gone if client else None)
                    os._exit(0)
    finally:
        listener.close()
        if os.path.exists(path):
            os.unlink(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--keep-running", action="store_true", help="ignore standard input closing")
    parser.add_argument("--zygote", metavar="SOCKET", help="serve fresh emulators forked on request (tests)")
    parser.add_argument("--idle", type=float, default=120.0, help="seconds a zygote waits for a request")
    args = parser.parse_args()
    if args.zygote:
        zygote(args.zygote, args.idle)
        return

    def ready(port: int) -> None:
        print(f"READY {port}", flush=True)

    serve(args.host, args.port, ready, None if args.keep_running else sys.stdin.read)


if __name__ == "__main__":
    main()
