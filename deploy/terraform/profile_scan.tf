# profile-scan: its log group, queues, alarm, role and function, and the events that start it
# (cfn/template.yaml, "profile-scan"). Event resources are named after the template's function
# and event (ProfileScanFunction + InstanceRunningHere), as SAM names the ones it generates.

# The run reports are the audit trail: kept when the stack is deleted (DeletionPolicy: Retain).
# Terraform has no retain-on-destroy: prevent_destroy refuses a destroy that would delete it, and
# the teardown (README.md) removes it from the state first, so it is left as CloudFormation leaves
# it. No name: Terraform generates a unique one, so a redeploy after teardown creates a new group.
resource "aws_cloudwatch_log_group" "profile_scan_log_group" {
  #checkov:skip=CKV_AWS_158:Run reports hold no secret by design (tested); CloudWatch Logs encrypts at rest with its own keys. Add a CMK here if policy demands one.
  #checkov:skip=CKV_AWS_338:Retention is the template's LogRetentionDays (default 90 days), the operator's choice.
  retention_in_days = var.log_retention_days

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_sqs_queue" "profile_scan_dead_letters" {
  #checkov:skip=CKV_AWS_27:Encrypted at rest with SSE-SQS (sqs_managed_sse_enabled); a CMK would only add key-policy upkeep for dead letters without secrets.
  name                      = "mdc-connector-profile-scan-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue_policy" "profile_scan_dead_letters_policy" {
  queue_url = aws_sqs_queue.profile_scan_dead_letters.id
  policy    = data.aws_iam_policy_document.profile_scan_dead_letters_policy.json
}

data "aws_iam_policy_document" "profile_scan_dead_letters_policy" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.profile_scan_dead_letters.arn]
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
resource "aws_sqs_queue" "profile_scan_work_queue" {
  #checkov:skip=CKV_AWS_27:Encrypted at rest with SSE-SQS (sqs_managed_sse_enabled); messages name accounts and regions, no secret.
  name                       = "mdc-connector-profile-scan-work"
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = 5400
  message_retention_seconds  = 1209600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.profile_scan_dead_letters.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue_policy" "profile_scan_work_queue_policy" {
  queue_url = aws_sqs_queue.profile_scan_work_queue.id
  policy    = data.aws_iam_policy_document.profile_scan_work_queue_policy.json
}

data "aws_iam_policy_document" "profile_scan_work_queue_policy" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.profile_scan_work_queue.arn]
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

resource "aws_cloudwatch_metric_alarm" "profile_scan_dead_letters_alarm" {
  alarm_name          = "mdc-connector-profile-scan-dead-letters"
  alarm_description   = "A work unit or an event of profile-scan kept failing and was dead-lettered; its message says which."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.profile_scan_dead_letters.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

resource "aws_iam_role" "profile_scan_role" {
  name               = "mdc-connector-profile-scan"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json
}

resource "aws_iam_role_policy" "profile_scan_role_profile_scan" {
  name   = "profile-scan"
  role   = aws_iam_role.profile_scan_role.id
  policy = data.aws_iam_policy_document.profile_scan_role_profile_scan.json
}

data "aws_iam_policy_document" "profile_scan_role_profile_scan" {
  #checkov:skip=CKV_AWS_356:Resource "*" only for actions AWS authorizes on "*" alone (Organizations reads across the organization, Describe* of EC2 and SSM, iam:GetAccountAuthorizationDetails, the conditioned sts:GetWebIdentityToken and trusted-access calls), statement for statement as cfn/template.yaml, whose guard test (tests/script/test_template_guards.py) refuses any other "*".
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.profile_scan_log_group.arn}:*"]
  }
  statement {
    sid       = "DeadLetters"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.profile_scan_dead_letters.arn]
  }
  statement {
    sid       = "ConsumeTheWorkQueue"
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.profile_scan_work_queue.arn]
  }
  statement {
    sid       = "SendWorkUnits"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.profile_scan_work_queue.arn, aws_sqs_queue.arc_provisioner_work_queue.arn]
  }
  statement {
    sid       = "ReportToArcProvisioner"
    effect    = "Allow"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.arc_provisioner_function.arn]
  }
  statement {
    sid       = "AssumeTheMemberRole"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:${local.partition}:iam::*:role/${var.member_role_name}"]
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
  # {"action":"preflight"} (src/lambda_concurrency.rs).
  statement {
    sid       = "PreflightReadsTheConcurrencyQuota"
    effect    = "Allow"
    actions   = ["lambda:GetAccountSettings"]
    resources = ["*"]
  }
  statement {
    sid    = "ReadInstancesInThisAccount"
    effect = "Allow"
    # EC2 Describe* actions support no resource-level permission.
    actions   = ["ec2:DescribeInstances", "ec2:DescribeIamInstanceProfileAssociations"]
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
    sid       = "AssociateInThisAccount"
    effect    = "Allow"
    actions   = ["ec2:AssociateIamInstanceProfile"]
    resources = ["arn:${local.partition}:ec2:*:${local.account_id}:instance/*"]
  }
  statement {
    sid       = "PassOnlyTheConnectorInstanceRole"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/${var.instance_role_name}"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }
  statement {
    sid       = "AttachOnlyTheInstancePolicies"
    effect    = "Allow"
    actions   = ["iam:AttachRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/*"]
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values = [
        "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore",
        "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy",
      ]
    }
  }
  # Never the connector's own function roles (this one included).
  statement {
    sid       = "NeverTheConnectorsOwnRoles"
    effect    = "Deny"
    actions   = ["iam:AttachRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/mdc-connector-*"]
  }
}

resource "aws_lambda_function" "profile_scan_function" {
  #checkov:skip=CKV_AWS_117:The function calls only AWS control-plane APIs; a VPC would need NAT or eight interface endpoints and protect nothing.
  #checkov:skip=CKV_AWS_173:Environment variables hold names and ids only, never a secret (the onboarding secret is read from a SecureString); Lambda encrypts them at rest.
  #checkov:skip=CKV_AWS_50:As the SAM template: no X-Ray tracing; the JSON run reports and the dashboard's metrics are the observability.
  #checkov:skip=CKV_AWS_272:As the SAM template: the package is built from this repository by scripts/package-terraform; no code-signing profile exists to validate against.
  function_name    = "mdc-connector-profile-scan"
  description      = "Gives every EC2 instance a profile whose role carries AmazonSSMManagedInstanceCore."
  role             = aws_iam_role.profile_scan_role.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  memory_size      = 256
  timeout          = 900
  filename         = "${var.package_dir}/profile-scan/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.package_dir}/profile-scan/bootstrap.zip")
  # None by default (reserved_concurrency; the provider's default, -1, is unreserved): the work
  # queue's maximum_concurrency bounds it.
  reserved_concurrent_executions = local.reserves_concurrency ? var.reserved_concurrency : null

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.profile_scan_log_group.name
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.profile_scan_dead_letters.arn
  }

  environment {
    # Exactly the variables profile-scan reads (docs/configuration.md; tests/script/test_contracts.py).
    variables = {
      CONNECTOR_EXCLUDED_ACCOUNTS     = var.excluded_accounts
      CONNECTOR_SCOPE_PARAMETER       = var.scope_parameter_name
      CONNECTOR_DRY_RUN               = var.dry_run
      CONNECTOR_REGIONS               = local.connector_regions_follow_the_stack_set ? var.stack_set_regions : var.connector_regions
      CONNECTOR_OPT_OUT_TAG           = var.opt_out_tag
      CONNECTOR_OPT_IN_TAG            = var.opt_in_tag
      CONNECTOR_CONCURRENCY           = tostring(var.concurrency)
      CONNECTOR_MEMBER_ROLE           = var.member_role_name
      EC2_WRITE_RATE                  = tostring(var.ec2_write_rate)
      RUST_LOG                        = "info"
      INSTANCE_PROFILE_NAME           = var.instance_profile_name
      ATTACH_POLICY_TO_EXISTING_ROLES = var.attach_policy_to_existing_roles
      INSTANCE_POLICY                 = var.instance_policy
      SSM_REACH                       = var.ssm_reach
      DHMC_ROLE_NAME                  = var.dhmc_role_name
      WORK_QUEUE_URL                  = aws_sqs_queue.profile_scan_work_queue.url
      HANDOFF_QUEUE_URL               = aws_sqs_queue.arc_provisioner_work_queue.url
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "profile_scan_function_event_invoke_config" {
  function_name          = aws_lambda_function.profile_scan_function.function_name
  maximum_retry_attempts = 1

  destination_config {
    on_success {
      destination = aws_lambda_function.arc_provisioner_function.arn
    }
  }
}

# Up to 10 units per invocation (run CONNECTOR_CONCURRENCY at once), a 5 s window so a
# planner's burst fills batches, at most 8 invocations (8 x 10 account-regions) at once.
resource "aws_lambda_event_source_mapping" "profile_scan_function_work_units" {
  function_name                      = aws_lambda_function.profile_scan_function.arn
  event_source_arn                   = aws_sqs_queue.profile_scan_work_queue.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 5
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 8
  }
}

resource "aws_cloudwatch_event_rule" "profile_scan_function_scheduled" {
  schedule_expression = var.profile_scan_schedule
}

resource "aws_cloudwatch_event_target" "profile_scan_function_scheduled" {
  rule      = aws_cloudwatch_event_rule.profile_scan_function_scheduled.name
  target_id = "ProfileScanFunctionScheduledLambdaTarget"
  arn       = aws_lambda_function.profile_scan_function.arn
}

resource "aws_lambda_permission" "profile_scan_function_scheduled_permission" {
  function_name = aws_lambda_function.profile_scan_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.profile_scan_function_scheduled.arn
}

resource "aws_cloudwatch_event_rule" "profile_scan_function_instance_running_here" {
  event_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["EC2 Instance State-change Notification"]
    detail = {
      state = ["running"]
    }
  })
}

resource "aws_cloudwatch_event_target" "profile_scan_function_instance_running_here" {
  rule      = aws_cloudwatch_event_rule.profile_scan_function_instance_running_here.name
  target_id = "ProfileScanFunctionInstanceRunningHereLambdaTarget"
  arn       = aws_lambda_function.profile_scan_function.arn
}

resource "aws_lambda_permission" "profile_scan_function_instance_running_here_permission" {
  function_name = aws_lambda_function.profile_scan_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.profile_scan_function_instance_running_here.arn
}

resource "aws_cloudwatch_event_rule" "profile_scan_function_instance_running_in_members" {
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  event_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["EC2 Instance State-change Notification"]
    detail = {
      state = ["running"]
    }
  })
}

resource "aws_cloudwatch_event_target" "profile_scan_function_instance_running_in_members" {
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  rule           = aws_cloudwatch_event_rule.profile_scan_function_instance_running_in_members.name
  target_id      = "ProfileScanFunctionInstanceRunningInMembersLambdaTarget"
  arn            = aws_lambda_function.profile_scan_function.arn
}

resource "aws_lambda_permission" "profile_scan_function_instance_running_in_members_permission" {
  function_name = aws_lambda_function.profile_scan_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.profile_scan_function_instance_running_in_members.arn
}
