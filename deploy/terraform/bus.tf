# The connector bus: member accounts forward their EC2 launches and terminations, SSM command
# results and region opt-ins here (cfn/member.yaml); only the organization's accounts may put events.

resource "aws_cloudwatch_event_bus" "connector_bus" {
  name = var.connector_bus_name
}

resource "aws_cloudwatch_event_bus_policy" "connector_bus_policy" {
  event_bus_name = aws_cloudwatch_event_bus.connector_bus.name
  policy         = data.aws_iam_policy_document.connector_bus_policy.json
}

data "aws_iam_policy_document" "connector_bus_policy" {
  statement {
    sid       = "organization-members-only"
    effect    = "Allow"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.connector_bus.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalOrgID"
      values   = [var.organization_id]
    }
  }
}
