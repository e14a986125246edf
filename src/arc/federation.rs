//! Secretless sign-in to Microsoft Entra: the function's own AWS identity, vouched for by AWS STS,
//! is the onboarding application's credential (workload identity federation).
//!
//! AWS side, "GetWebIdentityToken": STS "Returns a signed JSON Web Token (JWT) that represents the
//! calling AWS identity ... The token is signed by AWS STS and can be publicly verified using the
//! verification keys published at the issuer's JWKS endpoint"; "not available on the STS Global
//! endpoint" (the client calls the function's own region). For a role session the `sub` claim is
//! the role's ARN ("Understanding token claims"), the subject the Azure side trusts.
//!
//! Azure side: the application's federated identity credential names that issuer and subject, and
//! the audience "should be set to api://AzureADTokenExchange for Microsoft Entra ID"
//! (federatedIdentityCredential, Microsoft Graph). The token goes to Entra as the client assertion
//! of the client credentials flow (`azure_identity`'s `ClientAssertionCredential`).

use aws_sdk_sts::Client;
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;

use super::secret::Secret;
use crate::error::Failure;
use crate::report::Cause;

/// Seconds the AWS token lives: the shortest STS issues ("from 60 seconds (1 minute) to 3600
/// seconds"); it is presented to Entra at once and is worth nothing afterwards. The template's
/// policy allows no longer (`sts:DurationSeconds`).
pub(crate) const ASSERTION_SECONDS: i32 = 60;

/// Signing algorithm asked for: RS256, which Microsoft Entra verifies for client assertions (the
/// template's policy pins it with `sts:SigningAlgorithm`).
pub(crate) const SIGNING_ALGORITHM: &str = "RS256";

/// The audience Microsoft Entra accepts in federated assertions, per cloud: Microsoft Graph
/// documents `api://AzureADTokenExchange` for Entra ID; the national clouds' token exchange
/// audiences carry the cloud's suffix. The template's policy allows exactly these
/// (`sts:IdentityTokenAudience`).
pub(crate) fn audience(cloud: &str) -> &'static str {
    match cloud {
        "AzureUSGovernment" => "api://AzureADTokenExchangeUSGov",
        "AzureChinaCloud" => "api://AzureADTokenExchangeChina",
        _ => "api://AzureADTokenExchange",
    }
}

/// A signed AWS identity token for `audience`, living [`ASSERTION_SECONDS`].
pub(crate) async fn identity_token(sts: &Client, audience: &str) -> Result<Secret, Failure> {
    let out = sts
        .get_web_identity_token()
        .audience(audience)
        .duration_seconds(ASSERTION_SECONDS)
        .signing_algorithm(SIGNING_ALGORITHM)
        .send()
        .await
        .map_err(|e| {
            // Without the token there is no sign-in: its code is the sign-in's (the text keeps AWS's answer).
            let refused = Failure::aws_with(
                format!("cannot obtain an AWS identity token for Microsoft Entra (audience {audience})"),
                &e,
                "enable outbound identity federation in this account (aws iam enable-outbound-web-identity-federation) and allow sts:GetWebIdentityToken to the function's role (docs/deploy.md), or set ARC_CREDENTIAL_PARAMETER to sign in with a client secret",
            );
            Failure::Caused(Cause::EntraSignInRefused, refused.to_string())
        })?;
    let token = out.web_identity_token().filter(|t| !t.is_empty());
    token
        .map(|t| Secret::new(t.to_string()))
        .ok_or_else(|| Failure::Unexpected("STS returned no web identity token".into()))
}

/// The client assertion of Entra's token requests: the AWS token obtained before the credential is
/// built (so an AWS refusal and an Entra refusal are told apart) for the first request, and a fresh
/// one from STS for every later request (a token refresh, or another request of the credential):
/// the token lives [`ASSERTION_SECONDS`], so one minted earlier may have expired by then.
pub(crate) struct AwsAssertion {
    first: std::sync::Mutex<Option<Secret>>,
    sts: Client,
    audience: &'static str,
}

impl AwsAssertion {
    /// `first` for the first request; later ones ask `sts` for a token for `audience`.
    pub(crate) fn new(first: Secret, sts: Client, audience: &'static str) -> Self {
        AwsAssertion { first: std::sync::Mutex::new(Some(first)), sts, audience }
    }
}

impl std::fmt::Debug for AwsAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsAssertion(..)")
    }
}

#[async_trait::async_trait]
impl ClientAssertion for AwsAssertion {
    async fn secret(&self, _options: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let first = self.first.lock().map(|mut first| first.take()).unwrap_or_default();
        if let Some(token) = first {
            return Ok(token.expose().to_string());
        }
        let fresh = identity_token(&self.sts, self.audience).await.map_err(|failure| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, failure.to_string())
        })?;
        Ok(fresh.expose().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cloud_has_its_token_exchange_audience() {
        assert_eq!(audience("AzureCloud"), "api://AzureADTokenExchange");
        assert!(audience("AzureUSGovernment").ends_with("USGov"));
        assert!(audience("AzureChinaCloud").ends_with("China"));
    }

    #[test]
    fn the_assertion_never_shows_in_debug_output() {
        let sts = Client::from_conf(aws_sdk_sts::Config::builder().behavior_version_latest().build());
        let assertion = AwsAssertion::new(Secret::new("eyJ.secret.sig".into()), sts, "api://AzureADTokenExchange");
        assert_eq!(format!("{assertion:?}"), "AwsAssertion(..)");
    }
}
