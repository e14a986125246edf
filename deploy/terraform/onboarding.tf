# cfn/onboarding.yaml (the template's nested stack Onboarding): the member StackSet that
# account-discovery deploys to every member account, created without instances, and the member
# template in this account for every region in stack_set_regions through a self-managed StackSet
# of this account (its administration and execution roles included).
#
# Both are built from cfn/member.yaml, read here from the repository (one source for the member
# side). It is larger than CloudFormation's 51,200-byte inline TemplateBody limit, so, as
# `sam deploy` uploads it to its bucket, it is uploaded to var.template_bucket and given by URL;
# the key carries the file's hash, so a changed template is a new URL and updates both StackSets.

locals {
  member_template   = file("${path.module}/../../cfn/member.yaml")
  stack_set_regions = split(",", var.stack_set_regions)

  # "Regions launched before March 20, 2019 are enabled by default" (AWS Account Management): the
  # list of cfn/onboarding.yaml's Rule SelfManagedStackSetStaysInRegionsEnabledByDefault (rules.tf).
  regions_enabled_by_default = [
    "us-east-1", "eu-west-1", "us-west-1", "ap-southeast-1", "ap-northeast-1", "us-gov-west-1", "us-west-2", "sa-east-1",
    "ap-southeast-2", "cn-north-1", "us-iso-east-1", "eu-central-1", "ap-northeast-2", "ap-south-1", "us-east-2",
    "ca-central-1", "eu-west-2", "us-isob-east-1", "cn-northwest-1", "eu-west-3", "ap-northeast-3", "us-gov-east-1",
    "eu-north-1",
  ]
}

data "aws_s3_bucket" "template_bucket" {
  bucket = var.template_bucket
}

resource "aws_s3_object" "member_template" {
  #checkov:skip=CKV_AWS_186:The member template is this repository's public source, no secret; the bucket's default encryption applies.
  bucket       = data.aws_s3_bucket.template_bucket.id
  key          = "mdc-connector/member-${md5(local.member_template)}.yaml"
  content      = local.member_template
  content_type = "application/x-yaml"
}

locals {
  member_template_url = "https://${data.aws_s3_bucket.template_bucket.bucket_regional_domain_name}/${aws_s3_object.member_template.key}"
}

# Members: account-discovery creates, updates and removes the instances (daily and on
# Organizations events). Trusted access must be on for SERVICE_MANAGED, or CloudFormation refuses
# the StackSet: "You must enable organizations access to operate a service managed stack set".
# Its instances are account-discovery's, not Terraform's: AWS refuses DeleteStackSet while any
# remain ("Before you can delete a stack set, all of its member stack instances must be deleted"),
# so `terraform destroy` comes after the member StackSet is emptied (README.md, Teardown).
resource "aws_cloudformation_stack_set" "member_stack_set" {
  name             = var.stack_set_name
  description      = "mdc-connector member template (instances deployed by account-discovery)"
  permission_model = var.stack_set_permission_model
  call_as          = var.stack_set_call_as
  capabilities     = ["CAPABILITY_NAMED_IAM"]
  template_url     = local.member_template_url

  dynamic "auto_deployment" {
    for_each = local.service_managed ? [1] : []
    content {
      enabled = false
    }
  }

  managed_execution {
    active = true
  }

  # How a member-template change reaches every instance (the provider's UpdateStackSet): in waves,
  # so that a bad change stops early. Regions in parallel; in each, at most
  # member_rollout_wave_percent % of the accounts at once; the Region stops once more than
  # member_rollout_failure_tolerance accounts failed ("The number of accounts, per Region, for
  # which this operation can fail before CloudFormation stops the operation in that Region"). Each
  # failed or cancelled account stays visible on its instance and in account-discovery's report
  # (stack-instance:<status> codes).
  #
  # The template also sets ConcurrencyMode SOFT_FAILURE_TOLERANCE, which "decouples
  # FailureToleranceCount from the actual concurrency" (StackSetOperationPreferences,
  # CloudFormation API Reference). The pinned provider (~> 5.80; 5.100.0's schema checked) has no
  # operation_preferences.concurrency_mode on aws_cloudformation_stack_set, only on
  # aws_cloudformation_stack_set_instance ("An argument named "concurrency_mode" is not expected
  # here", hashicorp/terraform-provider-aws#38882), so updates made here keep the default,
  # STRICT_FAILURE_TOLERANCE, which sets "the initial actual concurrency ... to the lower of either
  # the value of the MaxConcurrentCount, or the value of FailureToleranceCount +1": at most
  # member_rollout_failure_tolerance + 1 accounts per Region at once, one at a time with the
  # default 0 (README.md, Differences from the SAM deploy).
  operation_preferences {
    region_concurrency_type   = "PARALLEL"
    max_concurrent_percentage = var.member_rollout_wave_percent
    failure_tolerance_count   = var.member_rollout_failure_tolerance
  }

  # The provider waits 30 minutes for an update by default (update is its only timeout on this
  # resource), and the updates above go one account at a time per Region with the default
  # tolerance (no concurrency_mode, above): at a few minutes per account, a large organization
  # needs hours. Past the timeout the apply fails while StackSets carries on with the operation
  # (aws cloudformation list-stack-set-operations).
  timeouts {
    update = "12h"
  }

  parameters = {
    ConnectorAccountId     = local.account_id
    OrganizationId         = var.organization_id
    MemberRoleName         = var.member_role_name
    ProvisioningRoleName   = var.provisioning_role_name
    InstanceProfileName    = var.instance_profile_name
    InstanceRoleName       = var.instance_role_name
    DhmcRoleName           = var.dhmc_role_name
    SsmReach               = var.ssm_reach
    GlobalResourcesRegion  = var.global_resources_region
    ArcLinuxDocumentName   = var.arc_linux_document
    ArcWindowsDocumentName = var.arc_windows_document
    OidcIssuerHostPath     = var.oidc_issuer_host_path
    OidcAudience           = var.oidc_audience
    OidcSubject            = var.oidc_subject
    OidcThumbprint         = var.oidc_thumbprint
    PostureRoleName        = var.posture_role_name
    PostureAccess          = var.posture_access
    # Members forward their EC2 and SSM events to the connector bus in this account and region.
    ConnectorBusAccountId = local.account_id
    ConnectorBusRegion    = local.region
    ConnectorBusName      = var.connector_bus_name
  }

  lifecycle {
    # No administration role is configured here, but AWS reports one and the 5.x provider reads it
    # back into state, a diff on every plan: the service-linked role of a SERVICE_MANAGED StackSet
    # with auto_deployment (hashicorp/terraform-provider-aws#23464, fixed only after 5.x by #45992),
    # the default AWSCloudFormationStackSetAdministrationRole of a SELF_MANAGED one (#27125).
    ignore_changes = [administration_role_arn]
  }

  depends_on = [terraform_data.rules]
}

# This account: StackSets never deploy a service-managed StackSet's stacks to the management
# account, so a self-managed StackSet of its own covers every region at once. A delegated
# administrator cannot deploy into the management account: that account then keeps its own
# deploy of the member template (docs/deploy.md).
resource "aws_cloudformation_stack_set" "management_stack_set" {
  count                   = local.covers_this_account ? 1 : 0
  name                    = "${var.stack_set_name}-management"
  description             = "mdc-connector member template in the management account, every covered region"
  permission_model        = "SELF_MANAGED"
  administration_role_arn = aws_iam_role.stack_set_administration_role[0].arn
  execution_role_name     = aws_iam_role.stack_set_execution_role[0].name
  capabilities            = ["CAPABILITY_NAMED_IAM"]
  template_url            = local.member_template_url

  managed_execution {
    active = true
  }

  operation_preferences {
    region_concurrency_type   = "PARALLEL"
    max_concurrent_percentage = 100
    failure_tolerance_count   = 0
  }

  parameters = {
    ConnectorAccountId     = local.account_id
    OrganizationId         = var.organization_id
    MemberRoleName         = var.member_role_name
    ProvisioningRoleName   = var.provisioning_role_name
    InstanceProfileName    = var.instance_profile_name
    InstanceRoleName       = var.instance_role_name
    DhmcRoleName           = var.dhmc_role_name
    SsmReach               = var.ssm_reach
    GlobalResourcesRegion  = var.global_resources_region
    ArcLinuxDocumentName   = var.arc_linux_document
    ArcWindowsDocumentName = var.arc_windows_document
    OidcIssuerHostPath     = var.oidc_issuer_host_path
    OidcAudience           = var.oidc_audience
    OidcSubject            = var.oidc_subject
    OidcThumbprint         = var.oidc_thumbprint
    PostureRoleName        = var.posture_role_name
    PostureAccess          = var.posture_access
    # This account's events reach the functions from its default bus in this region only; the
    # stacks in every other covered region forward them to the connector bus like a member's
    # (cfn/member.yaml creates no rule in the bus's own account and region).
    ConnectorBusAccountId = local.account_id
    ConnectorBusRegion    = local.region
    ConnectorBusName      = var.connector_bus_name
    # Every role the execution role writes carries it (member accounts' stacks leave it empty).
    RolePermissionsBoundary = aws_iam_policy.stack_set_roles_boundary[0].arn
  }

  # The execution role's grants must exist before the first instance is deployed, and outlive the last.
  depends_on = [aws_iam_role_policy.stack_set_execution_role_deploy_the_member_template, aws_iam_role_policy.stack_set_administration_role_assume_only_the_execution_role]
}

# The template's StackInstancesGroup: this account, every region of stack_set_regions. Deleting
# them deletes their stacks (the member template retains the instance role and profile).
resource "aws_cloudformation_stack_set_instance" "management_stack_set" {
  for_each       = local.covers_this_account ? toset(local.stack_set_regions) : toset([])
  stack_set_name = aws_cloudformation_stack_set.management_stack_set[0].name
  account_id     = local.account_id
  region         = each.value

  operation_preferences {
    region_concurrency_type   = "PARALLEL"
    max_concurrent_percentage = 100
    failure_tolerance_count   = 0
  }
}

# StackSet.PermissionModel: "With self-managed permissions, you must create the administrator and
# execution roles required to deploy to target accounts." Here the only target is this account.
resource "aws_iam_role" "stack_set_administration_role" {
  count              = local.covers_this_account ? 1 : 0
  name               = "${var.stack_set_name}-admin"
  description        = "CloudFormation StackSets administration for the connector's own member stacks"
  assume_role_policy = data.aws_iam_policy_document.stack_set_administration_role_trust.json
}

# The global principal only: the StackSet covers the Regions enabled by default, which it serves
# (rules.tf: the precondition of cfn/onboarding.yaml's SelfManagedStackSetStaysInRegionsEnabledByDefault
# says why; Terraform could compute the opt-in Regions' principals, but the module deploys what the
# template deploys).
data "aws_iam_policy_document" "stack_set_administration_role_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["cloudformation.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    # "When StackSets assumes the Administration role in your administrator account, StackSets
    # populates your administrator account ID and StackSets Amazon Resource Name (ARN)" (StackSets,
    # self-managed permissions, confused deputy): only this StackSet, in the Region it lives in,
    # whatever other StackSets someone with iam:PassRole on this role creates, here or elsewhere.
    condition {
      test     = "StringLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudformation:${local.region}:${local.account_id}:stackset/${var.stack_set_name}-management:*"]
    }
  }
}

resource "aws_iam_role_policy" "stack_set_administration_role_assume_only_the_execution_role" {
  count  = local.covers_this_account ? 1 : 0
  name   = "AssumeOnlyTheExecutionRole"
  role   = aws_iam_role.stack_set_administration_role[0].id
  policy = data.aws_iam_policy_document.stack_set_administration_role_assume_only_the_execution_role.json
}

data "aws_iam_policy_document" "stack_set_administration_role_assume_only_the_execution_role" {
  statement {
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${var.stack_set_name}-execution"]
  }
}

# The permissions boundary of every role the execution role writes: cfn/onboarding.yaml's
# StackSetRolesBoundary says what it takes away and why (a template pushed through the management
# StackSet is denied the known ways to administer the account, its members or the organization; the
# member template's roles keep what they use). Retained
# like the instance role that keeps it (lifecycle.prevent_destroy: `terraform state rm` it before
# `terraform destroy`, README.md); no name, so an apply after a teardown creates a new one.
resource "aws_iam_policy" "stack_set_roles_boundary" {
  #checkov:skip=CKV_AWS_107:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_108:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_109:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_110:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_111:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  count       = local.covers_this_account ? 1 : 0
  description = "Permissions boundary of the roles the connector's management StackSet creates (denies the known ways to administer the account, its members or the organization)"
  policy      = data.aws_iam_policy_document.stack_set_roles_boundary.json

  lifecycle {
    prevent_destroy = true
  }
}

data "aws_iam_policy_document" "stack_set_roles_boundary" {
  #checkov:skip=CKV_AWS_1:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_49:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_107:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_108:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_109:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_110:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_111:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_356:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  #checkov:skip=CKV2_AWS_40:A permissions boundary, whose Allow grants nothing (a role keeps only what its own policies grant within it); its Deny statements are what it takes away (tests/script/test_execution_role.py).
  statement {
    sid       = "WithinWhatTheRolesOwnPoliciesGrant"
    effect    = "Allow"
    actions   = ["*"]
    resources = ["*"]
  }
  statement {
    sid    = "NoIdentityPolicyOrTrustWrites"
    effect = "Deny"
    actions = [
      "iam:Add*",
      "iam:AttachGroupPolicy",
      "iam:AttachUserPolicy",
      "iam:Change*",
      "iam:Create*",
      "iam:Deactivate*",
      "iam:Delete*",
      "iam:Detach*",
      "iam:Disable*",
      "iam:Enable*",
      "iam:Put*",
      "iam:Remove*",
      "iam:Reset*",
      "iam:Resync*",
      "iam:Set*",
      "iam:Tag*",
      "iam:Untag*",
      "iam:Update*",
      "iam:Upload*",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "AttachOnlyTheSsmInstancePolicies"
    effect    = "Deny"
    actions   = ["iam:AttachRolePolicy"]
    resources = ["*"]
    condition {
      test     = "ArnNotEquals"
      variable = "iam:PolicyARN"
      values = [
        "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore",
        "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy",
      ]
    }
  }
  statement {
    sid     = "PassOnlyTheInstanceRole"
    effect  = "Deny"
    actions = ["iam:PassRole"]
    not_resources = [
      "arn:${local.partition}:iam::${local.account_id}:role/${var.instance_role_name}",
      # DHMC's role, registered by profile-scan's member role (ssm_reach dhmc or both).
      "arn:${local.partition}:iam::${local.account_id}:role/${var.dhmc_role_name}",
    ]
  }
  statement {
    sid    = "NoOtherIdentityOrOrganizationOrKeyControl"
    effect = "Deny"
    actions = [
      "sts:AssumeRole*",
      "sts:AssumeRoot",
      "sts:GetFederationToken",
      "sts:GetWebIdentityToken",
      "organizations:Accept*",
      "organizations:Attach*",
      "organizations:Cancel*",
      "organizations:Close*",
      "organizations:Create*",
      "organizations:Decline*",
      "organizations:Delete*",
      "organizations:Deregister*",
      "organizations:Detach*",
      "organizations:Disable*",
      "organizations:Enable*",
      "organizations:Invite*",
      "organizations:Leave*",
      "organizations:Move*",
      "organizations:Put*",
      "organizations:Register*",
      "organizations:Remove*",
      "organizations:Tag*",
      "organizations:Untag*",
      "organizations:Update*",
      "kms:PutKeyPolicy",
      "kms:CreateGrant",
      "kms:ScheduleKeyDeletion",
      "kms:DisableKey",
      "kms:UpdateAlias",
    ]
    resources = ["*"]
  }
  statement {
    sid    = "NoCodeOrCommandAsAnotherIdentity"
    effect = "Deny"
    actions = [
      "cloudformation:Activate*",
      "cloudformation:Cancel*",
      "cloudformation:Continue*",
      "cloudformation:Create*",
      "cloudformation:Deactivate*",
      "cloudformation:Delete*",
      "cloudformation:Deregister*",
      "cloudformation:Execute*",
      "cloudformation:Import*",
      "cloudformation:Publish*",
      "cloudformation:Register*",
      "cloudformation:Rollback*",
      "cloudformation:Set*",
      "cloudformation:Signal*",
      "cloudformation:Stop*",
      "cloudformation:Update*",
      "lambda:AddPermission",
      "lambda:Create*",
      "lambda:Invoke*",
      "lambda:Publish*",
      "lambda:Put*",
      "lambda:Update*",
      "ec2:CreateLaunchTemplateVersion",
      "ec2:ModifyInstanceAttribute",
      "ec2:ModifyLaunchTemplate",
      "ssm:CreateAssociation",
      "ssm:CreateAssociationBatch",
      "ssm:StartAssociationsOnce",
      "ssm:StartAutomationExecution",
      "ssm:StartSession",
      "ssm:UpdateAssociation",
    ]
    resources = ["*"]
  }
  # The template's NoMemberAccountControlOrAuditOffSwitch (cfn/onboarding.yaml says why).
  statement {
    sid    = "NoMemberAccountControlOrAuditOffSwitch"
    effect = "Deny"
    actions = [
      "account:Accept*",
      "account:Delete*",
      "account:Disable*",
      "account:Enable*",
      "account:Put*",
      "account:Start*",
      "sso:Associate*",
      "sso:Attach*",
      "sso:Create*",
      "sso:Delete*",
      "sso:Detach*",
      "sso:Disassociate*",
      "sso:Import*",
      "sso:Provision*",
      "sso:Put*",
      "sso:Update*",
      "sso-directory:Add*",
      "sso-directory:Create*",
      "sso-directory:Delete*",
      "sso-directory:Disable*",
      "sso-directory:Enable*",
      "sso-directory:Remove*",
      "sso-directory:Update*",
      "identitystore:Create*",
      "identitystore:Delete*",
      "identitystore:Update*",
      "cloudtrail:Delete*",
      "cloudtrail:Put*",
      "cloudtrail:Stop*",
      "cloudtrail:Update*",
      "guardduty:Delete*",
      "guardduty:Disassociate*",
      "guardduty:Stop*",
      "guardduty:Update*",
      "config:Delete*",
      "config:Put*",
      "config:Stop*",
      "securityhub:Delete*",
      "securityhub:Disable*",
      "securityhub:Update*",
      "codebuild:Create*",
      "codebuild:Start*",
      "codebuild:Update*",
      "ecs:ExecuteCommand",
      "ecs:RegisterTaskDefinition",
      "ecs:RunTask",
      "ecs:StartTask",
      "ec2-instance-connect:*",
      "s3:DeleteBucketPolicy",
      "s3:PutBucketAcl",
      "s3:PutBucketPolicy",
      "s3:PutObjectAcl",
    ]
    resources = ["*"]
  }
  statement {
    sid     = "SendOnlyTheConnectorDocuments"
    effect  = "Deny"
    actions = ["ssm:SendCommand"]
    not_resources = [
      "arn:${local.partition}:ssm:*:${local.account_id}:document/${var.arc_linux_document}",
      "arn:${local.partition}:ssm:*:${local.account_id}:document/${var.arc_windows_document}",
      "arn:${local.partition}:ec2:*:${local.account_id}:instance/*",
      "arn:${local.partition}:ssm:*:${local.account_id}:managed-instance/*",
    ]
  }
}

# Deploys cfn/member.yaml in this account: the floor AWS sets for every StackSets execution role,
# then, for what the template creates, each grant names it (cfn/onboarding.yaml's comments quote
# AWS for each statement).
resource "aws_iam_role" "stack_set_execution_role" {
  #checkov:skip=CKV_AWS_108:AWS's floor for a StackSets execution role, cloudformation:* and s3:* on * (Grant self-managed permissions), with Deny statements for other stacks, StackSets, types, trusted access and bucket policies; role writes only with the permissions boundary (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_109:AWS's floor for a StackSets execution role, cloudformation:* and s3:* on * (Grant self-managed permissions), with Deny statements for other stacks, StackSets, types, trusted access and bucket policies; role writes only with the permissions boundary (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_111:AWS's floor for a StackSets execution role, cloudformation:* and s3:* on * (Grant self-managed permissions), with Deny statements for other stacks, StackSets, types, trusted access and bucket policies; role writes only with the permissions boundary (tests/script/test_execution_role.py).
  count              = local.covers_this_account ? 1 : 0
  name               = "${var.stack_set_name}-execution"
  description        = "Deploys the connector's member template in this account (its StackSet only)"
  assume_role_policy = data.aws_iam_policy_document.stack_set_execution_role_trust.json
}

data "aws_iam_policy_document" "stack_set_execution_role_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:role/${var.stack_set_name}-admin"]
    }
  }
}

resource "aws_iam_role_policy" "stack_set_execution_role_deploy_the_member_template" {
  count  = local.covers_this_account ? 1 : 0
  name   = "DeployTheMemberTemplate"
  role   = aws_iam_role.stack_set_execution_role[0].id
  policy = data.aws_iam_policy_document.stack_set_execution_role_deploy_the_member_template[0].json
}

locals {
  # The member template's roles, which the execution role may write only with the boundary.
  stack_set_role_arns = [
    "arn:${local.partition}:iam::${local.account_id}:role/${var.member_role_name}",
    "arn:${local.partition}:iam::${local.account_id}:role/${var.provisioning_role_name}",
    "arn:${local.partition}:iam::${local.account_id}:role/${var.instance_role_name}",
    "arn:${local.partition}:iam::${local.account_id}:role/${var.dhmc_role_name}",
    "arn:${local.partition}:iam::${local.account_id}:role/${var.posture_role_name}",
    "arn:${local.partition}:iam::${local.account_id}:role/MdcConnectorEventForwarding",
  ]
}

# Counted with the boundary it names.
data "aws_iam_policy_document" "stack_set_execution_role_deploy_the_member_template" {
  #checkov:skip=CKV_AWS_108:AWS's floor for a StackSets execution role, cloudformation:* and s3:* on * (Grant self-managed permissions), with Deny statements for other stacks, StackSets, types, trusted access and bucket policies; role writes only with the permissions boundary (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_109:AWS's floor for a StackSets execution role, cloudformation:* and s3:* on * (Grant self-managed permissions), with Deny statements for other stacks, StackSets, types, trusted access and bucket policies; role writes only with the permissions boundary (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_111:AWS's floor for a StackSets execution role, cloudformation:* and s3:* on * (Grant self-managed permissions), with Deny statements for other stacks, StackSets, types, trusted access and bucket policies; role writes only with the permissions boundary (tests/script/test_execution_role.py).
  #checkov:skip=CKV_AWS_356:AWS's floor for a StackSets execution role, cloudformation:* and s3:* on * (Grant self-managed permissions), with Deny statements for other stacks, StackSets, types, trusted access and bucket policies; role writes only with the permissions boundary (tests/script/test_execution_role.py).
  count = local.covers_this_account ? 1 : 0

  # AWS, Grant self-managed permissions: "Your target account always needs full AWS
  # CloudFormation permissions, which include permissions to create, update, delete, and describe
  # stacks." and "You must add the S3 service action and resources to
  # AWSCloudFormationStackSetExecutionRole policy statement for each target account for StackSets
  # to work." Its example of "the minimum permissions for StackSets to work" is this statement.
  statement {
    sid       = "StackSetsFloor"
    effect    = "Allow"
    actions   = ["cloudformation:*", "s3:*"]
    resources = ["*"]
  }
  statement {
    sid    = "NoOtherStack"
    effect = "Deny"
    actions = [
      "cloudformation:CancelUpdateStack",
      "cloudformation:ContinueUpdateRollback",
      "cloudformation:CreateChangeSet",
      "cloudformation:CreateStack",
      "cloudformation:CreateStackRefactor",
      "cloudformation:DeleteChangeSet",
      "cloudformation:DeleteStack",
      "cloudformation:ExecuteChangeSet",
      "cloudformation:ExecuteStackRefactor",
      "cloudformation:RollbackStack",
      "cloudformation:SetStackPolicy",
      "cloudformation:SignalResource",
      "cloudformation:UpdateStack",
      "cloudformation:UpdateTerminationProtection",
    ]
    not_resources = ["arn:${local.partition}:cloudformation:*:${local.account_id}:stack/StackSet-${var.stack_set_name}-management-*"]
  }
  statement {
    sid    = "NoStackSetTypeOrTrustedAccessWrites"
    effect = "Deny"
    actions = [
      "cloudformation:ActivateOrganizationsAccess",
      "cloudformation:ActivateType",
      "cloudformation:CreateStackInstances",
      "cloudformation:CreateStackSet",
      "cloudformation:DeactivateOrganizationsAccess",
      "cloudformation:DeactivateType",
      "cloudformation:DeleteStackInstances",
      "cloudformation:DeleteStackSet",
      "cloudformation:DeregisterType",
      "cloudformation:ImportStacksToStackSet",
      "cloudformation:PublishType",
      "cloudformation:RegisterPublisher",
      "cloudformation:RegisterType",
      "cloudformation:SetTypeConfiguration",
      "cloudformation:SetTypeDefaultVersion",
      "cloudformation:StopStackSetOperation",
      "cloudformation:TestType",
      "cloudformation:UpdateStackInstances",
      "cloudformation:UpdateStackSet",
    ]
    resources = ["*"]
  }
  statement {
    sid    = "NoBucketPolicyOrAcl"
    effect = "Deny"
    actions = [
      "s3:DeleteBucketPolicy",
      "s3:PutAccessPointPolicy",
      "s3:PutAccountPublicAccessBlock",
      "s3:PutBucketAcl",
      "s3:PutBucketOwnershipControls",
      "s3:PutBucketPolicy",
      "s3:PutBucketPublicAccessBlock",
      "s3:PutObjectAcl",
    ]
    resources = ["*"]
  }
  statement {
    sid    = "TheTemplatesRolesOnlyWithTheBoundary"
    effect = "Allow"
    actions = [
      "iam:CreateRole",
      "iam:PutRolePolicy",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PutRolePermissionsBoundary",
    ]
    resources = local.stack_set_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.stack_set_roles_boundary[0].arn]
    }
  }
  statement {
    sid    = "TheTemplatesRolesAndProfile"
    effect = "Allow"
    actions = [
      "iam:DeleteRole",
      "iam:GetRole",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
      "iam:UpdateAssumeRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListRolePolicies",
      "iam:CreateInstanceProfile",
      "iam:DeleteInstanceProfile",
      "iam:GetInstanceProfile",
      "iam:AddRoleToInstanceProfile",
      "iam:RemoveRoleFromInstanceProfile",
      "iam:TagInstanceProfile",
    ]
    resources = concat(local.stack_set_role_arns, ["arn:${local.partition}:iam::${local.account_id}:instance-profile/${var.instance_profile_name}"])
  }
  statement {
    sid       = "OnlyTheTemplatesManagedPolicies"
    effect    = "Allow"
    actions   = ["iam:AttachRolePolicy"]
    resources = local.stack_set_role_arns
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values = [
        "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore",
        "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy",
        "arn:${local.partition}:iam::aws:policy/SecurityAudit",
        "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess",
      ]
    }
    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.stack_set_roles_boundary[0].arn]
    }
  }
  statement {
    sid    = "TheBoundaryStaysAsItIs"
    effect = "Deny"
    actions = [
      "iam:DeleteRolePermissionsBoundary",
      "iam:CreatePolicyVersion",
      "iam:DeletePolicy",
      "iam:DeletePolicyVersion",
      "iam:SetDefaultPolicyVersion",
    ]
    resources = ["*"]
  }
  statement {
    sid     = "PassOnlyToTheInstanceProfileAndTheForwardingRule"
    effect  = "Allow"
    actions = ["iam:PassRole"]
    resources = [
      "arn:${local.partition}:iam::${local.account_id}:role/${var.instance_role_name}",
      "arn:${local.partition}:iam::${local.account_id}:role/MdcConnectorEventForwarding",
    ]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com", "events.amazonaws.com"]
    }
  }
  statement {
    sid    = "TheTemplatesOidcProvider"
    effect = "Allow"
    actions = [
      "iam:CreateOpenIDConnectProvider",
      "iam:DeleteOpenIDConnectProvider",
      "iam:GetOpenIDConnectProvider",
      "iam:UpdateOpenIDConnectProviderThumbprint",
      "iam:AddClientIDToOpenIDConnectProvider",
      "iam:RemoveClientIDFromOpenIDConnectProvider",
      "iam:TagOpenIDConnectProvider",
      "iam:UntagOpenIDConnectProvider",
      "iam:ListOpenIDConnectProviderTags",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:oidc-provider/${var.oidc_issuer_host_path}"]
  }
  statement {
    sid    = "TheTemplatesDocuments"
    effect = "Allow"
    actions = [
      "ssm:CreateDocument",
      "ssm:UpdateDocument",
      "ssm:UpdateDocumentDefaultVersion",
      "ssm:DeleteDocument",
      "ssm:DescribeDocument",
      "ssm:GetDocument",
      "ssm:AddTagsToResource",
      "ssm:RemoveTagsFromResource",
      "ssm:ListTagsForResource",
    ]
    resources = [
      "arn:${local.partition}:ssm:*:${local.account_id}:document/${var.arc_linux_document}",
      "arn:${local.partition}:ssm:*:${local.account_id}:document/${var.arc_windows_document}",
    ]
  }
  # The rule's generated name starts with StackSet- (CloudFormation cuts a long stack name short).
  statement {
    sid = "TheTemplatesForwardingRule"
    actions = [
      "events:PutRule",
      "events:DeleteRule",
      "events:DescribeRule",
      "events:PutTargets",
      "events:RemoveTargets",
      "events:ListTargetsByRule",
      "events:EnableRule",
      "events:DisableRule",
      "events:TagResource",
      "events:UntagResource",
      "events:ListTagsForResource",
    ]
    effect    = "Allow"
    resources = ["arn:${local.partition}:events:*:${local.account_id}:rule/StackSet-*"]
  }
}
