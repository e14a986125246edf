//! Parsing of the real AWS event shapes kept in `tests/events/`.

mod common;

use common::moto::event;
use connector_engine::event::{ManualRequest, Trigger, parse};

#[test]
fn scheduled_event_is_the_periodic_job() {
    assert_eq!(parse(&event("scheduled-event.json")).unwrap(), Trigger::Scheduled);
}

#[test]
fn instance_state_change_carries_account_region_instance_and_state() {
    assert_eq!(
        parse(&event("ec2-instance-running.json")).unwrap(),
        Trigger::InstanceStateChange {
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            instance_id: "i-0123456789abcdef0".into(),
            state: "running".into(),
        }
    );
    match parse(&event("ec2-instance-stopped.json")).unwrap() {
        Trigger::InstanceStateChange { state, .. } => assert_eq!(state, "stopped"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_instance_id_in_a_state_change_is_rejected() {
    let mut e = event("ec2-instance-running.json");
    e["detail"]["instance-id"] = "i-$(reboot)".into();
    let err = parse(&e).unwrap_err().to_string();
    assert!(err.contains("instance-id"), "{err}");
}

#[test]
fn manual_fixtures_parse_strictly() {
    assert_eq!(
        parse(&event("manual-scan-dry-run.json")).unwrap(),
        Trigger::Manual(ManualRequest::Scan {
            account_ids: Some(vec!["123456789012".into()]),
            regions: Some(vec!["eu-west-1".into()]),
            dry_run: true
        })
    );
    assert_eq!(
        parse(&event("manual-reconcile.json")).unwrap(),
        Trigger::Manual(ManualRequest::Reconcile { dry_run: false })
    );
    assert!(matches!(
        parse(&event("manual-reprovision.json")).unwrap(),
        Trigger::Manual(ManualRequest::Reprovision { force: true, .. })
    ));
}

#[test]
fn events_for_other_functions_are_recognised_by_source_and_detail_type() {
    assert_eq!(
        parse(&event("organizations-create-account-result.json")).unwrap(),
        Trigger::Other { source: "aws.organizations".into(), detail_type: "AWS Service Event via CloudTrail".into() }
    );
}

#[test]
fn arc_provisioner_fixtures_reprovision_by_tag_and_profile_scan_destination() {
    match parse(&event("manual-reprovision-by-tag.json")).unwrap() {
        Trigger::Manual(ManualRequest::Reprovision { tag: Some(tag), instance_ids: None, dry_run: true, .. }) => {
            assert_eq!((tag.key.as_str(), tag.value.as_deref()), ("team", Some("web")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse(&event("profile-scan-destination.json")).unwrap(),
        Trigger::ProfileScanCompleted {
            instances: vec![("210987654321".into(), "eu-west-1".into(), "i-0fedcba9876543210".into())]
        }
    );
}

#[test]
fn ssm_command_status_fixture_names_the_invocation() {
    assert_eq!(
        parse(&event("ssm-command-status.json")).unwrap(),
        Trigger::CommandStatusChange {
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
    assert!(parse(&bad).unwrap_err().to_string().contains("command-id"));
}

#[test]
fn organizations_and_control_tower_fixtures_name_the_account_they_are_about() {
    use connector_engine::discovery::events::{OrgEvent, classify};
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
        let e = event(fixture);
        assert!(matches!(parse(&e).unwrap(), Trigger::Other { .. }), "{fixture}");
        assert_eq!(classify(&e["detail"]), expected, "{fixture}");
    }
}
