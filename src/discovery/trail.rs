//! The CloudTrail trail four Organizations events need: `MoveAccount`,
//! `RemoveAccountFromOrganization`, `CloseAccount` and `AcceptHandshake` are API calls, and
//! EventBridge, "Events from AWS services": "To record events with a detail-type value of AWS API
//! Call via CloudTrail, a CloudTrail trail with logging enabled is required." Organizations' API
//! calls are recorded in its home region (us-east-1; cn-northwest-1 and us-gov-west-1 in the other
//! partitions), so a trail there (or a multi-Region trail) must log management write events.
//! Organization trails show in member accounts as shadow trails (`includeShadowTrails`).

use aws_sdk_cloudtrail::types::{AdvancedEventSelector, EventSelector, ReadWriteType, Trail};

use crate::aws::describe;
use crate::preflight::Check;

/// The check's name.
pub(crate) const NAME: &str = "cloudtrail-management-events";

/// The region Organizations records its API calls in, for a function in `region`'s partition.
pub(crate) fn organizations_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "cn-northwest-1"
    } else if region.starts_with("us-gov-") {
        "us-gov-west-1"
    } else {
        "us-east-1"
    }
}

/// Looks for a logging trail that records management write events in `org_region`; `cloudtrail`
/// is a client of that region. From a delegated administrator only an organization trail counts:
/// the events are the management account's, and a member account sees the management account's
/// organization trails only ("the replication of an organization trail in member accounts",
/// CloudTrail API reference, `IncludeShadowTrails`); its own trails record its own calls.
pub(crate) async fn check(cloudtrail: &aws_sdk_cloudtrail::Client, org_region: &str, delegated_admin: bool) -> Check {
    let describe_command = format!("aws cloudtrail describe-trails --include-shadow-trails --region {org_region}");
    let trails = match cloudtrail.describe_trails().include_shadow_trails(true).send().await {
        Ok(out) => out.trail_list.unwrap_or_default(),
        Err(e) => return Check::unchecked(NAME, format!("DescribeTrails failed: {}", describe(&e)), describe_command),
    };
    let mut unreadable = Vec::new();
    let counted = |t: &&Trail| covers(t, org_region) && (!delegated_admin || t.is_organization_trail() == Some(true));
    for trail in trails.iter().filter(counted) {
        let Some(arn) = trail.trail_arn() else { continue };
        match records_management_writes(cloudtrail, arn).await {
            Ok(true) => return Check::ok(NAME, format!("trail {arn} logs management write events in {org_region}")),
            Ok(false) => {}
            Err(why) => unreadable.push(format!("{arn}: {why}")),
        }
    }
    if !unreadable.is_empty() {
        return Check::unchecked(NAME, unreadable.join("; "), describe_command);
    }
    let fix = format!(
        "in the management account: aws cloudtrail create-trail --name mdc-connector-management-events --s3-bucket-name <a bucket whose policy lets CloudTrail write> --is-multi-region-trail{} --region {org_region} && aws cloudtrail start-logging --name mdc-connector-management-events --region {org_region}",
        if delegated_admin { " --is-organization-trail" } else { "" }
    );
    if delegated_admin {
        let why = format!(
            "no logging organization trail recording management write events in {org_region} is visible from this delegated administrator; a trail of the management account's own is not visible here"
        );
        let check = format!(
            "in the management account: aws cloudtrail describe-trails --region {org_region}, then aws cloudtrail get-trail-status --name <trail>; or create an organization trail: {fix}"
        );
        return Check::unchecked(NAME, why, check);
    }
    let what = format!(
        "no logging trail records management write events in {org_region}: MoveAccount, RemoveAccountFromOrganization, CloseAccount and AcceptHandshake never reach the connector (the daily reconcile still covers them)"
    );
    Check::missing(NAME, what, fix)
}

/// A trail that can see `org_region`'s global-service events (Organizations is one): multi-Region,
/// or homed there, and not excluding them ("IncludeGlobalServiceEvents: Specifies whether the trail
/// is publishing events from global services such as IAM to the log files").
fn covers(trail: &Trail, org_region: &str) -> bool {
    let here = trail.is_multi_region_trail() == Some(true) || trail.home_region() == Some(org_region);
    here && trail.include_global_service_events() != Some(false)
}

/// Whether the trail `arn` is logging and selects management write events.
async fn records_management_writes(cloudtrail: &aws_sdk_cloudtrail::Client, arn: &str) -> Result<bool, String> {
    let status = cloudtrail.get_trail_status().name(arn).send().await.map_err(|e| describe(&e))?;
    if status.is_logging() != Some(true) {
        return Ok(false);
    }
    let selectors = cloudtrail.get_event_selectors().trail_name(arn).send().await.map_err(|e| describe(&e))?;
    let (basic, advanced) = (selectors.event_selectors(), selectors.advanced_event_selectors());
    // A trail created without selectors logs all management events (CloudTrail's default).
    Ok((basic.is_empty() && advanced.is_empty())
        || basic.iter().any(basic_selects_writes)
        || advanced.iter().any(advanced_selects_writes))
}

/// "IncludeManagementEvents ... the default value is true"; `ReadOnly` selects reads only.
fn basic_selects_writes(selector: &EventSelector) -> bool {
    selector.include_management_events() != Some(false) && selector.read_write_type() != Some(&ReadWriteType::ReadOnly)
}

/// An advanced selector of `eventCategory = Management` that does not keep reads only
/// (`readOnly` equal to `true`, or not equal to `false`).
fn advanced_selects_writes(selector: &AdvancedEventSelector) -> bool {
    let fields = selector.field_selectors();
    let equals = |field: &str, value: &str| {
        fields.iter().any(|f| f.field() == field && f.equals().iter().any(|v| v.eq_ignore_ascii_case(value)))
    };
    let not_equals = |field: &str, value: &str| {
        fields.iter().any(|f| f.field() == field && f.not_equals().iter().any(|v| v.eq_ignore_ascii_case(value)))
    };
    equals("eventCategory", "Management") && !equals("readOnly", "true") && !not_equals("readOnly", "false")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudtrail::types::AdvancedFieldSelector;

    fn field(name: &str, value: &str) -> AdvancedFieldSelector {
        AdvancedFieldSelector::builder().field(name).equals(value).build().unwrap()
    }

    #[test]
    fn organizations_records_in_its_partitions_home_region() {
        assert_eq!(organizations_region("eu-west-1"), "us-east-1");
        assert_eq!(organizations_region("cn-north-1"), "cn-northwest-1");
        assert_eq!(organizations_region("us-gov-east-1"), "us-gov-west-1");
    }

    #[test]
    fn a_trail_covers_organizations_from_its_region_or_all_with_global_service_events() {
        let trail = |multi: bool, home: &str, global: Option<bool>| {
            let t = Trail::builder().is_multi_region_trail(multi).home_region(home);
            match global {
                Some(g) => t.include_global_service_events(g).build(),
                None => t.build(),
            }
        };
        assert!(covers(&trail(true, "eu-west-1", None), "us-east-1"));
        assert!(covers(&trail(false, "us-east-1", Some(true)), "us-east-1"));
        assert!(!covers(&trail(false, "eu-west-1", None), "us-east-1"), "another region only");
        assert!(!covers(&trail(true, "us-east-1", Some(false)), "us-east-1"), "no global-service events");
    }

    #[test]
    fn read_only_selectors_do_not_record_the_organizations_writes() {
        let reads = EventSelector::builder().read_write_type(ReadWriteType::ReadOnly).build();
        let all = EventSelector::builder().read_write_type(ReadWriteType::All).build();
        let no_management = EventSelector::builder().include_management_events(false).build();
        assert!(!basic_selects_writes(&reads) && basic_selects_writes(&all) && !basic_selects_writes(&no_management));
        let management = AdvancedEventSelector::builder().field_selectors(field("eventCategory", "Management"));
        assert!(advanced_selects_writes(&management.clone().build().unwrap()));
        let read_only = management.clone().field_selectors(field("readOnly", "true")).build().unwrap();
        assert!(!advanced_selects_writes(&read_only));
        let not_false = AdvancedFieldSelector::builder().field("readOnly").not_equals("false").build().unwrap();
        assert!(!advanced_selects_writes(&management.field_selectors(not_false).build().unwrap()));
    }
}
