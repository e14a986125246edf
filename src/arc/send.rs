//! The imperative shell of a unit: stage the onboarding secret, send one command per batch, track
//! every invocation to a final status, remove the staged secret.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{ParameterTier, ParameterType};

use super::credential::Credential;
use super::outcome::{Verdict, is_final, outcome, parse_result};
use super::plan::Batch;
use super::settings::CredentialMode;
use crate::aws::error_code;
use crate::error::Failure;
use crate::report::{Outcome, Status};

/// How long a run tracks its commands at most (less when the invocation's deadline comes first).
pub(crate) const DEFAULT_TRACKING: Duration = Duration::from_secs(600);
/// SendCommand delivery timeout: an instance that does not pick the command up by then is `DeliveryTimedOut`.
const DELIVERY_TIMEOUT_SECONDS: i32 = 600;
/// First and longest pause between two polls of a command's invocations.
const POLL: (Duration, Duration) = (Duration::from_millis(400), Duration::from_secs(5));

/// How long a staged secret lives: the commands' delivery timeout plus the tracking cap. SSM
/// deletes it by itself then (an expiration policy), whatever happens to the run.
pub(crate) const STAGED_LIFETIME: Duration = Duration::from_secs(DELIVERY_TIMEOUT_SECONDS as u64 + 600);

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
        .map_err(|e| Failure::aws(format!("cannot stage the onboarding secret as {staged}"), &e))
}

/// Deletes the staged secret; true when there was one.
pub(crate) async fn remove_staged_secret(ssm: &Client, staged: &str) -> Result<bool, Failure> {
    match ssm.delete_parameter().name(staged).send().await {
        Ok(_) => Ok(true),
        Err(e) if error_code(&e) == Some("ParameterNotFound") => Ok(false),
        Err(e) => Err(Failure::aws(format!("cannot remove the staged secret {staged}"), &e)),
    }
}

/// What every command of a run carries besides its batch.
pub(crate) struct CommandSettings<'a> {
    /// Document parameters (validated values, no secret).
    pub parameters: &'a BTreeMap<&'static str, String>,
    /// Comment (carries the target fingerprint).
    pub comment: &'a str,
    /// `MaxConcurrency`.
    pub max_concurrency: &'a str,
    /// `MaxErrors`.
    pub max_errors: &'a str,
}

/// Sends one batch; the command id.
pub(crate) async fn send(ssm: &Client, batch: &Batch, settings: &CommandSettings<'_>) -> Result<String, Failure> {
    let parameters: HashMap<String, Vec<String>> =
        settings.parameters.iter().map(|(k, v)| (k.to_string(), vec![v.clone()])).collect();
    let out = ssm
        .send_command()
        .document_name(&batch.document)
        .document_version(&batch.document_version)
        .set_instance_ids(Some(batch.instance_ids.clone()))
        .set_parameters(Some(parameters))
        .comment(settings.comment)
        .max_concurrency(settings.max_concurrency)
        .max_errors(settings.max_errors)
        .timeout_seconds(DELIVERY_TIMEOUT_SECONDS)
        .send()
        .await
        .map_err(|e| Failure::aws(format!("SendCommand {}", batch.document), &e))?;
    let id = out.command().and_then(|c| c.command_id()).map(str::to_string);
    id.ok_or_else(|| Failure::Unexpected("SendCommand returned no id".into()))
}

/// Polls the command's invocations until every instance is final or `until` comes; instances
/// still running then are `in-progress`.
pub(crate) async fn track(
    ssm: &Client,
    command_id: &str,
    instance_ids: &[String],
    until: Instant,
) -> HashMap<String, Verdict> {
    let mut pending: BTreeSet<String> = instance_ids.iter().cloned().collect();
    let mut done = HashMap::new();
    let mut delay = POLL.0;
    let mut last_error: Option<Failure>;
    loop {
        match final_invocations(ssm, command_id, &pending).await {
            Ok(finished) => {
                last_error = None;
                for (id, result) in finished {
                    pending.remove(&id);
                    done.insert(id, result);
                }
            }
            Err(e) => last_error = Some(e),
        }
        if pending.is_empty() || Instant::now() + delay >= until {
            break;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(POLL.1);
    }
    for id in pending {
        let reason = match &last_error {
            Some(e) => format!(
                "command {command_id} sent; its status could not be read ({e}); the SSM status-change event or the next run reports the result"
            ),
            None => format!(
                "command {command_id} still running when the run ended; the SSM status-change event or the next run reports the result"
            ),
        };
        done.insert(id, Verdict { name: Outcome::InProgress, status: Status::Done, reason });
    }
    done
}

/// Final invocations among `pending`, mapped to outcomes.
async fn final_invocations(
    ssm: &Client,
    command_id: &str,
    pending: &BTreeSet<String>,
) -> Result<Vec<(String, Verdict)>, Failure> {
    let mut pages = ssm.list_command_invocations().command_id(command_id).details(true).into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Failure::aws("ListCommandInvocations", &e))?;
        for invocation in page.command_invocations() {
            let Some(id) = invocation.instance_id().filter(|id| pending.contains(*id)) else { continue };
            let status = invocation.status().map(|s| s.as_str()).unwrap_or("Pending");
            if !is_final(status) {
                continue;
            }
            let output: String =
                invocation.command_plugins().iter().filter_map(|p| p.output()).collect::<Vec<_>>().join("\n");
            let code = invocation.command_plugins().first().map(|p| p.response_code()).unwrap_or(-1);
            if parse_result(&output).is_none() && matches!(status, "Success" | "Failed") {
                // The listed output is cut at 2,500 characters: read the whole of it.
                if let Some(found) = invocation_result(ssm, command_id, id).await? {
                    out.push((id.to_string(), found));
                }
                continue;
            }
            out.push((id.to_string(), outcome(command_id, status, code, &output)));
        }
    }
    Ok(out)
}

/// One invocation through `GetCommandInvocation`; `None` while SSM does not know it yet
/// (`InvocationDoesNotExist` just after sending) or it is not final.
pub(crate) async fn invocation_result(
    ssm: &Client,
    command_id: &str,
    instance_id: &str,
) -> Result<Option<Verdict>, Failure> {
    match ssm.get_command_invocation().command_id(command_id).instance_id(instance_id).send().await {
        Ok(out) => {
            let status = out.status().map(|s| s.as_str()).unwrap_or("Pending");
            if !is_final(status) {
                return Ok(None);
            }
            let output = out.standard_output_content().unwrap_or_default();
            Ok(Some(outcome(command_id, status, out.response_code(), output)))
        }
        Err(e) if error_code(&e) == Some("InvocationDoesNotExist") => Ok(None),
        Err(e) => Err(Failure::aws("GetCommandInvocation", &e)),
    }
}
