//! Reads one (account, region) into [`UnitState`]: paginated `DescribeInstances` and
//! `DescribeIamInstanceProfileAssociations`, then the referenced profiles through [`IamView`].

use std::collections::{BTreeSet, HashMap};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Filter;

use super::state::{AttachedProfile, Instance, UnitState};
use crate::config::Fleet;
use crate::error::Failure;
use crate::iam::IamView;

/// Instance states considered (terminated and shutting-down instances are ignored).
const STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];
/// Largest page `DescribeInstances` allows.
const PAGE_SIZE: i32 = 1000;

/// Reads the unit. `only` limits it to one instance (the launch event path).
pub(crate) async fn read_unit(
    ec2: &Client,
    iam: &IamView,
    fleet: &Fleet,
    connector_profile: &str,
    only: Option<&[String]>,
) -> Result<UnitState, Failure> {
    let mut instances = describe_instances(ec2, fleet, only).await?;
    let associations = describe_associations(ec2, only).await?;
    for instance in &mut instances {
        match (associations.get(&instance.id), instance.profile.as_mut()) {
            (Some((arn, state)), Some(profile)) if *arn == profile.arn => {
                profile.association_state = Some(state.clone())
            }
            (Some((arn, state)), _) => {
                instance.profile = Some(AttachedProfile { arn: arn.clone(), association_state: Some(state.clone()) })
            }
            (None, _) => {}
        }
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for instance in instances.iter().filter(|i| i.left_alone.is_none()) {
        match &instance.profile {
            Some(p) if p.association_state.as_deref() != Some("disassociated") => names.insert(p.name().to_string()),
            _ => names.insert(connector_profile.to_string()),
        };
    }
    let profiles = iam.profiles(names).await;
    Ok(UnitState { instances, profiles })
}

/// Instances of the unit (only those of `only` when given: an `instance-id` filter, so one that
/// no longer exists is simply absent instead of failing the call with `InvalidInstanceID.NotFound`).
async fn describe_instances(ec2: &Client, fleet: &Fleet, only: Option<&[String]>) -> Result<Vec<Instance>, Failure> {
    let state_filter =
        Filter::builder().name("instance-state-name").set_values(Some(STATES.map(String::from).to_vec())).build();
    let request = ec2.describe_instances().filters(state_filter).max_results(PAGE_SIZE);
    let request = match only {
        Some(ids) => request.filters(Filter::builder().name("instance-id").set_values(Some(ids.to_vec())).build()),
        None => request,
    };
    let mut pages = request.into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) => return Err(Failure::aws("DescribeInstances failed", &e)),
        };
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let Some(id) = instance.instance_id() else {
                continue;
            };
            out.push(Instance {
                id: id.to_string(),
                state: instance.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default(),
                left_alone: fleet.tags_admit(instance.tags().iter().filter_map(|t| t.key())).left_alone(fleet),
                profile: instance
                    .iam_instance_profile()
                    .and_then(|p| p.arn())
                    .map(|arn| AttachedProfile { arn: arn.to_string(), association_state: None }),
                imds_v2_required: instance
                    .metadata_options()
                    .and_then(|m| m.http_tokens())
                    .is_some_and(|t| *t == aws_sdk_ec2::types::HttpTokensState::Required),
                launched_at: instance.launch_time().map(|t| t.secs()),
            });
        }
    }
    Ok(out)
}

/// Association per instance id: (profile ARN, state). A live association wins over a
/// `disassociated` one for the same instance.
async fn describe_associations(
    ec2: &Client,
    only: Option<&[String]>,
) -> Result<HashMap<String, (String, String)>, Failure> {
    let mut request = ec2.describe_iam_instance_profile_associations();
    if let Some(ids) = only {
        request = request.filters(Filter::builder().name("instance-id").set_values(Some(ids.to_vec())).build());
    }
    let mut pages = request.into_paginator().send();
    let mut out: HashMap<String, (String, String)> = HashMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Failure::aws("DescribeIamInstanceProfileAssociations failed", &e))?;
        for association in page.iam_instance_profile_associations() {
            let (Some(id), Some(arn)) =
                (association.instance_id(), association.iam_instance_profile().and_then(|p| p.arn()))
            else {
                continue;
            };
            let state = association.state().map(|s| s.as_str().to_string()).unwrap_or_default();
            let keep_existing = out.get(id).is_some_and(|(_, s)| s != "disassociated");
            if !keep_existing {
                out.insert(id.to_string(), (arn.to_string(), state));
            }
        }
    }
    Ok(out)
}

/// Re-reads the live association of one instance after a lost race: the profile ARN, if any.
pub(crate) async fn current_association(ec2: &Client, instance_id: &str) -> Result<Option<String>, Failure> {
    let associations = describe_associations(ec2, Some(&[instance_id.to_string()])).await?;
    Ok(associations.get(instance_id).filter(|(_, s)| s != "disassociated").map(|(arn, _)| arn.clone()))
}
