//! `account-discovery` against the emulator: StackSet state after the run, operations counted.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::PermissionModels;
use common::moto::{Moto, event};
use common::seed;
use connector_engine::discovery::AccountDiscovery;
use connector_engine::discovery::{DiscoverySettings, PENDING};
use connector_engine::report::{Report, Status};
use serde_json::{Value, json};

const STACK_SET: &str = "mdc-connector-members";
const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];
const MANAGEMENT: &str = "123456789012";
const TEMPLATE: &str = r#"{"Resources":{"Marker":{"Type":"AWS::SSM::Parameter","Properties":{"Name":{"Fn::Sub":"/mdc-connector/${AWS::Region}/onboarded"},"Type":"String","Value":"yes"}}}}"#;

fn cfn(config: &SdkConfig) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(config)
}

async fn create_stack_set(config: &SdkConfig, model: PermissionModels) {
    // moto expands a targeted OU to its child OUs too, so an account in a nested OU is deployed
    // twice when both OUs are targets (AWS deploys once): service-managed tests use a template
    // whose resource moto skips, so the double deployment cannot collide.
    let template = match model {
        PermissionModels::ServiceManaged => {
            r#"{"Resources":{"Marker":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}"#
        }
        _ => TEMPLATE,
    };
    cfn(config)
        .create_stack_set()
        .stack_set_name(STACK_SET)
        .template_body(template)
        .permission_model(model)
        .send()
        .await
        .expect("create stack set");
}

async fn instances(config: &SdkConfig) -> BTreeSet<(String, String)> {
    let out = cfn(config).list_stack_instances().stack_set_name(STACK_SET).send().await.expect("list instances");
    out.summaries()
        .iter()
        .map(|s| (s.account().unwrap_or_default().to_string(), s.region().unwrap_or_default().to_string()))
        .collect()
}

fn config(excluded: &[&str]) -> DiscoverySettings {
    let mut settings = DiscoverySettings::new(STACK_SET, &REGIONS);
    settings.common.excluded_accounts = excluded.iter().map(|s| s.to_string()).collect();
    settings
}

fn job(moto_config: SdkConfig, config: DiscoverySettings) -> AccountDiscovery {
    let mut job = AccountDiscovery::new(config, moto_config);
    job.backoff = Duration::from_millis(10);
    job
}

fn operations(moto: &Moto, operation: &str) -> usize {
    moto.calls().iter().filter(|c| !c.injected && c.operation == operation).count()
}

fn expected(accounts: &[String]) -> BTreeSet<(String, String)> {
    accounts.iter().flat_map(|a| REGIONS.map(|r| (a.clone(), r.to_string()))).collect()
}

fn item_reason(report: &Report, account: &str) -> String {
    report.items.iter().filter(|i| i.account_id == account).map(|i| i.reason.clone()).collect::<Vec<_>>().join(" | ")
}

#[tokio::test]
async fn reconcile_onboards_every_active_member_in_as_few_operations_as_possible() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 5).await;
    let excluded = members[4].clone();
    create_stack_set(&management, PermissionModels::SelfManaged).await;
    cfn(&management)
        .create_stack_instances()
        .stack_set_name(STACK_SET)
        .accounts(&members[0])
        .regions(REGIONS[0])
        .send()
        .await
        .expect("pre-existing instance");
    aws_sdk_eventbridge::Client::new(&management)
        .create_event_bus()
        .name("mdc-connector-records")
        .send()
        .await
        .expect("bus");
    moto.clear_calls();

    let config = DiscoverySettings { event_bus: Some("mdc-connector-records".into()), ..config(&[&excluded]) };
    let job = job(management.clone(), config);
    let report = job.handle(&event("scheduled-event.json"), None).await.expect("reconcile");

    let records: Vec<Value> = moto
        .calls()
        .iter()
        .filter(|c| c.operation == "PutEvents")
        .filter_map(|c| serde_json::from_str::<Value>(c.body.as_deref()?).ok())
        .flat_map(|b| b["Entries"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            assert_eq!(e["EventBusName"], "mdc-connector-records");
            assert_eq!(e["Source"], "mdc-connector");
            serde_json::from_str(e["Detail"].as_str().unwrap_or("null")).expect("detail is JSON")
        })
        .collect();
    assert_eq!(records.len(), 5, "the organization + the 4 members onboarded or completed: {records:?}");
    let organization = records.iter().find(|r| r["status"] == "organization").expect("management record");
    assert_eq!(organization["organizationalData"]["organizationMembershipType"], "Organization");
    assert_eq!(organization["organizationalData"]["stacksetName"], STACK_SET);
    assert_eq!(organization["organizationalData"]["excludedAccountIds"], json!([excluded]));
    for member in &members[1..4] {
        let record = records.iter().find(|r| r["accountId"] == member.as_str()).expect("member record");
        assert_eq!(record["status"], "onboarded");
        assert_eq!(record["organizationalData"]["parentHierarchyId"], MANAGEMENT);
    }

    assert_eq!(instances(&management).await, expected(&members[..4]), "every non-excluded member in every region");
    assert_eq!(operations(&moto, "CreateStackInstances"), 2, "3 new accounts together + member 0's missing region");
    assert!(item_reason(&report, MANAGEMENT).contains("plain stack"), "{report:?}");
    assert!(item_reason(&report, &excluded).contains("excluded"));
    assert_eq!(report.summary.done, 8, "7 (account, region) pairs created + the records published");

    moto.clear_calls();
    let again = job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile again");
    assert_eq!(operations(&moto, "CreateStackInstances"), 0, "nothing left to create");
    assert_eq!(again.summary.done, 0);

    moto.clear_calls();
    let dry = job.handle(&json!({"action": "reconcile", "dryRun": true}), None).await.expect("dry run");
    assert!(dry.dry_run);
    assert!(moto.calls().iter().all(|c| !c.operation.starts_with("Create")
        && !c.operation.starts_with("Delete")
        && c.operation != "PutEvents"));
}

#[tokio::test]
async fn a_busy_stack_set_is_retried_and_what_stays_pending_is_taken_by_the_next_reconcile() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 2).await;
    create_stack_set(&management, PermissionModels::SelfManaged).await;
    let busy = json!({"status": 400, "code": "OperationInProgressException", "message": "Another Operation on StackSet is in progress"});

    moto.faults(json!([{"service": "cloudformation", "operation": "CreateStackInstances", "limit": 2, "error": busy}]));
    let job = job(management.clone(), config(&[]));
    let report = job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(instances(&management).await, expected(&members), "created after two busy answers");
    assert_eq!(report.summary.done, 4);

    let late = seed::organization_account(&management, "late").await;
    moto.faults(json!([{"service": "cloudformation", "operation": "CreateStackInstances", "error": busy}]));
    let report = job
        .handle(&json!({"action": "reconcile"}), Some(Instant::now() + Duration::from_millis(300)))
        .await
        .expect("reconcile");
    let pending: Vec<_> = report.items.iter().filter(|i| i.account_id == late).collect();
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|i| i.status == Status::Skipped && i.reason == PENDING), "{pending:?}");

    moto.faults(json!([]));
    job.handle(&event("scheduled-event.json"), None).await.expect("next reconcile");
    assert!(instances(&management).await.contains(&(late.clone(), REGIONS[1].to_string())), "no account lost");
}

fn org_event(name: &str, detail: Value) -> Value {
    let mut e = event("organizations-create-account-result.json");
    let mut d = e["detail"].as_object().cloned().unwrap_or_default();
    d.insert("eventName".into(), name.into());
    for (k, v) in detail.as_object().cloned().unwrap_or_default() {
        d.insert(k, v);
    }
    e["detail"] = Value::Object(d);
    e
}

#[tokio::test]
async fn organizations_events_onboard_or_report_only_the_account_they_name() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 3).await;
    create_stack_set(&management, PermissionModels::SelfManaged).await;
    let config = DiscoverySettings { remove_departed: true, ..config(&[&members[2]]) };
    let job = job(management.clone(), config);
    let created = |account: &str, state: &str| {
        org_event(
            "CreateAccountResult",
            json!({"serviceEventDetails": {"createAccountStatus": {"state": state, "accountId": account}}}),
        )
    };

    moto.clear_calls();
    job.handle(&created(&members[0], "SUCCEEDED"), None).await.expect("event");
    assert_eq!(instances(&management).await, expected(&members[..1]), "only the new account");
    assert_eq!(operations(&moto, "CreateStackInstances"), 1);

    moto.clear_calls();
    for (e, why) in [(created(&members[1], "FAILED"), "FAILED"), (created(&members[2], "SUCCEEDED"), "excluded")] {
        let report = job.handle(&e, None).await.expect("event");
        assert!(report.items.iter().any(|i| i.reason.contains(why)), "{why}: {:?}", report.items);
    }
    assert_eq!(operations(&moto, "CreateStackInstances"), 0, "no write for failed creations or excluded accounts");

    let accept = org_event(
        "AcceptHandshake",
        json!({"responseElements": {"handshake": {"parties": [{"type": "ACCOUNT", "id": members[1]}]}}}),
    );
    job.handle(&accept, None).await.expect("handshake");
    assert!(instances(&management).await.contains(&(members[1].clone(), REGIONS[0].to_string())));

    aws_sdk_organizations::Client::new(&management)
        .remove_account_from_organization()
        .account_id(&members[0])
        .send()
        .await
        .expect("remove account");
    let removed = org_event("RemoveAccountFromOrganization", json!({"requestParameters": {"accountId": members[0]}}));
    let report = job.handle(&removed, None).await.expect("removal");
    assert!(
        report.items.iter().any(|i| i.action == "delete-stack-instances" && i.status == Status::Done),
        "{:?}",
        report.items
    );
    assert!(instances(&management).await.iter().all(|(a, _)| a != &members[0]), "departed account's instances deleted");
}

#[tokio::test]
async fn service_managed_stack_sets_target_the_accounts_parent_ous_including_nested_ones() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 3).await;
    let org = aws_sdk_organizations::Client::new(&management);
    let root = org.list_roots().send().await.expect("roots").roots()[0].id().expect("root id").to_string();
    let ou = |parent: String, name: &'static str| {
        let org = org.clone();
        async move {
            org.create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .expect("ou")
                .organizational_unit()
                .and_then(|o| o.id())
                .expect("ou id")
                .to_string()
        }
    };
    let workloads = ou(root.clone(), "workloads").await;
    let nested = ou(workloads.clone(), "prod").await;
    let sandbox = ou(root.clone(), "sandbox").await;
    for (account, target) in [(&members[0], &workloads), (&members[1], &nested), (&members[2], &sandbox)] {
        org.move_account()
            .account_id(account)
            .source_parent_id(&root)
            .destination_parent_id(target)
            .send()
            .await
            .expect("move");
    }
    create_stack_set(&management, PermissionModels::ServiceManaged).await;
    let direct = cfn(&management)
        .create_stack_instances()
        .stack_set_name(STACK_SET)
        .deployment_targets(
            aws_sdk_cloudformation::types::DeploymentTargets::builder().organizational_unit_ids(&workloads).build(),
        )
        .regions(REGIONS[0])
        .send()
        .await;
    let refused =
        direct.map(|_| ()).map_err(|e| format!("{e:?}")).expect_err("the emulator refuses without trusted access");
    assert!(refused.contains("You must enable organizations access"), "{refused}");
    moto.clear_calls();

    let without = job(management.clone(), config(&[&members[2]]));
    let report = without.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(report.summary.failed_work_units, 1);
    let reason = &report.items[0].reason;
    assert!(
        reason.contains("STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS")
            && reason.contains("You must enable organizations access"),
        "{reason}"
    );
    assert_eq!(operations(&moto, "CreateStackInstances"), 0);

    let config = DiscoverySettings { activate_organizations_access: true, ..config(&[&members[2]]) };
    let job = job(management.clone(), config);
    let report = job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(report.summary.failed_work_units, 0, "{:?}", report.items);
    assert!(report.items.iter().any(|i| i.action == "activate-organizations-access" && i.status == Status::Done));
    let got = instances(&management).await;
    assert_eq!(got, expected(&members[..2]), "both members, the nested OU included; not the excluded one");
    assert_eq!(operations(&moto, "CreateStackInstances"), 1, "one operation for both accounts");
}

#[tokio::test]
async fn a_delegated_administrator_calls_stack_sets_as_such() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 1).await;
    create_stack_set(&management, PermissionModels::SelfManaged).await;
    moto.clear_calls();
    let job = job(management.clone(), DiscoverySettings { delegated_admin: true, ..config(&[]) });
    job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    let stack_set_calls: Vec<_> =
        moto.calls().into_iter().filter(|c| c.service == "cloudformation" && c.operation != "DescribeStacks").collect();
    assert_eq!(instances(&management).await, expected(&members));
    assert!(stack_set_calls.len() >= 3, "{stack_set_calls:?}");
    assert!(stack_set_calls.iter().all(|c| c.call_as.as_deref() == Some("DELEGATED_ADMIN")), "{stack_set_calls:?}");
}

#[tokio::test]
async fn closed_accounts_are_reported_and_never_written_by_default() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 2).await;
    create_stack_set(&management, PermissionModels::SelfManaged).await;
    let job = job(management.clone(), config(&[]));
    job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(instances(&management).await, expected(&members));

    aws_sdk_organizations::Client::new(&management)
        .close_account()
        .account_id(&members[0])
        .send()
        .await
        .expect("close");
    moto.clear_calls();
    let closed = org_event("CloseAccount", json!({"requestParameters": {"accountId": members[0]}}));
    let report = job.handle(&closed, None).await.expect("event");
    let reasons = item_reason(&report, &members[0]);
    assert!(reasons.contains("SUSPENDED, not ACTIVE"), "{reasons}");
    assert!(reasons.contains("STACKSET_REMOVE_DEPARTED"), "its instances are reported, kept: {reasons}");
    let writes = ["CreateStackInstances", "UpdateStackInstances", "DeleteStackInstances"];
    assert!(moto.calls().iter().all(|c| !writes.contains(&c.operation.as_str())), "no write for a closed account");
    assert_eq!(instances(&management).await, expected(&members), "nothing deleted without STACKSET_REMOVE_DEPARTED");
}

#[tokio::test]
async fn unhealthy_instances_are_reported_with_their_reason_and_retried_when_configured() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 2).await;
    create_stack_set(&management, PermissionModels::SelfManaged).await;
    job(management.clone(), config(&[])).handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    let why =
        "ResourceLogicalId:Marker, ResourceType:AWS::SSM::Parameter, ResourceStatusReason:Parameter limit exceeded";
    moto.unhealthy_stack_instance(&members[0], REGIONS[1], "OUTDATED", why);
    moto.clear_calls();

    let report =
        job(management.clone(), config(&[])).handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    let reported: Vec<_> =
        report.items.iter().filter(|i| i.status == Status::Failed && i.account_id == members[0]).collect();
    assert_eq!(reported.len(), 1, "{:?}", report.items);
    assert_eq!(reported[0].region, REGIONS[1]);
    assert!(
        reported[0].reason.contains("OUTDATED/FAILED") && reported[0].reason.contains("Parameter limit exceeded"),
        "{}",
        reported[0].reason
    );
    assert_eq!(operations(&moto, "UpdateStackInstances"), 0, "only reported by default");

    let retrying = job(management.clone(), DiscoverySettings { retry_failed: true, ..config(&[]) });
    let report = retrying.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    let retried: Vec<_> = report.items.iter().filter(|i| i.action == "update-stack-instances").collect();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].status, Status::Done, "{:?}", retried[0]);
    assert_eq!(operations(&moto, "UpdateStackInstances"), 1);
    let healthy = retrying.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(
        healthy.summary.failed, 1,
        "only the management account's missing plain stack is left: {:?}",
        healthy.items
    );
}
