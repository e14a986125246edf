"""Deploys the connector's onboarding part on the emulator the way `sam deploy` does.

1. ``sam package`` (the real SAM CLI, against the emulator's S3) packages ``cfn/template.yaml``: it
   uploads the nested ``cfn/onboarding.yaml`` and, from it, ``cfn/member.yaml`` (the StackSets'
   ``TemplateURL``), and rewrites both references to S3 URLs. The three templates are packaged
   from a copy whose functions' ``CodeUri`` is a placeholder directory: the function code is not
   what is under test, and zipping the repository takes minutes.
2. The packaged parent gives the nested stack its parameters: each value of the ``Onboarding``
   resource's ``Parameters`` is resolved against the parent's parameters (defaults, then the
   overrides given here) and pseudo parameters, as CloudFormation does when it creates the nested
   stack. (moto cannot run the parent itself: it has the Serverless transform.)
3. Both templates' Rules are evaluated (``cfn_rules.py``; moto ignores them): a failed assertion
   refuses the deploy before anything is created, with its ``AssertDescription``
   (``"stackStatus": "REFUSED"``).
4. The packaged ``onboarding.yaml``, read back from S3, is created as a stack with those parameters;
   its ``AWS::CloudFormation::StackSet`` resources come from ``stackset_resource.py``.

With ``--update`` (a deploy over an existing one, with changed parameters or templates) step 4 is
what CloudFormation's ``AWS::CloudFormation::StackSet`` handler does with the member StackSet's new
properties: ``UpdateStackSet`` with the new template URL, parameters and ``OperationPreferences``
(resolved as the nested stack would), waited for; the emulator rolls it out in waves
(``stackset_model.py``). ``stackStatus`` is then ``UPDATE_COMPLETE`` when the operation succeeded,
``UPDATE_FAILED`` otherwise (whether CloudFormation also rolls the StackSet back is not modelled),
and ``operationStatus`` the operation's own status.

Usage: ``deploy_like_sam.py --endpoint URL --sam PATH --stack NAME [--update] [--parameter Key=Value ...]``.
Prints one JSON line: ``{"stackStatus", "statusReason", "parameters", "memberTemplateUrl"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import yaml

from cfn_rules import failed_assertions

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "mdc-connector-deploy"


class Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags, kept as {"Fn::...": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if name == "Fn::GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name: value}


Loader.add_multi_constructor("!", _tag)


def s3_object(s3: Any, url: str) -> str:
    path = urlparse(url).path.lstrip("/")
    bucket, key = path.split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def resolve(value: Any, params: dict[str, str], conditions: dict[str, bool], pseudo: dict[str, str]) -> Any:
    """The intrinsic functions the parent uses in the nested stack's parameters."""
    if isinstance(value, dict) and len(value) == 1:
        (name, arg), = value.items()
        if name == "Ref":
            return pseudo[arg] if arg in pseudo else params[arg]
        if name == "Fn::If":
            branch = arg[1] if conditions[arg[0]] else arg[2]
            return resolve(branch, params, conditions, pseudo)
        if name == "Fn::Equals":
            return resolve(arg[0], params, conditions, pseudo) == resolve(arg[1], params, conditions, pseudo)
        if name == "Fn::Not":
            return not resolve(arg[0], params, conditions, pseudo)
        raise ValueError(f"unsupported intrinsic {name} in the nested stack's parameters")
    return value


def resolve_deep(value: Any, params: dict[str, str], conditions: dict[str, bool], pseudo: dict[str, str]) -> Any:
    """`resolve` through lists and property maps."""
    if isinstance(value, dict) and len(value) == 1 and (next(iter(value)) == "Ref" or next(iter(value)).startswith("Fn::")):
        return resolve(value, params, conditions, pseudo)
    if isinstance(value, dict):
        return {k: resolve_deep(v, params, conditions, pseudo) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_deep(v, params, conditions, pseudo) for v in value]
    return value


def update_member_stack_set(cfn: Any, s3: Any, onboarding: dict[str, Any], values: dict[str, str],
                            pseudo: dict[str, str]) -> dict[str, str]:
    """What CloudFormation's StackSet handler does on an update of `MemberStackSet`: UpdateStackSet
    with its resolved properties, waited for (the template read from the packaged URL and sent as
    the body: moto resolves only virtual-hosted S3 URLs)."""
    params = {k: str(v.get("Default", "")) for k, v in onboarding["Parameters"].items()}
    params.update(values)
    conditions: dict[str, bool] = {}
    for name, expression in onboarding.get("Conditions", {}).items():
        try:
            conditions[name] = bool(resolve(expression, params, conditions, pseudo))
        except (KeyError, ValueError):
            continue
    props = onboarding["Resources"]["MemberStackSet"]["Properties"]
    prefs = {k: (int(v) if k not in ("RegionConcurrencyType", "ConcurrencyMode") else v)
             for k, v in resolve_deep(props["OperationPreferences"], params, conditions, pseudo).items()}
    parameters = [{"ParameterKey": p["ParameterKey"], "ParameterValue": str(p["ParameterValue"])}
                  for p in resolve_deep(props["Parameters"], params, conditions, pseudo)]
    op = cfn.update_stack_set(StackSetName=params["StackSetName"], TemplateBody=s3_object(s3, props["TemplateURL"]),
                              Parameters=parameters, Capabilities=props["Capabilities"],
                              OperationPreferences=prefs)["OperationId"]
    status = "RUNNING"
    for _ in range(100):
        status = cfn.describe_stack_set_operation(StackSetName=params["StackSetName"],
                                                  OperationId=op)["StackSetOperation"]["Status"]
        if status not in ("RUNNING", "QUEUED", "STOPPING"):
            break
        time.sleep(0.1)
    return {"stackStatus": "UPDATE_COMPLETE" if status == "SUCCEEDED" else "UPDATE_FAILED",
            "statusReason": f"member StackSet operation {op} {status}", "operationStatus": status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--sam", required=True)
    parser.add_argument("--stack", default="mdc-connector-Onboarding")
    parser.add_argument("--parameter", action="append", default=[], help="Key=Value override of the parent")
    parser.add_argument("--update", action="store_true", help="update the member StackSet of an existing deploy")
    args = parser.parse_args()
    env = dict(os.environ, AWS_ENDPOINT_URL=args.endpoint, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1",
               SAM_CLI_TELEMETRY="0")
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=args.endpoint)
    cfn = session.client("cloudformation", endpoint_url=args.endpoint)
    account = session.client("sts", endpoint_url=args.endpoint).get_caller_identity()["Account"]
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "cfn"
        (Path(tmp) / "code").mkdir()
        (Path(tmp) / "code" / "bootstrap").write_text("placeholder")
        work.mkdir()
        for name in ("onboarding.yaml", "member.yaml"):
            (work / name).write_text((ROOT / "cfn" / name).read_text())
        template = (ROOT / "cfn/template.yaml").read_text()
        if "CodeUri: ..\n" not in template:
            raise SystemExit("cfn/template.yaml: expected the functions' CodeUri: ..")
        (work / "template.yaml").write_text(template.replace("CodeUri: ..\n", "CodeUri: ../code\n"))
        packaged = Path(tmp) / "packaged.yaml"
        subprocess.run([args.sam, "package", "--template-file", str(work / "template.yaml"), "--s3-bucket", BUCKET,
                        "--output-template-file", str(packaged), "--region", "us-east-1", "--no-progressbar"],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=sys.stderr)
        parent = yaml.load(packaged.read_text(), Loader=Loader)

    nested = parent["Resources"]["Onboarding"]["Properties"]
    onboarding_text = s3_object(s3, nested["TemplateURL"])
    onboarding = yaml.load(onboarding_text, Loader=Loader)
    member_url = onboarding["Resources"]["MemberStackSet"]["Properties"]["TemplateURL"]

    params = {k: str(v.get("Default", "")) for k, v in parent["Parameters"].items()}
    params.update(dict(p.split("=", 1) for p in args.parameter))
    pseudo = {"AWS::AccountId": account, "AWS::Region": "us-east-1", "AWS::Partition": "aws"}
    conditions: dict[str, bool] = {}
    for name, expression in parent.get("Conditions", {}).items():
        try:
            conditions[name] = bool(resolve(expression, params, conditions, pseudo))
        except (KeyError, ValueError):
            continue  # conditions the nested stack's parameters do not use
    values = {k: str(resolve(v, params, conditions, pseudo)) for k, v in nested["Parameters"].items()}

    # CloudFormation evaluates each template's Rules before it creates anything (cfn_rules.py).
    refused = failed_assertions(parent, params) + failed_assertions(onboarding, values)
    if refused:
        print(json.dumps({"stackStatus": "REFUSED", "statusReason": "; ".join(refused), "parameters": values,
                          "memberTemplateUrl": member_url}))
        return

    if args.update:
        answer = update_member_stack_set(cfn, s3, onboarding, values, pseudo)
        print(json.dumps({**answer, "parameters": values, "memberTemplateUrl": member_url}))
        return
    try:
        cfn.create_stack(StackName=args.stack, TemplateBody=onboarding_text, Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()])
    except cfn.exceptions.ClientError as e:
        # moto refuses at once what CloudFormation reports as the failed resource; CloudFormation then
        # rolls back, deleting what it had created (moto leaves it: deleted here).
        cfn.delete_stack(StackName=args.stack)
        print(json.dumps({"stackStatus": "ROLLBACK_COMPLETE", "statusReason": str(e), "parameters": values,
                          "memberTemplateUrl": member_url}))
        return
    status, reason = "CREATE_IN_PROGRESS", ""
    for _ in range(100):
        stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
        status, reason = stack["StackStatus"], stack.get("StackStatusReason", "")
        if not status.endswith("IN_PROGRESS"):
            break
        time.sleep(0.1)
    print(json.dumps({"stackStatus": status, "statusReason": reason, "parameters": values,
                      "memberTemplateUrl": member_url}))


if __name__ == "__main__":
    main()
