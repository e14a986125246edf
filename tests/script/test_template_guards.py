"""Guard rails of cfn/template.yaml, cfn/member.yaml and cfn/onboarding.yaml, checked on the templates as text.

Each test names the guard it holds (docs/security.md: the permissions each role holds and why):

* no ``Resource: "*"`` grant except for actions that support no resource-level permission, and
  the listed sensitive actions only with a condition;
* every parameter that ends up in an ARN, a resource name or an instance script has an
  ``AllowedPattern`` (or ``AllowedValues``) and a ``ConstraintDescription``;
* ``sts:AssumeRole`` into member accounts only within the organization (``aws:ResourceOrgID``);
* the instance role and profile live instances depend on are retained (except by a failed creation);
* ``lambda:InvokeFunction`` names one exact function; the OIDC provider is complete or absent.

Run with the emulator's virtualenv (cfn-lint decodes the short-form intrinsics).
"""

from __future__ import annotations

import fnmatch
import re
import unittest
from pathlib import Path
from typing import Any, Iterator

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = {name: decode(str(ROOT / "cfn" / name))[0] for name in ("template.yaml", "member.yaml", "onboarding.yaml")}

# Actions AWS gives no resource-level permission (they are authorised on "*" only): the service
# authorization reference lists no resource type for them.
STAR_ONLY = {
    "ec2:DescribeInstances", "ec2:DescribeIamInstanceProfileAssociations", "ec2:DescribeRegions",
    "organizations:ListAccounts", "organizations:ListAccountsForParent", "organizations:ListChildren",
    "organizations:ListRoots", "organizations:DescribeOrganization", "organizations:DescribeAccount",
    "organizations:ListDelegatedAdministrators", "organizations:ListParents",
    "ssm:DescribeInstanceInformation", "ssm:ListCommandInvocations", "ssm:GetCommandInvocation",
    "iam:GetAccountAuthorizationDetails",
    "cloudformation:DescribeOrganizationsAccess", "cloudformation:ActivateOrganizationsAccess",
    # The preflight's reads (Service Authorization Reference: no resource type for these).
    "lambda:GetAccountSettings", "organizations:ListAWSServiceAccessForOrganization",
    "cloudtrail:DescribeTrails", "iam:GetOutboundWebIdentityFederationInfo",
}
# Statements on "*" that are so by design, with the reason (test_execution_role.py holds both).
STAR_BY_DESIGN = {
    ("onboarding.yaml", "StackSetsFloor"): "the StackSets execution role's floor: \"Your target account always "
    "needs full AWS CloudFormation permissions\" and \"You must add the S3 service action and resources\"; AWS's "
    "example of the minimum is cloudformation:* and s3:* on *",
    ("onboarding.yaml", "WithinWhatTheRolesOwnPoliciesGrant"): "a permissions boundary's Allow grants nothing; its "
    "Deny statements are what it takes away",
}
# Grants on "*" that must carry a condition whatever the action list says.
CONDITIONED = {"organizations:EnableAWSServiceAccess", "iam:CreateServiceLinkedRole", "iam:PassRole",
               "iam:AttachRolePolicy", "sts:GetWebIdentityToken"}
# The grant operations kms:GrantIsForAWSResource governs ("Allows principals to call CreateGrant,
# ListGrants, or RevokeGrant only when an AWS service that is integrated with AWS KMS sends the
# request on the principal's behalf", AWS KMS Developer Guide, Controlling access to grants).
KMS_GRANT_OPERATIONS = {"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"}
# What a key policy must never let IAM policies grant: a grant, a new key policy or an alias moved
# onto the key would each give the key's use (or its name) to principals the key policy never names.
NEVER_DELEGATED = {"kms:CreateGrant", "kms:PutKeyPolicy", "kms:UpdateAlias"}
# Systems Manager's policies: the only ones the connector attaches to instance roles.
SSM_DEFAULT_HOST = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy"}
SSM_CORE = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}


def statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM policy statement anywhere in a template (inline policies, queue and bus policies;
    both branches of an Fn::If)."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from statements(value)


def actions(statement: dict[str, Any]) -> set[str]:
    found = statement.get("Action", [])
    if isinstance(found, dict) and "Fn::Split" in found:  # !Split [",", !If [c, "a,b", "a"]]
        branches = found["Fn::Split"][1]
        values = branches["Fn::If"][1:] if isinstance(branches, dict) else [branches]
        return {a for v in values for a in v.split(",")}
    return set(found if isinstance(found, list) else [found])


def resources(statement: dict[str, Any]) -> list[Any]:
    found = statement.get("Resource", [])
    return found if isinstance(found, list) else [found]


def covers(patterns: set[str], action: str) -> bool:
    """Whether an Action list (with IAM's * and ? wildcards, case-insensitive) allows `action`."""
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


NO_VALUE = object()


def resolve(template: dict, node: Any, parameters: dict[str, Any]) -> Any:
    """A property's value for the given parameter values: Ref (parameters, AWS::NoValue), Fn::If,
    and the conditions' Fn::Equals / Fn::Not / Fn::And / Fn::Or / Condition; NO_VALUE when the
    property is left out."""
    if not isinstance(node, dict) or len(node) != 1:
        return node
    (key, arg), = node.items()
    if key == "Ref":
        return NO_VALUE if arg == "AWS::NoValue" else parameters[arg]
    if key == "Condition":
        return resolve(template, template["Conditions"][arg], parameters)
    if key == "Fn::If":
        chosen = resolve(template, template["Conditions"][arg[0]], parameters)
        return resolve(template, arg[1] if chosen else arg[2], parameters)
    if key == "Fn::Equals":
        return str(resolve(template, arg[0], parameters)) == str(resolve(template, arg[1], parameters))
    if key == "Fn::Not":
        return not resolve(template, arg[0], parameters)
    if key == "Fn::And":
        return all(resolve(template, a, parameters) for a in arg)
    if key == "Fn::Or":
        return any(resolve(template, a, parameters) for a in arg)
    raise AssertionError(f"{key} not resolved here")


class TemplateGuards(unittest.TestCase):
    def test_no_star_resource_without_need_or_condition(self) -> None:
        for name, template in TEMPLATES.items():
            for statement in statements(template.get("Resources", {})):
                if statement.get("Effect") != "Allow" or "*" not in resources(statement):
                    continue
                if "Principal" in statement:  # resource policies: the resource is the queue/bus
                    continue
                if (name, statement.get("Sid")) in STAR_BY_DESIGN:
                    continue
                granted = actions(statement)
                needs_condition = granted & CONDITIONED
                if needs_condition:
                    self.assertIn("Condition", statement, f"{name}: {statement.get('Sid')} {needs_condition}")
                loose = granted - STAR_ONLY - CONDITIONED
                self.assertFalse(loose, f"{name}: {statement.get('Sid')} grants {loose} on *")

    def test_sensitive_actions_are_conditioned(self) -> None:
        seen = set()
        for name, template in TEMPLATES.items():
            # What is granted needs a condition; a Deny only takes away.
            for statement in statements(template.get("Resources", {})):
                if statement.get("Effect") == "Deny":
                    continue
                for action in actions(statement) & CONDITIONED:
                    seen.add(action)
                    self.assertIn("Condition", statement, f"{name}: {action} without a condition")
        self.assertEqual(seen, CONDITIONED)

    def test_identity_tokens_are_for_entra_only_and_short_lived(self) -> None:
        """The AWS identity token arc-provisioner signs in to Entra with: exactly the audiences and
        lifetime src/arc/federation.rs asks for, RS256 only."""
        source = (ROOT / "src" / "arc" / "federation.rs").read_text()
        asked = set(re.findall(r'=> "(api://AzureADTokenExchange[A-Za-z]*)"', source))
        seconds = int(re.search(r"ASSERTION_SECONDS: i32 = (\d+);", source).group(1))
        template = TEMPLATES["template.yaml"]
        mapped = {row["Audience"] for row in template["Mappings"]["EntraTokenExchange"].values()}
        self.assertEqual(mapped, asked)
        self.assertEqual(set(template["Mappings"]["EntraTokenExchange"]), set(re.findall(r'"(Azure[A-Za-z]+)" =>', source)) | {"AzureCloud"})
        [grant] = [s for s in statements(template["Resources"]) if "sts:GetWebIdentityToken" in actions(s)]
        condition = grant["Condition"]
        self.assertEqual(condition["ForAllValues:StringEquals"]["sts:IdentityTokenAudience"],
                         {"Fn::FindInMap": ["EntraTokenExchange", {"Ref": "ArcCloud"}, "Audience"]})
        self.assertEqual(condition["NumericLessThanEquals"]["sts:DurationSeconds"], seconds)
        self.assertEqual(condition["StringEquals"]["sts:SigningAlgorithm"], "RS256")

    def test_the_opted_in_secret_is_read_and_decrypted_by_arc_provisioner_alone(self) -> None:
        """Secretless by default: the secret's read grant and its key exist only with
        ArcCredentialParameter; only arc-provisioner decrypts, through Parameter Store, that parameter."""
        template = TEMPLATES["template.yaml"]
        self.assertEqual(template["Parameters"]["ArcCredentialParameter"]["Default"], "")
        key = template["Resources"]["ArcSecretKey"]
        self.assertEqual(key["Condition"], "HasArcSecret")
        reads = [s for s in statements(template["Resources"]) if "ssm:GetParameter" in actions(s)]
        # The scope document's reads (test_the_scope_document_is_read_only_where_it_is_named).
        self.assertEqual([s["Sid"] for s in reads if s["Sid"] != "ReadTheScopeDocument"], ["ReadTheOptedInClientSecret"])
        policy = key["Properties"]["KeyPolicy"]["Statement"]
        decrypts = [s for s in statements(policy) if {"kms:Decrypt", "kms:*"} & actions(s)]
        self.assertEqual(len(decrypts), 1, decrypts)
        self.assertEqual(decrypts[0]["Principal"], {"AWS": {"Fn::GetAtt": ["ArcProvisionerRole", "Arn"]}})
        self.assertIn("kms:ViaService", decrypts[0]["Condition"]["StringEquals"])
        self.assertIn("kms:EncryptionContext:PARAMETER_ARN", decrypts[0]["Condition"]["StringEquals"])
        admin = [s for s in policy if isinstance(s, dict) and s.get("Sid") == "AdministerButNeverUse"][0]
        self.assertFalse({"kms:Decrypt", "kms:Encrypt", "kms:*", "kms:ReEncrypt*", "kms:GenerateDataKey*"} & actions(admin))
        for use in ("kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey"):
            self.assertFalse(covers(actions(admin), use), use)

    def test_the_scope_document_is_read_only_where_it_is_named(self) -> None:
        """ScopeParameterName (CONNECTOR_SCOPE_PARAMETER): each function's role reads that one
        parameter of its own account and region, and only when it is given; nothing else."""
        template = TEMPLATES["template.yaml"]
        self.assertEqual(template["Parameters"]["ScopeParameterName"]["Default"], "")
        self.assertEqual(template["Conditions"]["HasScopeParameter"],
                         {"Fn::Not": [{"Fn::Equals": [{"Ref": "ScopeParameterName"}, ""]}]})
        expected = {"Fn::If": ["HasScopeParameter", {
            "Sid": "ReadTheScopeDocument", "Effect": "Allow", "Action": "ssm:GetParameter",
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ScopeParameterName}"},
        }, {"Ref": "AWS::NoValue"}]}
        for role in ("ProfileScanRole", "AccountDiscoveryRole", "ArcProvisionerRole"):
            [policy] = template["Resources"][role]["Properties"]["Policies"]
            listed = policy["PolicyDocument"]["Statement"]
            self.assertEqual([s for s in listed if s == expected], [expected], role)
            granted = {a for s in statements(listed) if s.get("Effect") == "Allow" for a in actions(s)}
            # The scope's organizational units are resolved to their accounts at any depth.
            self.assertLessEqual({"organizations:ListAccountsForParent", "organizations:ListChildren"}, granted, role)
        reads = [s for s in statements(template["Resources"]) if s.get("Sid") == "ReadTheScopeDocument"]
        self.assertEqual(reads, [expected["Fn::If"][1]] * 3)

    def test_no_key_policy_lets_iam_policies_grant_grants_policies_or_aliases(self) -> None:
        """The statement through which IAM policies administer a key (principal: the account) names
        its actions one by one and never kms:CreateGrant, kms:PutKeyPolicy or kms:UpdateAlias, by
        name or wildcard ("Without permission from the key policy, IAM policies that allow
        permissions have no effect", AWS KMS Developer Guide, Key policies); any statement allowing
        a grant operation holds it to AWS services (kms:GrantIsForAWSResource). No one may put a
        new policy, so the key is created past KMS's lockout safety check."""
        keys = {(name, logical): r for name, template in TEMPLATES.items()
                for logical, r in template.get("Resources", {}).items() if r["Type"] == "AWS::KMS::Key"}
        self.assertEqual(set(keys), {("template.yaml", "ArcSecretKey")}, "the opted-in secret's key only")
        for (name, logical), key in keys.items():
            policy = key["Properties"]["KeyPolicy"]["Statement"]
            self.assertIs(key["Properties"].get("BypassPolicyLockoutSafetyCheck"), True, logical)
            delegating = [s for s in statements(policy) if "root" in "".join(strings(s.get("Principal", {})))]
            self.assertEqual(len(delegating), 1, f"{logical}: {delegating}")
            for statement in delegating:
                granted = actions(statement)
                self.assertFalse([a for a in granted if "*" in a or "?" in a], f"{logical}: wildcards in {granted}")
                for action in NEVER_DELEGATED:
                    self.assertFalse(covers(granted, action), f"{logical}: IAM policies could grant {action}")
            for statement in statements(policy):
                if statement["Effect"] == "Allow" and any(covers(actions(statement), a) for a in KMS_GRANT_OPERATIONS):
                    self.assertEqual(statement.get("Condition", {}).get("Bool", {}).get("kms:GrantIsForAWSResource"),
                                     "true", f"{logical}: {statement.get('Sid')} allows grants outside AWS services")
            # Nobody at all may replace the policy or grant the key's use.
            for statement in statements(policy):
                if statement["Effect"] == "Allow":
                    self.assertFalse(covers(actions(statement), "kms:PutKeyPolicy"), f"{logical}: {statement.get('Sid')}")
                    self.assertFalse(covers(actions(statement), "kms:UpdateAlias"), f"{logical}: {statement.get('Sid')}")
        # The guard itself: the wildcards the key once had would be caught.
        for wildcard, action in (("kms:Create*", "kms:CreateGrant"), ("kms:Put*", "kms:PutKeyPolicy"),
                                 ("kms:update*", "kms:UpdateAlias"), ("kms:*", "kms:CreateGrant")):
            self.assertTrue(covers({wildcard}, action), wildcard)

    def test_assume_role_into_members_stays_in_the_organization(self) -> None:
        assume = [s for s in statements(TEMPLATES["template.yaml"]["Resources"])
                  if "sts:AssumeRole" in actions(s) and "Principal" not in s]
        self.assertEqual(len(assume), 2, "profile-scan and arc-provisioner")
        for statement in assume:
            self.assertIn("aws:ResourceOrgID", statement.get("Condition", {}).get("StringEquals", {}), statement)

    def test_member_roles_trust_only_their_function_in_the_organization(self) -> None:
        resources_ = TEMPLATES["member.yaml"]["Resources"]
        for role in ("MemberRole", "ProvisioningRole"):
            trust = resources_[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
            self.assertIn("aws:PrincipalOrgID", trust["Condition"]["StringEquals"], role)
            self.assertIn("aws:PrincipalArn", trust["Condition"]["ArnLike"], role)

    def test_no_credential_is_staged_and_instances_read_no_parameter(self) -> None:
        """Issue "Sealed onboarding": the credential reaches an instance sealed to the key pair it
        made in memory, as a document parameter. No staging key or alias, no staged-read policy, no
        Parameter Store write or listing by any role, no parameter read but the opted-in secret's
        and the scope document's;
        the connector's instance role carries Systems Manager's default host policy alone, and the
        functions may attach to customers' roles only Systems Manager's two policies."""
        for name, template in TEMPLATES.items():
            # The one managed policy is a permissions boundary, which grants nothing
            # (test_execution_role.py holds what it takes away).
            boundaries = {k for k, r in template.get("Resources", {}).items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
            self.assertEqual(boundaries, {"StackSetRolesBoundary"} if name == "onboarding.yaml" else set(), name)
            granting = {k: r for k, r in template.get("Resources", {}).items() if k not in boundaries}
            types = {r["Type"] for r in granting.values()}
            self.assertFalse(types & {"AWS::KMS::Alias", "AWS::SSM::Parameter"}, name)
            text = (ROOT / "cfn" / name).read_text()
            for retired in ("StagedCredential", "staged-credential", "ARC_STAGED_CREDENTIAL_PARAMETER"):
                self.assertNotIn(retired, text, name)
            for statement in statements(granting):
                if statement["Effect"] != "Allow":
                    continue
                granted = actions(statement)
                for action in ("ssm:PutParameter", "ssm:DeleteParameter", "ssm:DescribeParameters",
                               "ssm:GetParametersByPath", "ssm:LabelParameterVersion"):
                    self.assertFalse(covers(granted, action), f"{name}: {statement.get('Sid')} {action}")
                if covers(granted, "ssm:GetParameter"):
                    self.assertIn((name, statement.get("Sid")), {("template.yaml", "ReadTheOptedInClientSecret"),
                                                                 ("template.yaml", "ReadTheScopeDocument")})
        self.assertNotIn("ArcStagedCredentialParameter", TEMPLATES["member.yaml"]["Parameters"])
        role = TEMPLATES["member.yaml"]["Resources"]["InstanceRole"]["Properties"]
        self.assertEqual(role["ManagedPolicyArns"], [SSM_DEFAULT_HOST])
        self.assertNotIn("Policies", role)
        attachable = [s for t in TEMPLATES.values() for s in statements(t.get("Resources", {}))
                      if "iam:AttachRolePolicy" in actions(s)]
        by_function = [s for s in attachable if s.get("Sid") in ("AttachOnlyTheSsmCorePolicy", "AttachOnlyTheInstancePolicies")]
        self.assertEqual(len(by_function), 2, "profile-scan's own role and the member role it assumes")
        for statement in by_function:
            self.assertEqual(statement["Condition"]["ArnEquals"]["iam:PolicyARN"], [SSM_CORE, SSM_DEFAULT_HOST])
        # Review F5/F6: the roles that attach it never reach the connector's own roles.
        denied = {name: [s for s in statements(TEMPLATES[name].get("Resources", {}))
                         if s.get("Sid") == "NeverTheConnectorsOwnRoles"] for name in ("template.yaml", "member.yaml")}
        self.assertEqual(denied["template.yaml"][0]["Effect"], "Deny")
        self.assertEqual(denied["template.yaml"][0]["Resource"],
                         {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/mdc-connector-*"})
        member_denied = [r["Fn::Sub"].rsplit("/", 1)[1] for r in denied["member.yaml"][0]["Resource"]]
        # DHMC's role too: AmazonSSMManagedInstanceCore there would give every instance it manages
        # reads of every parameter of the account.
        self.assertEqual(member_denied, ["${MemberRoleName}", "${ProvisioningRoleName}", "${PostureRoleName}",
                                         "MdcConnectorEventForwarding", "${DhmcRoleName}"])
        self.assertEqual(denied["member.yaml"][0]["Action"], "iam:AttachRolePolicy")
        self.assertEqual(TEMPLATES["template.yaml"]["Parameters"]["InstancePolicy"]["Default"], "narrow")

    def test_dhmc_rights_and_role_exist_only_when_the_reach_uses_dhmc(self) -> None:
        """Issue "DHMC": the setting's rights "should only be provided to administrators"
        (UpdateServiceSetting); with SsmReach=profiles (the default) neither the DHMC role nor the
        member role's rights on DHMC's setting exist, and the member role may pass only the DHMC role
        to Systems Manager."""
        member = TEMPLATES["member.yaml"]
        self.assertEqual(member["Conditions"]["UsesDhmc"], {"Fn::Not": [{"Fn::Equals": [{"Ref": "SsmReach"}, "profiles"]}]})
        self.assertEqual(member["Resources"]["DhmcRole"]["Condition"], "CreateDhmcRole")
        own = member["Resources"]["MemberRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        conditioned = {s["Fn::If"][1]["Sid"]: s["Fn::If"][0] for s in own if "Fn::If" in s}
        self.assertEqual(conditioned, {"ReadWhatSystemsManagerManages": "UsesDhmc", "TurnDhmcOnWhereItIsOff": "UsesDhmc",
                                       "PassOnlyTheConnectorDhmcRole": "UsesDhmc"})
        plain = [s for s in own if "Fn::If" not in s]
        for s in plain:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            self.assertFalse([a for a in actions if a.startswith("ssm:") and "ServiceSetting" in a], s)
        passing = next(s["Fn::If"][1] for s in own if "Fn::If" in s and s["Fn::If"][1]["Sid"] == "PassOnlyTheConnectorDhmcRole")
        self.assertEqual(passing["Resource"], {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${DhmcRoleName}"})
        self.assertEqual(passing["Condition"], {"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}})
        for name in ("MemberStackSet", "ManagementStackSet"):
            given = {p["ParameterKey"] for p in TEMPLATES["onboarding.yaml"]["Resources"][name]["Properties"]["Parameters"]}
            self.assertLessEqual({"SsmReach", "DhmcRoleName"}, given, name)

    def test_the_management_stacksets_roles_serve_only_it_and_cover_the_member_template(self) -> None:
        onboarding = TEMPLATES["onboarding.yaml"]["Resources"]
        trust = onboarding["StackSetAdministrationRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
        # "StackSets populates your administrator account ID and StackSets Amazon Resource Name"
        # (self-managed permissions, confused deputy): aws:SourceArn names this StackSet only, in
        # the Region it lives in (the stack's own).
        self.assertEqual(trust["Condition"]["StringLike"]["aws:SourceArn"], {"Fn::Sub": (
            "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stackset/${StackSetName}-management:*")})
        self.assertEqual(onboarding["ManagementStackSet"]["Properties"]["StackSetName"],
                         {"Fn::Sub": "${StackSetName}-management"})
        execution = list(statements(onboarding["StackSetExecutionRole"]))
        attachable = {str(a) for s in execution if "iam:AttachRolePolicy" in actions(s)
                      for a in s["Condition"]["ArnEquals"]["iam:PolicyARN"]}
        member = TEMPLATES["member.yaml"]["Resources"]
        attached = [str(choice) for r in member.values() if r["Type"] == "AWS::IAM::Role"
                    for p in r["Properties"].get("ManagedPolicyArns", [])
                    for choice in (p["Fn::If"][1:] if isinstance(p, dict) and "Fn::If" in p else [p])]
        for policy in attached:
            self.assertIn(policy, attachable, "the execution role may attach every policy the member template does")
        # The member template creates no key and no managed policy: the execution role may neither.
        granted = {a for s in execution if s.get("Effect") == "Allow" for a in actions(s)}
        self.assertFalse({a for a in granted if a.startswith("kms:")}, "no key to create or administer")
        self.assertFalse(covers(granted, "iam:CreatePolicy") or covers(granted, "iam:CreatePolicyVersion"),
                         "no managed policy to create")

    def test_every_parameter_in_an_arn_a_name_or_a_script_has_a_pattern(self) -> None:
        for name, template in TEMPLATES.items():
            parameters = template["Parameters"]
            used: set[str] = set()
            for text in strings(template.get("Resources", {})):
                used.update(re.findall(r"\$\{([A-Za-z0-9]+)\}", text))
            for resource in template.get("Resources", {}).values():
                for value in (resource.get("Properties") or {}).values():
                    if isinstance(value, dict) and "Ref" in value:
                        used.add(value["Ref"])
            for parameter in sorted(used & set(parameters)):
                spec = parameters[parameter]
                if spec.get("Type") == "Number" or "AllowedValues" in spec:
                    continue
                self.assertIn("AllowedPattern", spec, f"{name}: {parameter}")
                self.assertIn("ConstraintDescription", spec, f"{name}: {parameter}")

    def test_the_posture_role_denies_every_data_read_read_only_access_grants(self) -> None:
        # Logs Insights and Live Tail, DynamoDB PartiQL and Streams, ECR image layers, CodeCommit,
        # OpenSearch GET, console output, execution history, command output: the reads
        # ReadOnlyAccess grants beyond configuration (checked against its current document).
        required = {
            "s3:GetObject*", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PartiQLSelect",
            "dynamodb:GetRecords", "ssm:GetParameter*", "ssm:GetCommandInvocation", "kms:Decrypt",
            "sqs:ReceiveMessage", "kinesis:GetRecords", "logs:GetLogEvents", "logs:FilterLogEvents",
            "logs:StartQuery", "logs:GetQueryResults", "logs:StartLiveTail", "athena:GetQueryResults",
            "lambda:GetFunction", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "codecommit:GitPull",
            "codecommit:GetFile", "codecommit:GetBlob", "es:ESHttpGet", "ec2:GetConsoleOutput",
            "ec2:GetConsoleScreenshot", "states:GetExecutionHistory", "secretsmanager:GetSecretValue",
            # Review F10 (#31.7): execution input and output, template bodies, database logs,
            # document contents, layer code, launch data and the encrypted Windows password, user
            # directories; Glue connection passwords and Macie's findings' data (not granted by
            # ReadOnlyAccess version 178: denied before a later version does).
            "states:DescribeExecution", "cloudformation:GetTemplate", "rds:DownloadDBLogFilePortion",
            "rds:DownloadCompleteDBLogFile", "ssm:GetDocument", "lambda:GetLayerVersion",
            "ec2:GetLaunchTemplateData", "ec2:GetPasswordData", "cognito-idp:ListUsers",
            "cognito-idp:ListUsersInGroup", "cognito-idp:AdminGetUser", "glue:GetConnection",
            "glue:GetConnections", "macie2:GetSensitiveDataOccurrences",
        }
        role = TEMPLATES["member.yaml"]["Resources"]["PostureRole"]["Properties"]
        denials = [s for policy in role["Policies"] for s in statements(policy) if s["Effect"] == "Deny"]
        everywhere = {a for s in denials if resources(s) == ["*"] for a in actions(s)}
        self.assertEqual(required - everywhere, set())
        # API key values: apigateway:GET (every API Gateway read) denied on the keys alone.
        [keys] = [s for s in denials if s.get("Sid") == "DenyApiKeyValues"]
        self.assertEqual(actions(keys), {"apigateway:GET"})
        self.assertEqual([r["Fn::Sub"].rsplit("::", 1)[1] for r in resources(keys)],
                         ["/apikeys", "/apikeys/*", "/usageplans/*/keys", "/usageplans/*/keys/*"])
        # What posture checks read stays readable (docs/security.md names the data it carries).
        for kept in ("ec2:DescribeInstanceAttribute", "ec2:DescribeLaunchTemplateVersions",
                     "lambda:GetFunctionConfiguration", "lambda:ListFunctions", "ecs:DescribeTaskDefinition",
                     "codebuild:BatchGetProjects"):
            self.assertFalse(any(covers(actions(s), kept) for s in denials), kept)

    def test_every_parameter_with_a_pattern_says_what_it_accepts(self) -> None:
        for name, template in TEMPLATES.items():
            for parameter, spec in template["Parameters"].items():
                if "AllowedPattern" in spec:
                    self.assertIn("ConstraintDescription", spec, f"{name}: {parameter}")

    def test_patterns_refuse_wildcards_in_names_that_reach_arns(self) -> None:
        for name, template in TEMPLATES.items():
            for parameter, spec in template["Parameters"].items():
                pattern = spec.get("AllowedPattern")
                if not pattern or not parameter.endswith(("RoleName", "Document", "DocumentName", "ProfileName")):
                    continue
                self.assertIsNone(re.fullmatch(pattern, "*"), f"{name}: {parameter} admits *")
                self.assertIsNone(re.fullmatch(pattern, "a*"), f"{name}: {parameter} admits a*")
                self.assertIsNotNone(re.fullmatch(pattern, str(spec.get("Default", "x-1"))), f"{name}: {parameter}")

    def test_what_live_instances_use_is_retained_except_by_a_failed_creation(self) -> None:
        resources_ = TEMPLATES["member.yaml"]["Resources"]
        for resource in ("InstanceRole", "InstanceProfile"):
            self.assertEqual(resources_[resource].get("DeletionPolicy"), "RetainExceptOnCreate", resource)
            self.assertEqual(resources_[resource].get("UpdateReplacePolicy"), "Retain", resource)

    def test_the_audit_trail_outlives_the_stack_and_never_blocks_a_redeploy(self) -> None:
        """Log groups (the run reports) are retained on delete and replacement, with generated names
        so a redeploy after teardown does not collide with the retained ones."""
        resources_ = TEMPLATES["template.yaml"]["Resources"]
        groups = [name for name, r in resources_.items() if r["Type"] == "AWS::Logs::LogGroup"]
        self.assertEqual(len(groups), 3, groups)
        for name in groups:
            self.assertEqual(resources_[name].get("DeletionPolicy"), "Retain", name)
            self.assertEqual(resources_[name].get("UpdateReplacePolicy"), "Retain", name)
            self.assertNotIn("LogGroupName", resources_[name]["Properties"], name)

    def test_the_inventory_outlives_the_stack_and_only_arc_provisioner_uses_it(self) -> None:
        """arc-provisioner's inventory table is retained on delete and replacement, with a generated
        name, point-in-time recovery and encryption with the AWS managed key; the one grant of any
        DynamoDB action in the templates is arc-provisioner's, item reads and writes on that table
        alone (no index, no Scan, no table administration)."""
        resources_ = TEMPLATES["template.yaml"]["Resources"]
        tables = {(name, logical) for name, template in TEMPLATES.items()
                  for logical, r in template.get("Resources", {}).items() if r["Type"] == "AWS::DynamoDB::Table"}
        self.assertEqual(tables, {("template.yaml", "ArcInventoryTable")})
        table = resources_["ArcInventoryTable"]
        self.assertEqual(table.get("DeletionPolicy"), "Retain")
        self.assertEqual(table.get("UpdateReplacePolicy"), "Retain")
        props = table["Properties"]
        self.assertNotIn("TableName", props)
        self.assertEqual(props["BillingMode"], "PAY_PER_REQUEST")
        self.assertIs(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], True)
        self.assertEqual(props["SSESpecification"], {"SSEEnabled": True})
        grants = [(name, s) for name, template in TEMPLATES.items() for s in statements(template.get("Resources", {}))
                  if s["Effect"] == "Allow" and any(a.lower().startswith("dynamodb:") for a in actions(s))]
        self.assertEqual([(name, s.get("Sid")) for name, s in grants], [("template.yaml", "ArcInventory")])
        [(_, grant)] = grants
        # What arc-provisioner calls (src/arc/azure/inventory.rs): Query, PutItem, DeleteItem and
        # BatchWriteItem (the sweep forgets deleted machines 25 at a time); nothing else.
        self.assertEqual(actions(grant), {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem",
                                          "dynamodb:BatchWriteItem"})
        self.assertEqual(resources(grant), [{"Fn::GetAtt": ["ArcInventoryTable", "Arn"]}])
        role = resources_["ArcProvisionerRole"]["Properties"]["Policies"]
        self.assertIn(grant, [s for p in role for s in statements(p)])
        function = resources_["ArcProvisionerFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(function["ARC_INVENTORY_TABLE"], {"Ref": "ArcInventoryTable"})

    def test_no_function_reserves_concurrency_by_default(self) -> None:
        """A reservation needs unreserved account concurrency of the reservation plus 100 ("You can
        reserve concurrency for as many functions as you like, as long as you leave at least 100
        simultaneous executions unreserved for functions that aren't configured with a
        per-function limit", Lambda API reference, PutFunctionConcurrency), which a young account
        lacks ("New AWS accounts have reduced concurrency and memory quotas", Lambda quotas). So
        with the parameters' defaults no function reserves any (nor provisions any); each work
        queue's event source mapping bounds its function instead (ScalingConfig MaximumConcurrency,
        which reserves nothing)."""
        template = TEMPLATES["template.yaml"]
        defaults = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
        functions = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
        self.assertEqual(len(functions), 3)
        for name, function in functions.items():
            properties = function["Properties"]
            self.assertIn("ReservedConcurrentExecutions", properties, f"{name}: the opt-in reservation")
            self.assertIs(resolve(template, properties["ReservedConcurrentExecutions"], defaults), NO_VALUE, name)
            self.assertNotIn("ProvisionedConcurrencyConfig", properties, name)
            queues = [e["Properties"] for e in properties.get("Events", {}).values() if e["Type"] == "SQS"]
            self.assertTrue(queues, f"{name}: a work queue bounds the function")
            for queue in queues:
                maximum = queue.get("ScalingConfig", {}).get("MaximumConcurrency")
                self.assertIsInstance(maximum, int, f"{name}: {queue['Queue']} without ScalingConfig.MaximumConcurrency")
                self.assertTrue(2 <= maximum <= 1000, f"{name}: MaximumConcurrency {maximum} outside 2-1000")
        self.assertNotIn("ReservedConcurrentExecutions", template.get("Globals", {}).get("Function", {}))
        # The guard itself: a fixed reservation, or one the default turns on, is caught.
        self.assertEqual(resolve(template, 10, defaults), 10)
        self.assertEqual(resolve(template, {"Fn::If": ["ReservesConcurrency", {"Ref": "ReservedConcurrency"},
                                                       {"Ref": "AWS::NoValue"}]},
                                 {**defaults, "ReservedConcurrency": "8"}), "8")

    def test_queue_triggers_never_outrun_the_functions_reserved_concurrency(self) -> None:
        """Lambda guide (SQS scaling): "make sure that your function's reserved concurrency is
        greater than or equal to the total maximum concurrency of all Amazon SQS event sources ...
        Otherwise, Lambda might throttle your messages". A reservation is opt-in
        (ReservedConcurrency): every value its pattern admits covers each function's queues."""
        template = TEMPLATES["template.yaml"]
        parameter = template["Parameters"]["ReservedConcurrency"]
        admitted = [n for n in range(0, 100000) if re.fullmatch(parameter["AllowedPattern"], str(n))]
        self.assertTrue(admitted, "some reservation can be given")
        for refused in ("0", "-1", "08", "8.5", "x", " 8", "10000"):
            self.assertIsNone(re.fullmatch(parameter["AllowedPattern"], refused), refused)
        self.assertIsNotNone(re.fullmatch(parameter["AllowedPattern"], ""), "empty: no reservation")
        resources_ = template["Resources"]
        functions = {n: r for n, r in resources_.items() if r["Type"] == "AWS::Serverless::Function"}
        self.assertEqual(len(functions), 3)
        for name, function in functions.items():
            reserved = function["Properties"]["ReservedConcurrentExecutions"]
            self.assertEqual(reserved, {"Fn::If": ["ReservesConcurrency", {"Ref": "ReservedConcurrency"},
                                                   {"Ref": "AWS::NoValue"}]}, name)
            queues = [e["Properties"] for e in function["Properties"].get("Events", {}).values() if e["Type"] == "SQS"]
            self.assertTrue(queues, name)
            total = sum(q["ScalingConfig"]["MaximumConcurrency"] for q in queues)
            self.assertGreaterEqual(min(admitted), total, name)
            self.assertGreaterEqual(min(q["ScalingConfig"]["MaximumConcurrency"] for q in queues), 2, name)

    def test_member_template_changes_reach_the_instances_in_waves_regions_in_parallel(self) -> None:
        """Without OperationPreferences a StackSet update goes one account at a time, regions in
        sequence, and stops at the first failure. The member StackSet's go in waves of
        MemberRolloutWavePercent % of a Region's accounts, regions in parallel, stopping a Region
        after MemberRolloutFailureTolerance failed accounts; SOFT_FAILURE_TOLERANCE, or STRICT
        would cap each wave at the tolerance + 1 (StackSetOperationPreferences)."""
        sets = [r for r in TEMPLATES["onboarding.yaml"]["Resources"].values() if r["Type"] == "AWS::CloudFormation::StackSet"]
        self.assertEqual(len(sets), 2)
        preferences = [r["Properties"].get("OperationPreferences") for r in sets]
        self.assertTrue(all(p and p["RegionConcurrencyType"] == "PARALLEL" for p in preferences), preferences)
        member = TEMPLATES["onboarding.yaml"]["Resources"]["MemberStackSet"]["Properties"]["OperationPreferences"]
        self.assertEqual(member, {"RegionConcurrencyType": "PARALLEL", "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
                                  "MaxConcurrentPercentage": {"Ref": "MemberRolloutWavePercent"},
                                  "FailureToleranceCount": {"Ref": "MemberRolloutFailureTolerance"}})
        for name, default, low, high in (("MemberRolloutWavePercent", 10, 1, 100),
                                         ("MemberRolloutFailureTolerance", 0, 0, None)):
            for template in ("template.yaml", "onboarding.yaml"):
                parameter = TEMPLATES[template]["Parameters"][name]
                self.assertEqual((parameter["Type"], parameter["Default"], parameter["MinValue"], parameter.get("MaxValue")),
                                 ("Number", default, low, high), f"{template}: {name}")
            self.assertEqual(TEMPLATES["template.yaml"]["Resources"]["Onboarding"]["Properties"]["Parameters"][name],
                             {"Ref": name})

    def test_member_roles_trust_the_account_that_runs_the_functions(self) -> None:
        """With StackSetCallAs=DELEGATED_ADMIN the functions run in the delegated administrator:
        the member template's roles must trust that account's function roles, not the management
        account's (which ManagementAccountId names for the StackSet calls)."""
        onboarding = TEMPLATES["template.yaml"]["Resources"]["Onboarding"]["Properties"]["Parameters"]
        self.assertEqual(onboarding["ConnectorAccountId"], {"Ref": "AWS::AccountId"})
        member = TEMPLATES["member.yaml"]["Resources"]
        trusted = [s for s in strings(member) if ":role/mdc-connector-" in s]
        self.assertTrue(trusted and all("${ConnectorAccountId}" in s for s in trusted), trusted)

    def test_every_account_forwards_its_events_but_never_the_bus_to_itself(self) -> None:
        """Review F5 (#31.4): the management account's instances outside the deploy region produce
        events only if its own member stacks forward them, so its StackSet names this account's bus
        (never "", which turned forwarding off in every region); and member.yaml creates no
        forwarding rule in the bus's own account and region, whose default bus the main template's
        *Here rules read (a rule there would send the account's events to itself, each twice).
        The forwarding role exists in every account that forwards from anywhere. Terraform's
        management StackSet is held equal to this one by test_terraform_parity.py."""
        onboarding = TEMPLATES["onboarding.yaml"]["Resources"]
        for stack_set in ("ManagementStackSet", "MemberStackSet"):
            given = {p["ParameterKey"]: p["ParameterValue"] for p in onboarding[stack_set]["Properties"]["Parameters"]}
            self.assertEqual(given["ConnectorBusAccountId"], {"Ref": "AWS::AccountId"}, stack_set)
            self.assertEqual(given["ConnectorBusRegion"], {"Ref": "AWS::Region"}, stack_set)
        member = TEMPLATES["member.yaml"]
        resources_ = member["Resources"]
        self.assertEqual(resources_["ForwardToConnectorBus"]["Condition"], "Forward")
        self.assertEqual(resources_["EventForwardingRole"]["Condition"], "CreateForwardingRole")
        bus_account, bus_region, member_account, other_region = "111111111111", "us-east-1", "222222222222", "eu-west-1"
        defaults = {name: spec.get("Default") for name, spec in member["Parameters"].items()}

        def holds(condition: str, account: str, region: str, bus: str) -> bool:
            values = {**defaults, "AWS::AccountId": account, "AWS::Region": region, "ConnectorBusAccountId": bus,
                      "ConnectorBusRegion": bus_region, "GlobalResourcesRegion": bus_region}
            return resolve(member, {"Condition": condition}, values)

        # (account, region, bus account) -> whether a forwarding rule is created there.
        cases = {
            (bus_account, bus_region, bus_account): False,    # the bus itself: its default bus is read
            (bus_account, other_region, bus_account): True,   # the management account elsewhere
            (member_account, bus_region, bus_account): True,  # a member in the bus's region
            (member_account, other_region, bus_account): True,
            (member_account, other_region, ""): False,        # no bus given: nothing forwarded
            (bus_account, other_region, ""): False,
        }
        for (account, region, bus), forwards in cases.items():
            self.assertEqual(holds("Forward", account, region, bus), forwards, (account, region, bus))
        # The role (global, GlobalResourcesRegion) wherever any region of the account forwards.
        for account in (bus_account, member_account):
            self.assertTrue(holds("CreateForwardingRole", account, bus_region, bus_account), account)
            self.assertFalse(holds("CreateForwardingRole", account, other_region, bus_account), account)
        self.assertFalse(holds("CreateForwardingRole", member_account, bus_region, ""))
        # moto reads the short !Condition tag as a function (Fn::Condition) and evaluates it false,
        # which would hide both resources from every emulator deploy: the long form only.
        lines = (ROOT / "cfn" / "member.yaml").read_text().splitlines()
        for name in ("Forward", "CreateForwardingRole", "IsTheConnectorBusHere", "HasConnectorBus"):
            first = lines.index(next(line for line in lines if line.startswith(f"  {name}:")))
            definition = [lines[first]]
            for line in lines[first + 1:]:
                if not line.startswith("    "):
                    break
                definition.append(line)
            self.assertNotIn("!Condition", "\n".join(definition), name)
        # The guard itself: the management StackSet's old "" would be caught above, and a Forward
        # condition without the bus's own exclusion would forward the bus to itself.
        loose = {**member, "Conditions": {**member["Conditions"], "Forward": {"Condition": "HasConnectorBus"}}}
        self.assertTrue(resolve(loose, {"Condition": "Forward"}, {**defaults, "AWS::AccountId": bus_account,
                        "AWS::Region": bus_region, "ConnectorBusAccountId": bus_account, "ConnectorBusRegion": bus_region}))

    def test_the_organizations_rule_exists_in_each_partitions_organizations_region(self) -> None:
        """Organizations events arrive in us-east-1 (commercial), cn-northwest-1 (China) and
        us-gov-west-1 (GovCloud): the rule's condition holds exactly there."""
        template = TEMPLATES["template.yaml"]
        condition = template["Conditions"]["InOrganizationsHomeRegion"]["Fn::Or"]
        regions = {c["Fn::Equals"][1] for c in condition}
        self.assertEqual(regions, {"us-east-1", "cn-northwest-1", "us-gov-west-1"})
        for name in ("OrganizationEventsRule", "OrganizationEventsPermission"):
            self.assertEqual(template["Resources"][name]["Condition"], "InOrganizationsHomeRegion")

    def test_invoke_names_one_function(self) -> None:
        for statement in statements(TEMPLATES["template.yaml"]["Resources"]):
            if "lambda:InvokeFunction" in actions(statement) and "Principal" not in statement:
                for resource in resources(statement):
                    self.assertNotIn("*", "".join(strings(resource)), statement)

    def test_oidc_is_complete_or_absent(self) -> None:
        member = TEMPLATES["member.yaml"]
        rule = member["Rules"]["OidcIsCompleteOrAbsent"]
        asserted = " ".join(strings(rule["Assertions"]))
        for parameter in ("OidcAudience", "OidcSubject"):
            self.assertIn(parameter, asserted)
        thumbprints = member["Resources"]["OidcProvider"]["Properties"]["ThumbprintList"]
        self.assertIn("Fn::If", thumbprints, "no empty thumbprint when none is given")

    def test_posture_role_defaults_to_least_privilege_and_denies_data_reads(self) -> None:
        member = TEMPLATES["member.yaml"]
        self.assertEqual(member["Parameters"]["PostureAccess"]["Default"], "least-privilege")
        denied = set()
        for statement in statements(member["Resources"]["PostureRole"]):
            if statement["Effect"] == "Deny":
                denied |= actions(statement)
        for action in ("s3:GetObject*", "ssm:GetParameter*", "secretsmanager:GetSecretValue", "kms:Decrypt",
                       "dynamodb:GetItem"):
            self.assertIn(action, denied)



class DeployParameters(unittest.TestCase):
    def test_docs_deploy_lists_every_template_parameter_as_generated(self) -> None:
        import subprocess
        import sys
        process = subprocess.run([sys.executable, str(ROOT / "scripts" / "render_parameters.py"), "--check"],
                                 capture_output=True, text=True)
        self.assertEqual(process.returncode, 0, process.stderr)
        doc = (ROOT / "docs" / "deploy.md").read_text()
        for name in TEMPLATES["template.yaml"]["Parameters"]:
            self.assertIn(f"| `{name}` |", doc)


if __name__ == "__main__":
    unittest.main()
