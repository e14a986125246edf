# {"action":"preflight"} after each apply that changes a function (its code, its settings or its
# role's policy, whose reads the checks need): the template starts it from its own stack's
# "CloudFormation Stack Status Change" event, which a Terraform deploy has no stack to send.
# Read-only; the answer is each function's report (and the PreflightFailed metric on the
# dashboard): docs/deploy.md, "Verify". Terraform waits for each answer (a synchronous
# invocation); preflight_after_apply = false leaves them out.
variable "preflight_after_apply" {
  type        = bool
  default     = true
  description = "Run each function's {\"action\":\"preflight\"} after an apply that changes it (docs/deploy.md, Verify)."
}

locals {
  preflight = {
    profile_scan      = { function = aws_lambda_function.profile_scan_function, policy = aws_iam_role_policy.profile_scan_role_profile_scan.policy }
    account_discovery = { function = aws_lambda_function.account_discovery_function, policy = aws_iam_role_policy.account_discovery_role_account_discovery.policy }
    arc_provisioner   = { function = aws_lambda_function.arc_provisioner_function, policy = aws_iam_role_policy.arc_provisioner_role_arc_provisioner.policy }
  }
}

resource "aws_lambda_invocation" "preflight" {
  for_each      = var.preflight_after_apply ? local.preflight : {}
  function_name = each.value.function.function_name
  input         = jsonencode({ action = "preflight" })
  triggers      = { function = sha256(jsonencode([each.value.function.source_code_hash, each.value.function.environment, each.value.policy])) }
  depends_on = [
    aws_iam_role_policy.profile_scan_role_profile_scan,
    aws_iam_role_policy.account_discovery_role_account_discovery,
    aws_iam_role_policy.arc_provisioner_role_arc_provisioner,
  ]
}
