//! The onboarding credential a run hands to member accounts. By default it is a Microsoft Entra
//! access token the function obtains for the onboarding application (OAuth 2.0 client credentials,
//! through `azure_identity`) with no secret at all: its client assertion is an AWS identity token
//! (`super::federation`). With `ARC_CREDENTIAL_PARAMETER` set it signs in with the client secret
//! kept there instead, and the secret itself is sealed to instances only when
//! `ARC_CREDENTIAL_MODE=service-principal-secret`.
//!
//! `azcmagent connect` reference, "Access token": "Access tokens can also be used for
//! non-interactive authentication, but they're short-lived. Access tokens are typically used by
//! automation solutions operating on several servers over a short period of time." The scripts pass
//! it as `access-token` in the `--config` file ("a series of key-value pairs where the key matches
//! an available command line option"), never on the command line.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ssm::Client;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
use azure_identity::{
    ClientAssertionCredential, ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
};

use super::federation::{AwsAssertion, audience, identity_token};
pub(crate) use super::secret::Secret;
use super::target::{ArcTarget, CredentialMode};
use crate::error::Failure;
use crate::report::Cause;

/// A token with less life left than this is not worth staging: an instance could receive it
/// expired (Entra issues app tokens for 60 to 90 minutes, so a fresh one always has more).
const MIN_TOKEN_LIFE: Duration = Duration::from_secs(15 * 60);
/// A token claiming more life than this is refused: Microsoft Entra's longest-lived access tokens
/// (continuous access evaluation) last "up to 28 hours"; its default is 60 to 90 minutes, and a
/// configured lifetime at most a day ("Configurable token lifetimes"). More is not a token Entra
/// issued for this flow, and a longer-lived token would be a longer-lived key on the instances.
const MAX_TOKEN_LIFE: Duration = Duration::from_secs(28 * 3600);

/// What a run seals to each instance that needs it (the documents' `credentialType` says which
/// kind: `ARC_CREDENTIAL_MODE`).
#[derive(Clone, Debug)]
pub(crate) struct Credential {
    /// The value.
    pub value: Secret,
}

/// How the function proves to Microsoft Entra that it acts for the onboarding application.
enum SignIn {
    /// An AWS identity token as client assertion (workload identity federation): no secret; a
    /// fresh one for every later request.
    Federated(AwsAssertion),
    /// The application's client secret (`ARC_CREDENTIAL_PARAMETER`).
    ClientSecret(Secret),
}

/// The run's credential. Without `ARC_CREDENTIAL_PARAMETER` (the default) no secret is read
/// anywhere: an AWS identity token from `sts` is exchanged for an access token. With it, the
/// secret is read and exchanged, or itself sealed to instances when `ARC_CREDENTIAL_MODE` asks for it.
/// `application` is the onboarding application signed in as without a secret (an account may have
/// its own: `super::applications`); the secret belongs to `ARC_SERVICE_PRINCIPAL_ID`.
pub(crate) async fn obtain(
    ssm: &Client,
    sts: &aws_sdk_sts::Client,
    target: &ArcTarget,
    application: &str,
) -> Result<Obtained, Failure> {
    let Some(parameter) = &target.credential_parameter else {
        let audience = audience(&target.cloud);
        let assertion = AwsAssertion::new(identity_token(sts, audience).await?, sts.clone(), audience);
        let token = access_token(target, application, SignIn::Federated(assertion)).await?;
        return Ok(Obtained { token: token.value.clone(), credential: token });
    };
    let secret = read_secret(ssm, parameter).await?;
    // Signed in with the secret in either mode: the token is what Resource Manager is asked about.
    let token = access_token(target, &target.service_principal_id, SignIn::ClientSecret(secret.clone())).await?;
    let credential = match target.credential_mode {
        CredentialMode::ServicePrincipalSecret => Credential { value: secret },
        CredentialMode::AccessToken => token.clone(),
    };
    Ok(Obtained { credential, token: token.value })
}

/// What [`obtain`] gives: the credential instances receive, and an access token of the same
/// application (the credential itself, unless the secret is sent) whose rights are checked first.
#[derive(Clone)]
pub(crate) struct Obtained {
    /// What is sealed to each instance.
    pub credential: Credential,
    /// An access token for Resource Manager of the onboarding application.
    pub token: Secret,
}

/// Reads the onboarding secret from the management account's SecureString.
pub(crate) async fn read_secret(ssm: &Client, name: &str) -> Result<Secret, Failure> {
    let out = ssm.get_parameter().name(name).with_decryption(true).send().await.map_err(|e| {
        // Without the secret there is no sign-in: its code is the sign-in's (the text keeps AWS's answer).
        let unread = Failure::aws_with(
            format!("cannot read the onboarding secret {name} (ARC_CREDENTIAL_PARAMETER)"),
            &e,
            "create it as a SecureString in the function's region and allow ssm:GetParameter on it",
        );
        Failure::Caused(Cause::EntraSignInRefused, unread.to_string())
    })?;
    let value = out.parameter().and_then(|p| p.value());
    value.map(|v| Secret::new(v.to_string())).ok_or_else(|| Failure::Unexpected(format!("{name} has no value")))
}

/// Client credentials flow against the tenant's Entra authority for the cloud's Resource Manager.
async fn access_token(target: &ArcTarget, client: &str, sign_in: SignIn) -> Result<Credential, Failure> {
    let check = match &target.credential_parameter {
        Some(parameter) => format!("the secret in {parameter}"),
        None => "the application's federated identity credential (this account's issuer, the function role's ARN as subject; docs/deploy.md)".into(),
    };
    let refused = |detail: String| {
        Failure::Caused(
            Cause::EntraSignInRefused,
            format!(
                "cannot obtain a Microsoft Entra access token for the onboarding service principal {} in tenant {}: {detail}; check ARC_SERVICE_PRINCIPAL_ID, ARC_TENANT_ID and {check}",
                client, target.tenant_id
            ),
        )
    };
    let credential = token_credential(target, client, sign_in).map_err(|e| refused(e.to_string()))?;
    let token = credential.get_token(&[resource_manager_scope(&target.cloud)], None).await.map_err(|e| {
        // The error names the flow and Entra's answer (AADSTS code), never the secret.
        refused(e.to_string().lines().next().unwrap_or_default().to_string())
    })?;
    let expires_at = u64::try_from(token.expires_on.unix_timestamp())
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
        .map_err(|_| refused("the token's expiry is before 1970".into()))?;
    if expires_at < SystemTime::now() + MIN_TOKEN_LIFE {
        return Err(refused(format!("the token expires in less than {} minutes", MIN_TOKEN_LIFE.as_secs() / 60)));
    }
    if expires_at > SystemTime::now() + MAX_TOKEN_LIFE {
        let hours = MAX_TOKEN_LIFE.as_secs() / 3600;
        return Err(refused(format!("the token claims more than {hours} hours of life, longer than Entra issues")));
    }
    let value = Secret::new(token.token.secret().to_string());
    Ok(Credential { value })
}

/// Why the sweep is off, when it is: it signs in only as an application of its own
/// (`ARC_SWEEP_SERVICE_PRINCIPAL_ID`, secretless), never as the onboarding application, whose
/// tokens instances receive and which must hold onboarding rights only (`super::rights`).
pub(crate) fn sweep_off(target: &ArcTarget) -> Option<&'static str> {
    if target.credential_parameter.is_some() {
        return Some(
            "the sweep is off: with ARC_CREDENTIAL_PARAMETER the only secret is the onboarding application's, and the sweep never signs in as that application; sign in without a secret (the default) and set ARC_SWEEP_SERVICE_PRINCIPAL_ID",
        );
    }
    target.sweep_service_principal_id.is_none().then_some(
        "the sweep is off: set ARC_SWEEP_SERVICE_PRINCIPAL_ID to an application of its own with read and delete of Arc machines in the resource group (the onboarding application must hold onboarding rights only)",
    )
}

/// The sweep's credential as `azure_core` uses it (its Resource Manager pipeline): the application
/// `ARC_SWEEP_SERVICE_PRINCIPAL_ID`, federated; `None` when the sweep is off ([`sweep_off`]).
pub(crate) async fn resource_manager_credential(
    sts: &aws_sdk_sts::Client,
    target: &ArcTarget,
) -> Result<Option<Arc<dyn TokenCredential>>, Failure> {
    let (None, Some(sweeper)) = (sweep_off(target), target.sweep_service_principal_id.as_deref()) else {
        return Ok(None);
    };
    let audience = audience(&target.cloud);
    let assertion = AwsAssertion::new(identity_token(sts, audience).await?, sts.clone(), audience);
    let sign_in = SignIn::Federated(assertion);
    token_credential(target, sweeper, sign_in)
        .map(Some)
        .map_err(|e| Failure::Precondition(format!("cannot build the Microsoft Entra credential: {e}")))
}

/// The credential of application `client` for `sign_in` against the cloud's (or the configured)
/// authority.
fn token_credential(target: &ArcTarget, client: &str, sign_in: SignIn) -> azure_core::Result<Arc<dyn TokenCredential>> {
    let client_options = ClientOptions { cloud: Some(Arc::new(cloud(target))), ..Default::default() };
    let (tenant, client) = (target.tenant_id.clone(), client.to_string());
    match sign_in {
        SignIn::Federated(assertion) => {
            let options = ClientAssertionCredentialOptions { client_options };
            ClientAssertionCredential::new(tenant, client, assertion, Some(options))
                .map(|c| c as Arc<dyn TokenCredential>)
        }
        SignIn::ClientSecret(secret) => {
            let options = ClientSecretCredentialOptions { client_options };
            ClientSecretCredential::new(&tenant, client, secret.expose().to_string().into(), Some(options))
                .map(|c| c as Arc<dyn TokenCredential>)
        }
    }
}

/// The Entra authority of `ARC_CLOUD`, or `ARC_AUTHORITY_HOST` when set.
fn cloud(target: &ArcTarget) -> CloudConfiguration {
    if let Some(host) = &target.authority_host {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = host.trim_end_matches('/').to_string();
        return custom.into();
    }
    match target.cloud.as_str() {
        "AzureUSGovernment" => CloudConfiguration::AzureGovernment,
        "AzureChinaCloud" => CloudConfiguration::AzureChina,
        _ => CloudConfiguration::AzurePublic,
    }
}

/// The `.default` scope of the cloud's Azure Resource Manager, the audience `azcmagent connect`
/// creates the Arc resource with.
pub(crate) fn resource_manager_scope(cloud: &str) -> &'static str {
    match cloud {
        "AzureUSGovernment" => "https://management.usgovcloudapi.net/.default",
        "AzureChinaCloud" => "https://management.chinacloudapi.cn/.default",
        _ => "https://management.azure.com/.default",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let secret = Secret::new("p@ssw0rd-value".into());
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        let credential = Credential { value: secret };
        assert!(!format!("{credential:?}").contains("p@ssw0rd"));
    }

    #[test]
    fn each_cloud_has_its_resource_manager_audience() {
        assert_eq!(resource_manager_scope("AzureCloud"), "https://management.azure.com/.default");
        assert!(resource_manager_scope("AzureUSGovernment").contains("usgovcloudapi.net"));
        assert!(resource_manager_scope("AzureChinaCloud").contains("chinacloudapi.cn"));
    }
}
