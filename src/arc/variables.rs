//! The variables arc-provisioner reads, declared once: the reader (`super::settings`), the
//! generated `docs/configuration.md` and the template checks all use these declarations.

use crate::config::{FLEET_VARIABLES, Variable, join};

/// `ARC_MEMBER_ROLE`.
pub(crate) const MEMBER_ROLE: Variable = Variable {
    name: "ARC_MEMBER_ROLE",
    meaning: "role arc-provisioner assumes in member accounts (may send only the connector's documents)",
    default: "`MdcConnectorProvisioningRole`",
    accepted: "a role name or `path/name`",
    example: "team/ProvisioningRole",
    refused: &["bad role", "a;b"],
};
/// `ARC_TENANT_ID`.
pub(crate) const TENANT_ID: Variable = Variable {
    name: "ARC_TENANT_ID",
    meaning: "Azure tenant",
    default: "**required**",
    accepted: "a GUID",
    example: "11111111-2222-3333-4444-555555555555",
    refused: &["not-a-guid", "$(reboot)"],
};
/// `ARC_SUBSCRIPTION_ID`.
pub(crate) const SUBSCRIPTION_ID: Variable = Variable {
    name: "ARC_SUBSCRIPTION_ID",
    meaning: "Azure subscription",
    default: "**required**",
    accepted: "a GUID",
    example: "aaaaaaaa-2222-3333-4444-555555555555",
    refused: &["aaaaaaaa-2222-3333-4444", "`id`"],
};
/// `ARC_RESOURCE_GROUP`.
pub(crate) const RESOURCE_GROUP: Variable = Variable {
    name: "ARC_RESOURCE_GROUP",
    meaning: "Azure resource group of the Arc machines; with `{accountId}` in it, one group per AWS account (as Microsoft's Azure Arc multicloud connector lays them out, `aws_{accountId}`): each account's machines in its own group, whose rights are checked on their own",
    default: "**required**",
    accepted: "1-90 letters, digits, `. _ ( ) -`, with `{accountId}` at most once (counted as 12 characters)",
    example: "rg-(prod).arc",
    refused: &["a;b", "a b"],
};
/// `ARC_LOCATION`.
pub(crate) const LOCATION: Variable = Variable {
    name: "ARC_LOCATION",
    meaning: "Azure region",
    default: "**required**",
    accepted: "1-40 lowercase letters and digits (`westeurope`)",
    example: "westeurope",
    refused: &["West Europe", "a;b"],
};
/// `ARC_CLOUD`.
pub(crate) const CLOUD: Variable = Variable {
    name: "ARC_CLOUD",
    meaning: "Azure cloud",
    default: "`AzureCloud`",
    accepted: "`AzureCloud`, `AzureUSGovernment`, `AzureChinaCloud`",
    example: "AzureUSGovernment",
    refused: &["AzureMoon"],
};
/// `ARC_CONNECTOR_ID`.
pub(crate) const CONNECTOR_ID: Variable = Variable {
    name: "ARC_CONNECTOR_ID",
    meaning: "value of the `MDFCSecurityConnector` tag",
    default: "**required**",
    accepted: "a letter or digit, then up to 89 letters, digits, `. _ -`",
    example: "mdc-connector-1",
    refused: &["-leading", "a b"],
};
/// `ARC_SERVICE_PRINCIPAL_ID`.
pub(crate) const SERVICE_PRINCIPAL_ID: Variable = Variable {
    name: "ARC_SERVICE_PRINCIPAL_ID",
    meaning: "application (client) id of the onboarding service principal",
    default: "**required**",
    accepted: "a GUID (the application id)",
    example: "bbbbbbbb-2222-3333-4444-555555555555",
    refused: &["client"],
};
/// `ARC_SWEEP_SERVICE_PRINCIPAL_ID`.
pub(crate) const SWEEP_SERVICE_PRINCIPAL_ID: Variable = Variable {
    name: "ARC_SWEEP_SERVICE_PRINCIPAL_ID",
    meaning: "application (client) id the sweep signs in as (read and delete of Arc machines), never the onboarding application, whose tokens instances receive and which may hold onboarding rights only. Secretless sign-in only (it trusts the same AWS identity token); without it, or with `ARC_CREDENTIAL_PARAMETER`, the sweep reports itself off",
    default: "none: the sweep is off",
    accepted: "a GUID (the application id)",
    example: "cccccccc-2222-3333-4444-555555555555",
    refused: &["sweeper"],
};
/// `ARC_CREDENTIAL_PARAMETER`.
pub(crate) const CREDENTIAL_PARAMETER: Variable = Variable {
    name: "ARC_CREDENTIAL_PARAMETER",
    meaning: "opt-in fallback: SecureString (function's account and region, under the key the template creates) holding the onboarding application's client secret; only the name is configuration. Unset, no secret exists: the function signs in to Microsoft Entra with an AWS identity token (outbound identity federation, `sts:GetWebIdentityToken`) that the application trusts through a federated identity credential",
    default: "unset (secretless; required with `ARC_CREDENTIAL_MODE=service-principal-secret`)",
    accepted: "an SSM parameter name",
    example: "/mdc-connector/arc/service-principal-secret",
    refused: &["a b", "a;b"],
};
/// `ARC_CREDENTIAL_MODE`.
pub(crate) const CREDENTIAL_MODE: Variable = Variable {
    name: "ARC_CREDENTIAL_MODE",
    meaning: "what member accounts receive: `access-token`, a Microsoft Entra access token for Azure Resource Manager that the function obtains once per invocation (client credentials, with an AWS identity token or the client secret; no secret ever leaves the function's account), or `service-principal-secret`, the secret of `ARC_CREDENTIAL_PARAMETER` itself (opt-in, for agents that cannot take a token; forced moves are then never made, as the connector tag cannot be checked)",
    default: "`access-token`",
    accepted: "`access-token` or `service-principal-secret`",
    example: "service-principal-secret",
    refused: &["secret"],
};
/// `ARC_AUTHORITY_HOST`.
pub(crate) const AUTHORITY_HOST: Variable = Variable {
    name: "ARC_AUTHORITY_HOST",
    meaning: "Microsoft Entra authority tokens are asked from",
    default: "the one of `ARC_CLOUD` (`https://login.microsoftonline.com`, `.us`, `login.chinacloudapi.cn`)",
    accepted: "`https://host[:port]`, no path (TLS only)",
    example: "https://login.microsoftonline.us",
    refused: &["http://login.microsoftonline.com", "https://host/path"],
};
/// `ARC_RESOURCE_MANAGER_HOST`.
pub(crate) const RESOURCE_MANAGER_HOST: Variable = Variable {
    name: "ARC_RESOURCE_MANAGER_HOST",
    meaning: "Azure Resource Manager endpoint where each run checks what the onboarding token may do in the resource group before sending it, and the sweep lists and deletes Arc machines",
    default: "the one of `ARC_CLOUD` (`https://management.azure.com`, `management.usgovcloudapi.net`, `management.chinacloudapi.cn`)",
    accepted: "`https://host[:port]`, no path (TLS only)",
    example: "https://management.usgovcloudapi.net",
    refused: &["http://management.azure.com", "https://host/path"],
};
/// `ARC_SWEEP_GRACE_DAYS`.
pub(crate) const SWEEP_GRACE_DAYS: Variable = Variable {
    name: "ARC_SWEEP_GRACE_DAYS",
    meaning: "days an Arc machine of an instance that no longer exists is kept after its agent stopped reporting, before the sweep deletes it (0: at once, also on the instance's termination event)",
    default: "`7` (as the reference product)",
    accepted: "a whole number of days from 0 to 365",
    example: "14",
    refused: &["-1", "366", "7d"],
};
/// `ARC_LINUX_DOCUMENT`.
pub(crate) const LINUX_DOCUMENT: Variable = Variable {
    name: "ARC_LINUX_DOCUMENT",
    meaning: "the connector's SSM document for Linux",
    default: "`MdcConnector-ArcOnboard-Linux`",
    accepted: "3-128 letters, digits, `_ - .`",
    example: "MdcConnector-ArcOnboard-Linux",
    refused: &["ab", "a b"],
};
/// `ARC_WINDOWS_DOCUMENT`.
pub(crate) const WINDOWS_DOCUMENT: Variable = Variable {
    name: "ARC_WINDOWS_DOCUMENT",
    meaning: "the connector's SSM document for Windows",
    default: "`MdcConnector-ArcOnboard-Windows`",
    accepted: "3-128 letters, digits, `_ - .`",
    example: "MdcConnector-ArcOnboard-Windows",
    refused: &["ab", "a;b"],
};
/// `ARC_PROXY_URL`.
pub(crate) const PROXY_URL: Variable = Variable {
    name: "ARC_PROXY_URL",
    meaning: "proxy for the agent",
    default: "none",
    accepted: "`http(s)://host[:port]`, no credentials or path",
    example: "http://proxy.corp.example:3128",
    refused: &["ftp://x", "http://user:pw@proxy:8080"],
};
/// `ARC_PRIVATE_LINK_SCOPE`.
pub(crate) const PRIVATE_LINK_SCOPE: Variable = Variable {
    name: "ARC_PRIVATE_LINK_SCOPE",
    meaning: "Azure Arc private link scope",
    default: "none",
    accepted: "`/subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.HybridCompute/privateLinkScopes/<name>`",
    example: "/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.HybridCompute/privateLinkScopes/pls-1",
    refused: &["/subscriptions/x"],
};
/// `ARC_MAX_CONCURRENCY`.
pub(crate) const MAX_CONCURRENCY: Variable = Variable {
    name: "ARC_MAX_CONCURRENCY",
    meaning: "SendCommand `MaxConcurrency`",
    default: "`50`",
    accepted: "a number, or a percentage from 1% to 100%",
    example: "10%",
    refused: &["0%", "101%", "%", "ten"],
};
/// `ARC_MAX_ERRORS`.
pub(crate) const MAX_ERRORS: Variable = Variable {
    name: "ARC_MAX_ERRORS",
    meaning: "SendCommand `MaxErrors`",
    default: "`100%`",
    accepted: "a number, or a percentage from 1% to 100%",
    example: "5",
    refused: &["0%", "101%", "%"],
};

/// `ARC_MAX_DELIVERIES`.
pub(crate) const MAX_DELIVERIES: Variable = Variable {
    name: "ARC_MAX_DELIVERIES",
    meaning: "how many times in a row one instance is sent a sealed onboarding credential without a settled result, whatever each failure was; after that it is reported `needs-attention` with its last failure, and only a forced reprovision sends again",
    default: "`3`",
    accepted: "a whole number from 1 to 10",
    example: "5",
    refused: &["0", "11", "three"],
};

/// `ARC_INVENTORY_TABLE`.
pub(crate) const INVENTORY_TABLE: Variable = Variable {
    name: "ARC_INVENTORY_TABLE",
    meaning: "DynamoDB table (function's account and region, created by the template) holding the inventory of the Arc machines this connector onboarded: an instance counts as connected only when its entry matches a `Connected` machine in Azure, and the sweep deletes only machines it lists",
    default: "**required**",
    accepted: "a DynamoDB table name: 3-255 letters, digits, `_ - .`",
    example: "mdc-connector-ArcInventoryTable-1A2B3C",
    refused: &["ab", "a b", "a;b"],
};

/// Every variable arc-provisioner reads.
pub const VARIABLES: [Variable; 30] = join(
    FLEET_VARIABLES,
    [
        MEMBER_ROLE,
        TENANT_ID,
        SUBSCRIPTION_ID,
        RESOURCE_GROUP,
        LOCATION,
        CLOUD,
        CONNECTOR_ID,
        SERVICE_PRINCIPAL_ID,
        SWEEP_SERVICE_PRINCIPAL_ID,
        CREDENTIAL_PARAMETER,
        CREDENTIAL_MODE,
        AUTHORITY_HOST,
        RESOURCE_MANAGER_HOST,
        SWEEP_GRACE_DAYS,
        LINUX_DOCUMENT,
        WINDOWS_DOCUMENT,
        PROXY_URL,
        PRIVATE_LINK_SCOPE,
        MAX_CONCURRENCY,
        MAX_ERRORS,
        MAX_DELIVERIES,
        INVENTORY_TABLE,
    ],
);
