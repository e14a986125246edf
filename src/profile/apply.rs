//! The executor: applies a unit's decisions and records one report item per instance.

use std::time::Instant;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::IamInstanceProfileSpecification;

use super::ledger::{DEFERRED, RoleLedger};
use super::plan::{Decision, RoleRef, action};
use super::read::current_association;
use crate::aws::{describe, error_code};
use crate::report::{Item, Status};

/// Where and how a unit's decisions are applied.
pub(crate) struct Unit<'a> {
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
    /// No write is started after this instant.
    pub write_deadline: Option<Instant>,
}

impl Unit<'_> {
    fn may_write(&self) -> bool {
        self.write_deadline.is_none_or(|d| Instant::now() < d)
    }

    fn item(&self, instance_id: &str, action: &str, status: Status, reason: String) -> Item {
        Item::new(self.account_id, self.region, instance_id, action, status, reason)
    }

    /// Applies every decision in order; never stops early on an error.
    pub(crate) async fn apply(&self, decisions: Vec<(String, Decision)>) -> Vec<Item> {
        let mut items = Vec::with_capacity(decisions.len());
        for (instance_id, decision) in decisions {
            let item = match decision {
                Decision::Compliant { profile, role } => self.item(
                    &instance_id,
                    action::NONE,
                    Status::Skipped,
                    format!("compliant: profile {profile}, role {role} carries AmazonSSMManagedInstanceCore"),
                ),
                Decision::Leave { action, failed, reason } => {
                    self.item(&instance_id, action, if failed { Status::Failed } else { Status::Skipped }, reason)
                }
                Decision::AttachPolicy { profile, role } => {
                    let (status, reason) = self.ledger.ensure_policy(&role, self.dry_run, self.may_write()).await;
                    self.item(&instance_id, action::ATTACH, status, format!("profile {profile}: {reason}"))
                }
                Decision::Associate { profile, attach } => {
                    self.associate(&instance_id, &profile, attach.as_ref()).await
                }
            };
            items.push(item);
        }
        items
    }

    async fn associate(&self, instance_id: &str, profile: &str, attach: Option<&RoleRef>) -> Item {
        let (status, reason) = if self.dry_run {
            (Status::Planned, format!("would associate instance profile {profile}"))
        } else if !self.may_write() {
            (Status::Skipped, DEFERRED.to_string())
        } else {
            let spec = IamInstanceProfileSpecification::builder().name(profile).build();
            match self
                .ec2
                .associate_iam_instance_profile()
                .instance_id(instance_id)
                .iam_instance_profile(spec)
                .send()
                .await
            {
                Ok(_) => (Status::Done, format!("associated instance profile {profile}")),
                Err(e) => match error_code(&e) {
                    Some("IncorrectState") => self.lost_race(instance_id).await,
                    Some("InvalidInstanceID.NotFound") => (Status::Skipped, "instance no longer exists".to_string()),
                    _ => (Status::Failed, format!("cannot associate instance profile {profile}: {}", describe(&e))),
                },
            }
        };
        let Some(role) = attach.filter(|_| matches!(status, Status::Done | Status::Planned)) else {
            return self.item(instance_id, action::ASSOCIATE, status, reason);
        };
        let (role_status, role_reason) = self.ledger.ensure_policy(role, self.dry_run, self.may_write()).await;
        let combined = match (status, role_status) {
            (_, Status::Failed) => Status::Failed,
            (s, _) => s,
        };
        self.item(instance_id, action::ASSOCIATE, combined, format!("{reason}; {role_reason}"))
    }

    /// `IncorrectState`: someone associated a profile between our read and our write. Re-read
    /// and report what is there now; never replace it.
    async fn lost_race(&self, instance_id: &str) -> (Status, String) {
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
