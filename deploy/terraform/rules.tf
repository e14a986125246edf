# The templates' Rules: CloudFormation refuses such a deploy before creating anything; here the
# plan fails before anything is applied. Terraform 1.5's validation blocks see one variable only,
# so each assertion is a precondition: "not RuleCondition, or Assert" (the parity test compares
# them), in the order of cfn/template.yaml, then cfn/onboarding.yaml.
resource "terraform_data" "rules" {
  lifecycle {
    # DelegatedAdminNamesTheManagementAccount
    precondition {
      condition     = var.stack_set_call_as != "DELEGATED_ADMIN" || var.management_account_id != ""
      error_message = "With stack_set_call_as=DELEGATED_ADMIN, give management_account_id (the StackSet lives in the management account)."
    }
    precondition {
      condition     = var.stack_set_call_as != "DELEGATED_ADMIN" || var.stack_set_activate_organizations_access == "false"
      error_message = "Only the management account can activate trusted access; leave stack_set_activate_organizations_access false with DELEGATED_ADMIN."
    }
    # FunctionsActWhereTheMemberTemplateIs
    precondition {
      condition     = var.connector_regions == "" || var.connector_regions == var.stack_set_regions
      error_message = "connector_regions must be empty (the functions then use stack_set_regions) or equal stack_set_regions; the member template's documents and forwarding rules exist only in stack_set_regions, so elsewhere arc-provisioner fails and no event arrives."
    }
    # SendingTheSecretNeedsOne
    precondition {
      condition     = var.arc_credential_mode != "service-principal-secret" || var.arc_credential_parameter != ""
      error_message = "With arc_credential_mode=service-principal-secret, give arc_credential_parameter (the client secret is sent from it, sealed to each instance)."
    }
    # cfn/onboarding.yaml GlobalResourcesRegionIsCovered
    precondition {
      condition     = contains(split(",", var.stack_set_regions), var.global_resources_region)
      error_message = "The global_resources_region must be one of stack_set_regions (the IAM roles are created there)."
    }
    # cfn/onboarding.yaml SelfManagedStackSetStaysInRegionsEnabledByDefault (why: its comment)
    precondition {
      condition     = var.stack_set_call_as != "SELF" || length(setsubtract(split(",", var.stack_set_regions), local.regions_enabled_by_default)) == 0
      error_message = "With stack_set_call_as=SELF, stack_set_regions may hold only Regions enabled by default: the management account's self-managed StackSet would need CloudFormation's regional service principal of an opt-in Region (cover such a Region with a plain stack of cfn/member.yaml)."
    }
  }
}
