# The alarms (cfn/template.yaml, "alarms"): the topic every alarm notifies when alarm_topic_arn is
# empty, the alarms on failed items, preflights, work-queue age, Microsoft Entra sign-in and member
# stacks, and the two metric filters the last two read. The dead-letter alarms are in each
# function's file. Why each metric and threshold: the template's comments, section by section;
# what each alarm means and the query that names its cause: docs/deploy.md, "Alarms".

locals {
  # The topic every alarm notifies: alarm_topic_arn, or the one created below (the template's
  # !If [HasAlarmTopic, !Ref AlarmTopicArn, !Ref AlarmTopic]).
  alarm_topic_in_use = local.has_alarm_topic ? var.alarm_topic_arn : aws_sns_topic.alarm_topic[0].arn
}

# Only when alarm_topic_arn is empty. Not encrypted: the checkov skip says why.
resource "aws_sns_topic" "alarm_topic" {
  #checkov:skip=CKV_AWS_26:Notifications carry alarm names, states and descriptions, no secret. With the AWS managed key alias/aws/sns CloudWatch could not publish at all (a service publishing to an encrypted topic needs a customer managed key whose policy allows it, SNS Developer Guide, "Enable compatibility between event sources from AWS services and encrypted topics"); give alarm_topic_arn to notify an encrypted topic of your own.
  count        = local.creates_alarm_topic ? 1 : 0
  name         = "mdc-connector-alarms"
  display_name = "mdc-connector"
}

# Failed items: each run's EMF metric Failed (its items with status failed), per job.
resource "aws_cloudwatch_metric_alarm" "profile_scan_failed_items_alarm" {
  alarm_name          = "mdc-connector-profile-scan-failed-items"
  alarm_description   = "profile-scan reported failed items: a change it needed (an instance profile, a role policy) could not be made; each item's reason says why and what to do. First look, Logs Insights on the log group of output ProfileScanLogGroupName: fields @timestamp, accountId, region, resourceId, action, reason | filter status = \"failed\" | sort @timestamp desc"
  namespace           = "mdc-connector"
  metric_name         = "Failed"
  dimensions          = { Job = "profile-scan" }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

resource "aws_cloudwatch_metric_alarm" "account_discovery_failed_items_alarm" {
  alarm_name          = "mdc-connector-account-discovery-failed-items"
  alarm_description   = "account-discovery reported failed items: an account was not onboarded, a StackSet operation failed, or a check found something to fix; each item's reason says why and what to do. First look, Logs Insights on the log group of output AccountDiscoveryLogGroupName: fields @timestamp, accountId, region, resourceId, action, reason | filter status = \"failed\" | sort @timestamp desc"
  namespace           = "mdc-connector"
  metric_name         = "Failed"
  dimensions          = { Job = "account-discovery" }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

resource "aws_cloudwatch_metric_alarm" "arc_provisioner_failed_items_alarm" {
  alarm_name          = "mdc-connector-arc-provisioner-failed-items"
  alarm_description   = "arc-provisioner reported failed items: instances not connected to Azure Arc (the onboarding command failed or timed out, a unit could not be read) or Arc machines the sweep could not delete; each item's reason says why and what to do. First look, Logs Insights on the log group of output ArcProvisionerLogGroupName: fields @timestamp, accountId, region, resourceId, action, outcome, reason | filter status = \"failed\" | sort @timestamp desc"
  namespace           = "mdc-connector"
  metric_name         = "Failed"
  dimensions          = { Job = "arc-provisioner" }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

# Preflight: the EMF metric PreflightFailed, a preflight's checks that are not ok.
resource "aws_cloudwatch_metric_alarm" "profile_scan_preflight_alarm" {
  alarm_name          = "mdc-connector-profile-scan-preflight"
  alarm_description   = "profile-scan's preflight found a prerequisite of its job not in place (missing) or could not read it (unchecked); each check's reason ends with the command that fixes (fix:) or checks (check:) it. First look, Logs Insights on the log group of output ProfileScanLogGroupName: fields @timestamp, resourceId, outcome, reason | filter action = \"preflight\" and status = \"failed\" | sort @timestamp desc"
  namespace           = "mdc-connector"
  metric_name         = "PreflightFailed"
  dimensions          = { Job = "profile-scan" }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

resource "aws_cloudwatch_metric_alarm" "account_discovery_preflight_alarm" {
  alarm_name          = "mdc-connector-account-discovery-preflight"
  alarm_description   = "account-discovery's preflight found a prerequisite of its job not in place (missing) or could not read it (unchecked); each check's reason ends with the command that fixes (fix:) or checks (check:) it. First look, Logs Insights on the log group of output AccountDiscoveryLogGroupName: fields @timestamp, resourceId, outcome, reason | filter action = \"preflight\" and status = \"failed\" | sort @timestamp desc"
  namespace           = "mdc-connector"
  metric_name         = "PreflightFailed"
  dimensions          = { Job = "account-discovery" }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

resource "aws_cloudwatch_metric_alarm" "arc_provisioner_preflight_alarm" {
  alarm_name          = "mdc-connector-arc-provisioner-preflight"
  alarm_description   = "arc-provisioner's preflight found a prerequisite of its job not in place (missing) or could not read it (unchecked); each check's reason ends with the command that fixes (fix:) or checks (check:) it. First look, Logs Insights on the log group of output ArcProvisionerLogGroupName: fields @timestamp, resourceId, outcome, reason | filter action = \"preflight\" and status = \"failed\" | sort @timestamp desc"
  namespace           = "mdc-connector"
  metric_name         = "PreflightFailed"
  dimensions          = { Job = "arc-provisioner" }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

# Queue age: above every deliberate delay (at most 900 s), a run (900 s) and one redelivery after
# the visibility timeout (5400 s) together.
resource "aws_cloudwatch_metric_alarm" "profile_scan_work_queue_age_alarm" {
  alarm_name          = "mdc-connector-profile-scan-queue-age"
  alarm_description   = "A message of profile-scan's work queue (mdc-connector-profile-scan-work) has waited more than two hours: the function is not taking its work units (throttled, failing before it answers, event source mapping disabled, concurrency 0) or one failed twice. First look: aws lambda list-event-source-mappings --function-name mdc-connector-profile-scan (State, StateTransitionReason), then Logs Insights on the log group of output ProfileScanLogGroupName: fields @timestamp, summary.workUnits, summary.failedWorkUnits | filter ispresent(itemLines) | sort @timestamp desc"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.profile_scan_work_queue.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 7200
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

resource "aws_cloudwatch_metric_alarm" "account_discovery_work_queue_age_alarm" {
  alarm_name          = "mdc-connector-account-discovery-queue-age"
  alarm_description   = "A message of account-discovery's work queue (mdc-connector-account-discovery-work, its re-checks of pending StackSet work) has waited more than two hours: the function is not taking them (throttled, failing before it answers, event source mapping disabled, concurrency 0) or one failed twice. First look: aws lambda list-event-source-mappings --function-name mdc-connector-account-discovery (State, StateTransitionReason), then Logs Insights on the log group of output AccountDiscoveryLogGroupName: fields @timestamp, summary.workUnits, summary.failedWorkUnits | filter ispresent(itemLines) | sort @timestamp desc"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.account_discovery_work_queue.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 7200
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

resource "aws_cloudwatch_metric_alarm" "arc_provisioner_work_queue_age_alarm" {
  alarm_name          = "mdc-connector-arc-provisioner-queue-age"
  alarm_description   = "A message of arc-provisioner's work queue (mdc-connector-arc-provisioner-work) has waited more than two hours: the function is not taking its work units (throttled, failing before it answers, event source mapping disabled, concurrency 0) or one failed twice. First look: aws lambda list-event-source-mappings --function-name mdc-connector-arc-provisioner (State, StateTransitionReason), then Logs Insights on the log group of output ArcProvisionerLogGroupName: fields @timestamp, summary.workUnits, summary.failedWorkUnits | filter ispresent(itemLines) | sort @timestamp desc"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.arc_provisioner_work_queue.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 7200
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

# Sign-in: the items' stable codes (docs/report.md, "Codes"): entra-sign-in-refused in a run,
# and the preflight's sign-in checks missing (tests/script/test_contracts.py holds them to the code).
resource "aws_cloudwatch_log_metric_filter" "arc_provisioner_sign_in_failures" {
  name           = "mdc-connector-entra-sign-in-failures"
  log_group_name = aws_cloudwatch_log_group.arc_provisioner_log_group.name
  pattern        = "{ $.code = \"provision/entra-sign-in-refused\" || $.code = \"sweep-arc-machine/entra-sign-in-refused\" || $.code = \"preflight/entra-sign-in-onboarding:missing\" || $.code = \"preflight/entra-sign-in-sweep:missing\" }"
  metric_transformation {
    namespace = "mdc-connector"
    name      = "EntraSignInFailed"
    value     = "1"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "arc_provisioner_sign_in_alarm" {
  alarm_name          = "mdc-connector-arc-provisioner-sign-in"
  alarm_description   = "arc-provisioner could not sign in to Microsoft Entra as the onboarding application (or as the sweep's): no instance is onboarded (or no machine swept) until it can. The reason names Entra's answer (AADSTS code) and what to check: the application's federated identity credential (issuer, subject = output ArcFederationSubject, audience), ArcTenantId, ArcServicePrincipalId, or the opted-in secret. First look, Logs Insights on the log group of output ArcProvisionerLogGroupName: fields @timestamp, code, resourceId, reason | filter code like /entra-sign-in/ | sort @timestamp desc"
  namespace           = "mdc-connector"
  metric_name         = "EntraSignInFailed"
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}

# Member stacks: account-discovery's stack-instance items and its member-stack-instances check,
# failed (read from its log, not from StackSet events: the template says why).
resource "aws_cloudwatch_log_metric_filter" "account_discovery_member_stack_failures" {
  name           = "mdc-connector-member-stack-failures"
  log_group_name = aws_cloudwatch_log_group.account_discovery_log_group.name
  pattern        = "{ $.status = \"failed\" && ($.resourceId = \"stack-instance\" || $.resourceId = \"member-stack-instances\") }"
  metric_transformation {
    namespace = "mdc-connector"
    name      = "MemberStackFailed"
    value     = "1"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "account_discovery_member_stacks_alarm" {
  alarm_name          = "mdc-connector-account-discovery-member-stacks"
  alarm_description   = "A member stack failed: a stack instance of the member StackSet (or of this account's management StackSet) did not deploy, update or delete, or is INOPERABLE, so that account and region lack the connector's roles, documents or forwarding rules. The reason gives CloudFormation's and what re-deploys the instance once that is fixed. First look, Logs Insights on the log group of output AccountDiscoveryLogGroupName: fields @timestamp, accountId, region, action, reason | filter status = \"failed\" and resourceId in [\"stack-instance\", \"member-stack-instances\"] | sort @timestamp desc"
  namespace           = "mdc-connector"
  metric_name         = "MemberStackFailed"
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_in_use]
}
