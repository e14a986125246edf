//! Reads one (account, region) into [`UnitState`]: managed instances (SSM), running instances
//! (EC2), the connector documents' versions and recent runs, and, for instances SSM does not
//! know, whether their profile's role lets SSM in (IAM, cached per account).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use aws_sdk_ec2::types::Filter;
use aws_sdk_ssm::types::{CommandFilter, CommandFilterKey, InstanceInformationStringFilter, PlatformType};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::document;
use super::outcome::{is_final, is_settled, parse_result};
use super::phase::Phase;
use super::state::{
    AlteredDocument, Ec2Instance, LastRun, ManagedInstance, Mismatch, Platform, ProfileDiagnosis, UnitState,
};
use crate::aws::error_code;
use crate::error::Failure;
use crate::iam::{IamView, PolicyState, ProfileLookup, profile_name_from_arn};

/// Run Command keeps invocations for 30 days: older runs are not visible anyway.
const HISTORY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Reads the unit. `only` limits EC2 reads to these ids.
pub(crate) async fn read_unit(
    ec2: &aws_sdk_ec2::Client,
    ssm: &aws_sdk_ssm::Client,
    iam: &IamView,
    documents: &HashMap<Platform, String>,
    only: Option<&BTreeSet<String>>,
    with_history: bool,
) -> Result<UnitState, Failure> {
    let instances = running_instances(ec2, only).await?;
    let managed = managed_instances(ssm).await?;
    let (document_versions, altered_documents) = document_versions(ssm, documents).await?;
    let history = if with_history { history(ssm, documents).await? } else { HashMap::new() };
    let unmanaged_profiles: BTreeSet<String> =
        instances.iter().filter(|i| !managed.contains_key(&i.id)).filter_map(|i| i.profile_arn.clone()).collect();
    let profiles = diagnose_profiles(iam, unmanaged_profiles).await;
    Ok(UnitState {
        instances,
        managed,
        history,
        document_versions,
        altered_documents,
        profiles,
        azure: Default::default(),
    })
}

async fn running_instances(
    ec2: &aws_sdk_ec2::Client,
    only: Option<&BTreeSet<String>>,
) -> Result<Vec<Ec2Instance>, Failure> {
    let mut request = ec2
        .describe_instances()
        .filters(Filter::builder().name("instance-state-name").values("running").build())
        .max_results(1000);
    // A filter takes at most 200 values; beyond that, read every running instance (the planner selects).
    if let Some(ids) = only.filter(|ids| ids.len() <= 200) {
        request = request
            .filters(Filter::builder().name("instance-id").set_values(Some(ids.iter().cloned().collect())).build());
    }
    let mut pages = request.into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Failure::aws("DescribeInstances", &e))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let Some(id) = instance.instance_id() else { continue };
            out.push(Ec2Instance {
                id: id.to_string(),
                tags: instance
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                    .collect(),
                profile_arn: instance.iam_instance_profile().and_then(|p| p.arn()).map(str::to_string),
            });
        }
    }
    Ok(out)
}

pub(crate) async fn managed_instances(ssm: &aws_sdk_ssm::Client) -> Result<HashMap<String, ManagedInstance>, Failure> {
    let filter = InstanceInformationStringFilter::builder()
        .key("ResourceType")
        .values("EC2Instance")
        .build()
        .map_err(|e| Failure::Unexpected(format!("internal: {e}")))?;
    let mut pages = ssm.describe_instance_information().filters(filter).max_results(50).into_paginator().send();
    let mut out = HashMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Failure::aws("DescribeInstanceInformation", &e))?;
        for info in page.instance_information_list() {
            let Some(id) = info.instance_id() else { continue };
            let platform = match info.platform_type() {
                Some(PlatformType::Linux) => Some(Platform::Linux),
                Some(PlatformType::Windows) => Some(Platform::Windows),
                _ => None,
            };
            let ping_status = info.ping_status().map(|p| p.as_str().to_string()).unwrap_or_default();
            out.insert(id.to_string(), ManagedInstance { id: id.to_string(), ping_status, platform });
        }
    }
    Ok(out)
}

/// Each platform document's default version, when its content is the connector's (`GetDocument`
/// of that version, checked by [`document::verify`]); and what differs in those that are not.
async fn document_versions(
    ssm: &aws_sdk_ssm::Client,
    documents: &HashMap<Platform, String>,
) -> Result<(HashMap<Platform, String>, HashMap<Platform, AlteredDocument>), Failure> {
    let (mut verified, mut altered) = (HashMap::new(), HashMap::new());
    for (platform, name) in documents {
        let (version, latest) = match ssm.describe_document().name(name).send().await {
            Ok(found) => {
                let document = found.document();
                (
                    document.and_then(|d| d.default_version()).map(String::from),
                    document.and_then(|d| d.latest_version()).map(String::from),
                )
            }
            Err(e) if error_code(&e) == Some("InvalidDocument") => (None, None),
            Err(e) => return Err(Failure::aws(format!("DescribeDocument {name}"), &e)),
        };
        let Some(version) = version else { continue };
        let found = ssm
            .get_document()
            .name(name)
            .document_version(&version)
            .send()
            .await
            .map_err(|e| Failure::aws(format!("GetDocument {name}"), &e))?;
        match document::verify(*platform, found.content().unwrap_or_default()) {
            Ok(()) => _ = verified.insert(*platform, version),
            Err(mismatch) => {
                _ = altered.insert(
                    *platform,
                    AlteredDocument { mismatch: demoted(mismatch, &version, latest.as_deref()), version },
                )
            }
        }
    }
    Ok((verified, altered))
}

/// An earlier release's document is an account awaiting its member stack's update only while it is
/// the document's latest version: a newer version means the stack was updated and someone made
/// the older one the default again, which is refused like any other change.
fn demoted(mismatch: Mismatch, default: &str, latest: Option<&str>) -> Mismatch {
    match (mismatch, latest) {
        (Mismatch::Previous(release), Some(latest)) if latest != default => Mismatch::Differs(format!(
            "its default version is release {release}'s while version {latest} exists: someone made the older version the default again"
        )),
        (mismatch, _) => mismatch,
    }
}

/// Latest invocation of a connector document per instance, with its parsed result and how many
/// deliveries of a sealed credential in a row failed the same way.
async fn history(
    ssm: &aws_sdk_ssm::Client,
    documents: &HashMap<Platform, String>,
) -> Result<HashMap<String, LastRun>, Failure> {
    let since = DateTime::from(SystemTime::now() - HISTORY)
        .fmt(Format::DateTime)
        .map_err(|e| Failure::Unexpected(format!("internal: {e}")))?;
    let mut runs: HashMap<String, Vec<(f64, LastRun)>> = HashMap::new();
    for name in documents.values() {
        let filters = [
            CommandFilter::builder().key(CommandFilterKey::DocumentName).value(name).build(),
            CommandFilter::builder().key(CommandFilterKey::InvokedAfter).value(&since).build(),
        ];
        let mut request = ssm.list_command_invocations().details(true).max_results(50);
        for filter in filters {
            request = request.filters(filter.map_err(|e| Failure::Unexpected(format!("internal: {e}")))?);
        }
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Failure::aws("ListCommandInvocations", &e))?;
            for invocation in page.command_invocations() {
                let (Some(instance), Some(command)) = (invocation.instance_id(), invocation.command_id()) else {
                    continue;
                };
                let when = invocation.requested_date_time().map(|t| t.as_secs_f64()).unwrap_or_default();
                let output: String =
                    invocation.command_plugins().iter().filter_map(|p| p.output()).collect::<Vec<_>>().join("\n");
                let run = LastRun {
                    command_id: command.to_string(),
                    document_name: name.clone(),
                    document_version: invocation.document_version().unwrap_or_default().to_string(),
                    comment: invocation.comment().unwrap_or_default().to_string(),
                    status: invocation.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                    result: parse_result(&output),
                    failed_deliveries: 0,
                };
                runs.entry(instance.to_string()).or_default().push((when, run));
            }
        }
    }
    Ok(runs.into_iter().filter_map(|(id, runs)| latest_with_deliveries(runs).map(|run| (id, run))).collect())
}

/// The newest run, counting the connect commands before it (newest first) that failed, whatever
/// the failure, back to the last settled one: an instance alternating its failures gets no more
/// deliveries than one failing the same way. Prepare commands and other commands do not break the
/// count.
fn latest_with_deliveries(mut runs: Vec<(f64, LastRun)>) -> Option<LastRun> {
    runs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let failed = |run: &LastRun| is_final(&run.status) && !run.result.as_ref().is_some_and(is_settled);
    let is_delivery = |run: &LastRun| Phase::of_comment(&run.comment) == Some(Phase::Connect);
    let count = runs.iter().map(|(_, run)| run).filter(|run| is_delivery(run)).take_while(|run| failed(run)).count();
    let (_, mut latest) = runs.into_iter().next()?;
    latest.failed_deliveries = u32::try_from(count).unwrap_or(u32::MAX);
    Some(latest)
}

async fn diagnose_profiles(iam: &IamView, arns: BTreeSet<String>) -> HashMap<String, ProfileDiagnosis> {
    if arns.is_empty() {
        return HashMap::new();
    }
    let names: Vec<String> = arns.iter().map(|a| profile_name_from_arn(a).to_string()).collect();
    let found = iam.profiles(names).await;
    arns.into_iter()
        .map(|arn| {
            let name = profile_name_from_arn(&arn).to_string();
            let diagnosis = match found.get(&name) {
                Some(ProfileLookup::Found(profile)) if profile.roles.is_empty() => {
                    ProfileDiagnosis::PolicyMissing(format!("its profile {name} has no role; add one carrying AmazonSSMManagedEC2InstanceDefaultPolicy or AmazonSSMManagedInstanceCore"))
                }
                Some(ProfileLookup::Found(profile)) => {
                    if profile.roles.iter().any(|r| r.policy == PolicyState::Attached) {
                        ProfileDiagnosis::PolicyAttached
                    } else if let Some(reason) = profile.roles.iter().find_map(|r| match &r.policy {
                        PolicyState::Unknown(reason) => Some(reason.clone()),
                        _ => None,
                    }) {
                        ProfileDiagnosis::Unknown(reason)
                    } else {
                        let roles: Vec<&str> = profile.roles.iter().map(|r| r.arn.as_str()).collect();
                        ProfileDiagnosis::PolicyMissing(format!(
                            "the role of its profile ({}) lacks AmazonSSMManagedInstanceCore or AmazonSSMManagedEC2InstanceDefaultPolicy (profile-scan attaches it)",
                            roles.join(", ")
                        ))
                    }
                }
                Some(ProfileLookup::Missing) => {
                    ProfileDiagnosis::PolicyMissing(format!("its profile {name} no longer exists"))
                }
                Some(ProfileLookup::Unreadable(reason)) => ProfileDiagnosis::Unknown(reason.clone()),
                None => ProfileDiagnosis::Unknown("not read".into()),
            };
            (arn, diagnosis)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arc::outcome::ScriptResult;

    fn run(phase: &str, status: &str, reason: Option<&str>) -> LastRun {
        let result = reason.map(|r| ScriptResult {
            status: if r == "connected" { "connected".into() } else { "failed".into() },
            reason: r.into(),
            detail: String::new(),
            public_key: String::new(),
            resource_id: String::new(),
            vm_id: String::new(),
        });
        LastRun {
            command_id: format!("{phase}-{status}"),
            document_name: "Lin".into(),
            document_version: "1".into(),
            comment: format!("mdc-connector arc-provisioner {phase} 0123456789abcdef"),
            status: status.into(),
            result,
            failed_deliveries: 0,
        }
    }

    #[test]
    fn deliveries_failing_in_a_row_are_counted_newest_first_whatever_the_failure() {
        let runs = vec![
            (1.0, run("connect", "Success", Some("connected"))),
            (2.0, run("connect", "Failed", Some("connect-failed"))),
            (3.0, run("prepare", "Success", None)),
            (4.0, run("connect", "Failed", Some("install-failed"))),
            (5.0, run("prepare", "Success", None)),
            (6.0, run("connect", "Failed", Some("install-failed"))),
            (7.0, run("prepare", "Success", None)),
        ];
        let latest = latest_with_deliveries(runs.clone()).expect("latest");
        assert_eq!((latest.comment.contains("prepare"), latest.failed_deliveries), (true, 3), "back to the success");
        // Another failure counts too (alternating failures do not reset it); a success counts none.
        let mut changed = runs.clone();
        changed.push((8.0, run("connect", "Failed", Some("connect-failed"))));
        assert_eq!(latest_with_deliveries(changed).map(|l| l.failed_deliveries), Some(4));
        let mut healed = runs;
        healed.push((8.0, run("connect", "Success", Some("connected"))));
        assert_eq!(latest_with_deliveries(healed).map(|l| l.failed_deliveries), Some(0));
        assert_eq!(latest_with_deliveries(Vec::new()), None);
    }
}
