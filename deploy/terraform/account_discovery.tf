# account-discovery: its log group, queues, alarm, role and function, and the events that start it
# (cfn/template.yaml, "account-discovery").
#
# Two things of the template have no Terraform counterpart, both parts of its teardown custom
# resource (MemberStackSetInstances): CONNECTOR_STACK_ID (AWS::StackId) and the
# CheckThisDeploymentIsBeingDeleted grant (cloudformation:DescribeStacks on that stack). Without a
# stack id account-discovery answers every custom resource Delete without deleting anything
# (src/discovery/teardown.rs), which is right: no CloudFormation stack owns this deploy. The
# Terraform teardown empties the member StackSet as a documented step before `terraform destroy`
# (README.md, Teardown).

# The run reports are the audit trail (see profile_scan.tf on prevent_destroy).
resource "aws_cloudwatch_log_group" "account_discovery_log_group" {
  #checkov:skip=CKV_AWS_158:Run reports hold no secret by design (tested); CloudWatch Logs encrypts at rest with its own keys. Add a CMK here if policy demands one.
  #checkov:skip=CKV_AWS_338:Retention is the template's LogRetentionDays (default 90 days), the operator's choice.
  retention_in_days = var.log_retention_days

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_sqs_queue" "account_discovery_dead_letters" {
  #checkov:skip=CKV_AWS_27:Encrypted at rest with SSE-SQS (sqs_managed_sse_enabled); a CMK would only add key-policy upkeep for dead letters without secrets.
  name                      = "mdc-connector-account-discovery-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
}

# Work units (one (account, region) per message). Visibility timeout 6 x the function timeout
# (900 s), as Lambda's SQS event source mapping requires; a unit that fails 5 deliveries goes to
# the dead-letter queue.
resource "aws_sqs_queue" "account_discovery_work_queue" {
  #checkov:skip=CKV_AWS_27:Encrypted at rest with SSE-SQS (sqs_managed_sse_enabled); messages name accounts and regions, no secret.
  name                       = "mdc-connector-account-discovery-work"
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = 5400
  message_retention_seconds  = 1209600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.account_discovery_dead_letters.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue_policy" "account_discovery_work_queue_policy" {
  queue_url = aws_sqs_queue.account_discovery_work_queue.id
  policy    = data.aws_iam_policy_document.account_discovery_work_queue_policy.json
}

data "aws_iam_policy_document" "account_discovery_work_queue_policy" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.account_discovery_work_queue.arn]
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

resource "aws_sqs_queue_policy" "account_discovery_dead_letters_policy" {
  queue_url = aws_sqs_queue.account_discovery_dead_letters.id
  policy    = data.aws_iam_policy_document.account_discovery_dead_letters_policy.json
}

data "aws_iam_policy_document" "account_discovery_dead_letters_policy" {
  statement {
    sid       = "UndeliveredOrganizationEvents"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.account_discovery_dead_letters.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.account_discovery_dead_letters.arn]
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

resource "aws_cloudwatch_metric_alarm" "account_discovery_dead_letters_alarm" {
  alarm_name          = "mdc-connector-account-discovery-dead-letters"
  alarm_description   = "A work unit or an event of account-discovery kept failing and was dead-lettered; its message says which."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.account_discovery_dead_letters.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

resource "aws_iam_role" "account_discovery_role" {
  name               = "mdc-connector-account-discovery"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json
}

resource "aws_iam_role_policy" "account_discovery_role_account_discovery" {
  name   = "account-discovery"
  role   = aws_iam_role.account_discovery_role.id
  policy = data.aws_iam_policy_document.account_discovery_role_account_discovery.json
}

data "aws_iam_policy_document" "account_discovery_role_account_discovery" {
  #checkov:skip=CKV_AWS_356:Resource "*" only for actions AWS authorizes on "*" alone (Organizations reads across the organization, Describe* of EC2 and SSM, iam:GetAccountAuthorizationDetails, the conditioned sts:GetWebIdentityToken and trusted-access calls), statement for statement as cfn/template.yaml, whose guard test (tests/script/test_template_guards.py) refuses any other "*".
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.account_discovery_log_group.arn}:*"]
  }
  statement {
    sid       = "DeadLetters"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.account_discovery_dead_letters.arn]
  }
  statement {
    sid       = "ConsumeTheWorkQueue"
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.account_discovery_work_queue.arn]
  }
  statement {
    sid     = "SendWorkUnits"
    effect  = "Allow"
    actions = ["sqs:SendMessage"]
    resources = [
      aws_sqs_queue.account_discovery_work_queue.arn,
      # Newly onboarded accounts handed to profile-scan and arc-provisioner.
      aws_sqs_queue.profile_scan_work_queue.arn,
      aws_sqs_queue.arc_provisioner_work_queue.arn,
    ]
  }
  statement {
    sid    = "ReadTheOrganization"
    effect = "Allow"
    actions = [
      "organizations:DescribeOrganization",
      "organizations:ListAccounts",
      "organizations:ListAccountsForParent",
      "organizations:ListChildren",
      "organizations:ListRoots",
      # An event's one account: two calls, whatever the organization's size.
      "organizations:DescribeAccount",
      "organizations:ListParents",
      # A delegated administrator's StackSet calls check its registration.
      "organizations:ListDelegatedAdministrators",
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
  # Which regions each member has enabled (opt-in regions are per account), so a region an
  # account has not enabled is skipped, not failed. Needs trusted access for AWS Account
  # Management (docs/deploy.md).
  statement {
    sid     = "ReadWhichRegionsAccountsHaveEnabled"
    effect  = "Allow"
    actions = ["account:ListRegions"]
    resources = [
      "arn:${local.partition}:account::${local.account_id}:account",
      "arn:${local.partition}:account::${local.management_account_given ? var.management_account_id : local.account_id}:account/${var.organization_id}/*",
    ]
  }
  statement {
    sid    = "OperateOnlyTheOnboardingStackSet"
    effect = "Allow"
    # DeleteStackInstances: departed accounts (StackSetRemoveDeparted) and the teardown, which
    # then deletes the emptied StackSet (kept for parity with the template; see the top of this file).
    actions = [
      "cloudformation:DescribeStackSet",
      "cloudformation:ListStackInstances",
      "cloudformation:DescribeStackSetOperation",
      "cloudformation:ListStackSetOperationResults",
      "cloudformation:CreateStackInstances",
      "cloudformation:UpdateStackInstances",
      "cloudformation:DeleteStackInstances",
      "cloudformation:DeleteStackSet",
    ]
    resources = [
      local.calls_as_delegated_admin ? "arn:${local.partition}:cloudformation:${local.region}:${var.management_account_id}:stackset/${var.stack_set_name}:*" : "arn:${local.partition}:cloudformation:${local.region}:${local.account_id}:stackset/${var.stack_set_name}:*",
      "arn:${local.partition}:cloudformation:*:*:stackset-target/${var.stack_set_name}:*",
      "arn:${local.partition}:cloudformation:*::type/resource/*",
    ]
  }
  statement {
    sid       = "CheckTrustedAccess"
    effect    = "Allow"
    actions   = ["cloudformation:DescribeOrganizationsAccess"]
    resources = ["*"]
  }
  dynamic "statement" {
    for_each = local.activates_organizations_access ? [1] : []
    content {
      sid       = "ActivateTrustedAccess"
      effect    = "Allow"
      actions   = ["cloudformation:ActivateOrganizationsAccess"]
      resources = ["*"]
    }
  }
  dynamic "statement" {
    for_each = local.activates_organizations_access ? [1] : []
    content {
      sid       = "EnableOnlyStackSetsTrustedAccess"
      effect    = "Allow"
      actions   = ["organizations:EnableAWSServiceAccess"]
      resources = ["*"]
      condition {
        test     = "StringEquals"
        variable = "organizations:ServicePrincipal"
        values   = ["member.org.stacksets.cloudformation.amazonaws.com"]
      }
    }
  }
  dynamic "statement" {
    for_each = local.activates_organizations_access ? [1] : []
    content {
      sid       = "CreateOnlyTheStackSetsServiceLinkedRole"
      effect    = "Allow"
      actions   = ["iam:CreateServiceLinkedRole"]
      resources = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/stacksets.cloudformation.amazonaws.com/*"]
      condition {
        test     = "StringEquals"
        variable = "iam:AWSServiceName"
        values   = ["stacksets.cloudformation.amazonaws.com"]
      }
    }
  }
  # {"action":"preflight"} (src/discovery/preflight.rs), read-only.
  statement {
    sid    = "PreflightReadsThePrerequisites"
    effect = "Allow"
    actions = [
      "organizations:ListAWSServiceAccessForOrganization",
      "organizations:ListDelegatedAdministrators",
      "cloudtrail:DescribeTrails",
      "lambda:GetAccountSettings",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "PreflightReadsTheTrailsStatus"
    effect    = "Allow"
    actions   = ["cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"]
    resources = ["arn:${local.partition}:cloudtrail:*:*:trail/*"]
  }
  statement {
    sid       = "CheckTheManagementStack"
    effect    = "Allow"
    actions   = ["cloudformation:DescribeStacks"]
    resources = ["arn:${local.partition}:cloudformation:*:${local.account_id}:stack/${var.management_stack_name}/*"]
  }
  statement {
    sid       = "CheckTheManagementStackSet"
    effect    = "Allow"
    actions   = ["cloudformation:DescribeStackSet", "cloudformation:ListStackInstances"]
    resources = ["arn:${local.partition}:cloudformation:${local.region}:${local.account_id}:stackset/${var.stack_set_name}-management:*"]
  }
  dynamic "statement" {
    for_each = local.has_member_records_bus ? [1] : []
    content {
      sid       = "PublishMemberConnectorRecords"
      effect    = "Allow"
      actions   = ["events:PutEvents"]
      resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/${var.member_records_bus}"]
    }
  }
}

resource "aws_lambda_function" "account_discovery_function" {
  #checkov:skip=CKV_AWS_117:The function calls only AWS control-plane APIs; a VPC would need NAT or eight interface endpoints and protect nothing.
  #checkov:skip=CKV_AWS_173:Environment variables hold names and ids only, never a secret (the onboarding secret is read from a SecureString); Lambda encrypts them at rest.
  #checkov:skip=CKV_AWS_50:As the SAM template: no X-Ray tracing; the JSON run reports and the dashboard's metrics are the observability.
  #checkov:skip=CKV_AWS_272:As the SAM template: the package is built from this repository by scripts/package-terraform; no code-signing profile exists to validate against.
  function_name    = "mdc-connector-account-discovery"
  description      = "Onboards every active member account to the connector's StackSet."
  role             = aws_iam_role.account_discovery_role.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  memory_size      = 256
  timeout          = 900
  filename         = "${var.package_dir}/account-discovery/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.package_dir}/account-discovery/bootstrap.zip")
  # None by default (reserved_concurrency; the provider's default, -1, is unreserved): the work
  # queue's maximum_concurrency (2, below) bounds the re-checks; concurrent reconciles (events, the
  # schedule) meet OperationInProgressException and back off (one StackSet operation at a time).
  reserved_concurrent_executions = local.reserves_concurrency ? var.reserved_concurrency : null

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.account_discovery_log_group.name
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.account_discovery_dead_letters.arn
  }

  environment {
    # Exactly the variables account-discovery reads, but CONNECTOR_STACK_ID (see the top of this file).
    variables = {
      CONNECTOR_EXCLUDED_ACCOUNTS            = var.excluded_accounts
      CONNECTOR_SCOPE_PARAMETER              = var.scope_parameter_name
      CONNECTOR_DRY_RUN                      = var.dry_run
      RUST_LOG                               = "info"
      STACKSET_NAME                          = var.stack_set_name
      STACKSET_REGIONS                       = var.stack_set_regions
      STACKSET_RETRY_FAILED                  = var.stack_set_retry_failed
      STACKSET_REMOVE_DEPARTED               = var.stack_set_remove_departed
      STACKSET_CALL_AS                       = var.stack_set_call_as
      STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS = var.stack_set_activate_organizations_access
      MANAGEMENT_STACK_NAME                  = var.management_stack_name
      CONNECTOR_EVENT_BUS                    = var.member_records_bus
      WORK_QUEUE_URL                         = aws_sqs_queue.account_discovery_work_queue.url
      PROFILE_SCAN_QUEUE_URL                 = aws_sqs_queue.profile_scan_work_queue.url
      ARC_PROVISIONER_QUEUE_URL              = aws_sqs_queue.arc_provisioner_work_queue.url
      PROFILE_SCAN_DELAY_SECONDS             = tostring(var.profile_scan_hand_off_delay)
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "account_discovery_function_event_invoke_config" {
  function_name          = aws_lambda_function.account_discovery_function.function_name
  maximum_retry_attempts = 2
}

# Delayed re-checks of pending StackSet work, capped by the event source mapping itself:
# "Event source mappings don't account for reserved concurrency and can process more messages off
# your queue than can be sent to your function" (Knowledge Center, Lambda SQS scaling); "make sure
# that your function's reserved concurrency is greater than or equal to the total maximum
# concurrency of all Amazon SQS event sources" (Lambda guide). 2 is the smallest maximum; a
# reservation (reserved_concurrency) is at least 8.
resource "aws_lambda_event_source_mapping" "account_discovery_function_rechecks" {
  function_name                      = aws_lambda_function.account_discovery_function.arn
  event_source_arn                   = aws_sqs_queue.account_discovery_work_queue.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 20
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 2
  }
}

resource "aws_cloudwatch_event_rule" "account_discovery_function_daily_reconcile" {
  schedule_expression = var.reconcile_schedule
}

resource "aws_cloudwatch_event_target" "account_discovery_function_daily_reconcile" {
  rule      = aws_cloudwatch_event_rule.account_discovery_function_daily_reconcile.name
  target_id = "AccountDiscoveryFunctionDailyReconcileLambdaTarget"
  arn       = aws_lambda_function.account_discovery_function.arn
}

resource "aws_lambda_permission" "account_discovery_function_daily_reconcile_permission" {
  function_name = aws_lambda_function.account_discovery_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.account_discovery_function_daily_reconcile.arn
}

# An account that enables an opt-in region is reconciled at once ("Region Opt-In Status Change",
# sent in the account whose region changed: members forward it to the connector bus,
# cfn/member.yaml; this account's own arrive on its default bus).
resource "aws_cloudwatch_event_rule" "account_discovery_function_region_enabled_in_members" {
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  event_pattern = jsonencode({
    source        = ["aws.account"]
    "detail-type" = ["Region Opt-In Status Change"]
    detail = {
      status = ["ENABLED"]
    }
  })
}

resource "aws_cloudwatch_event_target" "account_discovery_function_region_enabled_in_members" {
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  rule           = aws_cloudwatch_event_rule.account_discovery_function_region_enabled_in_members.name
  target_id      = "AccountDiscoveryFunctionRegionEnabledInMembersLambdaTarget"
  arn            = aws_lambda_function.account_discovery_function.arn
}

resource "aws_lambda_permission" "account_discovery_function_region_enabled_in_members_permission" {
  function_name = aws_lambda_function.account_discovery_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.account_discovery_function_region_enabled_in_members.arn
}

resource "aws_cloudwatch_event_rule" "account_discovery_function_region_enabled_here" {
  event_pattern = jsonencode({
    source        = ["aws.account"]
    "detail-type" = ["Region Opt-In Status Change"]
    detail = {
      status = ["ENABLED"]
    }
  })
}

resource "aws_cloudwatch_event_target" "account_discovery_function_region_enabled_here" {
  rule      = aws_cloudwatch_event_rule.account_discovery_function_region_enabled_here.name
  target_id = "AccountDiscoveryFunctionRegionEnabledHereLambdaTarget"
  arn       = aws_lambda_function.account_discovery_function.arn
}

resource "aws_lambda_permission" "account_discovery_function_region_enabled_here_permission" {
  function_name = aws_lambda_function.account_discovery_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.account_discovery_function_region_enabled_here.arn
}

# Organizations events reach EventBridge in Organizations' home region only ("You can view all
# CloudTrail information for AWS Organizations only in the US East (N. Virginia) Region";
# cn-northwest-1 and us-gov-west-1 in the other partitions). Invited accounts show up as
# AccountJoinedOrganization (AcceptHandshake is the member's call, in its own trail).
resource "aws_cloudwatch_event_rule" "organization_events_rule" {
  count       = local.in_organizations_home_region ? 1 : 0
  description = "Account lifecycle events to account-discovery."
  event_pattern = jsonencode({
    source = ["aws.organizations"]
    detail = {
      eventName = [
        "CreateAccountResult",
        "AcceptHandshake",
        "AccountJoinedOrganization",
        "AccountDepartedOrganization",
        "MoveAccount",
        "RemoveAccountFromOrganization",
        "CloseAccount",
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "organization_events_rule" {
  count     = local.in_organizations_home_region ? 1 : 0
  rule      = aws_cloudwatch_event_rule.organization_events_rule[0].name
  target_id = "account-discovery"
  arn       = aws_lambda_function.account_discovery_function.arn

  dead_letter_config {
    arn = aws_sqs_queue.account_discovery_dead_letters.arn
  }

  retry_policy {
    maximum_retry_attempts = 8
  }
}

resource "aws_lambda_permission" "organization_events_permission" {
  count         = local.in_organizations_home_region ? 1 : 0
  function_name = aws_lambda_function.account_discovery_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.organization_events_rule[0].arn
}

# Control Tower lifecycle events are recorded in the Control Tower home region.
resource "aws_cloudwatch_event_rule" "control_tower_events_rule" {
  count       = local.in_control_tower_home_region ? 1 : 0
  description = "Control Tower account lifecycle events to account-discovery."
  event_pattern = jsonencode({
    source = ["aws.controltower"]
    detail = {
      eventName = ["CreateManagedAccount", "UpdateManagedAccount"]
    }
  })
}

resource "aws_cloudwatch_event_target" "control_tower_events_rule" {
  count     = local.in_control_tower_home_region ? 1 : 0
  rule      = aws_cloudwatch_event_rule.control_tower_events_rule[0].name
  target_id = "account-discovery"
  arn       = aws_lambda_function.account_discovery_function.arn

  dead_letter_config {
    arn = aws_sqs_queue.account_discovery_dead_letters.arn
  }

  retry_policy {
    maximum_retry_attempts = 8
  }
}

resource "aws_lambda_permission" "control_tower_events_permission" {
  count         = local.in_control_tower_home_region ? 1 : 0
  function_name = aws_lambda_function.account_discovery_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.control_tower_events_rule[0].arn
}

# With a delegated administrator, Organizations and Control Tower events happen in the
# management account ("available only in the management account's event history"): its
# forwarding stack (cfn/forward-organization-events.yaml, docs/deploy.md) sends them to this
# connector bus, which admits only the organization's accounts.
resource "aws_cloudwatch_event_rule" "forwarded_organization_events_rule" {
  count          = local.calls_as_delegated_admin ? 1 : 0
  description    = "Account lifecycle events forwarded from the management account to account-discovery."
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  event_pattern = jsonencode({
    source = ["aws.organizations", "aws.controltower"]
    detail = {
      eventName = [
        "CreateAccountResult",
        "AcceptHandshake",
        "AccountJoinedOrganization",
        "AccountDepartedOrganization",
        "MoveAccount",
        "RemoveAccountFromOrganization",
        "CloseAccount",
        "CreateManagedAccount",
        "UpdateManagedAccount",
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "forwarded_organization_events_rule" {
  count          = local.calls_as_delegated_admin ? 1 : 0
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  rule           = aws_cloudwatch_event_rule.forwarded_organization_events_rule[0].name
  target_id      = "account-discovery"
  arn            = aws_lambda_function.account_discovery_function.arn

  dead_letter_config {
    arn = aws_sqs_queue.account_discovery_dead_letters.arn
  }

  retry_policy {
    maximum_retry_attempts = 8
  }
}

resource "aws_lambda_permission" "forwarded_organization_events_permission" {
  count         = local.calls_as_delegated_admin ? 1 : 0
  function_name = aws_lambda_function.account_discovery_function.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.forwarded_organization_events_rule[0].arn
}
