"""deploy/terraform deploys what cfn/template.yaml (and its nested cfn/onboarding.yaml) deploys.

No Terraform binary or provider is available here, so the check is static: the module is parsed
with python-hcl2, both sides are reduced to one canonical form (tf_parity/canon.py: parameters,
pseudo parameters, resource attributes and conditions become symbols, so `!GetAtt WorkQueue.Arn`
and `aws_sqs_queue.work_queue.arn` are the same value), and compared resource by resource:

* every template resource has its Terraform counterpart (SAM's generated rules, permissions, event
  source mappings and event invoke configs included, by SAM's names) and the module has nothing
  else but the few Terraform-only blocks listed here;
* each resource's properties, through one property table per type: every property the template
  sets must be in the table and equal in Terraform, and every attribute Terraform sets must be the
  image of one (IAM statements with actions, resources, principals and conditions; environment
  variables; event patterns and schedules; queue and alarm settings; the StackSets' parameters);
  the same Condition (count), the same DeletionPolicy Retain (prevent_destroy), and the
  template's checkov skips;
* variables against parameters (name, type, default, description, validation), conditions,
  mappings, Rules (preconditions) and outputs.

What the template has and Terraform cannot have is listed in CFN_ONLY with the reason; each entry
must still exist in the template and be absent from the module. Run with the emulator's
virtualenv (cfn-lint and python-hcl2): `.venv-moto/bin/python -m unittest discover -s tests/script`.
"""

from __future__ import annotations

import copy
import posixpath
import re
import unittest
from pathlib import Path
from typing import Any, Callable

from tf_parity import hcl
from tf_parity.canon import NOVALUE, Cfn, Terraform, cfn_statements, json_with_symbols, load_cfn, snake

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "deploy" / "terraform"
TEMPLATE = load_cfn(ROOT / "cfn" / "template.yaml")
ONBOARDING = load_cfn(ROOT / "cfn" / "onboarding.yaml")

# The template's, with no counterpart in Terraform.
CFN_ONLY = {
    "resources": {
        "Onboarding": "the nested stack itself: its resources are compared one by one (onboarding.tf)",
        "MemberStackSetInstances": "the custom resource only CloudFormation sends a Delete to; Terraform's "
                                   "teardown empties the member StackSet as a documented step (README.md, Teardown)",
        **{f"{function}FunctionPreflightAfterDeploy{part}": "the stack's own status change (AWS::StackId) starts "
           "a preflight after each deploy; the module has no stack: aws_lambda_invocation.preflight (preflight.tf)"
           for function in ("ProfileScan", "AccountDiscovery", "ArcProvisioner") for part in ("", "Permission")},
    },
    "statements": {
        ("AccountDiscoveryRole", "CheckThisDeploymentIsBeingDeleted"): "DescribeStacks on AWS::StackId, "
        "read only by the custom resource's Delete; no stack owns a Terraform deploy",
    },
    "environment": {
        ("AccountDiscoveryFunction", "CONNECTOR_STACK_ID"): "AWS::StackId; unset, account-discovery answers "
        "a custom resource Delete without deleting anything (src/discovery/teardown.rs)",
    },
    # (resource, property path): the Terraform attribute the path's snake_case would name must be absent.
    "properties": {
        ("MemberStackSet", "OperationPreferences.ConcurrencyMode"): "the pinned provider's "
        "aws_cloudformation_stack_set has no operation_preferences.concurrency_mode (5.100.0's schema; "
        "hashicorp/terraform-provider-aws#38882): Terraform's updates keep STRICT_FAILURE_TOLERANCE "
        "(onboarding.tf, README.md)",
    },
}
# Terraform's, with no counterpart in the template.
TF_ONLY_VARIABLES = {"package_dir": "the zips sam build makes", "template_bucket": "the bucket sam deploy uploads to",
                     "preflight_after_apply": "the template's PreflightAfterDeploy rules need no switch: they are "
                     "asynchronous, where Terraform waits for each aws_lambda_invocation"}
TF_ONLY_RESOURCES = {
    ("terraform_data", "rules"): "the template's Rules, as preconditions (test_rules)",
    ("aws_s3_object", "member_template"): "cfn/member.yaml uploaded as sam deploy uploads it (TemplateURL)",
    ("aws_cloudformation_stack_set_instance", "management_stack_set"): "ManagementStackSet's StackInstancesGroup",
    ("aws_lambda_invocation", "preflight"): "each function's preflight after an apply that changes it: the "
    "template's PreflightAfterDeploy rules, which need a stack",
}
TF_ONLY_DATA = {("aws_caller_identity", "current"), ("aws_partition", "current"), ("aws_region", "current"),
                ("aws_s3_bucket", "template_bucket")}
META = {"count", "for_each", "lifecycle", "depends_on", "provider", "__comments__", "__inline_comments__", "__is_block__"}


# ---------------------------------------------------------------- the two sides
def sam_expanded(template: dict) -> dict[str, dict]:
    """The template's resources with each AWS::Serverless::Function replaced by what SAM
    generates from it (Globals merged): the function, its event invoke config, and per event a
    rule with its target and permission, or an event source mapping, by SAM's logical ids."""
    out: dict[str, dict] = {}
    globals_ = template.get("Globals", {}).get("Function", {})
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            out[logical] = resource
            continue
        props = {**copy.deepcopy(globals_), **copy.deepcopy(resource["Properties"])}
        events = props.pop("Events", {})
        invoke = props.pop("EventInvokeConfig", None)
        props.pop("CodeUri")
        dlq = props.pop("DeadLetterQueue", None)
        if dlq:
            assert dlq["Type"] == "SQS", dlq
            props["DeadLetterConfig"] = {"TargetArn": dlq["TargetArn"]}
        props["Code"] = {"Binary": resource["Metadata"]["BuildProperties"]["Binary"]}
        for (function, name), _ in CFN_ONLY["environment"].items():
            if function == logical:
                props["Environment"]["Variables"].pop(name)
        out[logical] = {"Type": "AWS::Lambda::Function", "Properties": props, "Metadata": resource.get("Metadata", {})}
        if invoke:
            config = {"FunctionName": {"Ref": logical}, "Qualifier": "$LATEST", **copy.deepcopy(invoke)}
            for outcome in config.get("DestinationConfig", {}).values():
                outcome.pop("Type", None)  # SAM drops it; the destination's ARN says what it is
            out[logical + "EventInvokeConfig"] = {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": config}
        for event, spec in events.items():
            p, kind = spec["Properties"], spec["Type"]
            if kind == "SQS":
                mapping = {"FunctionName": {"Ref": logical}, "EventSourceArn": p["Queue"]}
                mapping.update({k: v for k, v in p.items() if k != "Queue"})
                out[logical + event] = {"Type": "AWS::Lambda::EventSourceMapping", "Properties": mapping}
                continue
            target = {"Id": logical + event + "LambdaTarget", "Arn": {"Fn::GetAtt": [logical, "Arn"]}}
            rule: dict[str, Any] = {"Targets": [target]}
            if kind == "Schedule":
                rule["ScheduleExpression"] = p["Schedule"]
                if "Input" in p:
                    target["Input"] = p["Input"]
                unknown = set(p) - {"Schedule", "Input"}
            elif kind == "EventBridgeRule":
                rule["EventPattern"] = p["Pattern"]
                if "EventBusName" in p:
                    rule["EventBusName"] = p["EventBusName"]
                if "Input" in p:
                    target["Input"] = p["Input"]
                unknown = set(p) - {"Pattern", "EventBusName", "Input"}
            else:
                raise AssertionError(f"{logical}.{event}: SAM event type {kind} not expanded here")
            assert not unknown, f"{logical}.{event}: {unknown} not expanded here"
            out[logical + event] = {"Type": "AWS::Events::Rule", "Properties": rule}
            out[logical + event + "Permission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
                "FunctionName": {"Ref": logical}, "Action": "lambda:InvokeFunction",
                "Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": [logical + event, "Arn"]}}}
    return out


RESOURCES = sam_expanded(TEMPLATE)
CFN = Cfn(TEMPLATE)
_passed = TEMPLATE["Resources"]["Onboarding"]["Properties"]["Parameters"]
NESTED = Cfn(ONBOARDING, subst={k: CFN(v) for k, v in _passed.items()},
             lists=frozenset(k for k, v in ONBOARDING["Parameters"].items() if v["Type"] == "CommaDelimitedList"))
# Every resource to compare, with the reader of its template.
ALL: dict[str, tuple[dict, Cfn]] = {k: (v, CFN) for k, v in RESOURCES.items() if k not in CFN_ONLY["resources"]}
ALL.update({k: (v, NESTED) for k, v in ONBOARDING["Resources"].items()})

TF = Terraform(
    MODULE,
    params={snake(p): p for p in TEMPLATE["Parameters"]},
    conditions={snake(c): c for t in (TEMPLATE, ONBOARDING) for c in t.get("Conditions", {})},
    mappings={snake(m): m for m in TEMPLATE.get("Mappings", {})},
    logical={snake(k): k for k in list(RESOURCES) + list(ONBOARDING["Resources"])},
)


# ---------------------------------------------------------------- property tables
def as_function(value: Any) -> Any:
    """A function named by Ref (name) or by Arn: the same function."""
    if isinstance(value, tuple) and value[0] == "res" and value[2] in ("Ref", "Arn"):
        return ("function", value[1])
    return value


def keyed(statements: list[dict]) -> dict[str, dict]:
    out = {s["Sid"] or f"#{i}": s for i, s in enumerate(statements)}
    assert len(out) == len(statements), f"duplicate Sid in {[s['Sid'] for s in statements]}"
    return out


def cfn_policy(raw: Any, cfn: Cfn, props: dict) -> Any:
    return keyed(cfn_statements(cfn, raw))


def tf_policy(value: Any, body: dict) -> Any:
    assert isinstance(value, tuple) and value[0] == "policy", f"not a policy document reference: {value}"
    return keyed(TF.policy(value[1]))


def cfn_function(raw: Any, cfn: Cfn, props: dict) -> Any:
    return as_function(cfn(raw))


def tf_function(value: Any, body: dict) -> Any:
    return as_function(value)


def cfn_json(raw: Any, cfn: Cfn, props: dict) -> Any:
    return json_with_symbols(cfn(raw))


def cfn_bus_policy(raw: Any, cfn: Cfn, props: dict) -> Any:
    return keyed(cfn_statements(cfn, [{"Sid": props["StatementId"], **raw}]))


def cfn_dimensions(raw: Any, cfn: Cfn, props: dict) -> Any:
    return {d["Name"]: cfn(d["Value"]) for d in raw}


def cfn_parameters(raw: Any, cfn: Cfn, props: dict) -> Any:
    return {p["ParameterKey"]: cfn(p["ParameterValue"]) for p in raw}


def cfn_template_url(raw: Any, cfn: Cfn, props: dict) -> Any:
    directory = "cfn"  # both templates with a TemplateURL live there; sam package resolves it from there
    return ("file", posixpath.normpath(posixpath.join(directory, raw)))


def tf_template_url(value: Any, body: dict) -> Any:
    """https://<template_bucket>/<aws_s3_object.member_template.key>, whose content is file(...)."""
    assert isinstance(value, tuple) and value[0] == "cat", value
    parts = value[1:]
    assert parts[0] == "https://" and parts[1] == ("data", "aws_s3_bucket", "template_bucket", "bucket_regional_domain_name") \
        and parts[2] == "/" and parts[3][:3] == ("tfres", "aws_s3_object", "member_template") and parts[3][3] == "key", value
    obj = TF.resources["aws_s3_object"]["member_template"]
    assert TF.attr(obj, "bucket") == ("data", "aws_s3_bucket", "template_bucket", "id"), "bucket"
    content = TF.attr(obj, "content")
    assert isinstance(content, tuple) and content[:2] == ("call", "file"), content
    path = content[2]
    assert isinstance(path, tuple) and path[1] == ("path", "module") and isinstance(path[2], str), path
    module = MODULE.relative_to(ROOT).as_posix()
    key = TF.attr(obj, "key")
    assert isinstance(key, tuple) and key[0] == "cat" and ("call", "md5", content) in key, \
        f"the object key must carry the template's hash, so a change updates the StackSets: {key}"
    return ("file", posixpath.normpath(module + path[2]))


def tf_targets(rule: str) -> Callable[[dict], Any]:
    """The rule's targets: the aws_cloudwatch_event_target blocks whose rule is this one."""
    names = {"target_id": "Id", "arn": "Arn", "input": "Input", "dead_letter_config.arn": "DeadLetterConfig.Arn",
             "retry_policy.maximum_retry_attempts": "RetryPolicy.MaximumRetryAttempts",
             "retry_policy.maximum_event_age_in_seconds": "RetryPolicy.MaximumEventAgeInSeconds"}

    def read(body: dict) -> Any:
        found = []
        for name, target in TF.resources.get("aws_cloudwatch_event_target", {}).items():
            if TF.attr(target, "rule") != ("res", RULE_LOGICAL[rule], "Ref"):
                continue
            assert TF.condition_of(target) == TF.condition_of(body), f"target {name}: count differs from its rule's"
            assert TF.attr(target, "event_bus_name") == TF.attr(body, "event_bus_name"), f"target {name}: bus"
            out: dict[str, Any] = {}
            for tf_path, cfn_path in names.items():
                v = TF.attr(target, tf_path)
                if v is not None:
                    put(out, cfn_path, v)
            assert not leaves(target, set(names) | {"rule", "event_bus_name"}), f"target {name}: {leaves(target, set(names))}"
            found.append(out)
        return sorted(found, key=repr)
    return read


def cfn_targets(raw: Any, cfn: Cfn, props: dict) -> Any:
    targets = cfn(raw)
    for t in targets:
        if "Input" in t:
            t["Input"] = json_with_symbols(t["Input"])
    return sorted(targets, key=repr)


def tf_role_policies(role: str) -> Callable[[dict], Any]:
    def read(body: dict) -> Any:
        found = {}
        for name, policy in TF.resources.get("aws_iam_role_policy", {}).items():
            if TF.attr(policy, "role") == ("res", ROLE_LOGICAL[role], "Ref"):
                assert TF.condition_of(policy) == TF.condition_of(body), f"{name}: count differs from its role's"
                assert not leaves(policy, {"name", "role", "policy"}), name
                found[TF.attr(policy, "name")] = tf_policy(TF.attr(policy, "policy"), policy)
        return found or None
    return read


def cfn_role_policies(raw: Any, cfn: Cfn, props: dict) -> Any:
    return {p["PolicyName"]: keyed(cfn_statements(cfn, p["PolicyDocument"])) for p in raw}


def tf_auto_deployment(body: dict) -> Any:
    blocks = TF.blocks(body, "auto_deployment")
    if not blocks:
        return None
    [(cond, block)] = blocks
    value = {"Enabled": TF.attr(block, "enabled")}
    if TF.attr(block, "retain_stacks_on_account_removal") is not None:
        value["RetainStacksOnAccountRemoval"] = TF.attr(block, "retain_stacks_on_account_removal")
    return ("if", ("cond", cond), value, NOVALUE) if cond else value


def tf_instances(stack_set: str) -> Callable[[dict], Any]:
    def read(body: dict) -> Any:
        found = []
        for name, instance in TF.resources.get("aws_cloudformation_stack_set_instance", {}).items():
            if TF.attr(instance, "stack_set_name") != ("res", STACK_SET_LOGICAL[stack_set], "StackSetName"):
                continue
            regions = TF.value(instance["for_each"])
            assert regions[0] == "if" and regions[1] == ("cond", TF.condition_of(body)) and regions[3] == [], regions
            assert TF.attr(instance, "region") == ("each", "value"), name
            found.append({"DeploymentTargets": {"Accounts": [TF.attr(instance, "account_id")]}, "Regions": regions[2]})
        return found or None
    return read


# A metric filter's one transformation, by the template's names (MetricTransformations is a list of
# exactly one, as CloudWatch Logs allows; metric_transformation is one block).
TRANSFORMATION = {"MetricName": "name", "MetricNamespace": "namespace", "MetricValue": "value",
                  "DefaultValue": "default_value", "Unit": "unit", "Dimensions": "dimensions"}


def cfn_transformations(raw: Any, cfn: Cfn, props: dict) -> Any:
    """The template's transformations, each a dict by the template's names (Dimensions as a map)."""
    out = []
    for t in raw:
        unknown = set(t) - set(TRANSFORMATION)
        assert not unknown, f"metric transformation properties {unknown} not compared"
        value = {k: cfn(v) for k, v in t.items() if k != "Dimensions"}
        if "Dimensions" in t:
            value["Dimensions"] = {d["Key"]: cfn(d["Value"]) for d in t["Dimensions"]}
        out.append(value)
    return out


def tf_transformations(value: Any, body: dict) -> Any:
    """The metric_transformation blocks, each renamed to the template's names; an attribute with no
    template name keeps its own, so it can never compare equal."""
    back = {v: k for k, v in TRANSFORMATION.items()}
    return [{back.get(k, k): v for k, v in block.items()} for block in value]


def cfn_attribute_definitions(raw: Any, cfn: Cfn, props: dict) -> Any:
    return sorted(({"name": cfn(a["AttributeName"]), "type": cfn(a["AttributeType"])} for a in raw), key=repr)


def tf_attribute_definitions(value: Any, body: dict) -> Any:
    """The table's `attribute` blocks, each {name, type}, in any order."""
    return sorted(value, key=repr)


def cfn_key_schema(raw: Any, cfn: Cfn, props: dict) -> Any:
    return {k["KeyType"]: cfn(k["AttributeName"]) for k in raw}


def tf_key_schema(value: Any, body: dict) -> Any:
    """hash_key, and range_key beside it: the template's KeySchema."""
    schema = {"HASH": value}
    if TF.attr(body, "range_key") is not None:
        schema["RANGE"] = TF.attr(body, "range_key")
    return schema


RULE_LOGICAL = {snake(k): k for k, (v, _) in ALL.items() if v["Type"] == "AWS::Events::Rule"}
ROLE_LOGICAL = {snake(k): k for k, (v, _) in ALL.items() if v["Type"] == "AWS::IAM::Role"}
STACK_SET_LOGICAL = {snake(k): k for k, (v, _) in ALL.items() if v["Type"] == "AWS::CloudFormation::StackSet"}

# Per template type: the Terraform type and, per property path, the Terraform attribute path, or
# (path, read the template's raw value, read Terraform's canonical value); a callable instead of a
# path is a value Terraform holds in other blocks; None: compared within another property.
Entry = Any
TABLES: dict[str, tuple[str, dict[str, Entry]]] = {
    "AWS::SQS::Queue": ("aws_sqs_queue", {
        "QueueName": "name", "SqsManagedSseEnabled": "sqs_managed_sse_enabled", "KmsMasterKeyId": "kms_master_key_id",
        "VisibilityTimeout": "visibility_timeout_seconds", "MessageRetentionPeriod": "message_retention_seconds",
        "DelaySeconds": "delay_seconds", "ReceiveMessageWaitTimeSeconds": "receive_wait_time_seconds",
        "MaximumMessageSize": "max_message_size", "RedrivePolicy": "redrive_policy", "FifoQueue": "fifo_queue"}),
    "AWS::SQS::QueuePolicy": ("aws_sqs_queue_policy", {
        "Queues": ("queue_url", lambda raw, cfn, props: cfn(raw[0]) if len(raw) == 1 else cfn(raw), None),
        "PolicyDocument": ("policy", cfn_policy, tf_policy)}),
    "AWS::Events::EventBus": ("aws_cloudwatch_event_bus", {"Name": "name"}),
    "AWS::Events::EventBusPolicy": ("aws_cloudwatch_event_bus_policy", {
        "EventBusName": "event_bus_name", "StatementId": None, "Statement": ("policy", cfn_bus_policy, tf_policy)}),
    "AWS::Logs::LogGroup": ("aws_cloudwatch_log_group", {
        "RetentionInDays": "retention_in_days", "LogGroupName": "name", "KmsKeyId": "kms_key_id"}),
    "AWS::CloudWatch::Alarm": ("aws_cloudwatch_metric_alarm", {
        "AlarmName": "alarm_name", "AlarmDescription": "alarm_description", "Namespace": "namespace",
        "MetricName": "metric_name", "Dimensions": ("dimensions", cfn_dimensions, None), "Statistic": "statistic",
        "ExtendedStatistic": "extended_statistic", "Period": "period", "EvaluationPeriods": "evaluation_periods",
        "DatapointsToAlarm": "datapoints_to_alarm", "Threshold": "threshold",
        "ComparisonOperator": "comparison_operator", "TreatMissingData": "treat_missing_data", "Unit": "unit",
        "AlarmActions": "alarm_actions", "OKActions": "ok_actions", "InsufficientDataActions": "insufficient_data_actions",
        "ActionsEnabled": "actions_enabled"}),
    "AWS::IAM::Role": ("aws_iam_role", {
        "RoleName": "name", "Description": "description", "Path": "path", "MaxSessionDuration": "max_session_duration",
        "PermissionsBoundary": "permissions_boundary", "ManagedPolicyArns": "managed_policy_arns",
        "AssumeRolePolicyDocument": ("assume_role_policy", cfn_policy, tf_policy),
        "Policies": (tf_role_policies, cfn_role_policies, None)}),
    # No ManagedPolicyName: CloudFormation generates it, Terraform too when no name is given.
    "AWS::IAM::ManagedPolicy": ("aws_iam_policy", {
        "ManagedPolicyName": "name", "Description": "description", "Path": "path",
        "PolicyDocument": ("policy", cfn_policy, tf_policy)}),
    "AWS::KMS::Key": ("aws_kms_key", {
        "Description": "description", "EnableKeyRotation": "enable_key_rotation", "KeyUsage": "key_usage",
        "KeySpec": "customer_master_key_spec", "PendingWindowInDays": "deletion_window_in_days",
        "BypassPolicyLockoutSafetyCheck": "bypass_policy_lockout_safety_check",
        "KeyPolicy": ("policy", cfn_policy, tf_policy)}),
    "AWS::Events::Rule": ("aws_cloudwatch_event_rule", {
        "Name": "name", "Description": "description", "EventPattern": "event_pattern", "EventBusName": "event_bus_name",
        "ScheduleExpression": "schedule_expression", "State": "state", "RoleArn": "role_arn",
        "Targets": (tf_targets, cfn_targets, None)}),
    "AWS::Lambda::Permission": ("aws_lambda_permission", {
        "FunctionName": ("function_name", cfn_function, tf_function), "Action": "action", "Principal": "principal",
        "SourceArn": "source_arn", "SourceAccount": "source_account"}),
    "AWS::Lambda::EventSourceMapping": ("aws_lambda_event_source_mapping", {
        "FunctionName": ("function_name", cfn_function, tf_function), "EventSourceArn": "event_source_arn",
        "BatchSize": "batch_size", "MaximumBatchingWindowInSeconds": "maximum_batching_window_in_seconds",
        "FunctionResponseTypes": "function_response_types", "Enabled": "enabled",
        "ScalingConfig.MaximumConcurrency": "scaling_config.maximum_concurrency"}),
    "AWS::Lambda::EventInvokeConfig": ("aws_lambda_function_event_invoke_config", {
        "FunctionName": ("function_name", cfn_function, tf_function),
        "Qualifier": ("qualifier", lambda raw, cfn, props: None if raw == "$LATEST" else cfn(raw), None),
        "MaximumRetryAttempts": "maximum_retry_attempts", "MaximumEventAgeInSeconds": "maximum_event_age_in_seconds",
        "DestinationConfig.OnSuccess.Destination": "destination_config.on_success.destination",
        "DestinationConfig.OnFailure.Destination": "destination_config.on_failure.destination"}),
    "AWS::Lambda::Function": ("aws_lambda_function", {
        "FunctionName": "function_name", "Description": "description", "Role": "role", "Runtime": "runtime",
        "Architectures": "architectures", "Handler": "handler", "MemorySize": "memory_size", "Timeout": "timeout",
        "ReservedConcurrentExecutions": "reserved_concurrent_executions",
        "LoggingConfig.LogFormat": "logging_config.log_format", "LoggingConfig.LogGroup": "logging_config.log_group",
        "DeadLetterConfig.TargetArn": "dead_letter_config.target_arn",
        "Environment.Variables": "environment.variables",
        # SAM builds Metadata.BuildProperties.Binary; scripts/package-terraform puts its zip there.
        "Code.Binary": ("filename", lambda raw, cfn, props: ("cat", ("tfvar", "package_dir"), f"/{raw}/bootstrap.zip"), None)}),
    "AWS::Logs::MetricFilter": ("aws_cloudwatch_log_metric_filter", {
        "FilterName": "name", "FilterPattern": "pattern", "LogGroupName": "log_group_name",
        "MetricTransformations": ("metric_transformation", cfn_transformations, tf_transformations)}),
    "AWS::SNS::Topic": ("aws_sns_topic", {
        "TopicName": "name", "DisplayName": "display_name", "KmsMasterKeyId": "kms_master_key_id",
        "FifoTopic": "fifo_topic", "ContentBasedDeduplication": "content_based_deduplication",
        "TracingConfig": "tracing_config", "SignatureVersion": "signature_version"}),
    "AWS::CloudWatch::Dashboard": ("aws_cloudwatch_dashboard", {
        "DashboardName": "dashboard_name", "DashboardBody": ("dashboard_body", cfn_json, None)}),
    "AWS::CloudFormation::StackSet": ("aws_cloudformation_stack_set", {
        "StackSetName": "name", "Description": "description", "PermissionModel": "permission_model",
        "CallAs": "call_as", "Capabilities": "capabilities", "AdministrationRoleARN": "administration_role_arn",
        "ExecutionRoleName": "execution_role_name", "ManagedExecution.Active": "managed_execution.active",
        "OperationPreferences.RegionConcurrencyType": "operation_preferences.region_concurrency_type",
        "OperationPreferences.MaxConcurrentPercentage": "operation_preferences.max_concurrent_percentage",
        "OperationPreferences.MaxConcurrentCount": "operation_preferences.max_concurrent_count",
        "OperationPreferences.FailureTolerancePercentage": "operation_preferences.failure_tolerance_percentage",
        "OperationPreferences.FailureToleranceCount": "operation_preferences.failure_tolerance_count",
        "TemplateURL": ("template_url", cfn_template_url, tf_template_url),
        "Parameters": ("parameters", cfn_parameters, None),
        "AutoDeployment": (lambda name: tf_auto_deployment, None, None),
        "StackInstancesGroup": (tf_instances, None, None)}),
    # No TableName: CloudFormation names the table, Terraform needs a name (test_tables_are_named_as_each_side_needs).
    "AWS::DynamoDB::Table": ("aws_dynamodb_table", {
        "BillingMode": "billing_mode",
        "AttributeDefinitions": ("attribute", cfn_attribute_definitions, tf_attribute_definitions),
        "KeySchema": ("hash_key", cfn_key_schema, tf_key_schema),
        "PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled": "point_in_time_recovery.enabled",
        "SSESpecification.SSEEnabled": "server_side_encryption.enabled",
        "SSESpecification.KMSMasterKeyId": "server_side_encryption.kms_key_arn",
        "DeletionProtectionEnabled": "deletion_protection_enabled", "TableClass": "table_class"}),
}
# Attributes Terraform needs that the template says another way (checked by their own tests, or
# by the reader of the template property they are part of).
TF_EXTRA = {
    "aws_lambda_function": {"source_code_hash"},  # test_functions_deploy_the_packaged_zips
    # name: test_tables_are_named_as_each_side_needs; range_key: KeySchema's reader (tf_key_schema).
    "aws_dynamodb_table": {"name", "range_key"},
    # How long the provider waits for an update; CloudFormation's StackSet handler has its own.
    "aws_cloudformation_stack_set": {"timeouts.update"},
}
# dynamic blocks a table's reader compares (any other dynamic block is refused).
TF_DYNAMIC = {"aws_cloudformation_stack_set": {"auto_deployment"}}


def put(target: dict, path: str, value: Any) -> None:
    *heads, last = path.split(".")
    for h in heads:
        target = target.setdefault(h, {})
    target[last] = value


def get(source: dict, path: str) -> Any:
    node: Any = source
    for step in path.split("."):
        if not isinstance(node, dict) or step not in node:
            return None
        node = node[step]
    return node


def leaves(body: dict, mapped: set[str], prefix: str = "") -> set[str]:
    """A Terraform block's attribute paths that no mapped path covers (nested blocks descended)."""
    out = set()
    for key, value in body.items():
        if key in META or key == "dynamic" and prefix == "":
            continue
        path = prefix + key
        if path in mapped:
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) and v.get("__is_block__") for v in value):
            for v in value:
                out |= leaves(v, mapped, path + ".")
        else:
            out.add(path)
    return out


def cfn_leaves(props: dict, mapped: set[str], prefix: str = "") -> set[str]:
    out = set()
    for key, value in props.items():
        path = prefix + key
        if path in mapped:
            continue
        if isinstance(value, dict) and not any(k == "Ref" or k.startswith("Fn::") for k in value):
            out |= cfn_leaves(value, mapped, path + ".")
        else:
            out.add(path)
    return out


def checkov_skips(comments: list[dict] | None) -> set[str]:
    return {m.group(1) for c in comments or [] for m in [re.match(r"\s*checkov:skip=([A-Z0-9_]+):\S", c["value"])] if m}


def strip_novalue(value: Any) -> Any:
    """None for a property !If [C, x, !Ref AWS::NoValue] reduces to nothing on both sides."""
    return None if value == NOVALUE else value


def tf_name(logical: str) -> str:
    return snake(logical)


# ---------------------------------------------------------------- tests
class TerraformParity(unittest.TestCase):
    maxDiff = None

    def test_every_resource_has_its_counterpart(self) -> None:
        expected = {(TABLES[v["Type"]][0], tf_name(k)) for k, (v, _) in ALL.items()}
        expected |= set(TF_ONLY_RESOURCES)
        targets = {("aws_cloudwatch_event_target", tf_name(k)) for k, (v, _) in ALL.items() if v["Type"] == "AWS::Events::Rule"}
        policies = set()
        for k, (v, _) in ALL.items():
            if v["Type"] == "AWS::IAM::Role":
                policies |= {("aws_iam_role_policy", f"{tf_name(k)}_{snake(p['PolicyName']).replace('-', '_')}")
                             for p in v["Properties"].get("Policies", [])}
        found = {(t, n) for t, named in TF.resources.items() for n in named}
        self.assertEqual(found, expected | targets | policies)
        for logical in CFN_ONLY["resources"]:
            self.assertIn(logical, RESOURCES, f"stale exemption {logical}")
        used = {("aws_iam_policy_document", n) for n in TF.data.get("aws_iam_policy_document", {})}
        self.assertEqual({(t, n) for t, named in TF.data.items() for n in named} - used, TF_ONLY_DATA)

    def test_resources_mirror_the_template(self) -> None:
        for logical, (resource, cfn) in ALL.items():
            with self.subTest(resource=logical):
                self.compare(logical, resource, cfn)

    def compare(self, logical: str, resource: dict, cfn: Cfn) -> None:
        tf_type, table = TABLES[resource["Type"]]
        body = TF.resources[tf_type][tf_name(logical)]
        props = copy.deepcopy(resource.get("Properties", {}))
        for (exempt, path), _ in CFN_ONLY["properties"].items():
            if exempt == logical:
                *heads, last = path.split(".")
                del (get(props, ".".join(heads)) if heads else props)[last]
        self.assertEqual(TF.condition_of(body), resource.get("Condition"), "Condition / count")
        retained = resource.get("DeletionPolicy") == "Retain"
        self.assertEqual(TF.attr(body, "lifecycle.prevent_destroy") == "true", retained,
                         "DeletionPolicy Retain / lifecycle.prevent_destroy")
        if retained:
            self.assertEqual(resource.get("UpdateReplacePolicy"), "Retain")
        skips = {s["id"] for s in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}
        self.assertLessEqual(skips, checkov_skips(body.get("__comments__")), "the template's checkov skips")
        unmapped = cfn_leaves(props, set(table))
        self.assertFalse(unmapped, f"template properties with no Terraform counterpart in TABLES: {unmapped}")
        tf_paths = set()
        for cfn_path, entry in table.items():
            if entry is None:
                continue
            raw = get(props, cfn_path)
            tf_path, read_cfn, read_tf = entry if isinstance(entry, tuple) else (entry, None, None)
            expected = None if raw is None else strip_novalue(read_cfn(raw, cfn, props) if read_cfn else cfn(raw))
            if callable(tf_path):
                reader = tf_path(tf_name(logical))
                actual = reader(body)
            else:
                tf_paths.add(tf_path)
                actual = TF.attr(body, tf_path)
                if actual is not None and read_tf:
                    actual = read_tf(actual, body)
                actual = strip_novalue(actual)
            if cfn_path == "Policies":
                expected = self.without_exempt_statements(logical, expected)
            self.assertEqual(actual, expected, f"{logical}.{cfn_path} vs {tf_type}.{tf_name(logical)}.{tf_path}")
        dynamic = {hcl.unquote(label) for block in body.get("dynamic", []) for label in block}
        self.assertLessEqual(dynamic, TF_DYNAMIC.get(tf_type, set()), "dynamic blocks no reader compares")
        extra = leaves(body, tf_paths | TF_EXTRA.get(tf_type, set()))
        self.assertFalse(extra, f"Terraform attributes with no template counterpart: {extra}")

    def without_exempt_statements(self, logical: str, policies: Any) -> Any:
        for (role, sid), _ in CFN_ONLY["statements"].items():
            if role == logical:
                [statements] = [s for s in policies.values() if sid in s]
                del statements[sid]
        return policies

    def test_exempt_items_are_absent_from_terraform(self) -> None:
        for (role, sid), _ in CFN_ONLY["statements"].items():
            policies = TEMPLATE["Resources"][role]["Properties"]["Policies"]
            self.assertTrue(any(s.get("Sid") == sid for p in policies for s in p["PolicyDocument"]["Statement"]
                                if isinstance(s, dict)), f"stale exemption {role}.{sid}")
            for name in TF.data["aws_iam_policy_document"]:
                self.assertNotIn(sid, keyed(TF.policy(name)))
        for (logical, path), _ in CFN_ONLY["properties"].items():
            resource, _ = ALL[logical]
            self.assertIsNotNone(get(resource["Properties"], path), f"stale exemption {logical}.{path}")
            body = TF.resources[TABLES[resource["Type"]][0]][tf_name(logical)]
            self.assertIsNone(TF.attr(body, ".".join(snake(step) for step in path.split("."))), f"{logical}.{path}")
        for (function, variable), _ in CFN_ONLY["environment"].items():
            self.assertIn(variable, TEMPLATE["Resources"][function]["Properties"]["Environment"]["Variables"])
            body = TF.resources["aws_lambda_function"][tf_name(function)]
            self.assertNotIn(variable, TF.attr(body, "environment.variables"))

    def test_functions_deploy_the_packaged_zips(self) -> None:
        for name, body in TF.resources["aws_lambda_function"].items():
            filename = TF.attr(body, "filename")
            self.assertEqual(TF.attr(body, "source_code_hash"), ("call", "filebase64sha256", filename), name)

    def test_tables_are_named_as_each_side_needs(self) -> None:
        """The template names no table (CloudFormation generates the name, as for the retained log
        groups); Terraform must name one: a fixed literal with the module's prefix, one per table."""
        tables = [k for k, (v, _) in ALL.items() if v["Type"] == "AWS::DynamoDB::Table"]
        self.assertTrue(tables, "no table compared")
        names = []
        for logical in tables:
            self.assertNotIn("TableName", ALL[logical][0].get("Properties", {}), logical)
            name = TF.attr(TF.resources["aws_dynamodb_table"][tf_name(logical)], "name")
            self.assertIsInstance(name, str, f"{logical}: a literal name, not an expression")
            self.assertRegex(name, r"^mdc-connector-[a-z0-9-]+$", logical)
            names.append(name)
        self.assertEqual(len(names), len(set(names)), names)
        self.assertEqual(set(TF.resources.get("aws_dynamodb_table", {})), {tf_name(k) for k in tables})

    def test_variables_mirror_the_parameters(self) -> None:
        self.assertEqual(set(TF.variables) - {snake(p) for p in TEMPLATE["Parameters"]}, set(TF_ONLY_VARIABLES))
        for name, param in TEMPLATE["Parameters"].items():
            with self.subTest(parameter=name):
                var = TF.variables.get(snake(name))
                self.assertIsNotNone(var, f"no variable {snake(name)}")
                self.assertEqual(str(var["type"]).strip('"'), "number" if param["Type"] == "Number" else "string")
                self.assertFalse(set(var) - {"type", "default", "description", "validation"} - META, "attributes")
                self.assertEqual(TF.value(var["default"]) if "default" in var else None,
                                 CFN(param["Default"]) if "Default" in param else None, "default")
                described = param.get("Description") or param.get("ConstraintDescription")
                self.assertEqual(TF.value(var["description"]) if "description" in var else None,
                                 " ".join(str(described).split()) if described else None, "description")
                self.assertEqual(self.tf_constraints(name, var), self.cfn_constraints(param), "validation")

    @staticmethod
    def cfn_constraints(param: dict) -> dict:
        out: dict[str, Any] = {}
        if "AllowedPattern" in param:
            pattern = param["AllowedPattern"]
            # RE2 has no lookahead: ^(?!x)rest is regex("^rest") and !startswith(v, "x").
            m = re.match(r"^\^\(\?!([^()|]*)\)(.*)$", pattern)
            if m:
                out["not_prefix"], pattern = m.group(1), "^" + m.group(2)
            out["pattern"] = pattern
        if "AllowedValues" in param:
            out["values"] = [CFN(v) for v in param["AllowedValues"]]
        if "MinValue" in param:
            out["min"] = CFN(param["MinValue"])
        if "MaxValue" in param:
            out["max"] = CFN(param["MaxValue"])
        if "ConstraintDescription" in param:
            out["message"] = param["ConstraintDescription"]
        return out

    def tf_constraints(self, name: str, var: dict) -> dict:
        me = ("param", name)
        out: dict[str, Any] = {}
        for block in var.get("validation", []):
            condition = TF.value(block["condition"])
            terms = condition[1:] if isinstance(condition, tuple) and condition[0] == "and" else [condition]
            for t in terms:
                if t[:2] == ("call", "can") and t[2][:2] == ("call", "regex") and t[2][3] == me:
                    out["pattern"] = t[2][2]
                elif t[0] == "not" and t[1][:2] == ("call", "startswith") and t[1][2] == me:
                    out["not_prefix"] = t[1][3]
                elif t[0] == "contains" and t[2] == me:
                    out["values"] = t[1]
                elif t[0] == ">=" and t[1] == me:
                    out["min"] = t[2]
                elif t[0] == "<=" and t[1] == me:
                    out["max"] = t[2]
                else:
                    self.fail(f"{name}: validation term {t} is no template constraint")
            message = TF.value(block["error_message"])
            m = re.match(r"^Invalid (\w+): it must be (.*)\.$", message)
            self.assertTrue(m and m.group(1) == snake(name), f"{name}: error message {message!r}")
            if not m.group(2).startswith(("one of ", "from ")):
                out["message"] = m.group(2)
        return out

    def test_conditions_mappings_and_rules(self) -> None:
        for template, cfn in ((TEMPLATE, CFN), (ONBOARDING, NESTED)):
            for name, definition in template.get("Conditions", {}).items():
                with self.subTest(condition=name):
                    self.assertEqual(TF.value(TF.locals[snake(name)]), cfn(definition))
            for name, mapping in template.get("Mappings", {}).items():
                self.assertEqual(TF.value(TF.locals[snake(name)]), cfn(mapping), name)
        expected = []
        for template, cfn in ((TEMPLATE, CFN), (ONBOARDING, NESTED)):
            for rule in template.get("Rules", {}).values():
                for assertion in rule["Assertions"]:
                    check = cfn(assertion["Assert"])
                    if "RuleCondition" in rule:
                        check = ("or", ("not", cfn(rule["RuleCondition"])), *(check[1:] if check[0] == "or" else [check]))
                    expected.append(check)
        preconditions = TF.resources["terraform_data"]["rules"]["lifecycle"][0]["precondition"]
        self.assertEqual([TF.value(p["condition"]) for p in preconditions], expected)

    def test_outputs_mirror_the_template(self) -> None:
        outputs = TEMPLATE["Outputs"]
        self.assertEqual(set(TF.outputs), {snake(o) for o in outputs})
        for name, output in outputs.items():
            with self.subTest(output=name):
                body = TF.outputs[snake(name)]
                value = CFN(output["Value"])
                if "Condition" in output:
                    value = ("if", ("cond", output["Condition"]), value, NOVALUE)
                self.assertEqual(TF.value(body["value"]), value)
                described = output.get("Description")
                self.assertEqual(TF.value(body["description"]) if "description" in body else None,
                                 " ".join(described.split()) if described else None)
                self.assertFalse(set(body) - {"value", "description"} - META)

    def test_providers_are_pinned(self) -> None:
        [block] = TF.terraform
        self.assertRegex(TF.value(block["required_version"]), r"^>= ?1\.\d+")
        aws = block["required_providers"][0]["aws"]
        self.assertEqual(TF.value(aws["source"]), "hashicorp/aws")
        self.assertRegex(TF.value(aws["version"]), r"^~> ?\d+\.\d+$")


if __name__ == "__main__":
    unittest.main()
