//! Run Command: send one command per batch and track every invocation to a final status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{CommandFilter, CommandFilterKey};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::outcome::{Verdict, is_final, outcome, parse_result};
use super::plan::Batch;
use crate::aws::error_code;
use crate::error::Failure;
use crate::report::{Outcome, Status};

/// How long a run tracks its commands at most (less when the invocation's deadline comes first).
pub(crate) const DEFAULT_TRACKING: Duration = Duration::from_secs(600);
/// SendCommand delivery timeout: an instance that does not pick the command up by then is `DeliveryTimedOut`.
pub(crate) const DELIVERY_TIMEOUT_SECONDS: i32 = 600;
/// First and longest pause between two polls of a command's invocations.
const POLL: (Duration, Duration) = (Duration::from_millis(400), Duration::from_secs(5));

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

/// Sends one batch; the command id. A throttled send is tried again after a pause (up to
/// [`SEND_TRIES`] times): the SDK's own retries stop once the account's retry budget is spent,
/// and a run sends a command per instance in its connect phase.
pub(crate) async fn send(ssm: &Client, batch: &Batch, settings: &CommandSettings<'_>) -> Result<String, Failure> {
    let mut pause = Duration::from_millis(500);
    for _ in 1..SEND_TRIES {
        match send_once(ssm, batch, settings).await {
            Err(Failure::Aws { code: Some(code), .. }) if code == "ThrottlingException" => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(8));
            }
            other => return other,
        }
    }
    send_once(ssm, batch, settings).await
}

/// Times a throttled SendCommand is tried in all.
const SEND_TRIES: usize = 6;

async fn send_once(ssm: &Client, batch: &Batch, settings: &CommandSettings<'_>) -> Result<String, Failure> {
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
        done.insert(id, unfinished(command_id, last_error.as_ref()));
    }
    done
}

/// Polls many one-instance commands of `document` together until each is final or `until` comes:
/// one paged `ListCommandInvocations` of the document's invocations since `since` per poll,
/// however many commands there are (a connect command per instance would otherwise cost a poll
/// each). `commands` maps command id to its instance.
pub(crate) async fn track_all(
    ssm: &Client,
    document: &str,
    since: SystemTime,
    commands: &HashMap<String, String>,
    until: Instant,
) -> HashMap<String, Verdict> {
    let mut pending = commands.clone();
    let mut done = HashMap::new();
    let mut delay = POLL.0;
    let mut last_error: Option<Failure>;
    loop {
        match final_of_document(ssm, document, since, &pending).await {
            Ok(finished) => {
                last_error = None;
                for (command_id, verdict) in finished {
                    if let Some(instance) = pending.remove(&command_id) {
                        done.insert(instance, verdict);
                    }
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
    for (command_id, instance) in pending {
        done.insert(instance, unfinished(&command_id, last_error.as_ref()));
    }
    done
}

/// The invocation of a command still running (or unreadable) when tracking ended.
fn unfinished(command_id: &str, error: Option<&Failure>) -> Verdict {
    let reason = match error {
        Some(e) => format!(
            "command {command_id} sent; its status could not be read ({e}); the SSM status-change event or the next run reports the result"
        ),
        None => format!(
            "command {command_id} still running when the run ended; the SSM status-change event or the next run reports the result"
        ),
    };
    Verdict { name: Outcome::InProgress, status: Status::Done, reason, key: None, reported: None, cause: None }
}

/// Final invocations of `document` since `since` among `pending` (command id to instance).
async fn final_of_document(
    ssm: &Client,
    document: &str,
    since: SystemTime,
    pending: &HashMap<String, String>,
) -> Result<Vec<(String, Verdict)>, Failure> {
    let after =
        DateTime::from(since).fmt(Format::DateTime).map_err(|e| Failure::Unexpected(format!("internal: {e}")))?;
    let filters = [
        CommandFilter::builder().key(CommandFilterKey::DocumentName).value(document).build(),
        CommandFilter::builder().key(CommandFilterKey::InvokedAfter).value(after).build(),
    ];
    let mut request = ssm.list_command_invocations().details(true).max_results(50);
    for filter in filters {
        request = request.filters(filter.map_err(|e| Failure::Unexpected(format!("internal: {e}")))?);
    }
    let mut pages = request.into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Failure::aws("ListCommandInvocations", &e))?;
        for invocation in page.command_invocations() {
            let Some(command_id) = invocation.command_id().filter(|c| pending.contains_key(*c)) else { continue };
            let Some(instance) =
                invocation.instance_id().filter(|i| Some(*i) == pending.get(command_id).map(String::as_str))
            else {
                continue;
            };
            if let Some(found) = listed_verdict(ssm, command_id, instance, invocation).await? {
                out.push((command_id.to_string(), found));
            }
        }
    }
    Ok(out)
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
            if let Some(found) = listed_verdict(ssm, command_id, id, invocation).await? {
                out.push((id.to_string(), found));
            }
        }
    }
    Ok(out)
}

/// A listed invocation's outcome once it is final; `None` before.
async fn listed_verdict(
    ssm: &Client,
    command_id: &str,
    instance_id: &str,
    invocation: &aws_sdk_ssm::types::CommandInvocation,
) -> Result<Option<Verdict>, Failure> {
    let status = invocation.status().map(|s| s.as_str()).unwrap_or("Pending");
    if !is_final(status) {
        return Ok(None);
    }
    let output: String = invocation.command_plugins().iter().filter_map(|p| p.output()).collect::<Vec<_>>().join("\n");
    let code = invocation.command_plugins().first().map(|p| p.response_code()).unwrap_or(-1);
    if parse_result(&output).is_none() && matches!(status, "Success" | "Failed") {
        // The listed output is cut at 2,500 characters: read the whole of it.
        return invocation_result(ssm, command_id, instance_id).await;
    }
    Ok(Some(outcome(command_id, status, code, &output)))
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
