# The template's pseudo parameters, Conditions and Mappings. Each condition is a local of the
# same name in snake_case with the same definition (tests/script/test_terraform_parity.py compares
# them), so a resource's `count` reads like the template's `Condition:`.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # Where Organizations (and so its CloudTrail events) lives: "specify the us-east-1 region for all
  # ... calls made from the commercial AWS Regions outside of China. If calling from one of the
  # AWS Regions in China, then specify cn-northwest-1" (Organizations API reference, "Endpoint to
  # call"); AWS GovCloud (US) serves Organizations from us-gov-west-1.
  in_organizations_home_region           = local.region == "us-east-1" || local.region == "cn-northwest-1" || local.region == "us-gov-west-1"
  in_control_tower_home_region           = local.region == var.control_tower_home_region
  calls_as_delegated_admin               = var.stack_set_call_as == "DELEGATED_ADMIN"
  management_account_given               = var.management_account_id != ""
  has_member_records_bus                 = var.member_records_bus != ""
  activates_organizations_access         = var.stack_set_activate_organizations_access == "true"
  has_alarm_topic                        = var.alarm_topic_arn != ""
  creates_alarm_topic                    = var.alarm_topic_arn == ""
  has_arc_secret                         = var.arc_credential_parameter != ""
  has_arc_secret_writer                  = local.has_arc_secret && var.arc_secret_writer_role_name != ""
  reserves_concurrency                   = var.reserved_concurrency != ""
  connector_regions_follow_the_stack_set = var.connector_regions == ""
  has_scope_parameter                    = var.scope_parameter_name != ""

  # cfn/onboarding.yaml's conditions, on the values cfn/template.yaml gives it.
  service_managed     = var.stack_set_permission_model == "SERVICE_MANAGED"
  covers_this_account = var.stack_set_call_as == "SELF"

  # The audience Microsoft Entra accepts in federated assertions ("should be set to
  # api://AzureADTokenExchange for Microsoft Entra ID", federatedIdentityCredential); the national
  # clouds' exchange audiences carry their suffix (the template's EntraTokenExchange mapping).
  entra_token_exchange = {
    AzureCloud        = { Audience = "api://AzureADTokenExchange" }
    AzureUSGovernment = { Audience = "api://AzureADTokenExchangeUSGov" }
    AzureChinaCloud   = { Audience = "api://AzureADTokenExchangeChina" }
  }

  # The AWS Management Console's host in each partition (the dashboard output's link; the region
  # goes in ?region=, which every partition's console reads): the template's ConsoleHost mapping.
  console_host = {
    aws          = { Host = "console.aws.amazon.com" }
    "aws-cn"     = { Host = "console.amazonaws.cn" }
    "aws-us-gov" = { Host = "console.amazonaws-us-gov.com" }
  }
}

# Every function role's trust policy: Lambda only.
data "aws_iam_policy_document" "lambda_assume_role" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}
