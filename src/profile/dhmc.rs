//! Default Host Management Configuration (DHMC): Systems Manager reaching instances without an
//! instance profile. "After you've turned on this setting, all instances using Instance Metadata
//! Service Version 2 (IMDSv2) in the AWS Region and AWS account with SSM Agent version 3.2.582.0
//! or later installed automatically become managed instances. Default Host Management
//! Configuration doesn't support Instance Metadata Service Version 1." (Systems Manager User Guide,
//! Default Host Management Configuration.)
//!
//! DHMC is one service setting per account and Region,
//! `/ssm/managed-instance/default-ec2-instance-management-role`: "For
//! /ssm/managed-instance/default-ec2-instance-management-role, enter the name of an IAM role"
//! (UpdateServiceSetting). Its `Status` is "Default: The current setting uses a default value
//! provisioned by the AWS service team" or "Customized: The current setting use a custom value
//! specified by the customer": `Customized` means DHMC is on, with that role.
//!
//! The connector turns it on through the API, only where it is off, never through the member
//! template's `AWS::SSM::DefaultHostManagementConfiguration`: "Creating the resource fails if
//! Default Host Management Configuration is already turned on" (CloudFormation reference), which
//! would fail the member stack in every account whose owner turned DHMC on already. A role that is
//! not the connector's is reported (`dhmc-customer-role`) and never overwritten.

use std::collections::HashSet;

use aws_sdk_ssm::Client;

use crate::aws::describe;
use crate::error::Failure;
use crate::report::{Action, Cause, Item, Status};

/// The service setting that holds DHMC's role.
pub(crate) const SETTING_ID: &str = "/ssm/managed-instance/default-ec2-instance-management-role";

/// `SSM_REACH`: how Systems Manager reaches instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reach {
    /// The connector's instance profile on every instance without one (the reference product's way).
    #[default]
    Profiles,
    /// DHMC only: no instance is written; one DHMC cannot serve is reported with the fix.
    Dhmc,
    /// DHMC, and the profile for an instance DHMC cannot serve.
    Both,
}

impl Reach {
    /// The variable's spelling.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        match value {
            "profiles" => Some(Reach::Profiles),
            "dhmc" => Some(Reach::Dhmc),
            "both" => Some(Reach::Both),
            _ => None,
        }
    }

    /// Whether the mode turns DHMC on and relies on it.
    pub(crate) fn uses_dhmc(self) -> bool {
        self != Reach::Profiles
    }
}

/// DHMC in one account and Region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dhmc {
    /// Off (the setting has its default value).
    Off,
    /// On with the connector's role.
    Connector,
    /// On with another role (named): left alone, and it serves instances all the same.
    Customer(String),
    /// Could not be read or turned on (why).
    Unknown(String),
}

impl Dhmc {
    /// Whether DHMC manages the Region's IMDSv2 instances.
    pub(crate) fn serves(&self) -> bool {
        matches!(self, Dhmc::Connector | Dhmc::Customer(_))
    }
}

/// How long an IMDSv2 instance without a profile may run, with DHMC on since before the run,
/// without Systems Manager listing it before it is taken as not reached through DHMC (its agent is
/// missing or older than 3.2.582.0, or it cannot reach Systems Manager's endpoints). AWS documents
/// no registration delay for DHMC; an hour is the connector's margin (the agent registers within
/// minutes of starting).
pub(crate) const UNREACHED_AFTER_SECONDS: i64 = 3600;

/// The instances Systems Manager manages in the unit's Region (`DescribeInstanceInformation`,
/// paginated): where DHMC serves, what it actually reached.
pub(crate) async fn managed_ids(ssm: &Client) -> Result<HashSet<String>, Failure> {
    let mut out = HashSet::new();
    let mut pages = ssm.describe_instance_information().max_results(50).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Failure::aws("DescribeInstanceInformation failed", &e))?;
        out.extend(page.instance_information_list().iter().filter_map(|i| i.instance_id().map(String::from)));
    }
    Ok(out)
}

/// Reads the setting: DHMC as it stands, and since when (its `LastModifiedDate`, seconds since the
/// Unix epoch). Off is the value `$None` (or none); a change awaiting approval ("PendingUpdate: The
/// current setting uses a default value provisioned by the AWS service team. A setting change
/// request is pending approval", ServiceSetting) decides nothing; any other value is a role, the
/// connector's when it is exactly `role` (the member template's role has no path, and
/// `DhmcRoleName` allows no `/`: a value with a path, as AWS's own
/// `service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole`, is a customer's).
pub(crate) async fn read(ssm: &Client, role: &str) -> Result<(Dhmc, Option<i64>), Failure> {
    let out = ssm
        .get_service_setting()
        .setting_id(SETTING_ID)
        .send()
        .await
        .map_err(|e| Failure::aws(format!("cannot read the service setting {SETTING_ID}"), &e))?;
    let setting = out.service_setting();
    let value = setting.and_then(|s| s.setting_value()).unwrap_or_default();
    let since = setting.and_then(|s| s.last_modified_date()).map(|d| d.secs());
    let dhmc = match (setting.and_then(|s| s.status()), value) {
        (Some("PendingUpdate"), _) => Dhmc::Unknown(format!("a change of {SETTING_ID} is pending approval")),
        (_, "" | "$None") => Dhmc::Off,
        (_, value) if value == role => Dhmc::Connector,
        (_, value) => Dhmc::Customer(value.to_string()),
    };
    Ok((dhmc, since))
}

/// Turns DHMC on with `role` where it is off; the item saying what was found or done, DHMC as it
/// stands after it (a dry run answers as if it were on), and since when it has been on (`None` when
/// this run turned it on). `conflict`: why it must not be turned on here (a pilot, opted-out
/// instances it would reach); it is then only read.
pub(crate) async fn ensure(
    ssm: &Client,
    unit: (&str, &str),
    role: &str,
    dry_run: bool,
    conflict: Option<String>,
) -> (Item, Dhmc, Option<i64>) {
    let (account, region) = unit;
    let item =
        |status: Status, reason: String| Item::new(account, region, SETTING_ID, Action::RegisterDhmc, status, reason);
    match read(ssm, role).await {
        Err(failure) => {
            let cause = failure.cause();
            (item(Status::Failed, failure.to_string()).with_cause(cause), Dhmc::Unknown(failure.to_string()), None)
        }
        Ok((Dhmc::Connector, since)) => {
            (item(Status::Skipped, format!("DHMC is on with the connector's role {role}")), Dhmc::Connector, since)
        }
        Ok((Dhmc::Customer(theirs), since)) => {
            let reason = format!(
                "DHMC is on with role {theirs}, not the connector's: left alone (it manages the Region's IMDSv2 instances with that role's rights)"
            );
            (item(Status::Skipped, reason).with_cause(Cause::DhmcCustomerRole), Dhmc::Customer(theirs), since)
        }
        Ok((Dhmc::Unknown(why), _)) => {
            (item(Status::Failed, format!("{why}: DHMC is left as it is")), Dhmc::Unknown(why), None)
        }
        Ok((Dhmc::Off, _)) => match conflict {
            Some(why) => {
                let reason = format!("DHMC is off and is not turned on: {why}");
                (item(Status::Skipped, reason).with_cause(Cause::DhmcScopeConflict), Dhmc::Off, None)
            }
            None if dry_run => {
                (item(Status::Planned, format!("would turn DHMC on with role {role}")), Dhmc::Connector, None)
            }
            None => turn_on(ssm, role, item).await,
        },
    }
}

/// `UpdateServiceSetting` with the connector's role.
async fn turn_on(ssm: &Client, role: &str, item: impl Fn(Status, String) -> Item) -> (Item, Dhmc, Option<i64>) {
    match ssm.update_service_setting().setting_id(SETTING_ID).setting_value(role).send().await {
        Ok(_) => (item(Status::Done, format!("turned DHMC on with role {role}")), Dhmc::Connector, None),
        Err(e) => {
            let failure = Failure::aws(format!("cannot turn DHMC on with role {role}"), &e);
            let (cause, why) = (failure.cause(), describe(&e));
            (item(Status::Failed, failure.to_string()).with_cause(cause), Dhmc::Unknown(why), None)
        }
    }
}

/// Turns DHMC off where its role is the connector's (`ResetServiceSetting`: "Reset the service
/// setting for the account to the default value as provisioned by the AWS service team"), never
/// where it is a customer's: `{"action":"scan","releaseDhmc":true}`.
pub(crate) async fn release(ssm: &Client, unit: (&str, &str), role: &str, dry_run: bool) -> Item {
    let (account, region) = unit;
    let item =
        |status: Status, reason: String| Item::new(account, region, SETTING_ID, Action::ReleaseDhmc, status, reason);
    match read(ssm, role).await.map(|(dhmc, _)| dhmc) {
        Err(failure) => {
            let cause = failure.cause();
            item(Status::Failed, failure.to_string()).with_cause(cause)
        }
        Ok(Dhmc::Customer(theirs)) => {
            let reason = format!("DHMC is on with role {theirs}, not the connector's: left on");
            item(Status::Skipped, reason).with_cause(Cause::DhmcCustomerRole)
        }
        Ok(Dhmc::Unknown(why)) => item(Status::Failed, format!("{why}: DHMC is left as it is")),
        Ok(Dhmc::Off) => item(Status::Skipped, "DHMC is off: nothing to release".into()),
        Ok(Dhmc::Connector) if dry_run => item(
            Status::Planned,
            format!(
                "would turn DHMC off (its role is the connector's {role}); the instances it manages without a profile would lose Systems Manager"
            ),
        ),
        Ok(Dhmc::Connector) => match ssm.reset_service_setting().setting_id(SETTING_ID).send().await {
            Ok(_) => item(
                Status::Done,
                format!(
                    "turned DHMC off (its role was the connector's {role}); the instances it managed without a profile no longer reach Systems Manager"
                ),
            ),
            Err(e) => {
                let failure = Failure::aws(format!("cannot turn DHMC off ({role})"), &e);
                let cause = failure.cause();
                item(Status::Failed, failure.to_string()).with_cause(cause)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reach_modes_are_spelled_as_documented() {
        assert_eq!(Reach::parse("both"), Some(Reach::Both));
        assert_eq!(Reach::parse("DHMC"), None);
        assert!(!Reach::Profiles.uses_dhmc() && Reach::Dhmc.uses_dhmc());
        assert!(
            Dhmc::Customer("theirs".into()).serves() && !Dhmc::Off.serves() && !Dhmc::Unknown(String::new()).serves()
        );
    }
}
