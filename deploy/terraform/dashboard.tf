# The coverage dashboard: the connector's own metrics (namespace mdc-connector, dimension Job) and
# the dead-letter queues. The estate widgets read the totals arc-provisioner emits on every
# invocation that ran provisioning units (not per-invocation counts), with coverage % as metric math.
resource "aws_cloudwatch_dashboard" "coverage_dashboard" {
  dashboard_name = "mdc-connector-coverage"
  dashboard_body = jsonencode({
    "widgets" = [
      {
        "type"   = "metric"
        "x"      = 0
        "y"      = 0
        "width"  = 12
        "height" = 6
        "properties" = {
          "title"  = "Estate coverage (all accounts and regions, as of the latest arc-provisioner run)"
          "region" = local.region
          "stat"   = "Maximum"
          "period" = 3600
          "view"   = "timeSeries"
          "metrics" = [
            ["mdc-connector", "EstateInstances", "Job", "arc-provisioner", { "id" = "instances" }],
            [".", "EstateManaged", ".", ".", { "id" = "managed" }],
            [".", "EstateConnected", ".", ".", { "id" = "connected" }],
            [{ "expression" = "100*connected/instances", "label" = "coverage %", "id" = "coverage", "yAxis" = "right" }],
          ]
        }
      },
      {
        "type"   = "metric"
        "x"      = 12
        "y"      = 0
        "width"  = 12
        "height" = 6
        "properties" = {
          "title"  = "Not covered, by cause"
          "region" = local.region
          "stat"   = "Maximum"
          "period" = 3600
          "view"   = "timeSeries"
          "metrics" = [
            ["mdc-connector", "EstateNotManaged", "Job", "arc-provisioner"],
            [".", "EstateDisconnected", ".", "."],
            [".", "EstateNeedsAttention", ".", "."],
            [".", "EstateFailing", ".", "."],
          ]
        }
      },
      {
        "type"   = "metric"
        "x"      = 0
        "y"      = 6
        "width"  = 12
        "height" = 6
        "properties" = {
          "title"  = "Failures per run"
          "region" = local.region
          "stat"   = "Sum"
          "period" = 3600
          "metrics" = [
            ["mdc-connector", "Failed", "Job", "profile-scan"],
            ["...", "account-discovery"],
            ["...", "arc-provisioner"],
            [".", "FailedWorkUnits", "Job", "profile-scan"],
            ["...", "account-discovery"],
            ["...", "arc-provisioner"],
          ]
        }
      },
      {
        "type"   = "metric"
        "x"      = 12
        "y"      = 6
        "width"  = 12
        "height" = 6
        "properties" = {
          "title"  = "Azure side: machines deleted and repaired per run"
          "region" = local.region
          "stat"   = "Sum"
          "period" = 86400
          "metrics" = [
            ["mdc-connector", "ArcMachinesDeleted", "Job", "arc-provisioner"],
            [".", "ArcMachinesRepaired", ".", "."],
          ]
        }
      },
      {
        "type"   = "metric"
        "x"      = 0
        "y"      = 12
        "width"  = 12
        "height" = 6
        "properties" = {
          "title"  = "Changes made"
          "region" = local.region
          "stat"   = "Sum"
          "period" = 86400
          "metrics" = [
            ["mdc-connector", "Done", "Job", "profile-scan"],
            ["...", "account-discovery"],
            ["...", "arc-provisioner"],
          ]
        }
      },
      {
        "type"   = "metric"
        "x"      = 12
        "y"      = 12
        "width"  = 12
        "height" = 6
        "properties" = {
          "title"  = "Dead letters (undelivered events and invocations)"
          "region" = local.region
          "stat"   = "Maximum"
          "period" = 300
          "metrics" = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.profile_scan_dead_letters.name],
            ["...", aws_sqs_queue.account_discovery_dead_letters.name],
            ["...", aws_sqs_queue.arc_provisioner_dead_letters.name],
          ]
        }
      },
      {
        "type"   = "metric"
        "x"      = 0
        "y"      = 18
        "width"  = 12
        "height" = 6
        "properties" = {
          "title"  = "Preflight: checks not ok (after each deploy; docs/deploy.md, Verify)"
          "region" = local.region
          "stat"   = "Maximum"
          "period" = 86400
          "metrics" = [
            ["mdc-connector", "PreflightFailed", "Job", "profile-scan"],
            ["...", "account-discovery"],
            ["...", "arc-provisioner"],
          ]
        }
      },
    ]
  })
}
