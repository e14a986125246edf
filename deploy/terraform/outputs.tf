# The template's Outputs, one output each: the name in snake_case, the same value and description.

output "profile_scan_function_arn" {
  value = aws_lambda_function.profile_scan_function.arn
}

output "account_discovery_function_arn" {
  value = aws_lambda_function.account_discovery_function.arn
}

output "arc_provisioner_function_arn" {
  value = aws_lambda_function.arc_provisioner_function.arn
}

output "function_role_arns" {
  description = "The function roles; the member template trusts profile-scan (member role) and arc-provisioner (provisioning role) by name."
  value       = join(",", [aws_iam_role.profile_scan_role.arn, aws_iam_role.account_discovery_role.arn, aws_iam_role.arc_provisioner_role.arn])
}

output "connector_bus_arn" {
  description = "Give this account id and region to cfn/member.yaml (ConnectorBusAccountId, ConnectorBusRegion)."
  value       = aws_cloudwatch_event_bus.connector_bus.arn
}

output "dead_letter_queues" {
  value = join(",", [aws_sqs_queue.profile_scan_dead_letters.url, aws_sqs_queue.account_discovery_dead_letters.url, aws_sqs_queue.arc_provisioner_dead_letters.url])
}

output "alarm_topic_arn" {
  description = "The topic every alarm notifies (AlarmTopicArn, or the one this stack created); subscribe to it (docs/deploy.md, Alarms)."
  value       = local.alarm_topic_in_use
}

output "profile_scan_log_group_name" {
  description = "profile-scan's log group (its run reports, one line per item; docs/report.md, The log)."
  value       = aws_cloudwatch_log_group.profile_scan_log_group.name
}

output "account_discovery_log_group_name" {
  description = "account-discovery's log group (its run reports, one line per item; docs/report.md, The log)."
  value       = aws_cloudwatch_log_group.account_discovery_log_group.name
}

output "arc_provisioner_log_group_name" {
  description = "arc-provisioner's log group (its run reports, one line per item; docs/report.md, The log)."
  value       = aws_cloudwatch_log_group.arc_provisioner_log_group.name
}

output "dashboard" {
  value = "https://${local.console_host[local.partition].Host}/cloudwatch/home?region=${local.region}#dashboards:name=mdc-connector-coverage"
}

output "arc_federation_subject" {
  description = "The subject of the onboarding application's federated identity credential (arc-provisioner's role; the sub claim of its AWS identity tokens). The issuer is this account's: aws iam get-outbound-web-identity-federation-info (docs/deploy.md)."
  value       = aws_iam_role.arc_provisioner_role.arn
}

output "arc_federation_audience" {
  description = "The audience of the federated identity credential."
  value       = local.entra_token_exchange[var.arc_cloud].Audience
}

output "arc_inventory_table_name" {
  description = "arc-provisioner's inventory table (one item per Arc machine the connector onboarded); retained on delete."
  value       = aws_dynamodb_table.arc_inventory_table.name
}

output "arc_secret_key_arn" {
  description = "Encrypt the opted-in client secret with this key (put-parameter --key-id)."
  value       = local.has_arc_secret ? aws_kms_key.arc_secret_key[0].arn : null
}
