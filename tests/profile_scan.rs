//! `profile-scan` against the emulator: real SDK clients, real AWS state, calls counted.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_config::SdkConfig;
use common::moto::{Call, Moto, event};
use common::seed::{self, CONNECTOR_PROFILE};
use connector_engine::config::Fleet;
use connector_engine::profile::ProfileSettings;
use connector_engine::profile::{InstancePolicy, ProfileScan};
use connector_engine::report::{Report, Status};
use serde_json::json;

const R1: &str = "eu-west-1";
const R2: &str = "us-east-1";
/// An opt-in region (not enabled unless the account opts in).
const OPT_IN: &str = "ap-east-1";
const OUTSIDE: &str = "us-west-2";
const MANAGEMENT: &str = "123456789012";
const OPT_OUT: &str = "mdc-connector:opt-out";

/// Instances of one (account, region), one per situation.
#[derive(Clone, Debug)]
struct UnitInstances {
    unprofiled: String,
    shared: [String; 2],
    compliant: String,
    opted_out: String,
    empty_profile: String,
}

/// The seeded organization.
struct Estate {
    accounts: Vec<String>,
    excluded: String,
    configs: BTreeMap<String, SdkConfig>,
    units: BTreeMap<(String, String), UnitInstances>,
    outside_region: BTreeMap<String, String>,
    excluded_instance: String,
}

impl Estate {
    /// Management account plus two members, each with every situation in two regions, an
    /// instance in a region outside the scope, and an excluded member with an unprofiled instance.
    async fn seed(moto: &Moto) -> Estate {
        let management = moto.management_config().await;
        let members = seed::organization(&management, 3).await;
        let excluded = members[2].clone();
        let accounts = vec![MANAGEMENT.to_string(), members[0].clone(), members[1].clone()];
        let mut configs = BTreeMap::new();
        let mut units = BTreeMap::new();
        let mut outside_region = BTreeMap::new();
        for account in &accounts {
            let config = if account == MANAGEMENT { management.clone() } else { moto.account_config(account).await };
            seed::connector_profile(&config).await;
            seed::profile(&config, "/team/apps/", "AppProfile", Some(("AppRole", false))).await;
            seed::profile(&config, "/", "OkProfile", Some(("OkRole", true))).await;
            seed::profile(&config, "/", "EmptyProfile", None).await;
            for region in [R1, R2] {
                let unit = UnitInstances {
                    unprofiled: seed::instance(&config, region, &[("Name", "web")], None).await,
                    shared: [
                        seed::instance(&config, region, &[], Some("AppProfile")).await,
                        seed::instance(&config, region, &[], Some("AppProfile")).await,
                    ],
                    compliant: seed::instance(&config, region, &[], Some("OkProfile")).await,
                    opted_out: seed::instance(&config, region, &[(OPT_OUT, "true")], None).await,
                    empty_profile: seed::instance(&config, region, &[], Some("EmptyProfile")).await,
                };
                units.insert((account.clone(), region.to_string()), unit);
            }
            outside_region.insert(account.clone(), seed::instance(&config, OUTSIDE, &[], None).await);
            configs.insert(account.clone(), config);
        }
        let excluded_config = moto.account_config(&excluded).await;
        seed::connector_profile(&excluded_config).await;
        let excluded_instance = seed::instance(&excluded_config, R1, &[], None).await;
        configs.insert(excluded.clone(), excluded_config);
        moto.clear_calls();
        Estate { accounts, excluded, configs, units, outside_region, excluded_instance }
    }

    fn config(&self) -> ProfileSettings {
        let mut settings = ProfileSettings {
            fleet: Fleet { regions: Some(vec![R1.into(), R2.into()]), ..Fleet::default() },
            ..ProfileSettings::default()
        };
        settings.common.excluded_accounts = [self.excluded.clone()].into_iter().collect();
        settings
    }

    fn unprofiled_count(&self) -> usize {
        self.units.len()
    }

    /// Asserts the state a full non-dry scan must leave.
    async fn assert_fixed(&self) {
        for ((account, region), unit) in &self.units {
            let config = &self.configs[account];
            let profile = async |id: &String| seed::profile_of(config, region, id).await;
            let got = profile(&unit.unprofiled).await.unwrap_or_default();
            assert!(got.ends_with(&format!("instance-profile/{CONNECTOR_PROFILE}")), "{account}/{region}: {got}");
            for id in &unit.shared {
                assert_eq!(
                    profile(id).await.unwrap_or_default(),
                    format!("arn:aws:iam::{account}:instance-profile/team/apps/AppProfile")
                );
            }
            assert!(profile(&unit.compliant).await.unwrap_or_default().ends_with("/OkProfile"));
            assert_eq!(profile(&unit.opted_out).await, None, "opted-out instance must stay unprofiled");
            assert!(
                profile(&unit.empty_profile).await.unwrap_or_default().ends_with("/EmptyProfile"),
                "never replaced"
            );
        }
        for account in &self.accounts {
            let config = &self.configs[account];
            assert!(seed::role_has_ssm_policy(config, "AppRole").await, "{account}: AppRole fixed");
            assert_eq!(
                seed::profile_of(config, OUTSIDE, &self.outside_region[account]).await,
                None,
                "region outside scope untouched"
            );
        }
        assert_eq!(
            seed::profile_of(&self.configs[&self.excluded], R1, &self.excluded_instance).await,
            None,
            "excluded account untouched"
        );
    }
}

fn writes(calls: &[Call]) -> Vec<&Call> {
    const READ: [&str; 3] = ["Describe", "List", "Get"];
    calls
        .iter()
        .filter(|c| !c.injected && c.operation != "AssumeRole" && !READ.iter().any(|r| c.operation.starts_with(r)))
        .collect()
}

fn count(calls: &[Call], operation: &str) -> usize {
    calls.iter().filter(|c| !c.injected && c.operation == operation).count()
}

fn items_with<'a>(report: &'a Report, resource: &str) -> Vec<&'a connector_engine::report::Item> {
    report.items.iter().filter(|i| i.resource_id == resource).collect()
}

fn status_of(report: &Report, resource: &str) -> (Status, String) {
    let found = items_with(report, resource);
    assert_eq!(found.len(), 1, "one item for {resource}: {found:?}");
    (found[0].status, found[0].reason.clone())
}

#[tokio::test]
async fn scheduled_scan_fixes_every_situation_once_and_a_second_run_writes_nothing() {
    let moto = Moto::start();
    let estate = Estate::seed(&moto).await;
    let job = ProfileScan::new(estate.config(), moto.management_config().await);

    let report = job.handle(&event("scheduled-event.json"), None).await.expect("scan runs");
    let calls = moto.calls();
    estate.assert_fixed().await;

    assert_eq!(
        count(&calls, "AssociateIamInstanceProfile"),
        estate.unprofiled_count(),
        "one associate per unprofiled instance"
    );
    for account in &estate.accounts {
        let attaches = calls.iter().filter(|c| c.operation == "AttachRolePolicy" && &c.account == account).count();
        assert_eq!(attaches, 1, "{account}: AppRole is shared by 4 instances in 2 regions, attached once");
    }
    let write_ops: Vec<&str> = writes(&calls).iter().map(|c| c.operation.as_str()).collect();
    assert!(
        write_ops.iter().all(|op| ["AssociateIamInstanceProfile", "AttachRolePolicy"].contains(op)),
        "{write_ops:?}"
    );
    assert!(calls.iter().all(|c| c.region != OUTSIDE), "no call outside CONNECTOR_REGIONS");
    assert!(calls.iter().all(|c| c.account != estate.excluded), "no call in the excluded account");

    assert_eq!(report.summary.work_units, 6);
    assert_eq!(report.summary.failed_work_units, 0);
    for ((_, _), unit) in &estate.units {
        assert_eq!(status_of(&report, &unit.unprofiled).0, Status::Done);
        let (status, reason) = status_of(&report, &unit.empty_profile);
        assert_eq!(status, Status::Failed);
        assert!(reason.contains("has no role"), "{reason}");
        let (status, reason) = status_of(&report, &unit.opted_out);
        assert_eq!(status, Status::Skipped);
        assert!(reason.contains(OPT_OUT), "{reason}");
        assert_eq!(status_of(&report, &unit.compliant).0, Status::Skipped);
        for id in &unit.shared {
            assert_eq!(status_of(&report, id).0, Status::Done);
        }
    }
    let role_items: Vec<_> =
        report.items.iter().filter(|i| i.resource_id.ends_with(":role/team/apps/AppRole")).collect();
    assert_eq!(role_items.len(), 3, "one role item per account: {role_items:?}");
    assert!(
        report
            .items
            .iter()
            .any(|i| i.account_id == estate.excluded && i.reason.contains("CONNECTOR_EXCLUDED_ACCOUNTS"))
    );
    assert_eq!(report.summary.failed, 6, "the six EmptyProfile instances");

    moto.clear_calls();
    let again = job.handle(&event("scheduled-event.json"), None).await.expect("second scan runs");
    let calls = moto.calls();
    assert!(writes(&calls).is_empty(), "compliant estate: no write, got {:?}", writes(&calls));
    assert_eq!(again.summary.done, 0);
    assert_eq!(again.summary.failed, 6, "still reported: EmptyProfile needs a person");
}

#[tokio::test]
async fn dry_run_plans_the_same_changes_and_writes_nothing() {
    let moto = Moto::start();
    let estate = Estate::seed(&moto).await;
    let job = ProfileScan::new(estate.config(), moto.management_config().await);

    let report = job.handle(&json!({"action": "scan", "dryRun": true}), None).await.expect("dry run");
    assert!(report.dry_run);
    assert!(writes(&moto.calls()).is_empty(), "dry run wrote: {:?}", writes(&moto.calls()));
    assert_eq!(report.summary.done, 0);
    assert_eq!(
        report.summary.planned,
        estate.unprofiled_count() + 4 * 3 + 3,
        "associates + shared instances + one role item per account"
    );
    for unit in estate.units.values() {
        assert_eq!(status_of(&report, &unit.unprofiled).0, Status::Planned);
    }
    for ((account, region), unit) in &estate.units {
        assert_eq!(seed::profile_of(&estate.configs[account], region, &unit.unprofiled).await, None);
    }

    let mut dry = estate.config();
    dry.common.dry_run = true;
    let configured = ProfileScan::new(dry, moto.management_config().await);
    moto.clear_calls();
    let report = configured.handle(&event("scheduled-event.json"), None).await.expect("dry run by configuration");
    assert!(report.dry_run);
    assert!(writes(&moto.calls()).is_empty());
    assert!(report.summary.planned > 0);
}

#[tokio::test]
async fn throttling_on_a_third_of_calls_completes_without_missing_or_duplicating_anything() {
    let moto = Moto::start();
    let estate = Estate::seed(&moto).await;
    let third = 1.0 / 3.0;
    moto.faults(json!([
        {"service": "ec2", "share": third},
        {"service": "iam", "share": third},
        {"service": "sts", "share": third},
        {"service": "organizations", "share": third},
    ]));
    let job = ProfileScan::new(estate.config(), moto.management_config().await);
    let started = std::time::Instant::now();
    let report = job.handle(&event("scheduled-event.json"), None).await.expect("scan runs");
    eprintln!("scan under throttling took {:?}", started.elapsed());
    let calls = moto.calls();
    moto.faults(json!([]));
    estate.assert_fixed().await;
    for service in ["ec2", "iam", "sts", "organizations"] {
        assert!(calls.iter().any(|c| c.injected && c.service == service), "{service}: throttling was injected");
    }
    assert_eq!(count(&calls, "AssociateIamInstanceProfile"), estate.unprofiled_count(), "no duplicate associate");
    assert_eq!(count(&calls, "AttachRolePolicy"), 3, "no duplicate attach");
    assert_eq!(
        report.summary.failed_work_units,
        0,
        "{:?}",
        report.items.iter().filter(|i| i.action == "scan").collect::<Vec<_>>()
    );
    assert_eq!(report.summary.failed, 6);
}

#[tokio::test]
async fn a_failing_account_or_region_is_reported_and_the_rest_completes() {
    let moto = Moto::start();
    let estate = Estate::seed(&moto).await;
    let denied = estate.accounts[1].clone();
    moto.faults(json!([
        {"service": "sts", "operation": "AssumeRole", "match": denied, "error": {"status": 403, "code": "AccessDenied", "message": "not authorized to perform sts:AssumeRole"}},
        {"service": "ec2", "operation": "DescribeInstances", "region": R2, "share": 1},
        {"service": "iam", "operation": "AttachRolePolicy", "share": 1, "error": {"status": 409, "code": "LimitExceeded", "message": "Cannot exceed quota for PoliciesPerRole: 10"}},
    ]));
    let job = ProfileScan::new(estate.config(), moto.management_config().await);
    let report = job.handle(&event("scheduled-event.json"), None).await.expect("the invocation itself succeeds");
    // A role IAM refuses the policy: its item and its instances' carry IAM's code.
    let refused: Vec<_> = report
        .items
        .iter()
        .filter(|i| i.action == "attach-role-policy" && i.reason.contains("cannot attach"))
        .collect();
    assert!(!refused.is_empty(), "{:#?}", report.items);
    assert!(refused.iter().all(|i| i.code == "attach-role-policy/aws:LimitExceeded"), "{refused:#?}");

    assert_eq!(report.summary.work_units, 6);
    assert_eq!(report.summary.failed_work_units, 4, "2 units of the denied account + R2 of the other two");
    let failures: Vec<_> = report.items.iter().filter(|i| i.action == "scan" && i.status == Status::Failed).collect();
    for f in &failures {
        if f.account_id == denied {
            assert!(f.reason.contains(&format!("arn:aws:iam::{denied}:role/MdcConnectorMemberRole")), "{}", f.reason);
            assert!(f.reason.contains("AccessDenied"), "{}", f.reason);
        } else {
            assert_eq!(f.region, R2);
            assert!(f.reason.contains("RequestLimitExceeded"), "{}", f.reason);
        }
    }
    for account in [MANAGEMENT.to_string(), estate.accounts[2].clone()] {
        let unit = &estate.units[&(account.clone(), R1.to_string())];
        assert!(
            seed::profile_of(&estate.configs[&account], R1, &unit.unprofiled).await.is_some(),
            "{account}/{R1} completed"
        );
        let untouched = &estate.units[&(account.clone(), R2.to_string())];
        assert_eq!(seed::profile_of(&estate.configs[&account], R2, &untouched.unprofiled).await, None);
    }
    let unit = &estate.units[&(denied.clone(), R1.to_string())];
    assert_eq!(seed::profile_of(&estate.configs[&denied], R1, &unit.unprofiled).await, None);
}

#[tokio::test]
async fn with_attaching_disabled_roles_are_reported_and_left_unchanged() {
    let moto = Moto::start();
    let estate = Estate::seed(&moto).await;
    let config = ProfileSettings { attach_policy_to_existing_roles: false, ..estate.config() };
    let job = ProfileScan::new(config, moto.management_config().await);
    let report =
        job.handle(&json!({"action": "scan", "accountIds": [MANAGEMENT], "regions": [R1]}), None).await.expect("scan");

    assert_eq!(count(&moto.calls(), "AttachRolePolicy"), 0);
    assert!(!seed::role_has_ssm_policy(&estate.configs[MANAGEMENT], "AppRole").await);
    let unit = &estate.units[&(MANAGEMENT.to_string(), R1.to_string())];
    for id in &unit.shared {
        let (status, reason) = status_of(&report, id);
        assert_eq!(status, Status::Failed);
        assert!(reason.contains("ATTACH_POLICY_TO_EXISTING_ROLES") && reason.contains("AppRole"), "{reason}");
    }
    assert_eq!(
        status_of(&report, &unit.unprofiled).0,
        Status::Done,
        "unprofiled instances still get the connector profile"
    );
    assert_eq!(report.summary.work_units, 1, "manual scan narrowed to one account and region");
}

#[tokio::test]
async fn launch_event_fixes_that_instance_only_and_respects_scope() {
    let moto = Moto::start();
    let estate = Estate::seed(&moto).await;
    let member = estate.accounts[1].clone();
    let unit = estate.units[&(member.clone(), R1.to_string())].clone();
    let job = ProfileScan::new(estate.config(), moto.management_config().await);
    let launch = |account: &str, region: &str, id: &str, state: &str| {
        let mut e = event("ec2-instance-running.json");
        e["account"] = account.into();
        e["region"] = region.into();
        e["detail"]["instance-id"] = id.into();
        e["detail"]["state"] = state.into();
        e
    };

    let report = job.handle(&launch(&member, R1, &unit.unprofiled, "running"), None).await.expect("event handled");
    assert_eq!(status_of(&report, &unit.unprofiled).0, Status::Done);
    assert_eq!(report.items.len(), 1);
    let config = &estate.configs[&member];
    assert!(seed::profile_of(config, R1, &unit.unprofiled).await.is_some());
    let other = &estate.units[&(member.clone(), R2.to_string())].unprofiled;
    assert_eq!(seed::profile_of(config, R2, other).await, None, "only the launched instance");
    let calls = moto.calls();
    assert_eq!(count(&calls, "ListAccounts"), 0, "a launch event needs no organization listing");
    assert_eq!(count(&calls, "DescribeInstances"), 1);

    moto.clear_calls();
    let skipped = [
        (launch(&estate.excluded, R1, &estate.excluded_instance, "running"), "CONNECTOR_EXCLUDED_ACCOUNTS"),
        (launch(&member, OUTSIDE, &estate.outside_region[&member], "running"), "outside CONNECTOR_REGIONS"),
        (launch(&member, R2, other, "stopped"), "only running instances"),
        // An event's account is not trusted by itself: one outside the organization is never entered.
        (launch("999999999999", R1, "i-0123456789abcdef0", "running"), "not an account of this organization"),
    ];
    for (e, why) in skipped {
        let report = job.handle(&e, None).await.expect("event handled");
        assert_eq!(report.summary.skipped, 1, "{why}: {:?}", report.items);
        assert!(report.items[0].reason.contains(why), "{why}: {:?}", report.items);
    }
    assert!(writes(&moto.calls()).is_empty());
    assert!(moto.calls().iter().all(|c| c.operation != "DescribeInstances"), "out-of-scope events cost no EC2 call");
    assert_eq!(count(&moto.calls(), "AssumeRole"), 0, "no account entered for a refused event");
}

#[tokio::test]
async fn the_scope_parameter_narrows_scans_and_events_to_the_accounts_it_lists() {
    let moto = Moto::start();
    let estate = Estate::seed(&moto).await;
    let management = moto.management_config().await;
    let (pilot, other) = (estate.accounts[1].clone(), estate.accounts[2].clone());
    let document = serde_json::json!({"accounts": [pilot]}).to_string();
    let ssm = aws_sdk_ssm::Client::new(&management);
    let put = ssm.put_parameter().name("/mdc-connector/scope").value(document);
    put.r#type(aws_sdk_ssm::types::ParameterType::String).send().await.expect("scope parameter");
    let mut settings = estate.config();
    settings.common.scope_parameter = Some("/mdc-connector/scope".into());
    let job = ProfileScan::new(settings, management);
    let preflight = job.handle(&serde_json::json!({"action": "preflight"}), None).await.expect("preflight");
    let check = preflight.items.iter().find(|i| i.resource_id == "scope-parameter").expect("scope-parameter check");
    assert_eq!(check.code, "preflight/scope-parameter:ok", "{check:?}");
    assert!(check.reason.contains("admits 1 accounts"), "{}", check.reason);

    let report = job.handle(&serde_json::json!({"action": "scan"}), None).await.expect("scan");
    let entered: BTreeSet<&str> =
        report.items.iter().filter(|i| i.status == Status::Done).map(|i| i.account_id.as_str()).collect();
    assert_eq!(entered, BTreeSet::from([pilot.as_str()]), "{:?}", report.items);
    for account in [MANAGEMENT, other.as_str()] {
        let item = report.items.iter().find(|i| i.account_id == account).expect("reported");
        assert!(item.reason.contains("outside the scope parameter"), "{account}: {:?}", item);
    }
    let unit = &estate.units[&(other.clone(), R1.to_string())];
    let mut launch = event("ec2-instance-running.json");
    (launch["account"], launch["region"], launch["detail"]["instance-id"]) =
        (other.clone().into(), R1.into(), unit.unprofiled.clone().into());
    moto.clear_calls();
    let report = job.handle(&launch, None).await.expect("event handled");
    assert!(report.items[0].reason.contains("outside the scope parameter"), "{:?}", report.items);
    assert_eq!(count(&moto.calls(), "AssumeRole"), 0, "an account outside the scope is never entered");
}

#[tokio::test]
async fn losing_the_association_race_is_reread_and_reported_never_replaced() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    seed::connector_profile(&management).await;
    seed::profile(&management, "/", "OtherProfile", Some(("OtherRole", true))).await;
    let id = seed::instance(&management, R1, &[], None).await;
    moto.faults(json!([{
        "service": "ec2",
        "operation": "AssociateIamInstanceProfile",
        "race": [format!("IamInstanceProfile.Name={CONNECTOR_PROFILE}"), "IamInstanceProfile.Name=OtherProfile"],
        "limit": 1
    }]));
    let config = in_r1();
    let job = ProfileScan::new(config, management.clone());
    let report = job.handle(&event("scheduled-event.json"), None).await.expect("scan");

    let (status, reason) = status_of(&report, &id);
    assert_eq!(status, Status::Skipped);
    assert!(reason.contains("another actor") && reason.contains("OtherProfile"), "{reason}");
    assert!(seed::profile_of(&management, R1, &id).await.unwrap_or_default().ends_with("/OtherProfile"));
    let calls = moto.calls();
    assert_eq!(
        count(&calls, "ReplaceIamInstanceProfileAssociation") + count(&calls, "DisassociateIamInstanceProfile"),
        0
    );
}

/// A manual scan of `eu-west-1` by a function running as the management account.
async fn scan_own_account_in_r1(management: &SdkConfig) -> Report {
    let job = ProfileScan::new(in_r1(), management.clone());
    job.handle(&json!({"action": "scan"}), None).await.expect("scan")
}

#[tokio::test]
async fn standalone_account_without_organization_scans_itself() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    seed::connector_profile(&management).await;
    let id = seed::instance(&management, R1, &[], None).await;
    let report = scan_own_account_in_r1(&management).await;
    assert_eq!(report.summary.work_units, 1);
    assert_eq!(status_of(&report, &id).0, Status::Done);
    assert_eq!(report.items[0].account_id, MANAGEMENT);
    assert!(seed::profile_of(&management, R1, &id).await.is_some());
}

#[tokio::test]
async fn missing_connector_profile_is_reported_with_what_to_deploy() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let id = seed::instance(&management, R1, &[], None).await;
    let report = scan_own_account_in_r1(&management).await;
    let (status, reason) = status_of(&report, &id);
    assert_eq!(status, Status::Failed);
    assert!(reason.contains("does not exist") && reason.contains("member template"), "{reason}");
    assert_eq!(count(&moto.calls(), "AssociateIamInstanceProfile"), 0);
}

/// Review F6: a role in an instance profile may be a CI role or a person's federated role too;
/// profile-scan gives the instance policy only to roles EC2 alone may assume (their trust policy),
/// and reports the others with who else may assume them.
#[tokio::test]
async fn a_role_others_than_ec2_may_assume_never_gets_the_instance_policy() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let iam = aws_sdk_iam::Client::new(&management);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role().role_name("CiRole").assume_role_policy_document(trust).send().await.expect("role");
    iam.create_instance_profile().instance_profile_name("CiProfile").send().await.expect("profile");
    iam.add_role_to_instance_profile()
        .instance_profile_name("CiProfile")
        .role_name("CiRole")
        .send()
        .await
        .expect("add");
    let id = seed::instance(&management, R1, &[], Some("CiProfile")).await;
    moto.clear_calls();
    let report = scan_own_account_in_r1(&management).await;
    let (status, reason) = status_of(&report, &id);
    assert_eq!(status, Status::Failed);
    assert!(reason.contains("may also be assumed by AWS arn:aws:iam::123456789012:root"), "{reason}");
    assert_eq!(count(&moto.calls(), "AttachRolePolicy"), 0);
    assert!(!seed::role_has_ssm_policy(&management, "CiRole").await);
}

#[tokio::test]
async fn events_meant_for_other_functions_fail_with_a_clear_error_and_touch_nothing() {
    let moto = Moto::start();
    let job = ProfileScan::new(ProfileSettings::default(), moto.management_config().await);
    for (payload, needle) in [
        (event("manual-reconcile.json"), "account-discovery"),
        (event("organizations-create-account-result.json"), "aws.organizations"),
        (json!({"action": "scan", "regions": ["nowhere"]}), "nowhere"),
        (json!({"hello": 1}), "unrecognized"),
    ] {
        let err = job.handle(&payload, None).await.expect_err("rejected").to_string();
        assert!(err.contains(needle), "{payload}: {err}");
    }
    assert!(moto.calls().is_empty(), "bad input costs no AWS call");
}

fn in_r1() -> ProfileSettings {
    ProfileSettings {
        fleet: Fleet { regions: Some(vec![R1.into()]), ..Fleet::default() },
        ..ProfileSettings::default()
    }
}

/// IAM is eventually consistent: right after the member stack creates the connector's profile,
/// EC2 answers "Invalid IAM Instance Profile name". The association is retried, not failed.
#[tokio::test]
async fn a_profile_iam_just_created_is_associated_once_ec2_sees_it() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    moto.iam_propagation(2.0);
    seed::connector_profile(&management).await;
    let id = seed::instance(&management, R1, &[], None).await;
    moto.clear_calls();

    let started = std::time::Instant::now();
    let report = scan_own_account_in_r1(&management).await;
    assert_eq!(status_of(&report, &id).0, Status::Done, "{:?}", report.items);
    assert!(seed::profile_of(&management, R1, &id).await.is_some());
    assert!(count(&moto.calls(), "AssociateIamInstanceProfile") >= 2, "refused first, then retried");
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500), "it waited for propagation");
}

/// Opt-in regions are enabled per account: a member that has not opted in to a region in scope
/// gets that unit skipped with the reason, not failed, and nothing is called there.
#[tokio::test]
async fn a_region_not_enabled_in_a_member_is_skipped_with_the_reason() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 1).await;
    let member = moto.account_config(&members[0]).await;
    seed::connector_profile(&member).await;
    let id = seed::instance(&member, R1, &[], None).await;
    moto.disabled_regions(&members[0], &[OPT_IN]);
    moto.clear_calls();

    let settings = ProfileSettings {
        fleet: Fleet { regions: Some(vec![R1.into(), OPT_IN.into()]), ..Fleet::default() },
        ..ProfileSettings::default()
    };
    let report = ProfileScan::new(settings, management.clone())
        .handle(&json!({"action": "scan", "accountIds": [members[0]]}), None)
        .await
        .expect("scan");
    assert_eq!(report.summary.failed_work_units, 0, "{:?}", report.items);
    let skipped = report.items.iter().find(|i| i.region == OPT_IN).expect("the disabled region is reported");
    assert_eq!(skipped.status, Status::Skipped);
    assert!(skipped.reason.contains("not enabled"), "{}", skipped.reason);
    assert_eq!(status_of(&report, &id).0, Status::Done);
    let calls = moto.calls();
    assert!(calls.iter().all(|c| c.region != OPT_IN), "no call in the disabled region");
    assert_eq!(count(&calls, "DescribeRegions"), 1, "read once for the account");
}

/// EC2 throttles each account and region with token buckets ("Request throttling for the Amazon
/// EC2 API"). Under an emulated bucket (here 200 tokens, 10 per second: the shape of
/// the connector's default pacing for `AssociateIamInstanceProfile`, 20 s of burst, scaled up for a
/// quick test) the scan spends the burst, then writes at the refill rate:
/// no throttling error reaches the report, and the writes keep up with the bucket.
#[tokio::test]
async fn writes_follow_the_accounts_token_bucket_without_throttling() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    seed::connector_profile(&management).await;
    let ec2 = seed::ec2(&management, R1);
    ec2.run_instances().image_id("ami-12c6146b").min_count(250).max_count(250).send().await.expect("instances");
    moto.token_buckets(
        json!([{"service": "ec2", "operation": "AssociateIamInstanceProfile", "capacity": 200, "rate": 10}]),
    );
    moto.clear_calls();

    // Paced 5 % under the bucket's refill, so the latency jitter of a loaded test machine is
    // absorbed by the bucket's growing surplus.
    let settings = ProfileSettings { ec2_write_rate: 9.5, ..in_r1() };
    let started = std::time::Instant::now();
    let report =
        ProfileScan::new(settings, management.clone()).handle(&json!({"action": "scan"}), None).await.expect("scan");
    let elapsed = started.elapsed().as_secs_f64();
    let done =
        report.items.iter().filter(|i| i.action == "associate-instance-profile" && i.status == Status::Done).count();
    assert_eq!(done, 250, "{:?}", report.items.iter().filter(|i| i.status != Status::Done).collect::<Vec<_>>());
    let throttled = moto.calls().iter().filter(|c| c.operation == "AssociateIamInstanceProfile" && c.injected).count();
    // The client's bucket and the service's run on two clocks a request's latency apart: right
    // after the burst, a request that travels faster than the one before can meet an empty
    // bucket. Such a rare throttle is absorbed (the pacer drains and waits) and never reaches the
    // report; unpaced, about 50 of these writes would be throttled.
    assert!(throttled <= 2, "paced on the bucket: {throttled} throttled");
    // 190 at once (the client's burst at 9.5/s), then 60 at 9.5/s: 6.3 s, plus reads.
    assert!(elapsed >= 5.0, "the bucket's rate was respected: {elapsed:.1} s");
    assert!(elapsed <= 60.0 / 9.5 + 2.5, "writes kept up with the pacing rate: {elapsed:.1} s");
}

/// Field reports put IAM propagation near two minutes: after a short wait in the invocation, an
/// instance whose profile EC2 does not see yet goes back on the work queue (90 s later, only that
/// instance), not failed; a later delivery associates it; one that used every retry fails.
#[tokio::test]
async fn an_instance_waiting_for_iam_propagation_goes_back_on_the_queue_and_is_associated_later() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let queue = common::poller::WorkQueue::create(&management, "profile-scan-work", 3, 1).await;
    moto.iam_propagation(12.0);
    seed::connector_profile(&management).await;
    let id = seed::instance(&management, R1, &[], None).await;
    let other = seed::instance(&management, R1, &[], None).await;
    let fleet = Fleet { regions: Some(vec![R1.into()]), work_queue_url: Some(queue.url.clone()), ..Fleet::default() };
    let job = ProfileScan::new(ProfileSettings { fleet, ..ProfileSettings::default() }, management.clone());
    let delivered = |body: serde_json::Value| json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": body.to_string()}]});
    moto.clear_calls();

    let unit = json!({"job": "profile-scan", "accountId": MANAGEMENT, "region": R1, "instanceIds": [id]});
    let first = job.handle(&delivered(unit), None).await.expect("first delivery");
    let item = first.items.iter().find(|i| i.resource_id == id).expect("item");
    assert_eq!(item.status, Status::Skipped, "{item:?}");
    assert_eq!(item.outcome.map(|o| o.as_str()), Some("awaiting-iam-propagation"));
    assert!(first.batch_item_failures.is_empty(), "the record is done: its instance went back on the queue");
    let sent = moto.sent_messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (url, again, delay) = &sent[0];
    assert_eq!((url.as_str(), *delay), (queue.url.as_str(), 90));
    let expected = json!({"job": "profile-scan", "accountId": MANAGEMENT, "region": R1, "instanceIds": [id], "propagationRetries": 1});
    assert_eq!(again, &expected);

    // Delivered again once IAM has propagated: associated.
    let second = job.handle(&delivered(again.clone()), None).await.expect("second delivery");
    assert_eq!(status_of(&second, &id).0, Status::Done, "{:?}", second.items);
    assert!(seed::profile_of(&management, R1, &id).await.is_some());
    assert!(second.items.iter().all(|i| i.resource_id != other), "only the instance put back");

    // Every retry used (EC2 still refuses): failed, and not put back again.
    moto.iam_propagation(1000.0);
    moto.clear_calls();
    let spent = json!({"job": "profile-scan", "accountId": MANAGEMENT, "region": R1, "instanceIds": [other], "propagationRetries": 6});
    let last = job.handle(&delivered(spent), None).await.expect("last delivery");
    let item = last.items.iter().find(|i| i.resource_id == other).expect("item");
    assert_eq!(item.status, Status::Failed, "{item:?}");
    assert!(item.reason.contains("every retry"), "{}", item.reason);
    assert!(moto.sent_messages().is_empty(), "not put back again");
}

/// A scan run in the invocation (a scan naming its accounts) also puts instances waiting for IAM
/// propagation on the work queue: each unit's message names its own account, region and instances,
/// whatever order the units finished in.
#[tokio::test]
async fn units_run_in_the_invocation_put_their_own_waiting_instances_back_on_the_queue() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let queue = common::poller::WorkQueue::create(&management, "profile-scan-work", 3, 1).await;
    moto.iam_propagation(1000.0);
    seed::connector_profile(&management).await;
    let in_r1 = seed::instance(&management, R1, &[], None).await;
    let in_r2 = seed::instance(&management, R2, &[], None).await;
    let fleet = Fleet {
        regions: Some(vec![R1.into(), R2.into()]),
        work_queue_url: Some(queue.url.clone()),
        ..Fleet::default()
    };
    let job = ProfileScan::new(ProfileSettings { fleet, ..ProfileSettings::default() }, management.clone());
    moto.clear_calls();

    let report = job.handle(&json!({"action": "scan", "accountIds": [MANAGEMENT]}), None).await.expect("scan");
    for id in [&in_r1, &in_r2] {
        let item = report.items.iter().find(|i| &i.resource_id == id).expect("item");
        assert_eq!(item.outcome.map(|o| o.as_str()), Some("awaiting-iam-propagation"), "{item:?}");
    }
    let mut sent: Vec<(String, serde_json::Value)> =
        moto.sent_messages().into_iter().map(|(_, body, delay)| (delay.to_string(), body)).collect();
    sent.sort_by_key(|(_, body)| body["region"].as_str().unwrap_or_default().to_string());
    let expected = |region: &str, id: &str| json!({"job": "profile-scan", "accountId": MANAGEMENT, "region": region, "instanceIds": [id], "propagationRetries": 1});
    assert_eq!(sent, vec![("90".to_string(), expected(R1, &in_r1)), ("90".to_string(), expected(R2, &in_r2))]);
}

/// `INSTANCE_POLICY=narrow`: a customer's role that lacks what instances need gets Systems
/// Manager's default host management policy alone, never `AmazonSSMManagedInstanceCore` (which
/// would let every process on the instance read every parameter of the account); the role is then
/// compliant and the next scan writes nothing.
#[tokio::test]
async fn the_narrow_instance_policy_gives_roles_systems_manager_without_parameter_reads() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    seed::organization(&management, 1).await;
    seed::connector_profile(&management).await;
    seed::profile(&management, "/", "AppProfile", Some(("AppRole", false))).await;
    let iam = seed::iam(&management);
    let instance = seed::instance(&management, R1, &[], Some("AppProfile")).await;
    let settings = ProfileSettings {
        fleet: Fleet { regions: Some(vec![R1.into()]), ..Fleet::default() },
        instance_policy: InstancePolicy::Narrow,
        ..ProfileSettings::default()
    };
    let job = ProfileScan::new(settings, management.clone());
    let scan = json!({"action": "scan", "accountIds": [MANAGEMENT], "regions": [R1]});
    let report = job.handle(&scan, None).await.expect("scan");

    let listed = iam.list_attached_role_policies().role_name("AppRole").send().await.expect("policies");
    let mut names: Vec<&str> = listed.attached_policies().iter().filter_map(|p| p.policy_name()).collect();
    names.sort();
    assert_eq!(names, ["AmazonSSMManagedEC2InstanceDefaultPolicy"]);
    let role_item = report.items.iter().find(|i| i.resource_id.ends_with("role/AppRole")).expect("role item");
    assert_eq!(role_item.status, Status::Done, "{role_item:?}");
    assert!(role_item.reason.contains("AmazonSSMManagedEC2InstanceDefaultPolicy"), "{role_item:?}");
    assert_eq!(status_of(&report, &instance).0, Status::Done);

    moto.clear_calls();
    job.handle(&scan, None).await.expect("scan again");
    assert_eq!(count(&moto.calls(), "AttachRolePolicy"), 0, "compliant now");
}

/// profile-scan's preflight reads the account's Lambda concurrency: a young account's quota of 10
/// cannot run the work queues' 8 + 8 + 2 at once ("new AWS accounts have reduced concurrency").
#[tokio::test]
async fn preflight_names_a_concurrency_quota_too_small_for_the_work_queues() {
    let moto = Moto::start();
    let job = ProfileScan::new(ProfileSettings::default(), moto.management_config().await);
    moto.lambda_concurrency("123456789012", 10);
    let report = job.handle(&serde_json::json!({"action": "preflight"}), None).await.expect("preflight");
    let (status, reason) = status_of(&report, "lambda-concurrency");
    assert_eq!(status, Status::Failed, "{reason}");
    assert!(reason.contains("10 of 10 concurrent executions unreserved") && reason.contains("L-B99A9384"), "{reason}");
    moto.lambda_concurrency("123456789012", 1000);
    let report = job.handle(&serde_json::json!({"action": "preflight"}), None).await.expect("preflight");
    assert_eq!(status_of(&report, "lambda-concurrency").0, Status::Skipped);
    assert_eq!(report.items.len(), 1);
}

/// A pilot (`CONNECTOR_OPT_IN_TAG`): only instances carrying the tag get a profile; the others are
/// reported left alone, and the opt-out tag still wins over the opt-in tag.
#[tokio::test]
async fn a_pilot_gives_profiles_only_to_instances_with_its_opt_in_tag() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    seed::connector_profile(&management).await;
    let piloted = seed::instance(&management, R1, &[("pilot", "yes")], None).await;
    let other = seed::instance(&management, R1, &[], None).await;
    let both = seed::instance(&management, R1, &[("pilot", "yes"), (OPT_OUT, "true")], None).await;
    let mut settings = in_r1();
    settings.fleet.opt_in_tag = Some("pilot".into());
    let job = ProfileScan::new(settings, management.clone());
    let report = job.handle(&json!({"action": "scan"}), None).await.expect("scan");
    assert_eq!(status_of(&report, &piloted).0, Status::Done);
    assert!(seed::profile_of(&management, R1, &piloted).await.is_some());
    let (status, reason) = status_of(&report, &other);
    assert_eq!(status, Status::Skipped);
    assert!(reason.contains("not opted in: a pilot covers only instances tagged pilot"), "{reason}");
    assert!(status_of(&report, &both).1.contains("opted out by tag"));
    for left in [&other, &both] {
        assert_eq!(seed::profile_of(&management, R1, left).await, None, "left alone");
    }
}

/// DHMC's role as the member template creates it (`cfn/member.yaml` `DhmcRole`), or a customer's.
async fn dhmc_role(config: &SdkConfig, name: &str) {
    let iam = aws_sdk_iam::Client::new(config);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role().role_name(name).assume_role_policy_document(trust).send().await.expect("dhmc role");
    let policy = "arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy";
    iam.attach_role_policy().role_name(name).policy_arn(policy).send().await.expect("policy");
}

/// An instance without a profile whose metadata options require IMDSv2 (`required`) or not.
async fn unprofiled(config: &SdkConfig, imds_v2: bool) -> String {
    let id = seed::instance(config, R1, &[], None).await;
    if imds_v2 {
        let tokens = aws_sdk_ec2::types::HttpTokensState::Required;
        let modify = seed::ec2(config, R1).modify_instance_metadata_options().instance_id(&id).http_tokens(tokens);
        modify.send().await.expect("IMDSv2");
    }
    id
}

fn ssm_in_r1(config: &SdkConfig) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(config).region(aws_config::Region::new(R1)).build(),
    )
}

const DHMC_SETTING: &str = "/ssm/managed-instance/default-ec2-instance-management-role";

/// `SSM_REACH=both`: DHMC is turned on with the connector's role where it is off and left alone
/// where the account's owner turned it on with another role; an instance without a profile that
/// requires IMDSv2 gets no write and becomes managed through DHMC ("all instances using Instance
/// Metadata Service Version 2 (IMDSv2) ... automatically become managed instances"); one allowing
/// IMDSv1 gets the connector's profile. `SSM_REACH=dhmc` writes no instance and reports the one
/// DHMC cannot serve with the fix.
#[tokio::test]
async fn dhmc_is_turned_on_only_where_it_is_off_and_only_instances_it_cannot_serve_are_written() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let member = seed::organization(&management, 1).await.remove(0);
    let member_config = moto.account_config(&member).await;
    let mut served = BTreeMap::new();
    let mut imds_v1 = BTreeMap::new();
    for (account, config) in [(MANAGEMENT.to_string(), &management), (member.clone(), &member_config)] {
        seed::connector_profile(config).await;
        dhmc_role(config, "MdcConnectorDhmcRole").await;
        served.insert(account.clone(), unprofiled(config, true).await);
        imds_v1.insert(account, unprofiled(config, false).await);
    }
    // The member's owner turned DHMC on with a role of their own.
    dhmc_role(&member_config, "TheirDhmcRole").await;
    let theirs =
        ssm_in_r1(&member_config).update_service_setting().setting_id(DHMC_SETTING).setting_value("TheirDhmcRole");
    theirs.send().await.expect("the owner's DHMC");
    let settings = |reach: &str| {
        let mut s = ProfileSettings::from_lookup(|name| match name {
            "SSM_REACH" => Some(reach.to_string()),
            "CONNECTOR_REGIONS" => Some(R1.to_string()),
            _ => None,
        })
        .expect("settings");
        s.fleet.concurrency = 1;
        s
    };
    moto.clear_calls();
    let job = ProfileScan::new(settings("both"), management.clone());
    let report = job.handle(&json!({"action": "scan"}), None).await.expect("scan");

    let registered = |account: &str| {
        let item = report.items.iter().find(|i| i.account_id == account && i.action.as_str() == "register-dhmc");
        item.map(|i| (i.status, i.code.clone())).unwrap_or_else(|| panic!("{account}: {:#?}", report.items))
    };
    assert_eq!(registered(MANAGEMENT), (Status::Done, "register-dhmc/done".into()));
    assert_eq!(registered(&member), (Status::Skipped, "register-dhmc/dhmc-customer-role".into()));
    let value = |config: &SdkConfig| {
        let ssm = ssm_in_r1(config);
        async move {
            let out = ssm.get_service_setting().setting_id(DHMC_SETTING).send().await.expect("setting");
            out.service_setting().and_then(|s| s.setting_value()).unwrap_or_default().to_string()
        }
    };
    assert_eq!(value(&management).await, "MdcConnectorDhmcRole");
    assert_eq!(value(&member_config).await, "TheirDhmcRole", "never overwritten");
    let reach = |id: &str| {
        let item = report.items.iter().find(|i| i.resource_id == id).expect("instance item");
        serde_json::to_value(item).expect("json")["reach"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(count(&moto.calls(), "AssociateIamInstanceProfile"), 2, "one per IMDSv1 instance");
    for account in [MANAGEMENT, member.as_str()] {
        assert_eq!(reach(&served[account]), "dhmc");
        assert_eq!(reach(&imds_v1[account]), "profile");
        let config = if account == MANAGEMENT { &management } else { &member_config };
        let managed = ssm_in_r1(config).describe_instance_information().send().await.expect("managed");
        let ids: Vec<&str> = managed.instance_information_list().iter().filter_map(|i| i.instance_id()).collect();
        assert!(ids.contains(&served[account].as_str()), "{account}: managed through DHMC without a profile: {ids:?}");
    }

    // The connector's removal turns DHMC off only where its role is the connector's.
    let release = |dry_run: bool| json!({"action": "scan", "releaseDhmc": true, "dryRun": dry_run});
    let listed = job.handle(&release(true), None).await.expect("dry run");
    let released = |report: &Report, account: &str| {
        let item = report.items.iter().find(|i| i.account_id == account && i.action.as_str() == "release-dhmc");
        item.map(|i| (i.status, i.code.clone())).unwrap_or_else(|| panic!("{account}: {:#?}", report.items))
    };
    assert_eq!(released(&listed, MANAGEMENT), (Status::Planned, "release-dhmc/planned".into()));
    assert_eq!(value(&management).await, "MdcConnectorDhmcRole", "a dry run changes nothing");
    let done = job.handle(&release(false), None).await.expect("release");
    assert_eq!(released(&done, MANAGEMENT), (Status::Done, "release-dhmc/done".into()));
    assert_eq!(released(&done, &member), (Status::Skipped, "release-dhmc/dhmc-customer-role".into()));
    assert_eq!(value(&member_config).await, "TheirDhmcRole", "a customer's DHMC stays on");
    let off = ssm_in_r1(&management).get_service_setting().setting_id(DHMC_SETTING).send().await.expect("setting");
    assert_eq!(
        off.service_setting().and_then(|s| s.status()),
        Some("Default"),
        "turned off where the connector turned it on"
    );
    assert!(
        done.items.iter().all(|i| i.action.as_str() == "release-dhmc" || i.action.as_str() == "scan"),
        "no instance touched"
    );

    let reported = unprofiled(&management, false).await;
    moto.clear_calls();
    let job = ProfileScan::new(settings("dhmc"), management.clone());
    let report = job.handle(&json!({"action": "scan", "accountIds": [MANAGEMENT]}), None).await.expect("scan");
    let item = report.items.iter().find(|i| i.resource_id == reported).expect("reported");
    assert_eq!((item.status, item.code.as_str()), (Status::Failed, "none/dhmc-cannot-serve"), "{item:?}");
    assert!(item.reason.contains(&format!("--instance-id {reported} --http-tokens required")), "{}", item.reason);
    assert_eq!(count(&moto.calls(), "AssociateIamInstanceProfile"), 0, "dhmc writes no instance");
}

/// DHMC on since before the run, an instance requiring IMDSv2 whose SSM Agent is too old for DHMC
/// (older than 3.2.582.0) is not listed by Systems Manager: an hour after its launch, `both` gives
/// it the connector's profile and `dhmc` reports it with the fix; one launched minutes ago is still
/// left to DHMC (its agent may not have reported yet).
#[tokio::test]
async fn an_instance_dhmc_does_not_reach_within_an_hour_gets_the_profile_under_both() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    seed::connector_profile(&management).await;
    dhmc_role(&management, "MdcConnectorDhmcRole").await;
    let on =
        ssm_in_r1(&management).update_service_setting().setting_id(DHMC_SETTING).setting_value("MdcConnectorDhmcRole");
    on.send().await.expect("DHMC on before the run");
    let old_agent = |config: &SdkConfig| {
        let config = config.clone();
        async move {
            let id = seed::instance(&config, R1, &[("harness:ssm-agent-version", "3.1.1004.0")], None).await;
            let tokens = aws_sdk_ec2::types::HttpTokensState::Required;
            let modify = seed::ec2(&config, R1).modify_instance_metadata_options().instance_id(&id).http_tokens(tokens);
            modify.send().await.expect("IMDSv2");
            id
        }
    };
    let (missed, young) = (old_agent(&management).await, old_agent(&management).await);
    moto.launched(MANAGEMENT, R1, &missed, 120.0);
    // "It might take up 30 minutes for your instances to use the credentials of the role you
    // chose": DHMC has been on for two hours.
    moto.dhmc_changed(MANAGEMENT, R1, 120.0);
    let settings = |reach: &str| {
        ProfileSettings::from_lookup(|name| match name {
            "SSM_REACH" => Some(reach.to_string()),
            "CONNECTOR_REGIONS" => Some(R1.to_string()),
            _ => None,
        })
        .expect("settings")
    };
    let scan = json!({"action": "scan", "accountIds": [MANAGEMENT]});

    let report = ProfileScan::new(settings("dhmc"), management.clone()).handle(&scan, None).await.expect("scan");
    let item = |report: &Report, id: &str| report.items.iter().find(|i| i.resource_id == id).cloned().expect("item");
    let reported = item(&report, &missed);
    assert_eq!(reported.code, "none/dhmc-cannot-serve", "{reported:?}");
    assert!(reported.reason.contains("older than 3.2.582.0"), "{}", reported.reason);
    assert_eq!(item(&report, &young).status, Status::Skipped, "minutes old: left to DHMC");
    assert_eq!(count(&moto.calls(), "AssociateIamInstanceProfile"), 0);

    let report = ProfileScan::new(settings("both"), management.clone()).handle(&scan, None).await.expect("scan");
    assert_eq!(item(&report, &missed).status, Status::Done, "{:?}", report.items);
    assert_eq!(seed::profile_of(&management, R1, &young).await, None, "the young one still left to DHMC");
    assert!(seed::profile_of(&management, R1, &missed).await.is_some(), "the missed one got the profile");
}

/// DHMC is one switch for every instance of an account and Region, tagged or not: in a pilot
/// (`CONNECTOR_OPT_IN_TAG`) it is not turned on (`dhmc-scope-conflict`), and with `both` the
/// pilot's instances without a profile get the connector's profile instead.
#[tokio::test]
async fn a_pilot_never_turns_dhmc_on() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    seed::connector_profile(&management).await;
    dhmc_role(&management, "MdcConnectorDhmcRole").await;
    let pilot = seed::instance(&management, R1, &[("mdc-connector:pilot", "")], None).await;
    let other = unprofiled(&management, true).await;
    let settings = ProfileSettings::from_lookup(|name| match name {
        "SSM_REACH" => Some("both".to_string()),
        "CONNECTOR_REGIONS" => Some(R1.to_string()),
        "CONNECTOR_OPT_IN_TAG" => Some("mdc-connector:pilot".to_string()),
        _ => None,
    })
    .expect("settings");
    let report = ProfileScan::new(settings, management.clone())
        .handle(&json!({"action": "scan", "accountIds": [MANAGEMENT]}), None)
        .await
        .expect("scan");
    let registered = report.items.iter().find(|i| i.action.as_str() == "register-dhmc").expect("register-dhmc");
    assert_eq!(registered.code, "register-dhmc/dhmc-scope-conflict", "{registered:?}");
    let setting = ssm_in_r1(&management).get_service_setting().setting_id(DHMC_SETTING).send().await.expect("setting");
    assert_eq!(setting.service_setting().and_then(|s| s.setting_value()), Some("$None"), "still off");
    assert!(seed::profile_of(&management, R1, &pilot).await.is_some(), "the pilot's instance got the profile");
    assert_eq!(seed::profile_of(&management, R1, &other).await, None, "the others are left alone");
}
