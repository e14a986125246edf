# arc-provisioner: its log group, queues, alarm, inventory table, role, function, the opt-in
# secret's key, and the events that start it (cfn/template.yaml, "arc-provisioner").

# The run reports are the audit trail (see profile_scan.tf on prevent_destroy).
resource "aws_cloudwatch_log_group" "arc_provisioner_log_group" {
  #checkov:skip=CKV_AWS_158:Run reports hold no secret by design (tested); CloudWatch Logs encrypts at rest with its own keys. Add a CMK here if policy demands one.
  #checkov:skip=CKV_AWS_338:Retention is the template's LogRetentionDays (default 90 days), the operator's choice.
  retention_in_days = var.log_retention_days

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_sqs_queue" "arc_provisioner_dead_letters" {
  #checkov:skip=CKV_AWS_27:Encrypted at rest with SSE-SQS (sqs_managed_sse_enabled); a CMK would only add key-policy upkeep for dead letters without secrets.
  name                      = "mdc-connector-arc-provisioner-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue_policy" "arc_provisioner_dead_letters_policy" {
  queue_url = aws_sqs_queue.arc_provisioner_dead_letters.id
  policy    = data.aws_iam_policy_document.arc_provisioner_dead_letters_policy.json
}

data "aws_iam_policy_document" "arc_provisioner_dead_letters_policy" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.arc_provisioner_dead_letters.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# Work units (one (account, region) per message). Visibility timeout 6 x the function timeout
# (900 s), as Lambda's SQS event source mapping requires; a unit that fails 5 deliveries goes to
# the dead-letter queue.
resource "aws_sqs_queue" "arc_provisioner_work_queue" {
  #checkov:skip=CKV_AWS_27:Encrypted at rest with SSE-SQS (sqs_managed_sse_enabled); messages name accounts and regions, no secret.
  name                       = "mdc-connector-arc-provisioner-work"
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = 5400
  message_retention_seconds  = 1209600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.arc_provisioner_dead_letters.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue_policy" "arc_provisioner_work_queue_policy" {
  queue_url = aws_sqs_queue.arc_provisioner_work_queue.id
  policy    = data.aws_iam_policy_document.arc_provisioner_work_queue_policy.json
}

data "aws_iam_policy_document" "arc_provisioner_work_queue_policy" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.arc_provisioner_work_queue.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "arc_provisioner_dead_letters_alarm" {
  alarm_name          = "mdc-connector-arc-provisioner-dead-letters"
  alarm_description   = "A work unit or an event of arc-provisioner kept failing and was dead-lettered; its message says which."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.arc_provisioner_dead_letters.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

# The inventory: one item per Arc machine the connector onboarded (account, region, instance id,
# Arc resource id, vmId, machine name, connector id, the command id that onboarded it, when, and
# the last status seen in Azure). Written only by arc-provisioner, from the results of commands it
# sent itself. Retained on teardown as the template retains it (DeletionPolicy: Retain): see
# profile_scan.tf on prevent_destroy. Terraform needs a name where the template lets CloudFormation
# generate one, so this one is fixed: a later apply after teardown finds the retained table under
# that name (import it to keep the inventory, or delete it first; README.md, Teardown).
resource "aws_dynamodb_table" "arc_inventory_table" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key alias/aws/dynamodb (server_side_encryption); items name accounts, instances and Arc machines, no secret. Add a CMK here if policy demands one.
  name         = "mdc-connector-arc-inventory"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_iam_role" "arc_provisioner_role" {
  name               = "mdc-connector-arc-provisioner"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json
}

resource "aws_iam_role_policy" "arc_provisioner_role_arc_provisioner" {
  name   = "arc-provisioner"
  role   = aws_iam_role.arc_provisioner_role.id
  policy = data.aws_iam_policy_document.arc_provisioner_role_arc_provisioner.json
}

data "aws_iam_policy_document" "arc_provisioner_role_arc_provisioner" {
  #checkov:skip=CKV_AWS_356:Resource "*" only for actions AWS authorizes on "*" alone (Organizations reads across the organization, Describe* of EC2 and SSM, iam:GetAccountAuthorizationDetails, the conditioned sts:GetWebIdentityToken and trusted-access calls), statement for statement as cfn/template.yaml, whose guard test (tests/script/test_template_guards.py) refuses any other "*".
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.arc_provisioner_log_group.arn}:*"]
  }
  statement {
    sid       = "DeadLetters"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.arc_provisioner_dead_letters.arn]
  }
  statement {
    sid       = "ConsumeTheWorkQueue"
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.arc_provisioner_work_queue.arn]
  }
  statement {
    sid       = "SendWorkUnits"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.arc_provisioner_work_queue.arn]
  }
  # Its own inventory table only: no index, no Scan, no table administration.
  statement {
    sid    = "ArcInventory"
    effect = "Allow"
    actions = [
      "dynamodb:Query",
      "dynamodb:PutItem",
      "dynamodb:DeleteItem",
      "dynamodb:BatchWriteItem",
    ]
    resources = [aws_dynamodb_table.arc_inventory_table.arn]
  }
  statement {
    sid       = "AssumeTheMemberRole"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:${local.partition}:iam::*:role/${var.provisioning_role_name}"]
    # Only roles of accounts in this organization.
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceOrgID"
      values   = [var.organization_id]
    }
  }
  statement {
    sid    = "Scope"
    effect = "Allow"
    # Organizations and DescribeRegions support no resource-level permission here
    # (DescribeAccount checks that an event's account is an ACTIVE member).
    # ListAccountsForParent and ListChildren: the scope parameter's OUs are resolved with them
    # (read-only listing, so granted whether or not scope_parameter_name is set).
    actions = [
      "organizations:ListAccounts",
      "organizations:DescribeAccount",
      "organizations:ListAccountsForParent",
      "organizations:ListChildren",
      "ec2:DescribeRegions",
    ]
    resources = ["*"]
  }
  # scope_parameter_name: the scope document, read on every run (src/org_scope.rs).
  dynamic "statement" {
    for_each = local.has_scope_parameter ? [1] : []
    content {
      sid       = "ReadTheScopeDocument"
      effect    = "Allow"
      actions   = ["ssm:GetParameter"]
      resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.scope_parameter_name}"]
    }
  }
  # {"action":"preflight"} (src/arc/preflight.rs): outbound identity federation, the concurrency quota.
  statement {
    sid       = "PreflightReadsThePrerequisites"
    effect    = "Allow"
    actions   = ["iam:GetOutboundWebIdentityFederationInfo", "lambda:GetAccountSettings"]
    resources = ["*"]
  }
  # With a resource group per account, an account may name its own onboarding application in
  # its tag mdc-connector:arc-application (src/arc/applications.rs).
  statement {
    sid       = "ReadTheAccountsApplicationTag"
    effect    = "Allow"
    actions   = ["organizations:ListTagsForResource"]
    resources = ["arn:${local.partition}:organizations::*:account/${var.organization_id}/*"]
  }
  # Secretless sign-in (the default): an AWS identity token for Microsoft Entra only, short-lived
  # and RS256 ("Use the sts:IdentityTokenAudience condition key ... sts:DurationSeconds ... to
  # enforce maximum token lifetime ... sts:SigningAlgorithm", IAM User Guide, outbound identity
  # federation policies).
  statement {
    sid       = "IdentityTokenForMicrosoftEntraOnly"
    effect    = "Allow"
    actions   = ["sts:GetWebIdentityToken"]
    resources = ["*"]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "sts:IdentityTokenAudience"
      values   = [local.entra_token_exchange[var.arc_cloud].Audience]
    }
    condition {
      test     = "NumericLessThanEquals"
      variable = "sts:DurationSeconds"
      values   = ["60"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:SigningAlgorithm"
      values   = ["RS256"]
    }
  }
  dynamic "statement" {
    for_each = local.has_arc_secret ? [1] : []
    content {
      sid       = "ReadTheOptedInClientSecret"
      effect    = "Allow"
      actions   = ["ssm:GetParameter"]
      resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.arc_credential_parameter}"]
    }
  }
  statement {
    sid    = "ReadInstancesHere"
    effect = "Allow"
    # None of these supports a resource-level permission.
    actions = [
      "ec2:DescribeInstances",
      "ssm:DescribeInstanceInformation",
      "ssm:ListCommandInvocations",
      "ssm:GetCommandInvocation",
    ]
    resources = ["*"]
  }
  statement {
    sid    = "ReadAllRolesOfThisAccountAtOnce"
    effect = "Allow"
    # One call per 1,000 roles (with their profiles and attached policies); it has no
    # resource-level permission.
    actions   = ["iam:GetAccountAuthorizationDetails"]
    resources = ["*"]
  }
  statement {
    sid     = "ReadProfilesAndRolesOfThisAccount"
    effect  = "Allow"
    actions = ["iam:GetInstanceProfile", "iam:ListAttachedRolePolicies"]
    resources = [
      "arn:${local.partition}:iam::${local.account_id}:instance-profile/*",
      "arn:${local.partition}:iam::${local.account_id}:role/*",
    ]
  }
  statement {
    sid     = "SendOnlyTheConnectorDocumentsHere"
    effect  = "Allow"
    actions = ["ssm:SendCommand", "ssm:DescribeDocument", "ssm:GetDocument"]
    resources = [
      "arn:${local.partition}:ssm:*:${local.account_id}:document/${var.arc_linux_document}",
      "arn:${local.partition}:ssm:*:${local.account_id}:document/${var.arc_windows_document}",
      "arn:${local.partition}:ec2:*:${local.account_id}:instance/*",
    ]
  }
}

# Only with the opt-in client secret: the key its SecureString is encrypted with. Unlike aws/ssm,
# which "grants Decrypt permission to all IAM principals in the AWS account" (Parameter Store), only
# arc-provisioner's role decrypts, only through Parameter Store and only that parameter (Parameter
# Store's encryption context is PARAMETER_ARN); the writer role encrypts. Retained on teardown as
# the template retains it (DeletionPolicy: Retain): see profile_scan.tf on prevent_destroy.
# "Unless the key policy explicitly allows it, you cannot use IAM policies to allow access to a KMS
# key. Without permission from the key policy, IAM policies that allow permissions have no effect"
# (AWS KMS Developer Guide, Key policies in AWS KMS): the one statement that lets IAM policies grant
# anything names the administrative actions one by one, and none through which a principal could
# get the key's use outside this policy: no kms:CreateGrant (a grant gives its grantee Decrypt), no
# kms:PutKeyPolicy (a new policy could), no kms:UpdateAlias. No statement allows a grant operation;
# one that ever does must carry kms:GrantIsForAWSResource, which "Allows principals to call
# CreateGrant, ListGrants, or RevokeGrant only when an AWS service that is integrated with AWS KMS
# sends the request on the principal's behalf" (AWS KMS Developer Guide, Controlling access to
# grants). No one may call PutKeyPolicy, so KMS's lockout safety check ("the key policy must allow
# the principal that is making the request to make a subsequent PutKeyPolicy request", CreateKey)
# is bypassed: the policy is fixed when the key is created, and an apply that would change it
# (another arc_secret_writer_role_name or arc_credential_parameter) fails. To change it, apply once
# with arc_credential_parameter empty (after `terraform state rm` of the key: prevent_destroy),
# then with the new values (a new key), and put the secret again.
resource "aws_kms_key" "arc_secret_key" {
  count                              = local.has_arc_secret ? 1 : 0
  description                        = "mdc-connector onboarding client secret (ArcCredentialParameter)"
  enable_key_rotation                = true
  bypass_policy_lockout_safety_check = true
  policy                             = data.aws_iam_policy_document.arc_secret_key_policy.json

  lifecycle {
    prevent_destroy = true
  }
}

data "aws_iam_policy_document" "arc_secret_key_policy" {
  #checkov:skip=CKV_AWS_356:In a key policy Resource "*" is this key only (KMS key policies).
  #checkov:skip=CKV_AWS_111:In a key policy Resource "*" is this key only; the account root administers but never uses it, only arc-provisioner decrypts and only the writer role encrypts, each through Parameter Store for that one parameter.
  #checkov:skip=CKV_AWS_109:In a key policy Resource "*" is this key only; administration stays with the account (root principal) as in the template, so IAM policies decide who administers it.
  statement {
    sid    = "AdministerButNeverUse"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:DescribeKey",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListKeyPolicies",
      "kms:ListKeyRotations",
      "kms:ListResourceTags",
      "kms:UpdateKeyDescription",
      "kms:EnableKey",
      "kms:DisableKey",
      "kms:EnableKeyRotation",
      "kms:DisableKeyRotation",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:ScheduleKeyDeletion",
      "kms:CancelKeyDeletion",
    ]
    resources = ["*"]
  }
  statement {
    sid    = "OnlyArcProvisionerDecryptsTheSecret"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.arc_provisioner_role.arn]
    }
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.arc_credential_parameter}"]
    }
  }
  dynamic "statement" {
    for_each = local.has_arc_secret_writer ? [1] : []
    content {
      sid    = "TheWriterEncryptsTheSecret"
      effect = "Allow"
      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${local.account_id}:role/${var.arc_secret_writer_role_name}"]
      }
      actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
      resources = ["*"]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:PARAMETER_ARN"
        values   = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.arc_credential_parameter}"]
      }
    }
  }
}

resource "aws_lambda_function" "arc_provisioner_function" {
  #checkov:skip=CKV_AWS_117:The function calls only AWS control-plane APIs; a VPC would need NAT or eight interface endpoints and protect nothing.
  #checkov:skip=CKV_AWS_173:Environment variables hold names and ids only, never a secret (the onboarding secret is read from a SecureString); Lambda encrypts them at rest.
  #checkov:skip=CKV_AWS_50:As the SAM template: no X-Ray tracing; the JSON run reports and the dashboard's metrics are the observability.
  #checkov:skip=CKV_AWS_272:As the SAM template: the package is built from this repository by scripts/package-terraform; no code-signing profile exists to validate against.
  function_name    = "mdc-connector-arc-provisioner"
  description      = "Connects SSM-managed EC2 instances to Azure Arc through the connector's SSM documents."
  role             = aws_iam_role.arc_provisioner_role.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  memory_size      = 256
  timeout          = 900
  filename         = "${var.package_dir}/arc-provisioner/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.package_dir}/arc-provisioner/bootstrap.zip")
  # None by default (reserved_concurrency; the provider's default, -1, is unreserved): the work
  # queue's maximum_concurrency bounds it.
  reserved_concurrent_executions = local.reserves_concurrency ? var.reserved_concurrency : null

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.arc_provisioner_log_group.name
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.arc_provisioner_dead_letters.arn
  }

  environment {
    # Exactly the variables arc-provisioner reads.
    variables = {
      CONNECTOR_EXCLUDED_ACCOUNTS    = var.excluded_accounts
      CONNECTOR_SCOPE_PARAMETER      = var.scope_parameter_name
      CONNECTOR_DRY_RUN              = var.dry_run
      CONNECTOR_REGIONS              = local.connector_regions_follow_the_stack_set ? var.stack_set_regions : var.connector_regions
      CONNECTOR_OPT_OUT_TAG          = var.opt_out_tag
      CONNECTOR_OPT_IN_TAG           = var.opt_in_tag
      CONNECTOR_CONCURRENCY          = tostring(var.concurrency)
      RUST_LOG                       = "info"
      ARC_AUTHORITY_HOST             = var.arc_authority_host
      ARC_RESOURCE_MANAGER_HOST      = var.arc_resource_manager_host
      ARC_SWEEP_GRACE_DAYS           = var.arc_sweep_grace_days
      ARC_MEMBER_ROLE                = var.provisioning_role_name
      ARC_TENANT_ID                  = var.arc_tenant_id
      ARC_SUBSCRIPTION_ID            = var.arc_subscription_id
      ARC_RESOURCE_GROUP             = var.arc_resource_group
      ARC_LOCATION                   = var.arc_location
      ARC_CLOUD                      = var.arc_cloud
      ARC_CONNECTOR_ID               = var.arc_connector_id
      ARC_PROXY_URL                  = var.arc_proxy_url
      ARC_PRIVATE_LINK_SCOPE         = var.arc_private_link_scope
      ARC_SERVICE_PRINCIPAL_ID       = var.arc_service_principal_id
      ARC_SWEEP_SERVICE_PRINCIPAL_ID = var.arc_sweep_service_principal_id
      ARC_CREDENTIAL_PARAMETER       = var.arc_credential_parameter
      ARC_CREDENTIAL_MODE            = var.arc_credential_mode
      ARC_LINUX_DOCUMENT             = var.arc_linux_document
      ARC_WINDOWS_DOCUMENT           = var.arc_windows_document
      ARC_MAX_CONCURRENCY            = var.arc_max_concurrency
      ARC_MAX_ERRORS                 = var.arc_max_errors
      ARC_MAX_DELIVERIES             = tostring(var.arc_max_deliveries)
      WORK_QUEUE_URL                 = aws_sqs_queue.arc_provisioner_work_queue.url
      ARC_INVENTORY_TABLE            = aws_dynamodb_table.arc_inventory_table.name
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "arc_provisioner_function_event_invoke_config" {
  function_name          = aws_lambda_function.arc_provisioner_function.function_name
  maximum_retry_attempts = 1
}

# Scheduled units and profile-scan's hand-offs; same sizing as profile-scan's queue.
resource "aws_lambda_event_source_mapping" "arc_provisioner_function_work_units" {
  function_name                      = aws_lambda_function.arc_provisioner_function.arn
  event_source_arn                   = aws_sqs_queue.arc_provisioner_work_queue.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 5
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 8
  }
}

resource "aws_cloudwatch_event_rule" "arc_provisioner_function_hourly" {
  schedule_expression = var.provisioning_schedule
}

resource "aws_cloudwatch_event_target" "arc_provisioner_function_hourly" {
  rule      = aws_cloudwatch_event_rule.arc_provisioner_function_hourly.name
  target_id = "ArcProvisionerFunctionHourlyLambdaTarget"
  arn       = aws_lambda_function.arc_provisioner_function.arn
}

resource "aws_lambda_permission" "arc_provisioner_function_hourly_permission" {
  function_name = aws_lambda_function.arc_provisioner_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.arc_provisioner_function_hourly.arn
}

# The Azure side reconciled with the estate (docs/arc-provisioner.md, "Sweep").
resource "aws_cloudwatch_event_rule" "arc_provisioner_function_daily_sweep" {
  schedule_expression = var.arc_sweep_schedule
}

resource "aws_cloudwatch_event_target" "arc_provisioner_function_daily_sweep" {
  rule      = aws_cloudwatch_event_rule.arc_provisioner_function_daily_sweep.name
  target_id = "ArcProvisionerFunctionDailySweepLambdaTarget"
  arn       = aws_lambda_function.arc_provisioner_function.arn
  input     = jsonencode({ action = "sweep" })
}

resource "aws_lambda_permission" "arc_provisioner_function_daily_sweep_permission" {
  function_name = aws_lambda_function.arc_provisioner_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.arc_provisioner_function_daily_sweep.arn
}

# A terminated instance: its Arc machine goes at once with ArcSweepGraceDays=0.
resource "aws_cloudwatch_event_rule" "arc_provisioner_function_instance_terminated_here" {
  event_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["EC2 Instance State-change Notification"]
    detail = {
      state = ["terminated"]
    }
  })
}

resource "aws_cloudwatch_event_target" "arc_provisioner_function_instance_terminated_here" {
  rule      = aws_cloudwatch_event_rule.arc_provisioner_function_instance_terminated_here.name
  target_id = "ArcProvisionerFunctionInstanceTerminatedHereLambdaTarget"
  arn       = aws_lambda_function.arc_provisioner_function.arn
}

resource "aws_lambda_permission" "arc_provisioner_function_instance_terminated_here_permission" {
  function_name = aws_lambda_function.arc_provisioner_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.arc_provisioner_function_instance_terminated_here.arn
}

resource "aws_cloudwatch_event_rule" "arc_provisioner_function_instance_terminated_in_members" {
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  event_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["EC2 Instance State-change Notification"]
    detail = {
      state = ["terminated"]
    }
  })
}

resource "aws_cloudwatch_event_target" "arc_provisioner_function_instance_terminated_in_members" {
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  rule           = aws_cloudwatch_event_rule.arc_provisioner_function_instance_terminated_in_members.name
  target_id      = "ArcProvisionerFunctionInstanceTerminatedInMembersLambdaTarget"
  arn            = aws_lambda_function.arc_provisioner_function.arn
}

resource "aws_lambda_permission" "arc_provisioner_function_instance_terminated_in_members_permission" {
  function_name = aws_lambda_function.arc_provisioner_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.arc_provisioner_function_instance_terminated_in_members.arn
}

resource "aws_cloudwatch_event_rule" "arc_provisioner_function_command_status_here" {
  event_pattern = jsonencode({
    source        = ["aws.ssm"]
    "detail-type" = ["EC2 Command Invocation Status-change Notification"]
    detail = {
      "document-name" = [var.arc_linux_document, var.arc_windows_document]
      status          = ["Success", "Failed", "TimedOut", "Cancelled", "DeliveryTimedOut", "ExecutionTimedOut", "Undeliverable", "Terminated"]
    }
  })
}

resource "aws_cloudwatch_event_target" "arc_provisioner_function_command_status_here" {
  rule      = aws_cloudwatch_event_rule.arc_provisioner_function_command_status_here.name
  target_id = "ArcProvisionerFunctionCommandStatusHereLambdaTarget"
  arn       = aws_lambda_function.arc_provisioner_function.arn
}

resource "aws_lambda_permission" "arc_provisioner_function_command_status_here_permission" {
  function_name = aws_lambda_function.arc_provisioner_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.arc_provisioner_function_command_status_here.arn
}

resource "aws_cloudwatch_event_rule" "arc_provisioner_function_command_status_in_members" {
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  event_pattern = jsonencode({
    source        = ["aws.ssm"]
    "detail-type" = ["EC2 Command Invocation Status-change Notification"]
    detail = {
      "document-name" = [var.arc_linux_document, var.arc_windows_document]
      status          = ["Success", "Failed", "TimedOut", "Cancelled", "DeliveryTimedOut", "ExecutionTimedOut", "Undeliverable", "Terminated"]
    }
  })
}

resource "aws_cloudwatch_event_target" "arc_provisioner_function_command_status_in_members" {
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  rule           = aws_cloudwatch_event_rule.arc_provisioner_function_command_status_in_members.name
  target_id      = "ArcProvisionerFunctionCommandStatusInMembersLambdaTarget"
  arn            = aws_lambda_function.arc_provisioner_function.arn
}

resource "aws_lambda_permission" "arc_provisioner_function_command_status_in_members_permission" {
  function_name = aws_lambda_function.arc_provisioner_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.arc_provisioner_function_command_status_in_members.arn
}
