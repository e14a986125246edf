//! `EC2 Command Invocation Status-change Notification`: one instance's final status, read from
//! Systems Manager after the event (forwarded from the member account) says the command ended.

use super::command::invocation_result;
use super::plan::item;
use crate::budget::Budget;
use crate::report::{Item, Status};

/// Times `GetCommandInvocation` is asked after a status event before giving up on
/// `InvocationDoesNotExist`.
const STATUS_EVENT_ATTEMPTS: u32 = 4;

/// An `EC2 Command Invocation Status-change Notification`, borrowed from the trigger.
#[derive(Clone, Copy)]
pub(crate) struct StatusEvent<'a> {
    /// Account of the instance.
    pub(crate) account_id: &'a str,
    /// Region of the instance.
    pub(crate) region: &'a str,
    /// The command.
    pub(crate) command_id: &'a str,
    /// The instance.
    pub(crate) instance_id: &'a str,
    /// The document the command ran.
    pub(crate) document_name: &'a str,
    /// The invocation's status.
    pub(crate) status: &'a str,
}

/// The invocation's final result, asked [`STATUS_EVENT_ATTEMPTS`] times while SSM answers
/// `InvocationDoesNotExist` (right after sending it can), never past the budget; the failure
/// item when it cannot be read.
pub(crate) async fn read_final(
    ssm: &aws_sdk_ssm::Client,
    event: &StatusEvent<'_>,
    budget: &Budget,
) -> Result<Item, Item> {
    let StatusEvent { account_id, region, command_id, instance_id, status, .. } = *event;
    let mut last = None;
    for attempt in 0..STATUS_EVENT_ATTEMPTS {
        if attempt > 0 {
            if budget.spent() {
                break;
            }
            budget.sleep(std::time::Duration::from_millis(500 << attempt)).await;
        }
        match invocation_result(ssm, command_id, instance_id).await {
            Ok(Some(v)) => {
                let found = item(account_id, region, instance_id, v.status, Some(v.name), v.reason);
                return Ok(found.with_known_cause(v.cause));
            }
            Ok(None) => last = None,
            Err(e) => last = Some(e),
        }
    }
    let reason = match last {
        Some(e) => format!("command {command_id} ended {status}, but its result could not be read: {e}"),
        None => format!("command {command_id} ended {status}, but SSM does not show the invocation yet"),
    };
    Err(item(account_id, region, instance_id, Status::Failed, None, reason))
}
