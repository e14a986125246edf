//! The onboarding script's result line and how a Run Command invocation maps to a report outcome.

use serde::Deserialize;

use super::seal::SealingKey;
use crate::report::{Outcome as Name, Status};

/// Prefix of the script's last output line.
pub(crate) const RESULT_PREFIX: &str = "MDC_ARC_RESULT ";

/// `MDC_ARC_RESULT {"status":...,"reason":...,"detail":...}` as printed by `cfn/ssm/arc-onboard.*`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct ScriptResult {
    /// `connected`, `already-connected`, `connected-elsewhere` or `failed`.
    pub status: String,
    /// Machine-readable reason (`install-failed`, `credential-unavailable`, ...).
    #[serde(default)]
    pub reason: String,
    /// Validated detail (subscription/group, parameter name, ...).
    #[serde(default)]
    pub detail: String,
    /// `key-ready` (prepare phase): the modulus of the key the instance made, in hex.
    #[serde(default, rename = "publicKey")]
    pub public_key: String,
    /// `connected`, `already-connected`: the Arc machine the agent is connected as.
    #[serde(default, rename = "resourceId")]
    pub resource_id: String,
    /// `connected`, `already-connected`: the machine's `vmId` as the agent reports it (may be empty).
    #[serde(default, rename = "vmId")]
    pub vm_id: String,
}

/// What an instance reported, in a command arc-provisioner sent, about the Arc machine its agent
/// is connected as: recorded in the inventory once Resource Manager agrees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reported {
    /// The command (sent by arc-provisioner) whose result said so.
    pub command_id: String,
    /// The Arc resource id.
    pub resource_id: String,
    /// The `vmId` the agent reported (may be empty).
    pub vm_id: String,
    /// The agent was connected before (an earlier version onboarded it): adopted, not connected.
    pub adopted: bool,
}

/// Final outcome of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The report's outcome.
    pub name: Name,
    /// Report status.
    pub status: Status,
    /// Operator-facing reason.
    pub reason: String,
    /// The instance's sealing key, when its prepare phase made one (the credential goes next).
    pub key: Option<SealingKey>,
    /// The Arc machine it reported being connected as.
    pub reported: Option<Reported>,
    /// `script:<reason>` when the script reported a failure of its own (docs/report.md, "Codes").
    pub cause: Option<String>,
}

/// The last result line in `output`, if any parses.
pub(crate) fn parse_result(output: &str) -> Option<ScriptResult> {
    output.lines().rev().find_map(|line| line.strip_prefix(RESULT_PREFIX).and_then(|j| serde_json::from_str(j).ok()))
}

/// True for invocation statuses that will not change any more.
pub(crate) fn is_final(status: &str) -> bool {
    !matches!(status, "Pending" | "InProgress" | "Delayed" | "Cancelling")
}

/// Outcomes that count as provisioned (not sent again with the same document version and target).
pub(crate) fn is_settled(result: &ScriptResult) -> bool {
    matches!(result.status.as_str(), "connected" | "already-connected" | "connected-elsewhere")
}

/// Maps a final invocation (SSM status, exit code, output) to the instance's outcome.
pub(crate) fn outcome(command_id: &str, status: &str, response_code: i32, output: &str) -> Verdict {
    let result = parse_result(output);
    let make = |name, status, reason: String| Verdict { name, status, reason, key: None, reported: None, cause: None };
    let reported = |r: &ScriptResult, adopted: bool| {
        Some(Reported {
            command_id: command_id.to_string(),
            resource_id: r.resource_id.clone(),
            vm_id: r.vm_id.clone(),
            adopted,
        })
        .filter(|found| !found.resource_id.is_empty())
    };
    match (status, result) {
        ("TimedOut" | "DeliveryTimedOut" | "ExecutionTimedOut", _) => make(
            Name::TimedOut,
            Status::Failed,
            format!("command {command_id} {status}: the instance did not finish in time; the next run retries"),
        ),
        ("Success" | "Failed", Some(r)) => match r.status.as_str() {
            "connected" => Verdict {
                reported: reported(&r, false),
                ..make(Name::Connected, Status::Done, format!("connected to Azure Arc in {}", r.detail))
            },
            "already-connected" => Verdict {
                reported: reported(&r, true),
                ..make(
                    Name::AlreadyConnected,
                    Status::Skipped,
                    format!("already connected to Azure Arc in {}", r.detail),
                )
            },
            "key-ready" => match SealingKey::from_modulus_hex(&r.public_key) {
                Ok(key) => Verdict {
                    key: Some(key),
                    ..make(Name::InProgress, Status::Done, format!("command {command_id}: sealing key ready"))
                },
                Err(reason) => make(Name::Failed, Status::Failed, format!("command {command_id}: {reason}")),
            },
            "connected-elsewhere" => make(
                Name::ConnectedElsewhere,
                Status::Skipped,
                format!(
                    "agent connected to {}, not the configured target; left unchanged (reprovision with force to move it)",
                    r.detail
                ),
            ),
            _ => Verdict {
                cause: Some(format!("script:{}", r.reason)),
                ..make(Name::Failed, Status::Failed, failure(command_id, &r))
            },
        },
        ("Success", None) => make(
            Name::Failed,
            Status::Failed,
            format!(
                "command {command_id} succeeded without a result line: is the document the connector's current one?"
            ),
        ),
        ("Failed", None) => make(
            Name::Failed,
            Status::Failed,
            format!("command {command_id} failed with exit code {response_code} before reporting a result"),
        ),
        (other, _) => make(Name::Failed, Status::Failed, format!("command {command_id} ended {other}")),
    }
}

fn failure(command_id: &str, r: &ScriptResult) -> String {
    let hint = match r.reason.as_str() {
        // The script's first step, before anything is changed (docs/arc-provisioner.md, "Instance
        // prerequisites"); its detail names the fix.
        reason if reason.starts_with("prerequisite-missing:") => {
            "; the instance lacks a prerequisite and nothing was changed: docs/arc-provisioner.md#instance-prerequisites"
        }
        "sealing-key-failed" => "; the instance could not make or keep its one-time key (see the log on the instance)",
        "sealing-key-missing" => {
            "; the instance no longer holds the key its credential was sealed to (rebooted, or more than 60 minutes passed); the next run starts over"
        }
        "unsafe-directory" => {
            "; a directory the script uses was made by someone else first, or is a link: nothing was changed; remove it, then reprovision"
        }
        "credential-unsealable" => "; the sealed credential did not open with the instance's key: nothing was changed",
        "download-failed" | "install-failed" => {
            "; check outbound HTTPS to packages.microsoft.com and Azure (or ARC_PROXY_URL)"
        }
        "installer-unverified" => "; a download did not match Microsoft's pinned signing key: nothing was installed",
        "no-memory-filesystem" => {
            "; the key directory under /dev/shm is a link, is not root's, or cannot be made: nothing was written"
        }
        "connect-failed" => "; see /var/log/mdc-connector-arc.log on the instance",
        "invalid-parameter" => "; the document and the provisioner disagree on a parameter",
        _ => "",
    };
    let detail = if r.detail.is_empty() { String::new() } else { format!(" ({})", r.detail) };
    format!("command {command_id}: {}{detail}{hint}", r.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECTED: &str = "log line\nMDC_ARC_RESULT {\"status\":\"connected\",\"reason\":\"connected\",\"detail\":\"sub/rg\",\"instanceId\":\"i-1\",\"correlationId\":\"c\"}\n";

    #[test]
    fn result_lines_map_to_outcomes() {
        assert_eq!(outcome("c", "Success", 0, CONNECTED).name, Name::Connected);
        assert_eq!(outcome("c", "Success", 0, CONNECTED).status, Status::Done);
        let elsewhere = CONNECTED.replace("\"connected\",\"reason\"", "\"connected-elsewhere\",\"reason\"");
        assert_eq!(outcome("c", "Success", 0, &elsewhere).name, Name::ConnectedElsewhere);
        let failed =
            "MDC_ARC_RESULT {\"status\":\"failed\",\"reason\":\"credential-unsealable\",\"detail\":\"digest\"}";
        let o = outcome("c", "Failed", 1, failed);
        assert_eq!((o.name, o.status, o.key), (Name::Failed, Status::Failed, None));
        assert!(o.reason.contains("credential-unsealable (digest)"), "{}", o.reason);
        assert_eq!(o.cause.as_deref(), Some("script:credential-unsealable"), "the script's reason is the code's cause");
        let missing = failed.replace("credential-unsealable", "prerequisite-missing:curl");
        let o = outcome("c", "Failed", 1, &missing);
        assert_eq!(o.cause.as_deref(), Some("script:prerequisite-missing:curl"));
        assert!(o.reason.contains("#instance-prerequisites"), "{}", o.reason);
        let unverified = failed.replace("credential-unsealable", "installer-unverified");
        assert!(outcome("c", "Failed", 1, &unverified).reason.contains("nothing was installed"));
    }

    #[test]
    fn statuses_without_a_result() {
        assert_eq!(outcome("c", "TimedOut", -1, "").name, Name::TimedOut);
        assert_eq!(outcome("c", "DeliveryTimedOut", -1, CONNECTED).name, Name::TimedOut);
        assert!(outcome("c", "Failed", 127, "bash: x").reason.contains("exit code 127"));
        assert!(outcome("c", "Success", 0, "").reason.contains("without a result line"));
        assert_eq!(outcome("c", "Cancelled", -1, "").status, Status::Failed);
        assert!(!is_final("InProgress") && is_final("Success") && is_final("Undeliverable"));
    }

    #[test]
    fn malformed_result_lines_are_ignored() {
        assert_eq!(parse_result("MDC_ARC_RESULT {not json"), None);
        assert_eq!(
            parse_result("MDC_ARC_RESULT {\"status\":\"connected\"}").map(|r| r.status),
            Some("connected".into())
        );
    }
}
