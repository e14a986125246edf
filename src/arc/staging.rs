//! The run's copy of the onboarding credential in a member account and region: its name (unique,
//! unguessable, carrying its expiry), writing it with an expiration policy, removing it once no
//! command needs it, and sweeping what earlier runs left behind.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterTier, ParameterType};

use super::command::DELIVERY_TIMEOUT_SECONDS;
use super::credential::Credential;
use super::plan::item;
use super::target::CredentialMode;
use crate::aws::{describe, error_code};
use crate::error::Failure;
use crate::report::{Item, Status};

/// How long a staged secret lives: the commands' delivery timeout plus the tracking cap. SSM
/// deletes it by itself then (an expiration policy), whatever happens to the run.
pub(crate) const STAGED_LIFETIME: Duration = Duration::from_secs(DELIVERY_TIMEOUT_SECONDS as u64 + 600);

/// The key staged copies are encrypted with: the member template's `StagedCredentialKey`, in every
/// covered account and region, which only EC2 instance role sessions may decrypt, and only
/// through Parameter Store (docs/security.md, threat model). Never `aws/ssm`, which "grants
/// Decrypt permission to all IAM principals in the AWS account" (Parameter Store).
pub const STAGED_CREDENTIAL_KEY: &str = "alias/mdc-connector/staged-credential";

/// How reports name a staged copy: `staged:` and the first 16 hex digits of the SHA-256 of its
/// name. The name is what lets an instance find the credential; reports, logs and metrics go to
/// more readers than the instances, so they carry only this digest (enough to correlate with
/// CloudTrail, which the account's administrators read anyway).
pub fn staged_label(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("staged:{hex}")
}

/// A run's own staged-credential name under `prefix`: `<prefix>/<expiry, unix seconds>-<random>`.
/// Unique per run, account and region (concurrent runs never touch each other's), not guessable
/// (instances cannot list parameters: only the targeted instances learn it, from their command),
/// and carrying its expiry so a later run can sweep what a crashed one left.
pub(crate) fn staged_name(prefix: &str, until: SystemTime) -> String {
    let expiry = until.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{prefix}/{}-{}", expiry.as_secs(), random_hex())
}

/// The expiry (unix seconds) a staged name carries, if it is one of ours under `prefix`.
pub(crate) fn staged_expiry(prefix: &str, name: &str) -> Option<u64> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('/')?;
    let (expiry, random) = rest.split_once('-')?;
    (random.len() == 32 && random.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
    expiry.parse().ok()
}

/// 128 random bits as hex, from the kernel's generator (time-derived if it cannot be read).
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Puts the credential in the member account and region as a SecureString the instances read,
/// under the run's own name, with an expiration policy (Advanced tier) that makes SSM delete it at
/// `until` even if the run dies. Parameter policies, Expiration: "Parameter Store deletes the
/// parameter at the specified date and time".
pub(crate) async fn stage_secret(
    ssm: &Client,
    staged: &str,
    credential: &Credential,
    until: SystemTime,
) -> Result<(), Failure> {
    let timestamp = aws_smithy_types::DateTime::from(until)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .map_err(|e| Failure::Unexpected(format!("internal: {e}")))?;
    let policy = format!(r#"[{{"Type":"Expiration","Version":"1.0","Attributes":{{"Timestamp":"{timestamp}"}}}}]"#);
    ssm.put_parameter()
        .name(staged)
        .value(credential.value.expose())
        .r#type(ParameterType::SecureString)
        .key_id(STAGED_CREDENTIAL_KEY)
        .tier(ParameterTier::Advanced)
        .policies(policy)
        .overwrite(false)
        .description(match credential.mode {
            CredentialMode::AccessToken => {
                "mdc-connector: Azure Arc onboarding access token, staged for one run; expires by itself"
            }
            CredentialMode::ServicePrincipalSecret => {
                "mdc-connector: Azure Arc onboarding secret, staged for one run; expires by itself"
            }
        })
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let what = if error_code(&e) == Some("InvalidKeyId") {
                format!(
                    "cannot stage the onboarding credential ({}): the member template's key {STAGED_CREDENTIAL_KEY} is missing here; update the member StackSet (deploying this version of the connector does)",
                    staged_label(staged)
                )
            } else {
                format!("cannot stage the onboarding credential ({})", staged_label(staged))
            };
            Failure::aws(what, &e)
        })
}

/// Deletes the staged secret; true when there was one.
pub(crate) async fn remove_staged_secret(ssm: &Client, staged: &str) -> Result<bool, Failure> {
    match ssm.delete_parameter().name(staged).send().await {
        Ok(_) => Ok(true),
        Err(e) if error_code(&e) == Some("ParameterNotFound") => Ok(false),
        Err(e) => Err(Failure::aws(format!("cannot remove the staged credential {}", staged_label(staged)), &e)),
    }
}

/// Removes what earlier runs staged under `prefix` and left behind (a run that died, or whose
/// commands outlived it): every name whose expiry has passed, and the single fixed name older
/// versions used. Names not yet expired belong to runs still going and are left alone.
pub(crate) async fn sweep_staged(ssm: &Client, account_id: &str, region: &str, prefix: &str) -> Vec<Item> {
    let parent = prefix.rsplit_once('/').map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
    let Ok(filter) = ParameterStringFilter::builder().key("Path").option("Recursive").values(parent).build() else {
        return Vec::new();
    };
    let mut pages = ssm.describe_parameters().parameter_filters(filter).max_results(50).into_paginator().send();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut stale = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                let reason = format!("cannot look for staged onboarding secrets left behind: {}", describe(&e));
                return vec![item(account_id, region, prefix, Status::Failed, None, reason)];
            }
        };
        for name in page.parameters().iter().filter_map(|p| p.name()) {
            let expired = staged_expiry(prefix, name).is_some_and(|expiry| expiry <= now);
            if expired || name == prefix {
                stale.push(name.to_string());
            }
        }
    }
    let mut items = Vec::new();
    for name in stale {
        items.extend(clean_up_staged(ssm, account_id, region, &name).await);
    }
    items
}

/// Removes one staged secret.
pub(crate) async fn clean_up_staged(ssm: &Client, account_id: &str, region: &str, staged: &str) -> Option<Item> {
    match remove_staged_secret(ssm, staged).await {
        Ok(true) => {
            let label = staged_label(staged);
            Some(item(account_id, region, &label, Status::Done, None, "staged onboarding credential removed".into()))
        }
        Ok(false) => None,
        Err(reason) => Some(item(account_id, region, &staged_label(staged), Status::Failed, None, reason.to_string())),
    }
}
