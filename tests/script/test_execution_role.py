"""Issue #31, items 1 and 2 ("Real-deploy truth"): the management account's self-managed StackSet
(cfn/onboarding.yaml ManagementStackSet, deploy/terraform/onboarding.tf) deploys cfn/member.yaml
only if its two roles let CloudFormation do it, and nothing but a real deploy used to check that.

* The execution role is at AWS's floor and no lower: it grants every permission the
  create/read/update/delete handlers of every resource type in cfn/member.yaml list in AWS's
  resource provider schemas (as cfn-lint ships them: ``cfnlint/data/schemas/providers/<region>.json``
  -> ``schemas/resources/<file>.json`` -> ``handlers.<handler>.permissions``), or the test names
  the property that leaves the permission unused, with the schema's text; and the StackSets floor
  ("Your target account always needs full AWS CloudFormation permissions, which include permissions
  to create, update, delete, and describe stacks.", "You must add the S3 service action and
  resources to AWSCloudFormationStackSetExecutionRole policy statement for each target account for
  StackSets to work.", AWS CloudFormation User Guide, Grant self-managed permissions), whose example
  of the minimum, ``cloudformation:*`` and ``s3:*`` on ``*``, it holds as written. Both the template
  and the Terraform module; action-level (``tests/harness/stackset_permissions.py``).
* What the execution role may create is bounded: every role write carries ``iam:PermissionsBoundary``
  = StackSetRolesBoundary, which it may not change or strip, and the boundary leaves each member role
  what its own policies and the managed policies it attaches grant.
* Opt-in Regions: "to deploy stack instances into a target account that resides in a Region that's
  disabled by default, you will also need to include the regional service principal for that
  Region" (same page). The administration role trusts the global principal, for its own StackSet in
  the deploy Region only, and the templates refuse a Region that is not enabled by default for the
  self-managed StackSet (cfn/onboarding.yaml's Rule says why).
* The emulator fails a stack instance as CloudFormation would: the reason names the missing action,
  or the regional principal.

Run with the emulator's virtualenv: ``.venv-moto/bin/python -m unittest discover -s tests/script``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
import unittest
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "harness"))
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

import stackset_permissions as perms  # noqa: E402
from cfnlint.decode import decode  # noqa: E402
from test_terraform_parity import TF  # noqa: E402

ONBOARDING = decode(str(ROOT / "cfn" / "onboarding.yaml"))[0]
MEMBER = decode(str(ROOT / "cfn" / "member.yaml"))[0]
MEMBER_RESOURCES = [(k, str(r["Type"])) for k, r in MEMBER["Resources"].items()]
BOUNDARY = {"Ref": "StackSetRolesBoundary"}
# What the execution role writes to a role, which IAM lets a policy hold to iam:PermissionsBoundary
# (IAM User Guide, Permissions boundaries for IAM entities: "CreateOrChangeOnlyWithBoundary").
ROLE_WRITES = ("iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
               "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary")
# What would let the execution role change the boundary or take it off a role.
BOUNDARY_WRITES = ("iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:DeletePolicy",
                   "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion")


def cfn_statements(logical: str) -> list[dict[str, Any]]:
    """The identity-policy statements of an onboarding.yaml role (inline policies)."""
    props = ONBOARDING["Resources"][logical]["Properties"]
    return [s for p in props.get("Policies", []) for s in perms.statements_of(p["PolicyDocument"])]


def tf_statements() -> list[dict[str, Any]]:
    """The Terraform module's execution role statements, canonical (tf_parity)."""
    return TF.policy("stack_set_execution_role_deploy_the_member_template")


def role_policies(role: dict[str, Any]) -> list[dict[str, Any]]:
    """A member.yaml role's statements: inline, and the AWS managed policies it attaches (both
    branches of an Fn::If), from the managed policies the emulator loads (moto's copy of AWS's)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    managed = json.loads(aws_managed_policies_data)
    props = role["Properties"]
    out = [s for p in props.get("Policies", []) for s in perms.statements_of(p["PolicyDocument"])]
    for arn in props.get("ManagedPolicyArns", []):
        choices = arn["Fn::If"][1:] if isinstance(arn, dict) and "Fn::If" in arn else [arn]
        for choice in choices:
            name = str(choice["Fn::Sub"]).rsplit("/", 1)[1]
            out += perms.statements_of(managed[name]["Document"])
    return out


def denies(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if s.get("Effect") == "Deny"]


def patterns(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in perms.as_list(statement.get("Action"))]


def within(inner: str, outer: str) -> bool:
    """Whether every action `inner` (an IAM action pattern) names is one `outer` names."""
    return fnmatch.fnmatchcase(inner.lower(), outer.lower())


class ExecutionRoleAtTheFloor(unittest.TestCase):
    maxDiff = None

    def test_every_handler_permission_of_every_member_resource_type_is_granted(self) -> None:
        """Template and module: nothing the member template's handlers list is missing, but the
        permissions stackset_permissions.ONLY_WHEN names, each with its property and the schema's
        text, and each denied on purpose."""
        types = sorted({t for _, t in MEMBER_RESOURCES})
        self.assertEqual(types, ["AWS::Events::Rule", "AWS::IAM::InstanceProfile", "AWS::IAM::OIDCProvider",
                                 "AWS::IAM::Role", "AWS::SSM::Document"])
        for side, statements in (("cfn/onboarding.yaml", cfn_statements("StackSetExecutionRole")),
                                 ("deploy/terraform/onboarding.tf", tf_statements())):
            with self.subTest(side=side):
                gaps = perms.missing(statements, MEMBER_RESOURCES, perms.HANDLERS)
                self.assertEqual([], [f"{a} ({t} {h}, {logical})" for a, logical, t, h in gaps])
                for (resource_type, handler, action), prop in perms.ONLY_WHEN.items():
                    self.assertIn(action, perms.handler_permissions(resource_type)[handler], "stale exemption")
                    text = perms.schema(resource_type)["properties"][prop]["description"]
                    self.assertTrue(text.startswith("The ARN of the policy used to set the permissions boundary"), text)
                    self.assertFalse(perms.allowed(statements, action),
                                     f"{action}: used only when {prop} ({text.splitlines()[0]!r}) is removed; "
                                     "the execution role is denied it so that no role loses its boundary")
        # The member template never removes PermissionsBoundary: every role carries
        # RolePermissionsBoundary whenever it is given.
        roles = [k for k, t in MEMBER_RESOURCES if t == "AWS::IAM::Role"]
        for logical in roles:
            self.assertEqual(MEMBER["Resources"][logical]["Properties"].get("PermissionsBoundary"),
                             {"Fn::If": ["HasRolePermissionsBoundary", {"Ref": "RolePermissionsBoundary"},
                                         {"Ref": "AWS::NoValue"}]}, logical)

    def test_the_stacksets_floor_is_granted_as_aws_documents_it(self) -> None:
        """AWS's example of "the minimum permissions for StackSets to work": cloudformation:* and
        s3:* on *, no condition; and what the emulator checks of it is allowed."""
        for side, statements in (("template", cfn_statements("StackSetExecutionRole")), ("module", tf_statements())):
            with self.subTest(side=side):
                floor = [s for s in statements if s.get("Effect") == "Allow" and not s.get("Condition")
                         and perms.as_list(s.get("Resource")) == ["*"]
                         and sorted(patterns(s)) == ["cloudformation:*", "s3:*"]]
                self.assertEqual(len(floor), 1, "the floor statement")
                for action, quote in perms.FLOOR.items():
                    self.assertTrue(perms.allowed(statements, action), f"{action}: {quote}")
                # What the guide's floor names is not taken away by the Deny statements beside it.
                for action in ("cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
                               "cloudformation:DescribeStacks", "s3:GetObject", "s3:PutObject"):
                    self.assertTrue(perms.allowed(statements, action), action)
                self.assertFalse([s for s in statements if s.get("Effect") == "Allow"
                                  for a in patterns(s) if a.startswith("kms:")], "no KMS grant at all")

    def test_removing_a_grant_fails_the_check(self) -> None:
        """The check can fail: the template's statements without one handler permission, or without
        the floor's S3, are caught and named."""
        statements = cfn_statements("StackSetExecutionRole")
        for dropped in ("iam:PutRolePolicy", "ssm:UpdateDocumentDefaultVersion", "events:ListTargetsByRule", "s3:*"):
            with self.subTest(dropped=dropped):
                cut = [{**s, "Action": [a for a in patterns(s) if a != dropped]} if s.get("Effect") == "Allow" else s
                       for s in statements]
                gaps = {a for a, *_ in perms.missing(cut, MEMBER_RESOURCES, perms.HANDLERS)}
                self.assertIn("s3:GetObject" if dropped == "s3:*" else dropped, gaps)


class WhatTheExecutionRoleMayCreate(unittest.TestCase):
    maxDiff = None

    def test_every_role_it_writes_carries_the_boundary_it_may_not_change(self) -> None:
        statements = cfn_statements("StackSetExecutionRole")
        for statement in statements:
            if statement.get("Effect") != "Allow":
                continue
            for action in ROLE_WRITES:
                if any(within(action, p) for p in patterns(statement)):
                    self.assertEqual(statement["Condition"]["StringEquals"]["iam:PermissionsBoundary"], BOUNDARY,
                                     f"{statement.get('Sid')}: {action}")
        for action in BOUNDARY_WRITES:
            self.assertFalse(perms.allowed(statements, action), action)
            self.assertTrue(any(perms.denies_everywhere(s) and action in patterns(s) for s in statements),
                            f"{action} explicitly denied")
        # The boundary is the one the management StackSet gives every role; the members' StackSet
        # gives none (RolePermissionsBoundary keeps its empty default there).
        given = {p["ParameterKey"]: p["ParameterValue"]
                 for p in ONBOARDING["Resources"]["ManagementStackSet"]["Properties"]["Parameters"]}
        self.assertEqual(given["RolePermissionsBoundary"], BOUNDARY)
        members = {p["ParameterKey"] for p in ONBOARDING["Resources"]["MemberStackSet"]["Properties"]["Parameters"]}
        self.assertNotIn("RolePermissionsBoundary", members)
        self.assertEqual(MEMBER["Parameters"]["RolePermissionsBoundary"]["Default"], "")
        # Module: the same conditions on the boundary's ARN (the parity test compares all of it).
        for statement in tf_statements():
            if statement["Effect"] == "Allow" and set(statement["Action"]) & set(ROLE_WRITES):
                self.assertIn(("StringEquals", "iam:PermissionsBoundary", [("res", "StackSetRolesBoundary", "Ref")]),
                              statement["Condition"], statement["Sid"])

    def test_the_boundary_leaves_each_member_role_what_its_policies_grant(self) -> None:
        """No Deny of the boundary that applies everywhere takes away an action a member role's own
        policies (or the managed policies it attaches) allow, unless the role denies it itself; the
        conditioned ones leave exactly what the roles use."""
        boundary = perms.statements_of(ONBOARDING["Resources"]["StackSetRolesBoundary"]["Properties"]["PolicyDocument"])
        self.assertEqual([patterns(s) for s in boundary if s["Effect"] == "Allow"], [["*"]])
        everywhere = [p for s in boundary if perms.denies_everywhere(s) for p in patterns(s)]
        roles = [k for k, t in MEMBER_RESOURCES if t == "AWS::IAM::Role"]
        for logical in roles:
            statements = role_policies(MEMBER["Resources"][logical])
            own_denies = [p for s in denies(statements) for p in patterns(s)]
            for statement in statements:
                if statement.get("Effect") != "Allow":
                    continue
                for granted in patterns(statement):
                    for denied in everywhere:
                        if within(granted, denied) or within(denied, granted):
                            if any(within(denied, own) or within(granted, own) for own in own_denies):
                                continue
                            self.fail(f"{logical}: the boundary's {denied} takes away its {granted}")
        by_sid = {s["Sid"]: s for s in boundary}
        member = MEMBER["Resources"]
        # profile-scan's role: attaches the two SSM policies, passes the instance role.
        attach = [s for s in member["MemberRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                  if s.get("Sid") == "AttachOnlyTheSsmCorePolicy" or s.get("Sid") == "AttachOnlyTheInstancePolicies"]
        self.assertEqual(len(attach), 1)
        self.assertLessEqual({str(a) for a in attach[0]["Condition"]["ArnEquals"]["iam:PolicyARN"]},
                             {str(a) for a in
                              by_sid["AttachOnlyTheSsmInstancePolicies"]["Condition"]["ArnNotEquals"]["iam:PolicyARN"]})
        # ... and passes DHMC's role to Systems Manager (SSM_REACH dhmc or both): exactly the
        # roles its own PassRole statements name are left passable.
        # (the DHMC statements sit in Fn::If [UsesDhmc, statement, AWS::NoValue]).
        own = member["MemberRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        unwrapped = [s["Fn::If"][1] if "Fn::If" in s else s for s in own]
        passed = [s["Resource"] for s in unwrapped if s.get("Action") == "iam:PassRole"]
        self.assertEqual(len(passed), 2)
        self.assertEqual(by_sid["PassOnlyTheInstanceRole"]["NotResource"],
                         [{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${InstanceRoleName}"},
                          {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${DhmcRoleName}"}])
        # arc-provisioner's role: SendCommand of the connector's documents to instances.
        send = [s for s in member["ProvisioningRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                if s.get("Sid") == "SendOnlyTheConnectorDocuments"]
        self.assertEqual(len(send), 1)
        self.assertLessEqual({str(r) for r in send[0]["Resource"]},
                             {str(r) for r in by_sid["SendOnlyTheConnectorDocuments"]["NotResource"]})

    def test_the_boundary_stops_an_administrator(self) -> None:
        """Whatever policy a pushed template writes into a role, the boundary denies the ways to
        administer the account or the organization."""
        boundary = perms.statements_of(ONBOARDING["Resources"]["StackSetRolesBoundary"]["Properties"]["PolicyDocument"])
        for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:CreateUser", "iam:CreateAccessKey",
                       "iam:AttachUserPolicy", "iam:CreatePolicyVersion", "iam:UpdateAssumeRolePolicy",
                       "iam:DeleteRolePermissionsBoundary", "sts:AssumeRole", "sts:AssumeRoleWithWebIdentity",
                       "sts:GetFederationToken", "organizations:CreateAccount", "organizations:LeaveOrganization",
                       "organizations:AttachPolicy", "kms:PutKeyPolicy", "kms:CreateGrant",
                       "cloudformation:CreateStackSet", "cloudformation:CreateStackInstances",
                       "cloudformation:UpdateStack", "lambda:UpdateFunctionCode", "lambda:InvokeFunction",
                       "ec2:ModifyInstanceAttribute", "ssm:StartSession", "ssm:CreateAssociation",
                       # Review of #31: a member's root email, Identity Center, audit off switches,
                       # code as another identity, bucket policies.
                       "account:StartPrimaryEmailUpdate", "account:AcceptPrimaryEmailUpdate",
                       "sso:CreateAccountAssignment", "sso:CreatePermissionSet", "identitystore:CreateUser",
                       "cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:PutEventSelectors",
                       "guardduty:DeleteDetector", "config:StopConfigurationRecorder",
                       "codebuild:StartBuild", "ecs:ExecuteCommand", "ec2-instance-connect:SendSSHPublicKey",
                       "s3:PutBucketPolicy"):
            self.assertFalse(perms.allowed(boundary, action), action)


class OptInRegions(unittest.TestCase):
    def test_the_administration_role_trusts_its_own_stackset_in_this_region(self) -> None:
        [trust] = perms.statements_of(
            ONBOARDING["Resources"]["StackSetAdministrationRole"]["Properties"]["AssumeRolePolicyDocument"])
        self.assertEqual(trust["Principal"], {"Service": "cloudformation.amazonaws.com"})
        self.assertEqual(trust["Condition"]["StringLike"]["aws:SourceArn"], {"Fn::Sub": (
            "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stackset/${StackSetName}-management:*")})
        [tf] = TF.policy("stack_set_administration_role_trust")
        self.assertIn(("StringLike", "aws:SourceArn", [("cat", "arn:", ("pseudo", "partition"), ":cloudformation:",
                       ("pseudo", "region"), ":", ("pseudo", "account"), ":stackset/", ("param", "StackSetName"),
                       "-management:*")]), tf["Condition"])

    def test_the_self_managed_stackset_stays_in_regions_enabled_by_default(self) -> None:
        """"Regions launched before March 20, 2019 are enabled by default" (AWS Account Management):
        the template's Rule, the module's precondition and the emulator list the same Regions, and
        none of AWS's opt-in Regions."""
        rule = ONBOARDING["Rules"]["SelfManagedStackSetStaysInRegionsEnabledByDefault"]
        self.assertEqual(rule["RuleCondition"], {"Fn::Equals": [{"Ref": "StackSetCallAs"}, "SELF"]})
        [assertion] = rule["Assertions"]
        regions, allowed = assertion["Assert"]["Fn::EachMemberIn"]
        self.assertEqual(regions, {"Ref": "StackSetRegions"})
        self.assertEqual(tuple(allowed), perms.ENABLED_BY_DEFAULT)
        self.assertEqual(tuple(TF.value(TF.locals["regions_enabled_by_default"])), perms.ENABLED_BY_DEFAULT)
        self.assertFalse(set(perms.OPT_IN) & set(perms.ENABLED_BY_DEFAULT))
        self.assertIn("ap-east-1", perms.OPT_IN)


class TheEmulatorFailsWhatCloudFormationWould(unittest.TestCase):
    """cfn/onboarding.yaml created on the emulator in this process (moto, with the harness's
    StackSet resource), as deploy_like_sam.py creates it after `sam package`."""

    PARAMETERS = {
        "StackSetName": "mdc-connector-members", "StackSetPermissionModel": "SERVICE_MANAGED", "StackSetCallAs": "SELF",
        "OrganizationId": "o-exampleorgid1", "MemberRoleName": "MdcConnectorMemberRole",
        "ProvisioningRoleName": "MdcConnectorProvisioningRole", "InstanceProfileName": "MdcConnectorInstanceProfile",
        "InstanceRoleName": "MdcConnectorInstanceRole", "GlobalResourcesRegion": "us-east-1",
        "ArcLinuxDocumentName": "MdcConnector-ArcOnboard-Linux", "ArcWindowsDocumentName": "MdcConnector-ArcOnboard-Windows",
        "OidcIssuerHostPath": "", "OidcAudience": "", "OidcSubject": "", "OidcThumbprint": "",
        "PostureRoleName": "CspmMonitorAws", "PostureAccess": "least-privilege", "ConnectorBusName": "mdc-connector",
    }

    def deploy(self, onboarding: str, regions: str) -> tuple[str, dict[str, str | None], dict[str, str]]:
        """Creates the onboarding stack; (error message or "", role name -> its permissions
        boundary, customer managed policy name -> ARN), read before the emulator's state goes."""
        import boto3
        import moto_launcher  # noqa: F401 - the harness's patches to moto (ManagedPolicy's Ref among them)
        import stackset_resource
        from moto import mock_aws
        from moto.iam.models import iam_backends

        with mock_aws():
            account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
            stackset_resource.ORGANIZATIONS_ACCESS.add(account)
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="deploy")
            s3.put_object(Bucket="deploy", Key="member.yaml", Body=(ROOT / "cfn" / "member.yaml").read_bytes())
            body = onboarding.replace("TemplateURL: member.yaml",
                                      "TemplateURL: https://s3.us-east-1.amazonaws.com/deploy/member.yaml")
            parameters = {**self.PARAMETERS, "ConnectorAccountId": account, "StackSetRegions": regions}
            cfn = boto3.client("cloudformation", region_name="us-east-1")
            try:
                cfn.create_stack(StackName="onboarding", TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"],
                                 Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
                error = ""
            except cfn.exceptions.ClientError as e:
                error = str(e)
            iam = iam_backends[account]["aws"]
            roles = {r.name: r.permissions_boundary_arn for r in iam.roles.values()}
            policies = {p.name: p.arn for p in iam.managed_policies.values() if ":aws:policy/" not in p.arn}
            return error, roles, policies

    def test_the_templates_deploy_and_every_member_role_carries_the_boundary(self) -> None:
        error, roles, policies = self.deploy((ROOT / "cfn" / "onboarding.yaml").read_text(), "us-east-1,eu-west-1")
        self.assertEqual(error, "")
        [boundary] = [arn for name, arn in policies.items() if "StackSetRolesBoundary" in name]
        for name in ("MdcConnectorMemberRole", "MdcConnectorProvisioningRole", "MdcConnectorInstanceRole",
                     "MdcConnectorEventForwarding"):
            self.assertEqual(roles[name], boundary, name)
        self.assertFalse(roles["mdc-connector-members-execution"], "the onboarding stack's own roles: no boundary")

    def test_an_execution_role_without_a_grant_fails_the_instance_naming_the_action(self) -> None:
        text = (ROOT / "cfn" / "onboarding.yaml").read_text()
        cut = text.replace("                  - iam:CreateRole\n", "", 1)
        self.assertNotEqual(cut, text)
        error, roles, _ = self.deploy(cut, "us-east-1,eu-west-1")
        self.assertIn("Stack set operation [", error)
        self.assertIn("was unexpectedly stopped or failed", error)
        self.assertIn("is not authorized to perform: iam:CreateRole", error)
        self.assertIn("AWS::IAM::Role, create handler", error)
        self.assertNotIn("MdcConnectorMemberRole", roles, "nothing deployed")

    def test_an_opt_in_region_without_its_regional_principal_fails_the_instance(self) -> None:
        # moto evaluates no Rules: the template's refusal is the Rule's (test above), this is AWS's.
        error, _, _ = self.deploy((ROOT / "cfn" / "onboarding.yaml").read_text(), "us-east-1,ap-east-1")
        self.assertIn("was unexpectedly stopped or failed", error)
        self.assertIn("ap-east-1 is a Region that's disabled by default", error)
        self.assertIn("cloudformation.ap-east-1.amazonaws.com", error)

    def test_a_stack_instance_operation_over_the_api_reports_the_reason(self) -> None:
        """Create/UpdateStackInstances (Terraform's path): the instance's result is FAILED with the
        reason the launcher's StackSet model records."""
        import boto3
        import moto_launcher  # noqa: F401
        from moto import mock_aws

        with mock_aws():
            iam = boto3.client("iam", region_name="us-east-1")
            account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"Service": "cloudformation.amazonaws.com"}}]}
            iam.create_role(RoleName="admin", AssumeRolePolicyDocument=json.dumps(trust))
            iam.create_role(RoleName="execution", AssumeRolePolicyDocument=json.dumps(trust))
            iam.put_role_policy(RoleName="execution", PolicyName="floor", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["cloudformation:*", "s3:*"],
                                                         "Resource": "*"}]}))
            cfn = boto3.client("cloudformation", region_name="us-east-1")
            cfn.create_stack_set(StackSetName="own", TemplateBody=(ROOT / "cfn" / "member.yaml").read_text(),
                                 AdministrationRoleARN=f"arn:aws:iam::{account}:role/admin",
                                 ExecutionRoleName="execution", PermissionModel="SELF_MANAGED",
                                 Capabilities=["CAPABILITY_NAMED_IAM"])
            refused = perms.instance_refusals(account, "us-east-1", "own",
                                              [(account, "us-east-1"), (account, "ap-east-1")], ("create", "read"))
            self.assertIn("is not authorized to perform: iam:", refused[(account, "us-east-1")])
            self.assertIn("cloudformation.ap-east-1.amazonaws.com", refused[(account, "ap-east-1")])
            iam.update_assume_role_policy(RoleName="admin", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{**trust["Statement"][0], "Principal": {"Service": [
                    "cloudformation.amazonaws.com", "cloudformation.ap-east-1.amazonaws.com"]}}]}))
            iam.attach_role_policy(RoleName="execution", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
            self.assertEqual(perms.instance_refusals(account, "us-east-1", "own",
                                                     [(account, "us-east-1"), (account, "ap-east-1")],
                                                     perms.HANDLERS), {})
        from stackset_model import StackSetModel
        model = StackSetModel({})
        body = "Action=CreateStackInstances&StackSetName=own&Accounts.member.1=111111111111&Regions.member.1=ap-east-1"
        model.record("CreateStackInstances", body, b"<OperationId>op-1</OperationId>",
                     {("111111111111", "ap-east-1"): "the reason"})
        [result] = model.operations["op-1"]["results"]
        self.assertEqual((result["Status"], result["StatusReason"]), ("FAILED", "the reason"))
        self.assertEqual(model.operations["op-1"]["status"], "FAILED")


if __name__ == "__main__":
    unittest.main()
