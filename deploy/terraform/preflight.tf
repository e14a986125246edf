# {"action":"preflight"} after each apply that changes a function (its code or its settings): the
# template starts it from its own stack's "CloudFormation Stack Status Change" event, which a
# Terraform deploy has no stack to send. Read-only; the answer is each function's report (and the
# PreflightFailed metric on the dashboard): docs/deploy.md, "Verify". Terraform waits for each
# answer (a synchronous invocation); preflight_after_apply = false leaves them out.
variable "preflight_after_apply" {
  type        = bool
  default     = true
  description = "Run each function's {\"action\":\"preflight\"} after an apply that changes it (docs/deploy.md, Verify)."
}

locals {
  preflight_functions = {
    profile_scan      = aws_lambda_function.profile_scan_function
    account_discovery = aws_lambda_function.account_discovery_function
    arc_provisioner   = aws_lambda_function.arc_provisioner_function
  }
}

resource "aws_lambda_invocation" "profile_scan_preflight" {
  count         = var.preflight_after_apply ? 1 : 0
  function_name = local.preflight_functions.profile_scan.function_name
  input         = jsonencode({ action = "preflight" })
  # After the role's policy (the checks' reads are in it), and again when it changes.
  triggers   = { function = sha256(jsonencode([local.preflight_functions.profile_scan.source_code_hash, local.preflight_functions.profile_scan.environment, aws_iam_role_policy.profile_scan_role_profile_scan.policy])) }
  depends_on = [aws_iam_role_policy.profile_scan_role_profile_scan]
}

resource "aws_lambda_invocation" "account_discovery_preflight" {
  count         = var.preflight_after_apply ? 1 : 0
  function_name = local.preflight_functions.account_discovery.function_name
  input         = jsonencode({ action = "preflight" })
  # After the role's policy (the checks' reads are in it), and again when it changes.
  triggers   = { function = sha256(jsonencode([local.preflight_functions.account_discovery.source_code_hash, local.preflight_functions.account_discovery.environment, aws_iam_role_policy.account_discovery_role_account_discovery.policy])) }
  depends_on = [aws_iam_role_policy.account_discovery_role_account_discovery]
}

resource "aws_lambda_invocation" "arc_provisioner_preflight" {
  count         = var.preflight_after_apply ? 1 : 0
  function_name = local.preflight_functions.arc_provisioner.function_name
  input         = jsonencode({ action = "preflight" })
  # After the role's policy (the checks' reads are in it), and again when it changes.
  triggers   = { function = sha256(jsonencode([local.preflight_functions.arc_provisioner.source_code_hash, local.preflight_functions.arc_provisioner.environment, aws_iam_role_policy.arc_provisioner_role_arc_provisioner.policy])) }
  depends_on = [aws_iam_role_policy.arc_provisioner_role_arc_provisioner]
}
