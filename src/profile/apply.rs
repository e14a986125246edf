//! The executor: applies a unit's decisions and records one report item per instance.

use std::time::{Duration, Instant};

use crate::budget::Budget;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::IamInstanceProfileSpecification;

use super::ledger::{DEFERRED, RoleLedger};
use super::plan::{Decision, RoleRef, action};
use super::read::current_association;
use crate::aws::{describe, error_code};
use crate::pace::Pacer;
use crate::queue::PROPAGATION_RETRY_DELAY_SECONDS;
use crate::report::{Action, Cause, Item, Outcome, Reach, Status};

/// What an association attempt gave.
enum Associated {
    /// A final (or deferred-for-time) outcome.
    Now(Status, String),
    /// Failed: why, and the cause in the item's code.
    Failed(String, String),
    /// EC2 does not see the profile yet: try again through the work queue.
    Later(String),
}

/// Where and how a unit's decisions are applied.
pub(crate) struct Apply<'a> {
    /// Account of the unit.
    pub account_id: &'a str,
    /// Region of the unit.
    pub region: &'a str,
    /// EC2 client for the unit.
    pub ec2: &'a Client,
    /// The account's role ledger.
    pub(crate) ledger: &'a RoleLedger,
    /// Plan only.
    pub dry_run: bool,
    /// No write is started once it is spent.
    pub(crate) budget: &'a Budget,
    /// How long an association refused for IAM propagation is retried in this invocation.
    pub(crate) propagation_wait: Duration,
    /// After that wait, the instance is put back on the work queue (outcome
    /// `awaiting-iam-propagation`) instead of failing: a queue exists and attempts remain.
    pub(crate) retry_later: bool,
    /// Paces associations on the account and region's own EC2 budget.
    pub(crate) pacer: &'a Pacer,
}

/// How long EC2 may take to see an instance profile IAM just created: retried this long in one
/// invocation (field reports put the delay near 2 minutes: longer waits continue through the work
/// queue, `crate::queue::PROPAGATION_RETRY_DELAY_SECONDS`).
pub(crate) const PROPAGATION_WAIT: Duration = Duration::from_secs(10);
/// The in-invocation wait without a work queue to continue on (the whole chance).
pub(crate) const PROPAGATION_WAIT_WITHOUT_QUEUE: Duration = Duration::from_secs(30);
/// First pause before retrying an association refused for IAM propagation (doubles, up to 8 s).
const PROPAGATION_FIRST_WAIT: Duration = Duration::from_millis(500);

impl Apply<'_> {
    fn item(&self, instance_id: &str, action: Action, status: Status, reason: String) -> Item {
        Item::new(self.account_id, self.region, instance_id, action, status, reason)
    }

    /// Applies every decision in order; never stops early on an error.
    pub(crate) async fn apply(&self, decisions: Vec<(String, Decision)>) -> Vec<Item> {
        let mut items = Vec::with_capacity(decisions.len());
        for (instance_id, decision) in decisions {
            let item = match decision {
                Decision::Compliant { profile, role } => self
                    .item(
                        &instance_id,
                        action::NONE,
                        Status::Skipped,
                        format!("compliant: profile {profile}, role {role} carries the SSM policy"),
                    )
                    .with_reach(Reach::ExistingProfile),
                Decision::ServedByDhmc { reason } => {
                    self.item(&instance_id, action::NONE, Status::Skipped, reason).with_reach(Reach::Dhmc)
                }
                Decision::DhmcCannotServe { reason } => self
                    .item(&instance_id, action::NONE, Status::Failed, reason)
                    .with_cause(Cause::DhmcCannotServe)
                    .with_reach(Reach::None),
                Decision::Leave { action, failed, reason } => self
                    .item(&instance_id, action, if failed { Status::Failed } else { Status::Skipped }, reason)
                    .with_reach(Reach::None),
                Decision::AttachPolicy { profile, role } => {
                    let outcome = self.ledger.ensure_policy(&role, self.dry_run, self.budget).await;
                    let reason = format!("profile {profile}: {}", outcome.reason);
                    let item = self.item(&instance_id, action::ATTACH, outcome.status, reason);
                    let reach = if outcome.status == Status::Failed { Reach::None } else { Reach::ExistingProfile };
                    item.with_known_cause(outcome.cause).with_reach(reach)
                }
                Decision::Associate { profile, attach } => {
                    let item = self.associate(&instance_id, &profile, attach.as_ref()).await;
                    let reached = matches!(item.status, Status::Done | Status::Planned);
                    item.with_reach(if reached { Reach::Profile } else { Reach::None })
                }
            };
            items.push(item);
        }
        items
    }

    async fn associate(&self, instance_id: &str, profile: &str, attach: Option<&RoleRef>) -> Item {
        let (status, reason) = if self.dry_run {
            (Status::Planned, format!("would associate instance profile {profile}"))
        } else if !self.budget.may_start() {
            (Status::Skipped, DEFERRED.to_string())
        } else {
            match self.associate_now(instance_id, profile).await {
                Associated::Now(status, reason) => (status, reason),
                Associated::Failed(reason, cause) => {
                    return self.item(instance_id, action::ASSOCIATE, Status::Failed, reason).with_cause(cause);
                }
                Associated::Later(reason) => {
                    let item = self.item(instance_id, action::ASSOCIATE, Status::Skipped, reason);
                    return item.with_outcome(Some(Outcome::AwaitingIamPropagation));
                }
            }
        };
        let Some(role) = attach.filter(|_| matches!(status, Status::Done | Status::Planned)) else {
            return self.item(instance_id, action::ASSOCIATE, status, reason);
        };
        let role_outcome = self.ledger.ensure_policy(role, self.dry_run, self.budget).await;
        let combined = match (status, role_outcome.status) {
            (_, Status::Failed) => Status::Failed,
            (s, _) => s,
        };
        let item = self.item(instance_id, action::ASSOCIATE, combined, format!("{reason}; {}", role_outcome.reason));
        item.with_known_cause(role_outcome.cause)
    }

    /// Associates `profile`, waiting out IAM's propagation delay: right after IAM creates a
    /// profile (the member stack just deployed), EC2 can answer `InvalidParameterValue` "Invalid
    /// IAM Instance Profile name" ("IAM is eventually consistent", IAM User Guide). Such answers
    /// are retried with backoff for up to [`PROPAGATION_WAIT`], never past the write deadline.
    async fn associate_now(&self, instance_id: &str, profile: &str) -> Associated {
        let started = Instant::now();
        let mut wait = PROPAGATION_FIRST_WAIT;
        loop {
            if !self.pacer.acquire(self.budget).await {
                return Associated::Now(Status::Skipped, DEFERRED.to_string());
            }
            let spec = IamInstanceProfileSpecification::builder().name(profile).build();
            let sent = self
                .ec2
                .associate_iam_instance_profile()
                .instance_id(instance_id)
                .iam_instance_profile(spec)
                .send()
                .await;
            let e = match sent {
                Ok(_) => return Associated::Now(Status::Done, format!("associated instance profile {profile}")),
                Err(e) => e,
            };
            match error_code(&e) {
                // Throttled beyond the SDK's retries: the account's bucket is empty (another actor
                // spends it too). Wait for its refill instead of failing; out of time, defer.
                Some("RequestLimitExceeded" | "Throttling") => self.pacer.drain().await,
                Some("IncorrectState") => return self.lost_race(instance_id).await,
                Some("InvalidInstanceID.NotFound") => {
                    return Associated::Now(Status::Skipped, "instance no longer exists".into());
                }
                Some("InvalidParameterValue") if describe(&e).contains("Invalid IAM Instance Profile") => {
                    let until_limit = self.propagation_wait.saturating_sub(started.elapsed());
                    let pause = self.budget.cap(wait.min(until_limit));
                    if until_limit.is_zero() || self.budget.spent() {
                        return self.not_propagated(profile, started.elapsed(), &describe(&e));
                    }
                    tokio::time::sleep(pause).await;
                    wait = (wait * 2).min(Duration::from_secs(8));
                }
                code => {
                    let reason = format!("cannot associate instance profile {profile}: {}", describe(&e));
                    let cause = code.map_or_else(|| Cause::AwsCallFailed.into(), |c| format!("aws:{c}"));
                    return Associated::Failed(reason, cause);
                }
            }
        }
    }

    /// EC2 still refuses the profile as unknown after this invocation's wait: put back on the
    /// work queue when allowed, failed otherwise (attempts spent, or no queue).
    fn not_propagated(&self, profile: &str, waited: Duration, detail: &str) -> Associated {
        if self.retry_later {
            return Associated::Later(format!(
                "EC2 does not see instance profile {profile} yet after {}s (IAM propagation): retried in {PROPAGATION_RETRY_DELAY_SECONDS} s through the work queue",
                waited.as_secs()
            ));
        }
        Associated::Failed(
            format!(
                "cannot associate instance profile {profile}: EC2 still does not know it after {}s and every retry (IAM propagation, or the profile is missing): {detail}",
                waited.as_secs()
            ),
            Cause::IamPropagation.into(),
        )
    }

    /// `IncorrectState`: someone associated a profile between our read and our write. Re-read
    /// and report what is there now; never replace it.
    async fn lost_race(&self, instance_id: &str) -> Associated {
        let (status, reason) = self.lost_race_outcome(instance_id).await;
        Associated::Now(status, reason)
    }

    async fn lost_race_outcome(&self, instance_id: &str) -> (Status, String) {
        match current_association(self.ec2, instance_id).await {
            Ok(Some(arn)) => (
                Status::Skipped,
                format!(
                    "another actor associated instance profile {arn} meanwhile; left as is, the next scan checks its role"
                ),
            ),
            Ok(None) => (
                Status::Failed,
                "IncorrectState on associate but no association found on re-read; the next scan retries".into(),
            ),
            Err(e) => (Status::Failed, format!("IncorrectState on associate and the re-read failed: {e}")),
        }
    }
}
