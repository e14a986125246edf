//! Run Command: send one command per batch and track every invocation to a final status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_ssm::Client;

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
        done.insert(id, Verdict { name: Outcome::InProgress, status: Status::Done, reason, key: None });
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
