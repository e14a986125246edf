//! Parsing of the real AWS event shapes kept in `tests/events/`, by the function each belongs to;
//! every other function refuses it, naming the right one.

mod common;

use common::moto::event;
use connector_engine::arc::{ArcTrigger, trigger as arc};
use connector_engine::discovery::events::OrgEvent;
use connector_engine::discovery::{DiscoveryTrigger, ReconcileCommand, trigger as discovery};
use connector_engine::error::EventError;
use connector_engine::profile::{ProfileTrigger, trigger as profile};

/// Every fixture with the function it belongs to.
const FIXTURES: [(&str, &str); 24] = [
    ("account-region-opt-in-enabled.json", "account-discovery"),
    ("cloudformation-custom-resource-delete.json", "account-discovery"),
    ("controltower-create-managed-account.json", "account-discovery"),
    ("controltower-update-managed-account.json", "account-discovery"),
    ("organizations-account-joined.json", "account-discovery"),
    ("ec2-instance-running.json", "profile-scan"),
    ("ec2-instance-stopped.json", "profile-scan"),
    ("ec2-instance-terminated.json", "arc-provisioner"),
    ("manual-reconcile.json", "account-discovery"),
    ("manual-reconcile-leave-scope.json", "account-discovery"),
    ("manual-reprovision-by-tag.json", "arc-provisioner"),
    ("manual-reprovision.json", "arc-provisioner"),
    ("manual-scan-dry-run.json", "profile-scan"),
    ("manual-scan.json", "profile-scan"),
    ("manual-sweep-leave-scope.json", "arc-provisioner"),
    ("manual-scan-release-dhmc.json", "profile-scan"),
    ("organizations-accept-handshake.json", "account-discovery"),
    ("organizations-close-account.json", "account-discovery"),
    ("organizations-create-account-result.json", "account-discovery"),
    ("organizations-move-account.json", "account-discovery"),
    ("organizations-remove-account.json", "account-discovery"),
    ("profile-scan-destination.json", "arc-provisioner"),
    ("scheduled-event.json", "*"),
    ("ssm-command-status.json", "arc-provisioner"),
];

#[test]
fn every_fixture_is_accepted_by_its_function_and_refused_by_the_others_naming_it() {
    for (fixture, owner) in FIXTURES {
        let e = event(fixture);
        let results = [
            ("profile-scan", profile::parse(&e).err()),
            ("account-discovery", discovery::parse(&e).err()),
            ("arc-provisioner", arc::parse(&e).err()),
        ];
        for (function, error) in results {
            match error {
                None => assert!(owner == "*" || owner == function, "{function} accepted {fixture}"),
                Some(EventError::NotHandled(message)) => {
                    assert_ne!(owner, function, "{function} refused its own {fixture}: {message}");
                    assert!(message.contains(&format!("send it to {owner}")), "{fixture}: {message}");
                }
                Some(other) => panic!("{function} on {fixture}: {other}"),
            }
        }
    }
    let listed: Vec<String> = std::fs::read_dir(common::moto::repo_root().join("tests/events"))
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(listed.len(), FIXTURES.len(), "every fixture is listed here: {listed:?}");
}

/// Account Management's region event: an account that enabled a region is reconciled; any other
/// status needs nothing.
#[test]
fn a_region_enabled_by_an_account_reconciles_that_account() {
    let e = event("account-region-opt-in-enabled.json");
    match discovery::parse(&e).expect("accepted") {
        DiscoveryTrigger::Organizations { event: OrgEvent::RegionEnabled { account_id, region }, .. } => {
            assert_eq!((account_id.as_str(), region.as_str()), ("210987654321", "ap-east-1"));
        }
        other => panic!("{other:?}"),
    }
    let mut enabling = e.clone();
    enabling["detail"]["status"] = "ENABLING".into();
    let parsed = discovery::parse(&enabling).expect("accepted");
    assert!(matches!(parsed, DiscoveryTrigger::Organizations { event: OrgEvent::Ignored { .. }, .. }), "{parsed:?}");
}

#[test]
fn scheduled_event_is_each_functions_periodic_job() {
    let e = event("scheduled-event.json");
    assert_eq!(profile::parse(&e).unwrap(), ProfileTrigger::Scheduled);
    assert_eq!(discovery::parse(&e).unwrap(), DiscoveryTrigger::Scheduled);
    assert_eq!(arc::parse(&e).unwrap(), ArcTrigger::Scheduled);
}

#[test]
fn instance_state_change_carries_account_region_instance_and_state() {
    assert_eq!(
        profile::parse(&event("ec2-instance-running.json")).unwrap(),
        ProfileTrigger::InstanceStateChange {
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            instance_id: "i-0123456789abcdef0".into(),
            state: "running".into(),
        }
    );
    match profile::parse(&event("ec2-instance-stopped.json")).unwrap() {
        ProfileTrigger::InstanceStateChange { state, .. } => assert_eq!(state, "stopped"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_instance_id_in_a_state_change_is_rejected() {
    let mut e = event("ec2-instance-running.json");
    e["detail"]["instance-id"] = "i-$(reboot)".into();
    let err = profile::parse(&e).unwrap_err().to_string();
    assert!(err.contains("instance-id"), "{err}");
}

#[test]
fn manual_fixtures_parse_strictly() {
    match profile::parse(&event("manual-scan-dry-run.json")).unwrap() {
        ProfileTrigger::Scan(scan) => {
            assert_eq!(scan.account_ids, Some(vec!["123456789012".to_string()]));
            assert_eq!(scan.regions, Some(vec!["eu-west-1".to_string()]));
            assert!(scan.dry_run);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        discovery::parse(&event("manual-reconcile.json")).unwrap(),
        DiscoveryTrigger::Reconcile(ReconcileCommand { dry_run: false, leave_scope: false })
    );
    assert!(matches!(
        arc::parse(&event("manual-reprovision.json")).unwrap(),
        ArcTrigger::Reprovision(command) if command.force
    ));
}

#[test]
fn arc_provisioner_fixtures_reprovision_by_tag_and_profile_scan_destination() {
    match arc::parse(&event("manual-reprovision-by-tag.json")).unwrap() {
        ArcTrigger::Reprovision(command) => {
            let tag = command.tag.expect("tag");
            assert_eq!((tag.key.as_str(), tag.value.as_deref()), ("team", Some("web")));
            assert!(command.instance_ids.is_none() && command.dry_run);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        arc::parse(&event("profile-scan-destination.json")).unwrap(),
        ArcTrigger::ProfileScanCompleted {
            instances: vec![("210987654321".into(), "eu-west-1".into(), "i-0fedcba9876543210".into())]
        }
    );
}

#[test]
fn ssm_command_status_fixture_names_the_invocation() {
    assert_eq!(
        arc::parse(&event("ssm-command-status.json")).unwrap(),
        ArcTrigger::CommandStatusChange {
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            command_id: "e8d3c0e4-71f7-4491-898f-c9b35bee5f3b".into(),
            instance_id: "i-0123456789abcdef0".into(),
            document_name: "MdcConnector-ArcOnboard-Linux".into(),
            status: "Success".into(),
        }
    );
    let mut bad = event("ssm-command-status.json");
    bad["detail"]["command-id"] = "x; reboot".into();
    assert!(arc::parse(&bad).unwrap_err().to_string().contains("command-id"));
}

#[test]
fn organizations_and_control_tower_fixtures_name_the_account_they_are_about() {
    let account = "210987654321".to_string();
    let cases = [
        (
            "organizations-create-account-result.json",
            OrgEvent::Joined { account_id: account.clone(), event: "CreateAccountResult".into() },
        ),
        (
            "organizations-accept-handshake.json",
            OrgEvent::Joined { account_id: account.clone(), event: "AcceptHandshake".into() },
        ),
        (
            "organizations-account-joined.json",
            OrgEvent::Joined { account_id: account.clone(), event: "AccountJoinedOrganization".into() },
        ),
        (
            "controltower-update-managed-account.json",
            OrgEvent::Joined { account_id: account.clone(), event: "UpdateManagedAccount".into() },
        ),
        (
            "controltower-create-managed-account.json",
            OrgEvent::Joined { account_id: account.clone(), event: "CreateManagedAccount".into() },
        ),
        ("organizations-move-account.json", OrgEvent::Moved { account_id: account.clone() }),
        (
            "organizations-remove-account.json",
            OrgEvent::Left { account_id: account.clone(), event: "RemoveAccountFromOrganization".into() },
        ),
        (
            "organizations-close-account.json",
            OrgEvent::Left { account_id: account.clone(), event: "CloseAccount".into() },
        ),
    ];
    for (fixture, expected) in cases {
        match discovery::parse(&event(fixture)).unwrap() {
            DiscoveryTrigger::Organizations { event, .. } => assert_eq!(event, expected, "{fixture}"),
            other => panic!("{fixture}: {other:?}"),
        }
    }
}

#[test]
fn the_deploys_custom_resource_request_reaches_account_discovery_with_what_its_answer_needs() {
    let Ok(DiscoveryTrigger::CustomResource(request)) =
        discovery::parse(&event("cloudformation-custom-resource-delete.json"))
    else {
        panic!("a custom resource request");
    };
    assert_eq!(request.kind.as_str(), "Delete");
    assert_eq!(request.logical_resource_id, "MemberStackSetInstances");
    assert_eq!(request.physical_resource_id.as_deref(), Some("mdc-connector-members-instances"));
    assert!(request.response_url.starts_with("https://"));
    let mut malformed = event("cloudformation-custom-resource-delete.json");
    malformed["StackId"] = serde_json::json!(7);
    assert!(matches!(discovery::parse(&malformed), Err(EventError::Unrecognized(_))));
}
