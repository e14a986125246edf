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

/// The organization's root id.
async fn root_id(org: &aws_sdk_organizations::Client) -> String {
    org.list_roots().send().await.expect("roots").roots()[0].id().expect("root id").to_string()
}

fn operations(moto: &Moto, operation: &str) -> usize {
    moto.calls().iter().filter(|c| !c.injected && c.operation == operation).count()
}

/// The emulator with an organization of `members` members and the self-managed StackSet.
async fn self_managed_organization(members: usize) -> (Moto, SdkConfig, Vec<String>) {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, members).await;
    create_stack_set(&management, PermissionModels::SelfManaged).await;
    (moto, management, members)
}

/// The StackSet instance writes the run sent (none expected where an account must not be written).
fn stack_instance_writes(moto: &Moto) -> Vec<String> {
    let writes = ["CreateStackInstances", "UpdateStackInstances", "DeleteStackInstances"];
    moto.calls().into_iter().map(|c| c.operation).filter(|op| writes.contains(&op.as_str())).collect()
}

/// The EventBridge entries the run put, in order.
fn put_event_entries(moto: &Moto) -> Vec<Value> {
    moto.calls()
        .iter()
        .filter(|c| c.operation == "PutEvents")
        .filter_map(|c| serde_json::from_str::<Value>(c.body.as_deref()?).ok())
        .flat_map(|b| b["Entries"].as_array().cloned().unwrap_or_default())
        .collect()
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

    let records: Vec<Value> = put_event_entries(&moto)
        .into_iter()
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
    let (moto, management, members) = self_managed_organization(2).await;
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
    let (moto, management, members) = self_managed_organization(3).await;
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
    assert_eq!(operations(&moto, "ListAccounts"), 0, "an event reads its one account, not the organization");
    assert_eq!(operations(&moto, "DescribeAccount"), 1);

    moto.clear_calls();
    for (e, why) in [(created(&members[1], "FAILED"), "FAILED"), (created(&members[2], "SUCCEEDED"), "excluded")] {
        let report = job.handle(&e, None).await.expect("event");
        assert!(report.items.iter().any(|i| i.reason.contains(why)), "{why}: {:?}", report.items);
    }
    assert_eq!(operations(&moto, "CreateStackInstances"), 0, "no write for failed creations or excluded accounts");

    // An invited account: the management account's trail shows AccountJoinedOrganization (the
    // member's own AcceptHandshake is logged in the member's trail).
    let mut joined = event("organizations-account-joined.json");
    joined["detail"]["serviceEventDetails"]["accountId"] = json!(members[1]);
    job.handle(&joined, None).await.expect("joined");
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
    let root = root_id(&org).await;
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

/// DescribeOrganization: "You can call this operation from any account in a organization"; its
/// `MasterAccountId` is the management account, which StackSets never deploy to, whoever calls.
#[tokio::test]
async fn a_delegated_administrator_onboards_every_member_including_itself_but_not_the_management_account() {
    let (moto, management, members) = self_managed_organization(2).await;
    let admin = moto.account_config(&members[0]).await;
    moto.clear_calls();

    // Not registered yet: StackSets refuses CallAs=DELEGATED_ADMIN, and the run says so.
    let delegated = DiscoverySettings { delegated_admin: true, ..config(&[]) };
    let refused = job(admin.clone(), delegated.clone()).handle(&json!({"action": "reconcile"}), None).await;
    let refused = refused.expect("a report");
    assert_eq!(refused.summary.failed_work_units, 1);
    assert!(refused.items[0].reason.contains("delegated administrator"), "{:?}", refused.items);
    assert!(instances(&management).await.is_empty());

    moto.delegated_admin(&members[0]);
    moto.clear_calls();
    let report = job(admin.clone(), delegated).handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    let stack_set_calls: Vec<_> = moto.calls().into_iter().filter(|c| c.service == "cloudformation").collect();
    assert_eq!(instances(&management).await, expected(&members), "both members, the administrator included");
    assert!(stack_set_calls.len() >= 4, "{stack_set_calls:?}");
    assert!(stack_set_calls.iter().all(|c| c.call_as.as_deref() == Some("DELEGATED_ADMIN")), "{stack_set_calls:?}");
    assert!(
        !moto.calls().iter().any(|c| c.operation == "DescribeStacks"),
        "the management account's stacks are not readable here"
    );
    let management_item = report.items.iter().find(|i| i.account_id == MANAGEMENT).expect("management reported");
    assert_eq!(management_item.status, Status::Skipped);
    assert!(
        management_item.reason.contains("never deploy") && management_item.reason.contains("delegated administrator")
    );
}

#[tokio::test]
async fn closed_accounts_are_reported_and_never_written_by_default() {
    let (moto, management, members) = self_managed_organization(2).await;
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
    assert!(reasons.contains("kept and never written"), "its instances are reported, kept: {reasons}");
    assert_eq!(stack_instance_writes(&moto), Vec::<String>::new(), "no write for a closed account");
    assert_eq!(instances(&management).await, expected(&members), "nothing deleted");

    // Even with removal on: StackSets skips suspended accounts (SKIPPED_SUSPENDED_ACCOUNT), so a
    // delete would be re-sent every run. It is never sent.
    let removing = crate::job(management.clone(), DiscoverySettings { remove_departed: true, ..config(&[]) });
    for _ in 0..2 {
        removing.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    }
    assert_eq!(stack_instance_writes(&moto), Vec::<String>::new(), "no write, run after run");
}

/// StackSetOperationResultSummary: "FAILED: The operation in the specified account and Region
/// failed." An operation with every failure tolerated is still SUCCEEDED: only the per-instance
/// results tell.
#[tokio::test]
async fn each_account_and_region_is_reported_from_the_operations_own_results() {
    let (moto, management, members) = self_managed_organization(3).await;
    aws_sdk_eventbridge::Client::new(&management).create_event_bus().name("records").send().await.expect("bus");
    let why = "Account 1 should have 'AWSCloudFormationStackSetExecutionRole' role with trust relationship to Role 'AWSCloudFormationStackSetAdministrationRole'.";
    moto.stackset_failures(&[(&members[1], REGIONS[1], why)]);
    moto.disabled_regions(&members[2], &[REGIONS[1]]);
    moto.clear_calls();

    let settings = DiscoverySettings { event_bus: Some("records".into()), ..config(&[]) };
    let report = job(management.clone(), settings.clone())
        .handle(&json!({"action": "reconcile"}), None)
        .await
        .expect("reconcile");
    let item = |account: &str, region: &str| {
        report
            .items
            .iter()
            .find(|i| i.account_id == account && i.region == region && i.action == "create-stack-instances")
            .unwrap_or_else(|| panic!("{account} {region}: {:?}", report.items))
    };
    assert_eq!(operations(&moto, "CreateStackInstances"), 1, "one operation for the three accounts");
    assert_eq!(operations(&moto, "ListStackSetOperationResults"), 1);
    for region in REGIONS {
        assert_eq!(item(&members[0], region).status, Status::Done);
    }
    assert_eq!(item(&members[1], REGIONS[0]).status, Status::Done);
    assert_eq!(item(&members[1], REGIONS[1]).status, Status::Failed);
    assert!(item(&members[1], REGIONS[1]).reason.contains("AWSCloudFormationStackSetExecutionRole"));
    assert_eq!(item(&members[2], REGIONS[1]).status, Status::Failed);
    assert!(
        item(&members[2], REGIONS[1]).reason.contains("region enabled"),
        "{}",
        item(&members[2], REGIONS[1]).reason
    );

    let onboarded: Vec<String> = put_event_entries(&moto)
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["Detail"].as_str()?).ok())
        .filter(|d| d["status"] == "onboarded")
        .filter_map(|d| d["accountId"].as_str().map(String::from))
        .collect();
    assert_eq!(onboarded, vec![members[0].clone()], "records only for accounts onboarded in every region");

    // The failed instances stay failed in AWS: the next reconcile reports them with AWS's reason.
    let again = job(management.clone(), settings).handle(&json!({"action": "reconcile"}), None).await.expect("again");
    let failed: Vec<_> =
        again.items.iter().filter(|i| i.status == Status::Failed && i.account_id != MANAGEMENT).collect();
    assert_eq!(failed.len(), 2, "{:?}", again.items);
    assert!(failed.iter().all(|i| i.reason.contains("STACKSET_RETRY_FAILED")));
}

/// An operation still RUNNING when the invocation's budget ends is reported pending, not failed,
/// and its instances (detailed status RUNNING) are neither failed nor re-sent by the next run.
#[tokio::test]
async fn operations_still_running_are_pending_and_never_re_sent() {
    let (moto, management, members) = self_managed_organization(1).await;
    moto.stackset_running_polls(1000);
    moto.clear_calls();

    let deadline = Instant::now() + Duration::from_millis(400);
    let report = job(management.clone(), DiscoverySettings { retry_failed: true, ..config(&[]) })
        .handle(&json!({"action": "reconcile"}), Some(deadline))
        .await
        .expect("reconcile");
    let created: Vec<_> = report.items.iter().filter(|i| i.action == "create-stack-instances").collect();
    assert_eq!(created.len(), 2);
    assert!(created.iter().all(|i| i.status == Status::Skipped && i.reason.contains("RUNNING")), "{created:?}");

    moto.clear_calls();
    let next = job(management.clone(), DiscoverySettings { retry_failed: true, ..config(&[]) })
        .handle(&json!({"action": "reconcile"}), None)
        .await
        .expect("next");
    let member: Vec<_> = next.items.iter().filter(|i| i.account_id == members[0]).collect();
    assert!(member.iter().all(|i| i.status == Status::Skipped && i.reason.starts_with("pending")), "{member:?}");
    assert_eq!(stack_instance_writes(&moto), Vec::<String>::new(), "nothing re-sent while running");
}

#[tokio::test]
async fn unhealthy_instances_are_reported_with_their_reason_and_retried_when_configured() {
    let (moto, management, members) = self_managed_organization(2).await;
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

    // INOPERABLE (a delete that failed): "excluded from further UpdateStackSet operations"; even
    // with retries on it is never re-sent, and the report gives AWS's remedy. The emulator keeps
    // it INOPERABLE through updates, as StackSets does.
    moto.unhealthy_stack_instance(&members[1], REGIONS[0], "INOPERABLE", "delete failed");
    moto.clear_calls();
    for _ in 0..2 {
        let report = retrying.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
        let item = report.items.iter().find(|i| i.account_id == members[1] && i.status == Status::Failed);
        let reason = item.map(|i| i.reason.as_str()).unwrap_or_default();
        assert!(reason.contains("INOPERABLE") && reason.contains("--retain-stacks"), "{:?}", report.items);
    }
    assert_eq!(stack_instance_writes(&moto), Vec::<String>::new(), "never re-sent");
}

/// CreateStackInstances API reference: "The maximum number of organizational unit (OUs) supported
/// by a CreateStackInstances operation is 50." 51 accounts in 51 OUs need two operations.
#[tokio::test]
async fn service_managed_operations_never_target_more_than_50_ous() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 51).await;
    let org = aws_sdk_organizations::Client::new(&management);
    let root = root_id(&org).await;
    let mut ous = Vec::new();
    for (i, account) in members.iter().enumerate() {
        let ou = org
            .create_organizational_unit()
            .parent_id(&root)
            .name(format!("team-{i}"))
            .send()
            .await
            .expect("ou")
            .organizational_unit()
            .and_then(|o| o.id())
            .expect("ou id")
            .to_string();
        org.move_account()
            .account_id(account)
            .source_parent_id(&root)
            .destination_parent_id(&ou)
            .send()
            .await
            .expect("move");
        ous.push(ou);
    }
    create_stack_set(&management, PermissionModels::ServiceManaged).await;
    cfn(&management).activate_organizations_access().send().await.expect("trusted access");
    let too_many = cfn(&management)
        .create_stack_instances()
        .stack_set_name(STACK_SET)
        .deployment_targets(
            aws_sdk_cloudformation::types::DeploymentTargets::builder().set_organizational_unit_ids(Some(ous)).build(),
        )
        .regions(REGIONS[0])
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
        .expect_err("the emulator refuses 51 OUs, as AWS does");
    assert!(too_many.contains("is 50"), "{too_many}");
    moto.clear_calls();

    let report =
        job(management.clone(), config(&[])).handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(operations(&moto, "CreateStackInstances"), 2, "{:?}", report.items);
    let created =
        report.items.iter().filter(|i| i.action == "create-stack-instances" && i.status == Status::Done).count();
    assert_eq!(
        created,
        51 * REGIONS.len(),
        "{:?}",
        report.items.iter().filter(|i| i.status != Status::Done).collect::<Vec<_>>()
    );
}

/// StackSet work still pending when an invocation ends is re-checked minutes later through a
/// delayed message on the function's own queue, not at the next daily reconcile.
#[tokio::test]
async fn pending_stackset_work_is_rechecked_through_a_delayed_message() {
    let (moto, management, members) = self_managed_organization(1).await;
    let queue = common::poller::WorkQueue::create(&management, "account-discovery-work", 3, 1).await;
    moto.stackset_running_polls(1000);
    let settings = DiscoverySettings { work_queue_url: Some(queue.url.clone()), ..config(&[]) };
    let discovery = job(management.clone(), settings);

    let deadline = Instant::now() + Duration::from_millis(300);
    let report = discovery.handle(&json!({"action": "reconcile"}), Some(deadline)).await.expect("reconcile");
    let recheck = report.items.iter().find(|i| i.action == "recheck").expect("a re-check item");
    assert_eq!(recheck.status, Status::Done, "{recheck:?}");
    let delayed = queue
        .sqs
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("attributes");
    let delayed = delayed
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed))
        .cloned();
    assert_eq!(delayed.as_deref(), Some("1"), "one delayed re-check");

    // The re-check itself (as the event source mapping delivers it): the operation is done now.
    moto.stackset_running_polls(0);
    let record = json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs",
                                     "body": json!({"job": "account-discovery", "attempt": 1}).to_string()}]});
    let rechecked = discovery.handle(&record, None).await.expect("re-check");
    // The first operation is still running on the emulator: its instances are pending (not failed,
    // not re-sent), and the chain goes on with the next re-check.
    let member: Vec<_> = rechecked.items.iter().filter(|i| i.account_id == members[0]).collect();
    assert!(!member.is_empty() && member.iter().all(|i| i.reason.starts_with("pending")), "{:?}", rechecked.items);
    assert!(rechecked.items.iter().any(|i| i.action == "recheck" && i.status == Status::Done));
    assert!(rechecked.batch_item_failures.is_empty());
    assert_eq!(operations(&moto, "CreateStackInstances"), 1, "nothing re-sent while running");
}

/// An onboarding operation that outlives the invocation that sent it: the re-check that reads its
/// instances `CURRENT` publishes the account's record (keyed by account and operation) and hands
/// the account to profile-scan, one delayed unit per region; the next reconcile repeats neither.
#[tokio::test]
async fn an_operation_that_outlives_its_invocation_still_yields_the_record_and_the_hand_off() {
    let (moto, management, members) = self_managed_organization(1).await;
    aws_sdk_eventbridge::Client::new(&management).create_event_bus().name("records").send().await.expect("bus");
    let own = common::poller::WorkQueue::create(&management, "account-discovery-work", 3, 1).await;
    let profile = common::poller::WorkQueue::create(&management, "profile-scan-work", 3, 1).await;
    let settings = DiscoverySettings {
        work_queue_url: Some(own.url.clone()),
        event_bus: Some("records".into()),
        profile_scan_queue_url: Some(profile.url.clone()),
        ..config(&[])
    };
    let discovery = job(management.clone(), settings);
    moto.stackset_running_polls(1000);
    moto.clear_calls();
    let deadline = Instant::now() + Duration::from_millis(300);
    let first = discovery.handle(&json!({"action": "reconcile"}), Some(deadline)).await.expect("reconcile");
    assert!(put_event_entries(&moto).is_empty(), "nothing onboarded yet: {:?}", first.items);
    let sent = moto.sent_messages();
    assert_eq!(sent.len(), 1, "only the re-check: {sent:?}");
    let (url, recheck, delay) = &sent[0];
    assert_eq!(url.as_str(), own.url.as_str());
    assert!((150..450).contains(delay), "visible on the next 5-minute mark at least 150 s away: {delay}");
    let operation = recheck["awaiting"][&members[0]].as_str().expect("the re-check carries the awaited operation");

    // The operation ends while nobody watches; the re-check (as the event source mapping delivers it).
    moto.stackset_finish_running();
    moto.clear_calls();
    let record = json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": recheck.to_string()}]});
    let rechecked = discovery.handle(&record, None).await.expect("re-check");
    let records: Vec<Value> = put_event_entries(&moto)
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["Detail"].as_str()?).ok())
        .filter(|d| d["status"] == "onboarded")
        .collect();
    assert_eq!(records.len(), 1, "{:?}", rechecked.items);
    assert_eq!(records[0]["accountId"], members[0].as_str());
    assert_eq!(records[0]["recordKey"], format!("{}/{operation}", members[0]));
    assert_eq!(records[0]["regions"], json!(REGIONS));
    let units: Vec<_> = moto.sent_messages().into_iter().filter(|(u, _, _)| u == &profile.url).collect();
    assert_eq!(units.len(), REGIONS.len(), "one profile-scan unit per region: {units:?}");
    for ((_, body, delay), region) in units.iter().zip(REGIONS) {
        assert_eq!(body, &json!({"job": "profile-scan", "accountId": members[0], "region": region}));
        assert_eq!(*delay, 120, "after IAM propagation");
    }
    let hand_off = rechecked.items.iter().find(|i| i.action == "hand-off").expect("hand-off item");
    assert_eq!((hand_off.status, hand_off.account_id.as_str()), (Status::Done, members[0].as_str()));
    assert_eq!(stack_instance_writes(&moto), Vec::<String>::new(), "nothing re-sent");

    // The daily reconcile: everything CURRENT, no second record, no second hand-off.
    moto.clear_calls();
    let daily = discovery.handle(&json!({"action": "reconcile"}), None).await.expect("daily");
    assert!(put_event_entries(&moto).is_empty(), "{:?}", daily.items);
    assert!(moto.sent_messages().is_empty(), "{:?}", daily.items);
}

/// Opt-in regions are enabled per account (Account Management `ListRegions`): without trusted
/// access for Account Management the run says exactly what to enable; with it, a region a member
/// has not enabled is skipped with the reason (never failed, never retried), the member is
/// onboarded in its enabled regions and recorded over them, and the other member everywhere.
#[tokio::test]
async fn regions_a_member_has_not_enabled_are_skipped_not_failed() {
    let (moto, management, members) = self_managed_organization(2).await;
    moto.disabled_regions(&members[0], &["us-east-1"]);
    aws_sdk_eventbridge::Client::new(&management).create_event_bus().name("records").send().await.expect("bus");
    let settings = DiscoverySettings { event_bus: Some("records".into()), retry_failed: true, ..config(&[]) };

    let planned = job(management.clone(), settings.clone())
        .handle(&json!({"action": "reconcile", "dryRun": true}), None)
        .await
        .expect("dry run");
    let advice = planned.items.iter().find(|i| i.reason.contains("account:ListRegions")).expect("the refusal named");
    assert!(
        advice.reason.contains("enable-aws-service-access --service-principal account.amazonaws.com"),
        "{advice:?}"
    );

    aws_sdk_organizations::Client::new(&management)
        .enable_aws_service_access()
        .service_principal("account.amazonaws.com")
        .send()
        .await
        .expect("trusted access for Account Management");
    moto.clear_calls();
    let report = job(management.clone(), settings.clone()).handle(&json!({"action": "reconcile"}), None).await;
    let report = report.expect("reconcile");
    let failed: Vec<_> =
        report.items.iter().filter(|i| i.status == Status::Failed && i.account_id != MANAGEMENT).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let skipped = report.items.iter().find(|i| i.account_id == members[0] && i.region == "us-east-1").expect("item");
    assert_eq!((skipped.status, skipped.action.as_str()), (Status::Skipped, "check"));
    assert!(skipped.reason.contains("not enabled in this account"), "{skipped:?}");
    let mut expected_instances = expected(&members[1..]);
    expected_instances.insert((members[0].clone(), "eu-west-1".into()));
    assert_eq!(instances(&management).await, expected_instances, "nothing deployed where it cannot be");
    let list_regions = moto.calls().iter().filter(|c| c.service == "account").count();
    assert_eq!(list_regions, 2, "one ListRegions per account needing work");
    let records: Vec<Value> = put_event_entries(&moto)
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["Detail"].as_str()?).ok())
        .filter(|d| d["status"] == "onboarded")
        .collect();
    let first = records.iter().find(|r| r["accountId"] == members[0].as_str()).expect("record");
    assert_eq!(first["regions"], json!(["eu-west-1"]), "recorded over its enabled regions");

    // Settled: the next run reads no region list and writes nothing.
    moto.clear_calls();
    let again = job(management.clone(), settings).handle(&json!({"action": "reconcile"}), None).await.expect("again");
    assert!(again.items.iter().all(|i| i.status != Status::Failed || i.account_id == MANAGEMENT), "{:#?}", again.items);
    assert_eq!(stack_instance_writes(&moto), Vec::<String>::new());
    assert_eq!(
        moto.calls().iter().filter(|c| c.service == "account").count(),
        1,
        "only the member still lacking a region"
    );
}

/// One re-check chain at a time: invocations that each leave work pending (here two
/// Organizations events) send re-checks visible on the same 5-minute mark; delivered together in
/// one batch, they continue as one chain carrying every awaited account.
#[tokio::test]
async fn rechecks_from_separate_invocations_meet_and_continue_as_one_chain() {
    let (moto, management, members) = self_managed_organization(2).await;
    let own = common::poller::WorkQueue::create(&management, "account-discovery-work", 3, 1).await;
    let settings = DiscoverySettings { work_queue_url: Some(own.url.clone()), ..config(&[]) };
    let discovery = job(management.clone(), settings);
    moto.stackset_running_polls(1000);
    moto.clear_calls();
    for member in &members {
        let event = org_event("AccountJoinedOrganization", json!({"serviceEventDetails": {"accountId": member}}));
        let deadline = Instant::now() + Duration::from_millis(300);
        discovery.handle(&event, Some(deadline)).await.expect("event");
    }
    let sent = moto.sent_messages();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    for (_, _, delay) in &sent {
        let visible = now + delay;
        assert!(visible % 300 <= 5, "on a 5-minute mark: {delay}");
    }

    moto.clear_calls();
    let records: Vec<Value> = sent
        .iter()
        .enumerate()
        .map(|(n, (_, body, _))| json!({"messageId": format!("m-{n}"), "eventSource": "aws:sqs", "body": body.to_string()}))
        .collect();
    let rechecked = discovery.handle(&json!({"Records": records}), None).await.expect("re-check");
    let continued = moto.sent_messages();
    assert_eq!(continued.len(), 1, "one chain goes on: {:?}", rechecked.items);
    let (_, next, _) = &continued[0];
    assert_eq!(next["attempt"], 2);
    let mut awaited = serde_json::Map::new();
    for (_, body, _) in &sent {
        awaited.extend(body["awaiting"].as_object().cloned().unwrap_or_default());
    }
    assert!(!awaited.is_empty(), "the first event's operation is still running: {sent:?}");
    assert_eq!(next["awaiting"], Value::Object(awaited), "the union of what both awaited");
}

/// The preflight item named `check`: (outcome, reason).
fn preflight_check(report: &Report, check: &str) -> (String, String) {
    let item =
        report.items.iter().find(|i| i.resource_id == check).unwrap_or_else(|| panic!("no {check} in {report:?}"));
    (item.outcome.map(|o| o.as_str().to_string()).unwrap_or_default(), item.reason.clone())
}

#[tokio::test]
async fn preflight_answers_each_prerequisite_with_the_command_that_fixes_it_and_writes_nothing() {
    let (moto, management, members) = self_managed_organization(2).await;
    moto.lambda_concurrency(MANAGEMENT, 10);
    moto.unhealthy_stack_instance(
        &members[0],
        "eu-west-1",
        "OUTDATED",
        "Account should have 'eu-west-1' region enabled",
    );
    cfn(&management)
        .create_stack_instances()
        .stack_set_name(STACK_SET)
        .accounts(&members[0])
        .regions("eu-west-1")
        .send()
        .await
        .expect("seed a stack instance");
    moto.unhealthy_stack_instance(
        &members[0],
        "eu-west-1",
        "OUTDATED",
        "Account should have 'eu-west-1' region enabled",
    );
    let discovery = job(management.clone(), config(&[]));
    moto.clear_calls();
    let report = discovery.handle(&json!({"action": "preflight"}), None).await.expect("preflight");
    let writes: Vec<String> = moto
        .calls()
        .into_iter()
        .map(|c| c.operation)
        .filter(|op| !["Describe", "List", "Get", "GET"].iter().any(|read| op.starts_with(read)))
        .collect();
    assert!(writes.is_empty(), "a preflight only reads: {writes:?}");
    assert!(report.dry_run);
    let missing = |check: &str, fix: &str| {
        let (outcome, reason) = preflight_check(&report, check);
        assert_eq!(outcome, "missing", "{check}: {reason}");
        assert!(reason.contains(fix), "{check} names the fix {fix:?}: {reason}");
    };
    missing("trusted-access-stacksets", "aws cloudformation activate-organizations-access");
    missing("trusted-access-account-management", "--service-principal account.amazonaws.com");
    missing("cloudtrail-management-events", "aws cloudtrail create-trail");
    missing("lambda-concurrency", "--quota-code L-B99A9384");
    missing("member-stack-instances", "Account should have 'eu-west-1' region enabled");
    assert_eq!(report.summary.failed, 5, "{:?}", report.items);
    assert_eq!(report.metrics, vec![("PreflightFailed", 5)]);

    // Each fixed as the reason says: every check is ok.
    cfn(&management).activate_organizations_access().send().await.expect("activate");
    let org = aws_sdk_organizations::Client::new(&management);
    org.enable_aws_service_access().service_principal("account.amazonaws.com").send().await.expect("trusted access");
    moto.s3_bucket("trail-logs");
    let trail = aws_sdk_cloudtrail::Client::new(&management);
    trail
        .create_trail()
        .name("org")
        .s3_bucket_name("trail-logs")
        .is_multi_region_trail(true)
        .send()
        .await
        .expect("trail");
    trail.start_logging().name("org").send().await.expect("logging");
    moto.lambda_concurrency(MANAGEMENT, 1000);
    cfn(&management)
        .update_stack_instances()
        .stack_set_name(STACK_SET)
        .accounts(&members[0])
        .regions("eu-west-1")
        .send()
        .await
        .expect("heal");
    let report = discovery.handle(&json!({"action": "preflight"}), None).await.expect("preflight");
    let not_ok: Vec<_> = report.items.iter().filter(|i| i.status != Status::Skipped).collect();
    assert!(not_ok.is_empty(), "{not_ok:?}");
    assert_eq!(report.items.len(), 5, "SELF mode checks no delegated administrator registration");
    assert!(
        discovery.handle(&json!({"action": "preflight", "dryRun": true}), None).await.is_err(),
        "it takes no field"
    );
}

/// Puts the scope document in the emulator's parameter store (the function's account and region).
async fn put_scope(config: &SdkConfig, document: Value) {
    aws_sdk_ssm::Client::new(config)
        .put_parameter()
        .name("/mdc-connector/scope")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .value(document.to_string())
        .overwrite(true)
        .send()
        .await
        .expect("scope parameter");
}

#[tokio::test]
async fn a_pilot_ou_is_onboarded_alone_and_an_account_leaving_the_scope_loses_its_instances_only_on_leave_scope() {
    let (moto, management, members) = self_managed_organization(3).await;
    let org = aws_sdk_organizations::Client::new(&management);
    let root = root_id(&org).await;
    let create = |parent: String, name: &'static str| {
        let org = org.clone();
        async move {
            let out = org.create_organizational_unit().parent_id(parent).name(name).send().await.expect("ou");
            out.organizational_unit().and_then(|o| o.id()).expect("ou id").to_string()
        }
    };
    let pilot = create(root.clone(), "pilot").await;
    let nested = create(pilot.clone(), "pilot-prod").await;
    for (account, target) in [(&members[0], &pilot), (&members[1], &nested)] {
        let moved = org.move_account().account_id(account).source_parent_id(&root).destination_parent_id(target);
        moved.send().await.expect("move");
    }
    let settings = DiscoverySettings {
        common: connector_engine::config::Common {
            scope_parameter: Some("/mdc-connector/scope".into()),
            ..Default::default()
        },
        ..config(&[])
    };
    let job = job(management.clone(), settings);

    // The preflight names it, with the command that creates it.
    let preflight = job.handle(&json!({"action": "preflight"}), None).await.expect("preflight");
    let check = preflight.items.iter().find(|i| i.resource_id == "scope-parameter").expect("scope-parameter check");
    assert_eq!(check.code, "preflight/scope-parameter:missing", "{check:?}");
    assert!(check.reason.contains("aws ssm put-parameter --name /mdc-connector/scope"), "{}", check.reason);
    // The parameter is configured but missing: the run stops before writing anything.
    let report = job.handle(&json!({"action": "reconcile"}), None).await.expect("a report");
    assert_eq!(report.summary.failed_work_units, 1, "{:?}", report.items);
    assert!(report.items[0].reason.contains("does not exist"), "{}", report.items[0].reason);
    assert!(stack_instance_writes(&moto).is_empty());

    put_scope(&management, json!({"organizationalUnits": [pilot]})).await;
    let report = job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(instances(&management).await, expected(&members[..2]), "the pilot OU, its nested OU included");
    assert!(item_reason(&report, &members[2]).contains("outside the scope parameter"), "{report:?}");

    // Member 1 leaves the scope: reported, kept, listed by a dry run, deleted on leaveScope.
    put_scope(&management, json!({"organizationalUnits": [pilot], "excludedAccounts": [members[1]]})).await;
    moto.clear_calls();
    let report = job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert!(item_reason(&report, &members[1]).contains("leaveScope"), "{report:?}");
    let dry = job.handle(&json!({"action": "reconcile", "leaveScope": true, "dryRun": true}), None).await.expect("dry");
    let listed = dry.items.iter().filter(|i| i.account_id == members[1] && i.action == "delete-stack-instances");
    assert_eq!(listed.count(), 2, "one item per region that would go: {:?}", dry.items);
    assert!(stack_instance_writes(&moto).is_empty(), "neither the reconcile nor the dry run wrote");
    assert_eq!(instances(&management).await, expected(&members[..2]));

    let left = job.handle(&json!({"action": "reconcile", "leaveScope": true}), None).await.expect("leave scope");
    assert_eq!(stack_instance_writes(&moto), vec!["DeleteStackInstances".to_string()], "{:?}", left.items);
    let delete = moto.calls().into_iter().find(|c| c.operation == "DeleteStackInstances").expect("the delete");
    let body = delete.body.unwrap_or_default();
    assert!(body.contains("RetainStacks=false"), "the member stacks go too: {body}");
    assert_eq!(
        instances(&management).await,
        expected(&members[..1]),
        "only the account still in scope keeps its instances"
    );
}
