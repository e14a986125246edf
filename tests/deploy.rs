//! The one deploy on the emulator: `sam package` (the real SAM CLI, against the emulator's S3)
//! packages cfn/template.yaml with its nested cfn/onboarding.yaml and cfn/member.yaml, and the
//! nested stack is created with the parameters the parent gives it (tests/harness/deploy_like_sam.py).
//! Then account-discovery onboards the members into the StackSet the deploy created.

mod common;

use std::process::Command;
use std::time::Duration;

use aws_config::SdkConfig;
use common::moto::{Moto, bootstrap, repo_root};
use common::seed;
use connector_engine::discovery::{AccountDiscovery, DiscoverySettings};
use connector_engine::report::{Report, Status};
use serde_json::{Value, json};

const STACK_SET: &str = "mdc-connector-members";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const MANAGEMENT: &str = "123456789012";
/// The teardown resource's logical id in cfn/template.yaml.
const RESOURCE: &str = "MemberStackSetInstances";

/// Packages and deploys the onboarding part as `sam deploy` would, with these parent parameters.
fn deploy(moto: &Moto, parameters: &[(&str, &str)]) -> Value {
    deploy_as(moto, parameters, false)
}

/// [`deploy`], or with `update` a deploy over the existing one (the member StackSet's update).
fn deploy_as(moto: &Moto, parameters: &[(&str, &str)], update: bool) -> Value {
    let python = bootstrap("moto");
    let sam = bootstrap("sam");
    let mut command = Command::new(python);
    command
        .arg(repo_root().join("tests/harness/deploy_like_sam.py"))
        .args(["--endpoint", &moto.endpoint(), "--sam"])
        .arg(sam);
    if update {
        command.arg("--update");
    }
    for (key, value) in parameters {
        command.args(["--parameter", &format!("{key}={value}")]);
    }
    let out = command.output().expect("deploy_like_sam.py runs");
    assert!(out.status.success(), "deploy failed: {}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.lines().last().unwrap_or_default()).expect("one JSON line")
}

fn cfn(config: &SdkConfig, region: &str) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(config)
            .region(aws_config::Region::new(region.to_string()))
            .build(),
    )
}

async fn stack_set_parameters(config: &SdkConfig, name: &str) -> (String, Vec<(String, String)>) {
    let out = cfn(config, "us-east-1").describe_stack_set().stack_set_name(name).send().await.expect("stack set");
    let set = out.stack_set().expect("stack set");
    let parameters = set
        .parameters()
        .iter()
        .map(|p| {
            (p.parameter_key().unwrap_or_default().to_string(), p.parameter_value().unwrap_or_default().to_string())
        })
        .collect();
    (set.permission_model().map(|m| m.as_str().to_string()).unwrap_or_default(), parameters)
}

fn value<'a>(parameters: &'a [(String, String)], key: &str) -> &'a str {
    parameters.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {key}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_deploy_creates_the_member_stackset_and_covers_the_management_account_in_every_region() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 2).await;
    let org = seed::organization_id(&management).await;
    let regions = REGIONS.join(",");
    let parameters = [("OrganizationId", org.as_str()), ("StackSetRegions", regions.as_str())];

    // Service-managed (the default) while trusted access is off: CloudFormation refuses the
    // StackSet and the deploy rolls back, saying why.
    let refused = deploy(&moto, &parameters);
    assert_eq!(refused["stackStatus"], "ROLLBACK_COMPLETE", "{refused}");
    let reason = refused["statusReason"].as_str().unwrap_or_default();
    assert!(reason.contains("You must enable organizations access"), "{reason}");

    cfn(&management, "us-east-1").activate_organizations_access().send().await.expect("activate");
    let deployed = deploy(&moto, &[("OrganizationId", org.as_str()), ("StackSetRegions", regions.as_str())]);
    assert_eq!(deployed["stackStatus"], "CREATE_COMPLETE", "{deployed}");
    // The nested stack got the parent's values (defaults and the ones given once).
    assert_eq!(deployed["parameters"]["ConnectorAccountId"], json!(MANAGEMENT), "AWS::AccountId when not given");
    assert_eq!(deployed["parameters"]["StackSetRegions"], json!(regions));
    assert_eq!(deployed["parameters"]["InstanceProfileName"], json!("MdcConnectorInstanceProfile"));
    assert!(
        deployed["memberTemplateUrl"].as_str().is_some_and(|u| u.contains("mdc-connector-deploy/")),
        "member.yaml went through S3: {deployed}"
    );

    deployed_stacksets_onboard_the_members(&moto, &management, &members, &org).await;
}

/// `terraform apply` of deploy/terraform on the emulator, as tests/harness/deploy_like_terraform.py
/// runs it (the machine's provider mirror; placeholder packages), with these module arguments.
fn terraform_deploy(moto: &Moto, settings: &[String]) -> Value {
    let python = bootstrap("moto");
    let mut command = Command::new(python);
    command.arg(repo_root().join("tests/harness/deploy_like_terraform.py")).args([
        "--endpoint",
        &moto.endpoint(),
        "--mode",
        "apply",
    ]);
    for line in settings {
        command.args(["--set", line]);
    }
    let out = command.output().expect("deploy_like_terraform.py runs");
    assert!(out.status.success(), "terraform apply failed: {}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.lines().last().unwrap_or_default()).expect("one JSON line")
}

/// Issue #23: the Terraform module deploys the same connector. `terraform apply` on the emulator
/// creates every resource of the module, and what it leaves passes the same checks as the SAM
/// deploy: the member StackSet without instances, this account's member template in every covered
/// region, and account-discovery onboarding the members into the deployed StackSet. Skipped, saying
/// so, where no Terraform binary and provider mirror are installed (nothing can be downloaded).
#[tokio::test(flavor = "multi_thread")]
async fn a_terraform_deploy_leaves_what_the_sam_deploy_leaves_and_account_discovery_onboards_into_it() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 2).await;
    let org = seed::organization_id(&management).await;
    cfn(&management, "us-east-1").activate_organizations_access().send().await.expect("activate");
    let settings = [format!("organization_id = \"{org}\""), format!("stack_set_regions = \"{}\"", REGIONS.join(","))];
    let applied = terraform_deploy(&moto, &settings);
    if applied["status"] == "skipped" {
        eprintln!("terraform deploy not checked here: {applied}");
        return;
    }
    assert_eq!(applied["status"], "applied", "{applied}");
    assert_eq!(applied["resources"], 101, "every resource of the module for a management account: {applied}");
    deployed_stacksets_onboard_the_members(&moto, &management, &members, &org).await;
}

/// What one deploy (SAM or Terraform) leaves, checked the same way: the member StackSet
/// (service-managed, no instances, members forwarding to this account's bus), this account's member
/// template in every covered region through its own self-managed StackSet, and account-discovery
/// onboarding both members into the deployed StackSet.
async fn deployed_stacksets_onboard_the_members(moto: &Moto, management: &SdkConfig, members: &[String], org: &str) {
    // The member StackSet: service-managed, no instances, members forward to this account's bus.
    let (model, member) = stack_set_parameters(management, STACK_SET).await;
    assert_eq!(model, "SERVICE_MANAGED");
    assert_eq!(value(&member, "ConnectorBusAccountId"), MANAGEMENT);
    assert_eq!(value(&member, "OrganizationId"), org);
    assert_eq!(value(&member, "ConnectorAccountId"), MANAGEMENT);
    let listed = cfn(management, "us-east-1").list_stack_instances().stack_set_name(STACK_SET).send().await;
    assert!(listed.expect("instances").summaries().is_empty(), "account-discovery deploys the instances");

    // This account: the member template in every covered region, forwarding its events to its own
    // bus from every region but the bus's (member.yaml creates no rule there).
    let own = format!("{STACK_SET}-management");
    let (model, mine) = stack_set_parameters(management, &own).await;
    assert_eq!((model.as_str(), value(&mine, "ConnectorBusAccountId")), ("SELF_MANAGED", MANAGEMENT));
    for region in REGIONS {
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(management).region(aws_config::Region::new(region)).build(),
        );
        let document = ssm.describe_document().name("MdcConnector-ArcOnboard-Linux").send().await;
        assert!(document.is_ok(), "the member template's documents in {region}");
        // The bus's own region (us-east-1 here) is read from its default bus by the main template's
        // *Here rules; every other region forwards this account's events to the bus.
        let events = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(management).region(aws_config::Region::new(region)).build(),
        );
        let rules = events.list_rules().send().await.expect("rules");
        let forwarding =
            rules.rules().iter().filter(|r| r.name().is_some_and(|n| n.contains("ForwardToConnectorBus"))).count();
        assert_eq!(forwarding, usize::from(region != "us-east-1"), "this account's forwarding rule in {region}");
    }

    // account-discovery onboards both members into the deployed StackSet and finds this
    // account's member template through its StackSet.
    let mut job = AccountDiscovery::new(DiscoverySettings::new(STACK_SET, &REGIONS), management.clone());
    job.backoff = Duration::from_millis(10);
    let report = job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    for member in members {
        let done = report.items.iter().filter(|i| &i.account_id == member && i.status == Status::Done).count();
        assert_eq!(done, 2, "{member} onboarded in both regions: {:#?}", report.items);
    }
    let mine = report.items.iter().find(|i| i.account_id == MANAGEMENT).expect("management item");
    assert_eq!(mine.status, Status::Skipped, "{mine:?}");
    assert!(mine.reason.contains(&format!("StackSet {own}: ")), "{}", mine.reason);
    let member_ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&moto.account_config(&members[0]).await)
            .region(aws_config::Region::new("eu-west-1"))
            .build(),
    );
    assert!(member_ssm.describe_document().name("MdcConnector-ArcOnboard-Linux").send().await.is_ok());
}

/// One HTTP request answered 200, as S3 answers the pre-signed `ResponseURL`: its method and body.
fn response_url() -> (String, std::thread::JoinHandle<(String, String)>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url =
        format!("http://127.0.0.1:{}/cloudformation-response?signed=1", listener.local_addr().expect("addr").port());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        reader.read_line(&mut line).expect("request line");
        let method = line.split_whitespace().next().unwrap_or_default().to_string();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).expect("header");
            if header.trim().is_empty() {
                break;
            }
            if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        let mut stream = stream;
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").expect("answer");
        (method, String::from_utf8_lossy(&body).to_string())
    });
    (url, server)
}

/// The function CloudFormation invokes for the custom resource (its `ServiceToken`).
const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:mdc-connector-account-discovery";

fn custom_resource_request(request_type: &str, url: &str, stack_id: &str, logical_id: &str) -> Value {
    json!({"RequestType": request_type, "ResponseURL": url, "ServiceToken": FUNCTION,
           "StackId": stack_id, "RequestId": "r-1",
           "LogicalResourceId": logical_id, "ResourceType": "Custom::MemberStackSetInstances",
           "PhysicalResourceId": "mdc-connector-members-instances",
           "ResourceProperties": {"ServiceToken": "x", "StackSetName": STACK_SET}})
}

/// Sends `job` a custom resource request and returns CloudFormation's answer and the report.
async fn request(job: &AccountDiscovery, kind: &str, stack_id: &str, logical_id: &str) -> (Value, Report) {
    let (url, server) = response_url();
    let report = job.handle(&custom_resource_request(kind, &url, stack_id, logical_id), None).await.expect("answered");
    let (method, body) = server.join().expect("response");
    assert_eq!(method, "PUT");
    (serde_json::from_str(&body).expect("json response"), report)
}

/// The stack `sam deploy` made (the onboarding stack's parent), as a stand-in: the emulator
/// cannot run the SAM transform.
async fn parent_stack(management: &SdkConfig) -> String {
    let template = r#"{"Resources":{"Marker":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}"#;
    let created = cfn(management, "us-east-1").create_stack().stack_name("mdc-connector").template_body(template);
    created.send().await.expect("parent stack").stack_id().expect("stack id").to_string()
}

async fn member_instances(management: &SdkConfig) -> usize {
    let listed = cfn(management, "us-east-1").list_stack_instances().stack_set_name(STACK_SET).send().await;
    listed.expect("instances").summaries().len()
}

/// `sam delete`: CloudFormation deletes `MemberStackSetInstances` first (it depends on the
/// onboarding stack): account-discovery deletes every member instance and the emptied StackSet and
/// answers SUCCESS; then the onboarding stack goes with the management StackSet, and the instance
/// role and profile live instances use stay in every account.
#[tokio::test(flavor = "multi_thread")]
async fn teardown_empties_the_member_stackset_and_keeps_what_live_instances_use() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 1).await;
    let org = seed::organization_id(&management).await;
    cfn(&management, "us-east-1").activate_organizations_access().send().await.expect("activate");
    let regions = REGIONS.join(",");
    let deployed = deploy(&moto, &[("OrganizationId", org.as_str()), ("StackSetRegions", regions.as_str())]);
    assert_eq!(deployed["stackStatus"], "CREATE_COMPLETE", "{deployed}");
    let parent = parent_stack(&management).await;
    let settings = DiscoverySettings { stack_id: Some(parent.clone()), ..DiscoverySettings::new(STACK_SET, &REGIONS) };
    let mut job = AccountDiscovery::new(settings.clone(), management.clone());
    job.backoff = Duration::from_millis(10);
    job.invoked_as(FUNCTION);
    job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");

    // Create (and Update) change nothing.
    let (body, created) = request(&job, "Create", &parent, RESOURCE).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["LogicalResourceId"], "MemberStackSetInstances");
    assert_eq!(created.items.len(), 1, "{:?}", created.items);
    assert_eq!(member_instances(&management).await, 2, "still onboarded");

    // A Delete that is not CloudFormation deleting this deployment is answered SUCCESS and changes
    // nothing: whoever may invoke the function can send one, and a rollback (or an update that
    // replaces the resource) sends one too.
    let other = "arn:aws:cloudformation:us-east-1:123456789012:stack/someone-elses/1";
    let forged = [
        ("CREATE_COMPLETE", parent.as_str(), RESOURCE, "not being deleted"),
        ("ROLLBACK_IN_PROGRESS", parent.as_str(), RESOURCE, "a rollback or an update never tears down"),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", parent.as_str(), RESOURCE, "not being deleted"),
        ("DELETE_IN_PROGRESS", other, RESOURCE, "not this deployment's"),
        ("DELETE_IN_PROGRESS", parent.as_str(), "Anything", "not MemberStackSetInstances"),
    ];
    for (status, stack, resource, why) in forged {
        moto.stack_status(&parent, status);
        let (body, report) = request(&job, "Delete", stack, resource).await;
        assert_eq!(body["Status"], "SUCCESS", "{body}");
        assert!(body["Reason"].as_str().is_some_and(|r| r.contains(why)), "{status} {stack} {resource}: {body}");
        assert_eq!(report.items.len(), 1, "nothing but the answer: {:?}", report.items);
        assert_eq!(member_instances(&management).await, 2, "{status} {stack} {resource}: nothing deleted");
    }
    let unbound = AccountDiscovery::new(DiscoverySettings::new(STACK_SET, &REGIONS), management.clone());
    let (body, _) = request(&unbound, "Delete", &parent, RESOURCE).await;
    assert!(body["Reason"].as_str().is_some_and(|r| r.contains("CONNECTOR_STACK_ID is not set")), "{body}");
    assert_eq!(member_instances(&management).await, 2, "without CONNECTOR_STACK_ID nothing is deleted");

    // While the stack really is being deleted: a request for another function's resource changes
    // nothing, and one whose ResponseURL is not CloudFormation's is neither acted on nor answered
    // (the function never PUTs where a sender chose).
    moto.stack_status(&parent, "DELETE_IN_PROGRESS");
    let (url, server) = response_url();
    let mut other_token = custom_resource_request("Delete", &url, &parent, RESOURCE);
    other_token["ServiceToken"] = json!("arn:aws:lambda:us-east-1:123456789012:function:someone-elses");
    job.handle(&other_token, None).await.expect("answered");
    let (_, body) = server.join().expect("response");
    assert!(body.contains("is not this function"), "{body}");
    assert_eq!(member_instances(&management).await, 2, "another ServiceToken: nothing deleted");
    for foreign in ["https://attacker.example/response?signed=1", "http://169.254.169.254/latest/meta-data/?x=1"] {
        let report = job.handle(&custom_resource_request("Delete", foreign, &parent, RESOURCE), None).await;
        let report = report.expect("reported");
        assert_eq!(report.items.len(), 1, "{:?}", report.items);
        assert_eq!(report.items[0].status, Status::Failed);
        assert!(report.items[0].reason.contains("neither acted on nor answered"), "{:?}", report.items);
        assert_eq!(member_instances(&management).await, 2, "{foreign}: nothing deleted");
    }

    // CloudFormation deleting this deployment: the Delete empties the member StackSet.
    moto.stack_status(&parent, "DELETE_IN_PROGRESS");
    let (body, report) = request(&job, "Delete", &parent, RESOURCE).await;
    assert_eq!(body["Status"], "SUCCESS", "{body} {:#?}", report.items);
    assert_eq!(body["PhysicalResourceId"], "mdc-connector-members-instances");
    let deleted = report.items.iter().filter(|i| i.action == "delete-stack-instances" && i.status == Status::Done);
    assert_eq!(deleted.count(), 2, "{:#?}", report.items);
    // ... and deletes it at once: a reconcile starting before CloudFormation reaches it cannot
    // deploy to it again.
    let gone = cfn(&management, "us-east-1").describe_stack_set().stack_set_name(STACK_SET).send().await;
    assert!(gone.is_err(), "the emptied StackSet is deleted");
    let late = job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(late.summary.failed_work_units, 1, "{:?}", late.items);
    assert!(late.items[0].reason.contains("cannot read StackSet"), "{:?}", late.items);

    // Then the onboarding stack (its StackSet already gone): the management StackSet goes too,
    // what live instances use stays.
    cfn(&management, "us-east-1").delete_stack().stack_name("mdc-connector-Onboarding").send().await.expect("delete");
    let sets = cfn(&management, "us-east-1").list_stack_sets().send().await.expect("list stack sets");
    let active: Vec<&str> = sets
        .summaries()
        .iter()
        .filter(|s| s.status().map(|x| x.as_str()) == Some("ACTIVE"))
        .filter_map(|s| s.stack_set_name())
        .collect();
    assert!(active.is_empty(), "both StackSets deleted: {active:?}");
    for account in [MANAGEMENT.to_string(), members[0].clone()] {
        let config = if account == MANAGEMENT { management.clone() } else { moto.account_config(&account).await };
        let iam = aws_sdk_iam::Client::new(&config);
        assert!(iam.get_instance_profile().instance_profile_name("MdcConnectorInstanceProfile").send().await.is_ok());
        assert!(iam.get_role().role_name("MdcConnectorInstanceRole").send().await.is_ok(), "{account}");
        assert!(iam.get_role().role_name("MdcConnectorMemberRole").send().await.is_err(), "{account}: the rest goes");
    }
    let iam = aws_sdk_iam::Client::new(&management);
    assert!(iam.get_role().role_name(format!("{STACK_SET}-admin")).send().await.is_err());
}

/// Teardown in an organization where members were closed or left: a closed account's instances
/// are removed with their stacks retained (StackSets cannot enter it), and a departed account's,
/// which a service-managed StackSet "can't target" any more, are left and named with the exact
/// step for a person; the answer is SUCCESS, so the rest of the deletion goes on.
#[tokio::test(flavor = "multi_thread")]
async fn teardown_finishes_with_closed_and_departed_members_and_names_what_a_person_must_do() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 3).await;
    let org = seed::organization_id(&management).await;
    cfn(&management, "us-east-1").activate_organizations_access().send().await.expect("activate");
    let deployed = deploy(&moto, &[("OrganizationId", org.as_str()), ("StackSetRegions", "us-east-1")]);
    assert_eq!(deployed["stackStatus"], "CREATE_COMPLETE", "{deployed}");
    let parent = parent_stack(&management).await;
    let settings =
        DiscoverySettings { stack_id: Some(parent.clone()), ..DiscoverySettings::new(STACK_SET, &REGIONS[..1]) };
    let mut job = AccountDiscovery::new(settings, management.clone());
    job.backoff = Duration::from_millis(10);
    job.invoked_as(FUNCTION);
    job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(member_instances(&management).await, 3);
    let organizations = aws_sdk_organizations::Client::new(&management);
    organizations.close_account().account_id(&members[1]).send().await.expect("close");
    organizations.remove_account_from_organization().account_id(&members[2]).send().await.expect("remove");

    moto.stack_status(&parent, "DELETE_IN_PROGRESS");
    let (body, report) = request(&job, "Delete", &parent, RESOURCE).await;
    assert_eq!(body["Status"], "SUCCESS", "{body} {:#?}", report.items);
    let reason = body["Reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&format!("{} (us-east-1)", members[2])), "{reason}");
    assert!(reason.contains("--retain-resources MemberStackSet"), "{reason}");
    let item =
        |account: &str| report.items.iter().find(|i| i.account_id == account).map(|i| (i.status, i.action.to_string()));
    assert_eq!(item(&members[0]), Some((Status::Done, "delete-stack-instances".to_string())));
    assert_eq!(item(&members[1]), Some((Status::Done, "delete-stack-instances".to_string())), "stacks retained");
    assert_eq!(item(&members[2]), Some((Status::Skipped, "delete-stack-instances".to_string())));
    let listed = cfn(&management, "us-east-1").list_stack_instances().stack_set_name(STACK_SET).send().await;
    let left: Vec<String> =
        listed.expect("instances").summaries().iter().filter_map(|s| s.account().map(String::from)).collect();
    assert_eq!(left, vec![members[2].clone()], "only the departed account's instance is left");
}

/// An upgrade (or any change of what the member template gets) reaches the members through the
/// member StackSet's update, in waves of `MemberRolloutWavePercent` % of a Region's accounts: a
/// change failing in the first wave stops there, the accounts not reached keep their instances
/// (and so their coverage), and account-discovery names every failed and cancelled account with a
/// stable code; the same change, fixed, reaches every account.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_template_change_rolls_out_in_waves_and_a_failing_one_stops_with_each_account_reported() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let mut members = seed::organization(&management, 10).await;
    members.sort();
    let org = seed::organization_id(&management).await;
    cfn(&management, "us-east-1").activate_organizations_access().send().await.expect("activate");
    let before =
        [("OrganizationId", org.as_str()), ("StackSetRegions", "us-east-1"), ("MemberRolloutWavePercent", "20")];
    assert_eq!(deploy(&moto, &before)["stackStatus"], "CREATE_COMPLETE");
    let mut job = AccountDiscovery::new(DiscoverySettings::new(STACK_SET, &["us-east-1"]), management.clone());
    job.backoff = Duration::from_millis(10);
    let onboarded = job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(onboarded.summary.done, 10, "{:#?}", onboarded.items);

    // The change fails in the first account of the first wave (2 of 10 accounts).
    moto.stackset_failures(&[(&members[0], "us-east-1", "Resource handler returned message: refused")]);
    let after = [before.as_slice(), &[("PostureAccess", "read-only")]].concat();
    let stopped = deploy_as(&moto, &after, true);
    assert_eq!(
        (stopped["stackStatus"].as_str(), stopped["operationStatus"].as_str()),
        (Some("UPDATE_FAILED"), Some("FAILED"))
    );
    moto.clear_calls();
    let report = job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    let code = |account: &String| {
        let item = report.items.iter().find(|i| &i.account_id == account && i.status == Status::Failed);
        item.map(|i| i.code.clone()).unwrap_or_default()
    };
    assert_eq!(code(&members[0]), "update-stack-instances/stack-instance:FAILED", "{:#?}", report.items);
    assert!(report.items.iter().any(|i| i.account_id == members[0] && i.reason.contains("refused")));
    assert_eq!(code(&members[1]), "", "the rest of the first wave succeeded");
    for member in &members[2..] {
        assert_eq!(code(member), "update-stack-instances/stack-instance:CANCELLED", "{member}: {:#?}", report.items);
    }
    let listed = cfn(&management, "us-east-1").list_stack_instances().stack_set_name(STACK_SET).send().await;
    assert_eq!(listed.expect("instances").summaries().len(), 10, "no account lost its member stack");
    let writes = ["CreateStackInstances", "UpdateStackInstances", "DeleteStackInstances"];
    assert!(moto.calls().iter().all(|c| !writes.contains(&c.operation.as_str())), "a failed rollout is not pushed on");

    // Fixed, the change reaches every account.
    moto.stackset_failures(&[]);
    assert_eq!(deploy_as(&moto, &after, true)["operationStatus"], "SUCCEEDED");
    let report = job.handle(&json!({"action": "reconcile"}), None).await.expect("reconcile");
    assert_eq!(report.summary.failed, 0, "{:#?}", report.items);
}
