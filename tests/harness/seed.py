"""Seeds a demo organization on the emulator, with boto3 (used by the demo and the benchmark).

Management account (moto's default) plus members; in each account the connector's instance profile
(as the member template makes it) and, per region, instances in every situation the profile scan
handles. One member is meant to be excluded, and one region lies outside the scope.

    python seed.py --endpoint http://127.0.0.1:5055 --members 3 --regions eu-west-1,us-east-1 \
        --outside us-west-2 --per-unit 1 > estate.json

With ``--arc``, also what arc-provisioner needs: the connector's SSM documents in every account
and region (the content cfn/member.yaml carries), a Windows instance and an instance without the
SSM agent per unit (harness fixture markers), and secretless Azure sign-in: outbound identity
federation enabled in the management account and the onboarding application trusting its issuer and
the caller (the functions' identity) on the emulator's Entra endpoint. No secret is stored.

Prints a JSON description of what it made (accounts, instances per situation).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "scripts"))
import render_documents  # noqa: E402

SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})
OPT_OUT = "mdc-connector:opt-out"
AMI = "ami-12c6146b"
# stands in for cfn/member.yaml in the StackSet: one SSM parameter per account and region
MARKER_TEMPLATE = json.dumps({"Resources": {"Marker": {"Type": "AWS::SSM::Parameter", "Properties": {
    "Name": {"Fn::Sub": "/mdc-connector/${AWS::Region}/onboarded"}, "Type": "String", "Value": "yes"}}}})


class Seeder:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.config = Config(retries={"mode": "standard", "total_max_attempts": 5})

    def session(self, account: str | None) -> dict[str, str]:
        if account is None:
            return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        creds = self.client("sts", None).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed"
        )["Credentials"]
        return {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }

    def client(self, service: str, keys: dict[str, str] | None, region: str = "us-east-1") -> Any:
        keys = keys or self.session(None)
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region, config=self.config, **keys)


def profile(iam: Any, path: str, name: str, role: str | None, with_policy: bool) -> None:
    iam.create_instance_profile(InstanceProfileName=name, Path=path)
    if role:
        iam.create_role(RoleName=role, Path=path, AssumeRolePolicyDocument=TRUST)
        if with_policy:
            iam.attach_role_policy(RoleName=role, PolicyArn=SSM_CORE)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)


def launch(ec2: Any, count: int, profile_name: str | None = None, tags: dict[str, str] | None = None) -> list[str]:
    if count <= 0:
        return []
    if profile_name and count > 1:
        # moto associates a launch-time profile with the first instance of a batch only
        return [i for _ in range(count) for i in launch(ec2, 1, profile_name, tags)]
    args: dict[str, Any] = {"ImageId": AMI, "MinCount": count, "MaxCount": count, "InstanceType": "t3.micro"}
    if profile_name:
        args["IamInstanceProfile"] = {"Name": profile_name}
    if tags:
        args["TagSpecifications"] = [{
            "ResourceType": "instance",
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }]
    return [i["InstanceId"] for i in ec2.run_instances(**args)["Instances"]]


DOCUMENTS = {"MdcConnector-ArcOnboard-Linux": "arc-onboard-linux",
             "MdcConnector-ArcOnboard-Windows": "arc-onboard-windows"}
ARC_SERVICE_PRINCIPAL = "bbbbbbbb-2222-3333-4444-555555555555"
ARC_SWEEPER = "cccccccc-2222-3333-4444-555555555555"
# arc-provisioner's inventory table (the demo and the benchmarks set ARC_INVENTORY_TABLE to it).
ARC_INVENTORY_TABLE = "mdc-connector-arc-inventory"


def azure_federation(s: "Seeder", endpoint: str) -> dict[str, str]:
    """Outbound identity federation for the management account, and the onboarding application's
    federated identity credential for its issuer and the caller, on the emulator's Entra endpoint.
    Also arc-provisioner's inventory table (ARC_INVENTORY_TABLE), keyed as cfn/template.yaml makes it."""
    import urllib.request
    dynamodb = s.client("dynamodb", None)
    try:
        dynamodb.create_table(TableName=ARC_INVENTORY_TABLE, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "sk", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                         {"AttributeName": "sk", "KeyType": "RANGE"}])
    except dynamodb.exceptions.ResourceInUseException:
        pass
    iam = s.client("iam", None)
    try:
        issuer = iam.get_outbound_web_identity_federation_info()["IssuerIdentifier"]
    except Exception:  # not enabled yet
        issuer = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    subject = s.client("sts", None).get_caller_identity()["Arn"]
    credential = [{"issuer": issuer, "subject": subject, "audiences": ["api://AzureADTokenExchange"]}]
    # The onboarding application and the sweep's own (it never signs in as the onboarding one).
    trust = {"federated": {ARC_SERVICE_PRINCIPAL: credential, ARC_SWEEPER: credential}}
    request = urllib.request.Request(f"{endpoint}/_harness/entra", data=json.dumps(trust).encode(), method="POST")
    urllib.request.urlopen(request).read()
    return {"issuer": issuer, "subject": subject}


def seed_arc(s: Seeder, keys: dict[str, str], region: str, account: str) -> dict[str, list[str]]:
    ssm = s.client("ssm", keys, region)
    for name, source in DOCUMENTS.items():
        ssm.create_document(Name=name, Content=render_documents.content(source), DocumentType="Command",
                            DocumentFormat="JSON", TargetType="/AWS::EC2::Instance")
    ec2 = s.client("ec2", keys, region)
    return {
        "windows": launch(ec2, 1, "OkProfile", {"Name": "win", "harness:platform": "Windows"}),
        "no-ssm-agent": launch(ec2, 1, "OkProfile", {"Name": "appliance", "harness:ssm-agent": "none"}),
    }


def seed_account(s: Seeder, keys: dict[str, str], regions: list[str], outside: str | None, per_unit: dict[str, int], roles: int, arc: bool = False, account: str = "") -> dict[str, Any]:
    iam = s.client("iam", keys)
    profile(iam, "/", "MdcConnectorInstanceProfile", "MdcConnectorInstanceRole", True)
    for r in range(roles):
        profile(iam, "/team/apps/", f"AppProfile{r}", f"AppRole{r}", False)
    profile(iam, "/", "OkProfile", "OkRole", True)
    profile(iam, "/", "EmptyProfile", None, False)
    units: dict[str, Any] = {}
    for region in regions:
        ec2 = s.client("ec2", keys, region)
        shared: list[str] = []
        for r in range(roles):
            shared += launch(ec2, per_unit["shared"], f"AppProfile{r}", {"Name": "app"})
        units[region] = {
            "unprofiled": launch(ec2, per_unit["unprofiled"], tags={"Name": "web"}),
            "role-lacks-policy": shared,
            "compliant": launch(ec2, per_unit["compliant"], "OkProfile"),
            "opted-out": launch(ec2, per_unit["opted_out"], tags={OPT_OUT: "true"}),
            "profile-without-role": launch(ec2, per_unit["empty"], "EmptyProfile"),
        }
        if arc:
            units[region].update(seed_arc(s, keys, region, account))
    if outside:
        units[outside] = {"outside-scope": launch(s.client("ec2", keys, outside), 1)}
    return units


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--members", type=int, default=3, help="member accounts; the last one is for exclusion")
    p.add_argument("--regions", default="eu-west-1,us-east-1")
    p.add_argument("--outside", default="us-west-2", help="a region outside the scope ('' for none)")
    p.add_argument("--unprofiled", type=int, default=1)
    p.add_argument("--shared", type=int, default=2, help="instances per customer role lacking the policy")
    p.add_argument("--roles", type=int, default=1, help="customer roles lacking the policy, per account")
    p.add_argument("--compliant", type=int, default=1)
    p.add_argument("--opted-out", type=int, default=1)
    p.add_argument("--empty", type=int, default=1, help="instances whose profile has no role")
    p.add_argument("--stackset", default="", help="also create this self-managed onboarding StackSet (empty), "
                   "and <name>-management with the management account's instances in every region")
    p.add_argument("--arc", action="store_true", help="also seed what arc-provisioner needs")
    a = p.parse_args()

    s = Seeder(a.endpoint)
    org = s.client("organizations", None)
    org.create_organization(FeatureSet="ALL")
    management = s.client("sts", None).get_caller_identity()["Account"]
    members = []
    for i in range(a.members):
        status = org.create_account(AccountName=f"member-{i}", Email=f"member-{i}@example.com")["CreateAccountStatus"]
        members.append(status["AccountId"])
    regions = [r for r in a.regions.split(",") if r]
    per_unit = {"unprofiled": a.unprofiled, "shared": a.shared, "compliant": a.compliant,
                "opted_out": a.opted_out, "empty": a.empty}
    estate: dict[str, Any] = {"management": management, "members": members, "regions": regions,
                              "outside": a.outside or None, "accounts": {}}
    for account in [management] + members:
        keys = s.session(None if account == management else account)
        estate["accounts"][account] = seed_account(s, keys, regions, a.outside or None, per_unit, a.roles, a.arc, account)
        print(f"seeded account {account}", file=sys.stderr)
    if a.arc:
        estate["arcFederation"] = azure_federation(s, a.endpoint)
    if a.stackset:
        cfn = s.client("cloudformation", None)
        cfn.create_stack_set(StackSetName=a.stackset, TemplateBody=MARKER_TEMPLATE)
        estate["stackset"] = a.stackset
        # What `sam deploy` gives the management account (cfn/onboarding.yaml): the member template
        # in every region through a self-managed StackSet of its own (here the marker template).
        own = f"{a.stackset}-management"
        cfn.create_stack_set(StackSetName=own, TemplateBody=MARKER_TEMPLATE.replace("onboarded", "management"))
        cfn.create_stack_instances(StackSetName=own, Accounts=[management], Regions=regions)
        estate["managementStackset"] = own
    json.dump(estate, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
