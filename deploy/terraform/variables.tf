# The parameters of cfn/template.yaml, one variable each: the name in snake_case, the same default,
# description and validation (AllowedPattern as regex, AllowedValues as contains, MinValue and
# MaxValue as bounds). tests/script/test_terraform_parity.py holds them equal to the template.
# Terraform's regex is RE2, which has no lookahead: OptOutTag's "^(?!aws:)" is the startswith test.

# ---------------------------------------------------------------- Scope

variable "organization_id" {
  type        = string
  description = "The organization; only its accounts may put events on the connector's bus."
  validation {
    condition     = can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "Invalid organization_id: it must be an organization id (o- and 10-32 lowercase letters or digits)."
  }
}

variable "connector_regions" {
  type        = string
  default     = ""
  description = "CONNECTOR_REGIONS: empty (the default) = StackSetRegions, the regions the member template (documents, forwarding rules) is deployed to; any other value must equal StackSetRegions."
  validation {
    condition     = can(regex("^([a-z]{2}(-[a-z]+)+-\\d)?(,[a-z]{2}(-[a-z]+)+-\\d)*$", var.connector_regions))
    error_message = "Invalid connector_regions: it must be comma-separated region names such as eu-west-1, or empty."
  }
}

variable "excluded_accounts" {
  type        = string
  default     = ""
  description = "CONNECTOR_EXCLUDED_ACCOUNTS (comma-separated account ids)."
  validation {
    condition     = can(regex("^(\\d{12})?(,\\d{12})*$", var.excluded_accounts))
    error_message = "Invalid excluded_accounts: it must be comma-separated 12-digit account ids, or empty."
  }
}

variable "scope_parameter_name" {
  type        = string
  default     = ""
  description = "CONNECTOR_SCOPE_PARAMETER: empty (the default) covers every account of the organization. Otherwise the name of a String parameter in this account and region holding the scope document (organizationalUnits and accounts to cover, an OU's accounts at any depth, and excludedAccounts; docs/operate.md#scope), which every function reads on every run; a parameter that cannot be read stops the run before any account is touched."
  # src/validate.rs is_parameter_name without a lookahead (RE2 has none): nothing under /aws or
  # /ssm, any case; at most 1001 characters (RE2 repeats at most 1000 times).
  validation {
    condition     = can(regex("^(/([B-RT-Zb-rt-z0-9_./-][A-Za-z0-9_./-]{0,999}|[Aa]([A-VX-Za-vx-z0-9_./-][A-Za-z0-9_./-]{0,998}|[Ww]([A-RT-Za-rt-z0-9_./-][A-Za-z0-9_./-]{0,997})?)?|[Ss]([A-RT-Za-rt-z0-9_./-][A-Za-z0-9_./-]{0,998}|[Ss]([A-LN-Za-ln-z0-9_./-][A-Za-z0-9_./-]{0,997})?)?))?$", var.scope_parameter_name))
    error_message = "Invalid scope_parameter_name: it must be empty, or an SSM parameter name starting with / (letters, digits, _ . - /), not under /aws or /ssm, at most 1001 characters."
  }
}

variable "member_role_name" {
  type        = string
  default     = "MdcConnectorMemberRole"
  description = "CONNECTOR_MEMBER_ROLE (profile-scan), created in each account by cfn/member.yaml."
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.member_role_name))
    error_message = "Invalid member_role_name: it must be an IAM name (letters, digits, + = , . @ _ -), at most 64."
  }
}

variable "provisioning_role_name" {
  type        = string
  default     = "MdcConnectorProvisioningRole"
  description = "ARC_MEMBER_ROLE (arc-provisioner), created in each account by cfn/member.yaml."
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.provisioning_role_name))
    error_message = "Invalid provisioning_role_name: it must be an IAM name (letters, digits, + = , . @ _ -), at most 64."
  }
}

variable "opt_in_tag" {
  type        = string
  default     = ""
  description = "CONNECTOR_OPT_IN_TAG: a pilot covers only instances carrying this tag key (docs/operate.md); empty (the default) covers every instance."
  validation {
    condition     = can(regex("^([A-Za-z0-9 _.:/=+@-]{1,128})?$", var.opt_in_tag)) && !startswith(var.opt_in_tag, "aws:")
    error_message = "Invalid opt_in_tag: it must be empty, or a tag key of 1-128 characters, not starting with aws:."
  }
}

variable "opt_out_tag" {
  type        = string
  default     = "mdc-connector:opt-out"
  description = "CONNECTOR_OPT_OUT_TAG."
  validation {
    condition     = can(regex("^[A-Za-z0-9 _.:/=+@-]{1,128}$", var.opt_out_tag)) && !startswith(var.opt_out_tag, "aws:")
    error_message = "Invalid opt_out_tag: it must be a tag key of 1-128 characters, not starting with aws:."
  }
}

variable "dry_run" {
  type        = string
  default     = "false"
  description = "CONNECTOR_DRY_RUN."
  validation {
    condition     = contains(["true", "false"], var.dry_run)
    error_message = "Invalid dry_run: it must be one of true, false."
  }
}

variable "concurrency" {
  type        = number
  default     = 8
  description = "CONNECTOR_CONCURRENCY (work units at once)."
  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 64
    error_message = "Invalid concurrency: it must be from 1 to 64."
  }
}

variable "reserved_concurrency" {
  type        = string
  default     = ""
  description = "Concurrency reserved for each of the three functions. Empty (the default): none reserved; each work queue's event source mapping bounds its function's queue-driven invocations (ScalingConfig MaximumConcurrency), which needs no reservation, and the event and schedule invocations share the account's unreserved pool. A number N reserves N for EACH function, so the account needs an unreserved concurrency of at least 3 x N + 100: \"You can reserve concurrency for as many functions as you like, as long as you leave at least 100 simultaneous executions unreserved for functions that aren't configured with a per-function limit\" (Lambda API reference, PutFunctionConcurrency), and \"New AWS accounts have reduced concurrency and memory quotas\" (Lambda quotas), so a reservation fails in a young account (often a new delegated administrator)."
  validation {
    condition     = can(regex("^([89]|[1-9][0-9]{1,3})?$", var.reserved_concurrency))
    error_message = "Invalid reserved_concurrency: it must be empty, or a whole number from 8 (the largest work-queue MaximumConcurrency) to 9999."
  }
}

# ---------------------------------------------------------------- Instance profiles (profile-scan)

variable "instance_profile_name" {
  type        = string
  default     = "MdcConnectorInstanceProfile"
  description = "INSTANCE_PROFILE_NAME, created in each account by cfn/member.yaml."
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,128}$", var.instance_profile_name))
    error_message = "Invalid instance_profile_name: it must be an instance profile name (letters, digits, + = , . @ _ -), no path."
  }
}

variable "instance_role_name" {
  type        = string
  default     = "MdcConnectorInstanceRole"
  description = "Role of INSTANCE_PROFILE_NAME (profile-scan passes it to EC2 in this account)."
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.instance_role_name))
    error_message = "Invalid instance_role_name: it must be an IAM name (letters, digits, + = , . @ _ -), at most 64."
  }
}

variable "attach_policy_to_existing_roles" {
  type        = string
  default     = "true"
  description = "ATTACH_POLICY_TO_EXISTING_ROLES."
  validation {
    condition     = contains(["true", "false"], var.attach_policy_to_existing_roles)
    error_message = "Invalid attach_policy_to_existing_roles: it must be one of true, false."
  }
}

variable "ssm_reach" {
  type        = string
  default     = "profiles"
  description = "SSM_REACH: how Systems Manager reaches instances. profiles (the default) = the connector's instance profile on every instance without one; dhmc = Default Host Management Configuration turned on per account and Region where it is off, no instance written (an instance it cannot serve is reported with the fix); both = DHMC, and the profile only for instances DHMC cannot serve (docs/profile-scan.md#reach)."
  validation {
    condition     = contains(["profiles", "dhmc", "both"], var.ssm_reach)
    error_message = "Invalid ssm_reach: it must be one of profiles, dhmc, both."
  }
}

variable "dhmc_role_name" {
  type        = string
  default     = "MdcConnectorDhmcRole"
  description = "DHMC_ROLE_NAME: the role the member template creates for Default Host Management Configuration, registered where DHMC is off."
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.dhmc_role_name))
    error_message = "Invalid dhmc_role_name: it must be an IAM name (letters, digits, + = , . @ _ -), at most 64."
  }
}

variable "instance_policy" {
  type        = string
  default     = "narrow"
  description = "INSTANCE_POLICY: what profile-scan attaches to customers' roles that lack it. narrow (the default) = AmazonSSMManagedEC2InstanceDefaultPolicy alone (Systems Manager without Parameter Store reads: the onboarding credential reaches instances sealed in the command, so they read no parameter); core = AmazonSSMManagedInstanceCore, as the reference product asks (it also lets every process on the instance read every Parameter Store parameter of its account). The connector's own instance role always has the narrow policy."
  validation {
    condition     = contains(["core", "narrow"], var.instance_policy)
    error_message = "Invalid instance_policy: it must be one of core, narrow."
  }
}

variable "ec2_write_rate" {
  type        = number
  default     = 5
  description = "EC2_WRITE_RATE (associations per second per account and region after EC2's burst)."
  validation {
    condition     = var.ec2_write_rate >= 0 && var.ec2_write_rate <= 1000
    error_message = "Invalid ec2_write_rate: it must be a number of associations per second from 0 (unpaced) to 1000."
  }
}

variable "profile_scan_hand_off_delay" {
  type        = number
  default     = 120
  description = "PROFILE_SCAN_DELAY_SECONDS: how long account-discovery's hand-offs of a newly onboarded account to profile-scan and arc-provisioner wait for IAM to propagate the roles its stack instance just created."
  validation {
    condition     = var.profile_scan_hand_off_delay >= 0 && var.profile_scan_hand_off_delay <= 900
    error_message = "Invalid profile_scan_hand_off_delay: it must be seconds from 0 to 900 (SQS's longest delay)."
  }
}

variable "profile_scan_schedule" {
  type        = string
  default     = "rate(30 days)"
  description = "an EventBridge schedule expression, rate(...) or cron(...)"
  validation {
    condition     = can(regex("^(rate|cron)\\([A-Za-z0-9 ,*?/#L W-]+\\)$", var.profile_scan_schedule))
    error_message = "Invalid profile_scan_schedule: it must be an EventBridge schedule expression, rate(...) or cron(...)."
  }
}

# ---------------------------------------------------------------- Onboarding StackSet (account-discovery)

variable "stack_set_name" {
  type        = string
  default     = "mdc-connector-members"
  description = "STACKSET_NAME, the onboarding StackSet of cfn/member.yaml."
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,53}$", var.stack_set_name))
    error_message = "Invalid stack_set_name: it must be a StackSet name (a letter, then letters, digits and hyphens), at most 54 characters."
  }
}

variable "stack_set_regions" {
  type        = string
  default     = "us-east-1"
  description = "STACKSET_REGIONS."
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-\\d(,[a-z]{2}(-[a-z]+)+-\\d)*$", var.stack_set_regions))
    error_message = "Invalid stack_set_regions: it must be comma-separated region names such as eu-west-1."
  }
}

variable "member_rollout_wave_percent" {
  type        = number
  default     = 10
  description = "Member-template changes reach at most this percentage of the accounts of a Region at once (the member StackSet's MaxConcurrentPercentage; docs/operate.md#member-template-rollouts)."
  validation {
    condition     = var.member_rollout_wave_percent >= 1 && var.member_rollout_wave_percent <= 100
    error_message = "Invalid member_rollout_wave_percent: it must be from 1 to 100 (percent of the accounts of a Region)."
  }
}

variable "member_rollout_failure_tolerance" {
  type        = number
  default     = 0
  description = "Accounts per Region whose member-template change may fail before CloudFormation stops the change in that Region (FailureToleranceCount); raise it to the number of accounts that always fail, if any."
  validation {
    condition     = var.member_rollout_failure_tolerance >= 0
    error_message = "Invalid member_rollout_failure_tolerance: it must be from 0 up (a number of accounts per Region)."
  }
}

variable "stack_set_retry_failed" {
  type    = string
  default = "false"
  validation {
    condition     = contains(["true", "false"], var.stack_set_retry_failed)
    error_message = "Invalid stack_set_retry_failed: it must be one of true, false."
  }
}

variable "stack_set_remove_departed" {
  type    = string
  default = "false"
  validation {
    condition     = contains(["true", "false"], var.stack_set_remove_departed)
    error_message = "Invalid stack_set_remove_departed: it must be one of true, false."
  }
}

variable "stack_set_call_as" {
  type    = string
  default = "SELF"
  validation {
    condition     = contains(["SELF", "DELEGATED_ADMIN"], var.stack_set_call_as)
    error_message = "Invalid stack_set_call_as: it must be one of SELF, DELEGATED_ADMIN."
  }
}

variable "stack_set_permission_model" {
  type        = string
  default     = "SERVICE_MANAGED"
  description = "The member StackSet's permission model. SERVICE_MANAGED needs trusted access for StackSets (aws cloudformation activate-organizations-access) before the deploy, or CloudFormation refuses the StackSet and the whole deploy rolls back; SELF_MANAGED needs the AWSCloudFormationStackSetAdministrationRole here and AWSCloudFormationStackSetExecutionRole in every member."
  validation {
    condition     = contains(["SERVICE_MANAGED", "SELF_MANAGED"], var.stack_set_permission_model)
    error_message = "Invalid stack_set_permission_model: it must be one of SERVICE_MANAGED, SELF_MANAGED."
  }
}

# ---------------------------------------------------------------- Member template (cfn/member.yaml, deployed by the StackSets)

variable "global_resources_region" {
  type        = string
  default     = "us-east-1"
  description = "The member template's IAM roles and instance profile are created in this region only (one of StackSetRegions)."
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-\\d$", var.global_resources_region))
    error_message = "Invalid global_resources_region: it must be a region name such as us-east-1."
  }
}

variable "oidc_issuer_host_path" {
  type        = string
  default     = ""
  description = "The security service's OIDC issuer (posture role); empty for no posture role."
  validation {
    condition     = can(regex("^([a-z0-9.-]+(/[A-Za-z0-9._-]+)*/?)?$", var.oidc_issuer_host_path))
    error_message = "Invalid oidc_issuer_host_path: it must be an OIDC issuer host[/path] without https://, or empty."
  }
}

variable "oidc_audience" {
  type        = string
  default     = ""
  description = "letters, digits and : / . _ -, or empty"
  validation {
    condition     = can(regex("^[A-Za-z0-9:/._-]*$", var.oidc_audience))
    error_message = "Invalid oidc_audience: it must be letters, digits and : / . _ -, or empty."
  }
}

variable "oidc_subject" {
  type        = string
  default     = ""
  description = "letters, digits and : / . _ -, or empty"
  validation {
    condition     = can(regex("^[A-Za-z0-9:/._-]*$", var.oidc_subject))
    error_message = "Invalid oidc_subject: it must be letters, digits and : / . _ -, or empty."
  }
}

variable "oidc_thumbprint" {
  type        = string
  default     = ""
  description = "a SHA-1 fingerprint (40 hexadecimal digits), or empty"
  validation {
    condition     = can(regex("^([0-9a-fA-F]{40})?$", var.oidc_thumbprint))
    error_message = "Invalid oidc_thumbprint: it must be a SHA-1 fingerprint (40 hexadecimal digits), or empty."
  }
}

variable "posture_role_name" {
  type        = string
  default     = "CspmMonitorAws"
  description = "an IAM role name (letters, digits, + = , . @ _ -), at most 64"
  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.posture_role_name))
    error_message = "Invalid posture_role_name: it must be an IAM role name (letters, digits, + = , . @ _ -), at most 64."
  }
}

variable "posture_access" {
  type    = string
  default = "least-privilege"
  validation {
    condition     = contains(["least-privilege", "read-only"], var.posture_access)
    error_message = "Invalid posture_access: it must be one of least-privilege, read-only."
  }
}

# ---------------------------------------------------------------- Onboarding StackSet (account-discovery)

variable "management_account_id" {
  type        = string
  default     = ""
  description = "The organization's management account, required with StackSetCallAs=DELEGATED_ADMIN: service-managed StackSets live there even when a delegated administrator created them, so the StackSet ARNs account-discovery may operate are that account's. Empty otherwise."
  validation {
    condition     = can(regex("^(\\d{12})?$", var.management_account_id))
    error_message = "Invalid management_account_id: it must be a 12-digit account id, or empty."
  }
}

variable "control_tower_home_region" {
  type        = string
  default     = ""
  description = "Home region of AWS Control Tower, if the organization uses it. Its lifecycle events (CreateManagedAccount, UpdateManagedAccount) are recorded there: when this stack is deployed in that region, a rule sends them to account-discovery; with StackSetCallAs=DELEGATED_ADMIN the management account forwards them (docs/events.md); otherwise the daily reconcile takes those accounts. Empty: no Control Tower rule."
  validation {
    condition     = can(regex("^([a-z]{2}(-[a-z]+)+-\\d)?$", var.control_tower_home_region))
    error_message = "Invalid control_tower_home_region: it must be a region name such as eu-west-1, or empty."
  }
}

variable "stack_set_activate_organizations_access" {
  type    = string
  default = "false"
  validation {
    condition     = contains(["true", "false"], var.stack_set_activate_organizations_access)
    error_message = "Invalid stack_set_activate_organizations_access: it must be one of true, false."
  }
}

variable "management_stack_name" {
  type        = string
  default     = "mdc-connector-member"
  description = "a stack name (a letter, then letters, digits and hyphens)"
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,127}$", var.management_stack_name))
    error_message = "Invalid management_stack_name: it must be a stack name (a letter, then letters, digits and hyphens)."
  }
}

variable "member_records_bus" {
  type        = string
  default     = ""
  description = "CONNECTOR_EVENT_BUS for member-connector records, a bus of this account and region (name); empty = none."
  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{0,256}$", var.member_records_bus))
    error_message = "Invalid member_records_bus: it must be an EventBridge bus name of this account and region, or empty."
  }
}

variable "reconcile_schedule" {
  type        = string
  default     = "rate(1 day)"
  description = "an EventBridge schedule expression, rate(...) or cron(...)"
  validation {
    condition     = can(regex("^(rate|cron)\\([A-Za-z0-9 ,*?/#L W-]+\\)$", var.reconcile_schedule))
    error_message = "Invalid reconcile_schedule: it must be an EventBridge schedule expression, rate(...) or cron(...)."
  }
}

# ---------------------------------------------------------------- Azure Arc (arc-provisioner)

variable "arc_tenant_id" {
  type        = string
  description = "a GUID"
  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", var.arc_tenant_id))
    error_message = "Invalid arc_tenant_id: it must be a GUID."
  }
}

variable "arc_subscription_id" {
  type        = string
  description = "a GUID"
  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", var.arc_subscription_id))
    error_message = "Invalid arc_subscription_id: it must be a GUID."
  }
}

variable "arc_resource_group" {
  type        = string
  description = "1-90 letters, digits, . _ ( ) -, with {accountId} at most once for a group per AWS account"
  validation {
    condition     = can(regex("^([A-Za-z0-9._()-]|\\{accountId\\}){1,90}$", var.arc_resource_group))
    error_message = "Invalid arc_resource_group: it must be 1-90 letters, digits, . _ ( ) -, with {accountId} at most once for a group per AWS account."
  }
}

variable "arc_location" {
  type        = string
  description = "an Azure region name such as westeurope"
  validation {
    condition     = can(regex("^[a-z0-9]{1,40}$", var.arc_location))
    error_message = "Invalid arc_location: it must be an Azure region name such as westeurope."
  }
}

variable "arc_cloud" {
  type    = string
  default = "AzureCloud"
  validation {
    condition     = contains(["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"], var.arc_cloud)
    error_message = "Invalid arc_cloud: it must be one of AzureCloud, AzureUSGovernment, AzureChinaCloud."
  }
}

variable "arc_connector_id" {
  type        = string
  description = "ARC_CONNECTOR_ID: a stable id naming this connector (say mdc-aws-connector), tagged on every Arc machine it onboards as MDFCSecurityConnector; a forced send moves an agent connected elsewhere only when its Arc machine carries it (docs/deploy.md#the-one-command). Never change it after the first deploy."
  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,89}$", var.arc_connector_id))
    error_message = "Invalid arc_connector_id: it must be a letter or digit, then up to 89 letters, digits, . _ -."
  }
}

variable "arc_proxy_url" {
  type        = string
  default     = ""
  description = "http(s)://host[:port] with no credentials or path, or empty"
  validation {
    condition     = can(regex("^(https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?/?)?$", var.arc_proxy_url))
    error_message = "Invalid arc_proxy_url: it must be http(s)://host[:port] with no credentials or path, or empty."
  }
}

variable "arc_authority_host" {
  type        = string
  default     = ""
  description = "ARC_AUTHORITY_HOST (Microsoft Entra authority; empty means the one of ArcCloud)."
  validation {
    condition     = can(regex("^(https://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?/?)?$", var.arc_authority_host))
    error_message = "Invalid arc_authority_host: it must be https://host[:port] with no path, or empty for the authority of ArcCloud."
  }
}

variable "arc_resource_manager_host" {
  type        = string
  default     = ""
  description = "ARC_RESOURCE_MANAGER_HOST (Azure Resource Manager where each run checks the onboarding token holds onboarding rights only, and the sweep lists and deletes Arc machines; empty means the one of ArcCloud)."
  validation {
    condition     = can(regex("^(https://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?/?)?$", var.arc_resource_manager_host))
    error_message = "Invalid arc_resource_manager_host: it must be https://host[:port] with no path, or empty for the Resource Manager of ArcCloud."
  }
}

variable "arc_sweep_grace_days" {
  type        = string
  default     = "7"
  description = "ARC_SWEEP_GRACE_DAYS (days an Arc machine of an instance that no longer exists is kept after its agent stopped reporting; 0 deletes at once, also on the termination event)."
  validation {
    condition     = can(regex("^([0-9]|[1-9][0-9]|[12][0-9][0-9]|3[0-5][0-9]|36[0-5])$", var.arc_sweep_grace_days))
    error_message = "Invalid arc_sweep_grace_days: it must be a whole number of days from 0 to 365."
  }
}

variable "arc_sweep_schedule" {
  type        = string
  default     = "rate(1 day)"
  description = "When arc-provisioner sweeps the Azure side (Arc machines of instances that are gone, disconnected agents)."
  validation {
    condition     = can(regex("^(rate|cron)\\([A-Za-z0-9 ,*?/#L W-]+\\)$", var.arc_sweep_schedule))
    error_message = "Invalid arc_sweep_schedule: it must be an EventBridge schedule expression, rate(...) or cron(...)."
  }
}

variable "arc_private_link_scope" {
  type        = string
  default     = ""
  description = "an Azure Arc private link scope resource id, or empty"
  validation {
    condition     = can(regex("^(/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[A-Za-z0-9._()-]{1,90}/providers/Microsoft\\.HybridCompute/privateLinkScopes/[A-Za-z0-9._-]{1,64})?$", var.arc_private_link_scope))
    error_message = "Invalid arc_private_link_scope: it must be an Azure Arc private link scope resource id, or empty."
  }
}

variable "arc_service_principal_id" {
  type        = string
  description = "a GUID (the application id)"
  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", var.arc_service_principal_id))
    error_message = "Invalid arc_service_principal_id: it must be a GUID (the application id)."
  }
}

variable "arc_sweep_service_principal_id" {
  type        = string
  default     = ""
  description = "ARC_SWEEP_SERVICE_PRINCIPAL_ID (the application the daily sweep signs in as, holding read and delete of Arc machines, never the onboarding application, which may hold onboarding rights only; secretless sign-in only; empty, or with ArcCredentialParameter, the sweep reports itself off)."
  validation {
    condition     = can(regex("^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$", var.arc_sweep_service_principal_id))
    error_message = "Invalid arc_sweep_service_principal_id: it must be a GUID (the application id), or empty: the sweep is off."
  }
}

variable "arc_credential_parameter" {
  type        = string
  default     = ""
  description = "Empty (the default): no secret exists; arc-provisioner signs in to Microsoft Entra with an AWS identity token (outbound identity federation, docs/deploy.md). Opt-in fallback: a SecureString in this account and region, encrypted with the ArcSecretKey this stack creates, holding the application's client secret."
  validation {
    condition     = can(regex("^(/[A-Za-z0-9_./-]{1,1000})?$", var.arc_credential_parameter))
    error_message = "Invalid arc_credential_parameter: it must be an SSM parameter name starting with /, or empty (secretless: no secret anywhere)."
  }
}

variable "arc_secret_writer_role_name" {
  type        = string
  default     = ""
  description = "With ArcCredentialParameter: the role (of this account) that may encrypt the client secret into the parameter with ArcSecretKey; no one else can, and only arc-provisioner can decrypt."
  validation {
    condition     = can(regex("^([A-Za-z0-9+=,.@_-]{1,64})?$", var.arc_secret_writer_role_name))
    error_message = "Invalid arc_secret_writer_role_name: it must be an IAM role name of this account, or empty."
  }
}

variable "arc_credential_mode" {
  type        = string
  default     = "access-token"
  description = "What member accounts receive: a Microsoft Entra access token obtained per run (about an hour of life; the secret stays in this account), or the service principal's secret (opt-in)."
  validation {
    condition     = contains(["access-token", "service-principal-secret"], var.arc_credential_mode)
    error_message = "Invalid arc_credential_mode: it must be one of access-token, service-principal-secret."
  }
}

variable "arc_linux_document" {
  type        = string
  default     = "MdcConnector-ArcOnboard-Linux"
  description = "an SSM document name (letters, digits, _ . -), 3 to 128"
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,128}$", var.arc_linux_document))
    error_message = "Invalid arc_linux_document: it must be an SSM document name (letters, digits, _ . -), 3 to 128."
  }
}

variable "arc_windows_document" {
  type        = string
  default     = "MdcConnector-ArcOnboard-Windows"
  description = "an SSM document name (letters, digits, _ . -), 3 to 128"
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,128}$", var.arc_windows_document))
    error_message = "Invalid arc_windows_document: it must be an SSM document name (letters, digits, _ . -), 3 to 128."
  }
}

variable "arc_max_concurrency" {
  type        = string
  default     = "50"
  description = "a number, or a percentage from 1% to 100%"
  validation {
    condition     = can(regex("^([0-9]{1,7}|([1-9][0-9]?|100)%)$", var.arc_max_concurrency))
    error_message = "Invalid arc_max_concurrency: it must be a number, or a percentage from 1% to 100%."
  }
}

variable "arc_max_errors" {
  type        = string
  default     = "100%"
  description = "a number, or a percentage from 1% to 100%"
  validation {
    condition     = can(regex("^([0-9]{1,7}|([1-9][0-9]?|100)%)$", var.arc_max_errors))
    error_message = "Invalid arc_max_errors: it must be a number, or a percentage from 1% to 100%."
  }
}

variable "arc_max_deliveries" {
  type        = number
  default     = 3
  description = "How many times in a row one instance is sent a sealed onboarding credential without a settled result, whatever each failure; then it is reported needs-attention until a forced reprovision"
  validation {
    condition     = var.arc_max_deliveries >= 1 && var.arc_max_deliveries <= 10
    error_message = "Invalid arc_max_deliveries: it must be from 1 to 10."
  }
}

variable "provisioning_schedule" {
  type        = string
  default     = "rate(1 hour)"
  description = "an EventBridge schedule expression, rate(...) or cron(...)"
  validation {
    condition     = can(regex("^(rate|cron)\\([A-Za-z0-9 ,*?/#L W-]+\\)$", var.provisioning_schedule))
    error_message = "Invalid provisioning_schedule: it must be an EventBridge schedule expression, rate(...) or cron(...)."
  }
}

# ---------------------------------------------------------------- Connector bus, alarms and logs

variable "connector_bus_name" {
  type        = string
  default     = "mdc-connector"
  description = "Bus that member accounts forward EC2 launches and connector command results to."
  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,256}$", var.connector_bus_name))
    error_message = "Invalid connector_bus_name: it must be an EventBridge bus name (letters, digits, . _ -)."
  }
}

variable "alarm_topic_arn" {
  type        = string
  default     = ""
  description = "Topic every alarm notifies (docs/deploy.md, Alarms). Empty (the default): the stack creates one, mdc-connector-alarms (output AlarmTopicArn); subscribe to it."
  validation {
    condition     = can(regex("^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\\d{12}:[A-Za-z0-9_-]{1,256})?$", var.alarm_topic_arn))
    error_message = "Invalid alarm_topic_arn: it must be an SNS topic ARN, or empty."
  }
}

variable "log_retention_days" {
  type    = number
  default = 90
  validation {
    condition     = contains([30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "Invalid log_retention_days: it must be one of 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

# ---------------------------------------------------------------- Terraform only

variable "package_dir" {
  type        = string
  description = "Directory holding <function>/bootstrap.zip for profile-scan, account-discovery and arc-provisioner (scripts/package-terraform prints it; cargo lambda build --release --arm64 --output-format zip)."
}

variable "template_bucket" {
  type        = string
  description = "An S3 bucket of this account and region the member template (cfn/member.yaml, over CloudFormation's 51,200-byte inline limit) is uploaded to, as sam deploy uploads it to its own bucket; the StackSets read it from there."
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.template_bucket))
    error_message = "Invalid template_bucket: it must be an S3 bucket name."
  }
}
