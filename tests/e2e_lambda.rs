//! End to end through the Lambda Runtime API: `cargo lambda watch` runs the real function
//! binary (configured only by environment variables, as in AWS) and `cargo lambda invoke` sends it
//! the event fixtures. The emulator stands in for AWS.

mod common;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use aws_config::SdkConfig;
use common::moto::{Moto, bootstrap, repo_root};
use common::seed;
use serde_json::Value;

const REGION: &str = "eu-west-1";

/// A `cargo lambda watch` process group, killed when dropped.
/// How long the emulator's Systems Manager takes to list an instance given a profile.
const REGISTRATION_LAG: Duration = Duration::from_secs(60);

struct Watch {
    child: Child,
    port: u16,
    cargo_lambda: PathBuf,
}

impl Watch {
    fn start(moto: &Moto, env: &[(&str, &str)]) -> Watch {
        let cargo_lambda = bootstrap("lambda");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let mut command = Command::new(&cargo_lambda);
        command
            .args(["lambda", "watch", "--ignore-changes", "--invoke-port", &port.to_string()])
            .current_dir(repo_root())
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "3")
            .env("CONNECTOR_REGIONS", REGION)
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("cargo lambda watch starts");
        Watch { child, port, cargo_lambda }
    }

    /// Invokes `profile-scan` with inline JSON; retries while the watcher is still starting.
    fn invoke(&self, data: &str) -> Output {
        self.invoke_function("profile-scan", data)
    }

    /// Invokes the named function with inline JSON; retries while the watcher is still starting.
    fn invoke_function(&self, function: &str, data: &str) -> Output {
        for _ in 0..120 {
            let out = Command::new(&self.cargo_lambda)
                .args([
                    "lambda",
                    "invoke",
                    function,
                    "--invoke-port",
                    &self.port.to_string(),
                    "--output-format",
                    "json",
                ])
                .args(["--data-ascii", data])
                .current_dir(repo_root())
                .output()
                .expect("cargo lambda invoke runs");
            let text = String::from_utf8_lossy(&out.stderr);
            if out.status.success() || !(text.contains("Connection refused") || text.contains("error sending request"))
            {
                return out;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("cargo lambda watch never answered on port {}", self.port);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
    }
}

/// Lambda quotas: "6 MB each for request and response (synchronous)"; cargo lambda does not
/// enforce it, so every answer read here is held to the connector's own bound (1 MB, src/bound.rs).
const ANSWER_LIMIT: usize = 1024 * 1024;

fn report(out: &Output) -> Value {
    assert!(out.status.success(), "invoke failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.len() <= ANSWER_LIMIT, "an answer of {} bytes", out.stdout.len());
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/events").join(name)).expect("fixture")
}

/// An organization of the management account and one member, each with the connector profile and
/// one instance without a profile; returns the members and each (account config, instance id).
async fn one_member_with_an_unprofiled_instance_each(
    moto: &Moto,
    management: &SdkConfig,
) -> (Vec<String>, Vec<(SdkConfig, String)>) {
    let members = seed::organization(management, 1).await;
    let member = moto.account_config(&members[0]).await;
    let mut unprofiled = Vec::new();
    for config in [management, &member] {
        seed::connector_profile(config).await;
        unprofiled.push((config.clone(), seed::instance(config, REGION, &[], None).await));
    }
    (members, unprofiled)
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_scan_runs_under_the_lambda_runtime_api() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let (members, unprofiled) = one_member_with_an_unprofiled_instance_each(&moto, &management).await;
    let watch = Watch::start(&moto, &[("CONNECTOR_MEMBER_ROLE", "OrganizationAccountAccessRole")]);

    let dry = report(&watch.invoke(r#"{"action":"scan","dryRun":true}"#));
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["summary"]["planned"], 2, "{dry}");
    for (config, id) in &unprofiled {
        assert_eq!(seed::profile_of(config, REGION, id).await, None, "dry run changed nothing");
    }

    let scheduled = report(&watch.invoke(&fixture("scheduled-event.json")));
    assert_eq!(scheduled["summary"]["done"], 2, "{scheduled}");
    assert_eq!(scheduled["summary"]["workUnits"], 2);
    for (config, id) in &unprofiled {
        assert!(seed::profile_of(config, REGION, id).await.is_some(), "{id} associated");
    }
    let item = scheduled["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["accountId"] == members[0].as_str()))
        .cloned();
    let item = item.expect("member item");
    assert_eq!(item["action"], "associate-instance-profile");
    assert_eq!(item["status"], "done");

    let rejected = watch.invoke(r#"{"action":"scan","dryrun":true}"#);
    let text = format!("{}{}", String::from_utf8_lossy(&rejected.stdout), String::from_utf8_lossy(&rejected.stderr));
    assert!(!rejected.status.success(), "a malformed request fails the invocation");
    assert!(text.contains("InvalidRequest") && text.contains("unknown field"), "{text}");
}

#[test]
fn bad_configuration_stops_the_function_with_the_variable_named() {
    let moto = Moto::start();
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("profile-scan")))
        .expect("target dir");
    assert!(binary.exists(), "build the workspace first: {}", binary.display());
    let out = Command::new(&binary)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("CONNECTOR_REGIONS", "eu-west-1,mars-north-9x")
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("CONNECTOR_REGIONS") && stderr.contains("mars-north-9x"), "{stderr}");
    assert!(moto.calls().is_empty(), "nothing attempted with a bad configuration");
}

#[tokio::test(flavor = "multi_thread")]
async fn account_discovery_runs_under_the_lambda_runtime_api() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 2).await;
    let cfn = aws_sdk_cloudformation::Client::new(&management);
    cfn.create_stack_set()
        .stack_set_name("mdc-connector-members")
        .template_body(r#"{"Resources":{"Marker":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}"#)
        .send()
        .await
        .expect("stack set");
    let watch = Watch::start(&moto, &[("STACKSET_NAME", "mdc-connector-members"), ("STACKSET_REGIONS", REGION)]);

    let mut created =
        serde_json::from_str::<Value>(&fixture("organizations-create-account-result.json")).expect("fixture");
    created["detail"]["serviceEventDetails"]["createAccountStatus"]["accountId"] = members[1].clone().into();
    let onboarded = report(&watch.invoke_function("account-discovery", &created.to_string()));
    assert_eq!(onboarded["summary"]["done"], 1, "{onboarded}");
    let listed = cfn.list_stack_instances().stack_set_name("mdc-connector-members").send().await.expect("instances");
    let accounts: Vec<&str> = listed.summaries().iter().filter_map(|s| s.account()).collect();
    assert_eq!(accounts, vec![members[1].as_str()], "the event onboarded exactly its account");

    let reconciled = report(&watch.invoke_function("account-discovery", &fixture("scheduled-event.json")));
    assert_eq!(reconciled["summary"]["done"], 1, "the other member: {reconciled}");
}

#[tokio::test(flavor = "multi_thread")]
async fn arc_provisioner_runs_under_the_lambda_runtime_api() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    seed::organization(&management, 0).await;
    let org = seed::organization_id(&management).await;
    seed::member_stack(&management, REGION, "123456789012", &org).await;
    seed::instance_role_policy(&management).await;
    seed::azure_federation(&moto, &management).await;
    let managed = seed::instance(&management, REGION, &[], Some("MdcConnectorInstanceProfile")).await;
    let unmanaged = seed::instance(&management, REGION, &[], None).await;
    let authority = moto.entra_authority();
    let resource_manager =
        [("ARC_AUTHORITY_HOST", authority.as_str()), ("ARC_RESOURCE_MANAGER_HOST", authority.as_str())];
    let env: Vec<(&str, &str)> = seed::ARC_ENV.iter().copied().chain(resource_manager).collect();
    let watch = Watch::start(&moto, &env);

    let scheduled = report(&watch.invoke_function("arc-provisioner", &fixture("scheduled-event.json")));
    let item = |r: &Value, id: &str| {
        r["items"].as_array().and_then(|items| items.iter().find(|i| i["resourceId"] == id).cloned()).expect("item")
    };
    assert_eq!(item(&scheduled, &managed)["outcome"], "connected", "{scheduled}");
    assert_eq!(item(&scheduled, &unmanaged)["outcome"], "not-managed");
    let tokens = moto.entra_requests();
    assert_eq!(tokens.len(), 1, "the function asked Entra for one token over TLS: {tokens:?}");
    assert_eq!(tokens[0]["credential"], "assertion", "signed in with its AWS identity, no secret");

    let manual = format!(
        r#"{{"action":"reprovision","accountId":"123456789012","region":"{REGION}","instanceIds":["{managed}"],"force":true}}"#
    );
    let forced = report(&watch.invoke_function("arc-provisioner", &manual));
    assert_eq!(item(&forced, &managed)["outcome"], "already-connected", "{forced}");

    // force for a whole region is refused: it would move agents connected elsewhere.
    let whole = format!(r#"{{"action":"reprovision","accountId":"123456789012","region":"{REGION}","force":true}}"#);
    let refused = watch.invoke_function("arc-provisioner", &whole);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("force needs"), "{refused:?}");

    let rejected = watch.invoke_function("arc-provisioner", r#"{"action":"reprovision","accountId":"1","region":"x"}"#);
    let text = format!("{}{}", String::from_utf8_lossy(&rejected.stdout), String::from_utf8_lossy(&rejected.stderr));
    assert!(!rejected.status.success());
    assert!(text.contains("InvalidRequest") && text.contains("\"1\""), "{text}");
}

/// The queue path under the Lambda Runtime API: the schedule enqueues the units, and the poller
/// (behaving like the SQS event source mapping) hands SQS events to the real binary through
/// `cargo lambda invoke`, honouring `batchItemFailures`.
#[tokio::test(flavor = "multi_thread")]
async fn profile_scan_units_run_from_the_work_queue_under_the_lambda_runtime_api() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let (_, unprofiled) = one_member_with_an_unprofiled_instance_each(&moto, &management).await;
    let work = common::poller::WorkQueue::create(&management, "profile-scan-work", 3, 2).await;
    let watch = Watch::start(&moto, &[("WORK_QUEUE_URL", &work.url)]);

    let planned = report(&watch.invoke(&fixture("scheduled-event.json")));
    let queued = planned["items"].as_array().unwrap().iter().filter(|i| i["action"] == "enqueue").count();
    assert_eq!(queued, 2, "{planned}");
    let answers = work
        .drain(
            |payload| {
                let out = watch.invoke(&payload.to_string());
                std::future::ready(report(&out))
            },
            Duration::from_secs(3),
            Duration::from_secs(120),
        )
        .await;
    assert!(answers.iter().all(|a| a.get("batchItemFailures").is_none()), "{answers:?}");
    for (config, id) in &unprofiled {
        assert!(seed::profile_of(config, REGION, id).await.is_some(), "{id} associated from the queue");
    }
}

/// Time to coverage, on the emulator: a member account created in the organization (a
/// `CreateAccountResult` event) already runs instances in two regions, one of which it has not
/// enabled, and another account is invited (`AccountJoinedOrganization`) with an unprofiled
/// instance. The three functions run under the Lambda Runtime API and their work queues are drained
/// as Lambda would (no schedule runs): the account is onboarded where it can be (its stack
/// instances `CURRENT`), recorded once, handed on; its unprofiled instance gets the connector's
/// profile and every managed instance the Arc document. The time from the event to the last Arc
/// command is printed, with the hand-off delay of `MDC_HANDOFF_DELAY` (seconds, default 0: run it
/// with `MDC_HANDOFF_DELAY=120` to measure the deployed default). Systems Manager lists an instance
/// only 60 s after it is given a profile (the agent's registration lag: "it can take a few minutes
/// for the managed node to be added to the list"): the instances profile-scan fixed are reported
/// `awaiting-registration` and go back on arc-provisioner's queue until they are listed.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_account_is_covered_within_minutes_without_any_schedule() {
    const OTHER: &str = "us-east-1";
    const SET: &str = "mdc-connector-members";
    let moto = Moto::start();
    let management = moto.management_config().await;
    let ids = seed::organization(&management, 2).await;
    let (member_id, invited_id) = (ids[0].clone(), ids[1].clone());
    let org = seed::organization_id(&management).await;
    let member = moto.account_config(&member_id).await;
    let invited = moto.account_config(&invited_id).await;
    let invited_instance = seed::instance(&invited, REGION, &[], None).await;
    let organizations = aws_sdk_organizations::Client::new(&management);
    let trusted = organizations.enable_aws_service_access().service_principal("account.amazonaws.com");
    trusted.send().await.expect("trusted access for Account Management");
    seed::profile(&member, "/", "CustomerProfile", Some(("CustomerRole", true))).await;
    let managed = seed::instance(&member, REGION, &[], Some("CustomerProfile")).await;
    let unprofiled = seed::instance(&member, REGION, &[], None).await;
    seed::instance(&member, OTHER, &[], None).await;
    moto.disabled_regions(&member_id, &[OTHER]);
    seed::member_stack_set(&management, SET, REGION, &org, "123456789012").await;
    let cfn = aws_sdk_cloudformation::Client::new(&management);
    aws_sdk_eventbridge::Client::new(&management).create_event_bus().name("records").send().await.expect("bus");
    seed::azure_federation(&moto, &management).await;
    moto.ssm_registration(REGISTRATION_LAG.as_secs_f64());
    let profile_queue = common::poller::WorkQueue::create(&management, "profile-scan-work", 3, 2).await;
    let arc_queue = common::poller::WorkQueue::create(&management, "arc-provisioner-work", 3, 2).await;
    let authority = moto.entra_authority();
    let regions = format!("{REGION},{OTHER}");
    let delay: u64 = std::env::var("MDC_HANDOFF_DELAY").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let delay_text = delay.to_string();
    let mut env: Vec<(&str, &str)> = seed::ARC_ENV.to_vec();
    env.extend([
        ("ARC_AUTHORITY_HOST", authority.as_str()),
        ("ARC_RESOURCE_MANAGER_HOST", authority.as_str()),
        ("CONNECTOR_REGIONS", regions.as_str()),
        ("STACKSET_NAME", SET),
        ("STACKSET_REGIONS", regions.as_str()),
        ("CONNECTOR_EVENT_BUS", "records"),
        ("PROFILE_SCAN_QUEUE_URL", profile_queue.url.as_str()),
        ("ARC_PROVISIONER_QUEUE_URL", arc_queue.url.as_str()),
        ("PROFILE_SCAN_DELAY_SECONDS", delay_text.as_str()),
        // profile-scan's: the instances it fixes go to arc-provisioner's queue.
        ("WORK_QUEUE_URL", profile_queue.url.as_str()),
        ("HANDOFF_QUEUE_URL", arc_queue.url.as_str()),
    ]);
    let watch = Watch::start(&moto, &env);
    // arc-provisioner's own work queue is its own (its retries go there), as each function's
    // WORK_QUEUE_URL is in AWS: a second watcher with that environment.
    let mut arc_env = env.clone();
    arc_env.retain(|(k, _)| *k != "WORK_QUEUE_URL");
    arc_env.push(("WORK_QUEUE_URL", arc_queue.url.as_str()));
    let arc_watch = Watch::start(&moto, &arc_env);
    watch.invoke_function("account-discovery", r#"{"action":"reconcile","dryRun":true}"#); // warm
    arc_watch.invoke_function("arc-provisioner", r#"{"action":"coverage"}"#); // warm
    moto.clear_calls();

    let started = std::time::Instant::now();
    let mut event =
        serde_json::from_str::<Value>(&fixture("organizations-create-account-result.json")).expect("fixture");
    event["detail"]["serviceEventDetails"]["createAccountStatus"]["accountId"] = member_id.clone().into();
    let onboarded = report(&watch.invoke_function("account-discovery", &event.to_string()));
    let mut joined = serde_json::from_str::<Value>(&fixture("organizations-account-joined.json")).expect("fixture");
    joined["detail"]["serviceEventDetails"]["accountId"] = invited_id.clone().into();
    let onboarded_too = report(&watch.invoke_function("account-discovery", &joined.to_string()));
    let listed = cfn.list_stack_instances().stack_set_name(SET).send().await.expect("instances");
    let mut current: Vec<(&str, &str, &str)> = listed
        .summaries()
        .iter()
        .map(|s| (s.account().unwrap_or(""), s.region().unwrap_or(""), s.status().map(|x| x.as_str()).unwrap_or("")))
        .collect();
    current.sort();
    let mut expected = vec![
        (member_id.as_str(), REGION, "CURRENT"),
        (invited_id.as_str(), REGION, "CURRENT"),
        (invited_id.as_str(), OTHER, "CURRENT"),
    ];
    expected.sort();
    assert_eq!(current, expected, "{onboarded} {onboarded_too}");
    // moto ignores ManagedPolicyArns: the SSM policy the member template gives its instance role.
    seed::instance_role_policy(&member).await;
    seed::instance_role_policy(&invited).await;
    // Both queues drained at once, as their event source mappings would; when the last
    // arc-provisioner invocation returned (the drains then wait out their quiet time).
    let last_arc = std::cell::Cell::new(started);
    let drain = |queue: &'static str, function: &'static str| {
        let queue = if queue == "profile" { &profile_queue } else { &arc_queue };
        let watch = if function == "arc-provisioner" { &arc_watch } else { &watch };
        let last_arc = &last_arc;
        // The arc queue's retries of unregistered instances come a minute later: waited out.
        queue.drain_waiting(
            move |payload| {
                let answer = report(&watch.invoke_function(function, &payload.to_string()));
                if function == "arc-provisioner" {
                    last_arc.set(std::time::Instant::now());
                }
                std::future::ready(answer)
            },
            Duration::from_secs(6 + delay),
            Duration::from_secs(300 + delay),
            function == "arc-provisioner",
        )
    };
    let (profiled, provisioned) = tokio::join!(drain("profile", "profile-scan"), drain("arc", "arc-provisioner"));
    // The invocations block the one task both drains share: on a loaded machine the arc drain can
    // go quiet before profile-scan's hand-off arrives. A last pass takes whatever is left.
    let rest = drain("arc", "arc-provisioner").await;
    for answers in [&profiled, &provisioned, &rest] {
        assert!(answers.iter().all(|a| a.get("batchItemFailures").is_none()), "{answers:?}");
    }
    let waited = provisioned
        .iter()
        .chain(&rest)
        .flat_map(|a| a["items"].as_array().cloned().unwrap_or_default())
        .filter(|i| i["outcome"] == "awaiting-registration")
        .count();
    assert!(waited >= 1, "a fixed instance waited for its registration: {provisioned:#?} {rest:#?} {profiled:#?}");
    let calls = moto.calls();
    let last_command = last_arc.get().duration_since(started);
    let sent: Vec<String> =
        calls.iter().filter(|c| c.operation == "SendCommand" && !c.injected).filter_map(|c| c.body.clone()).collect();
    for id in [&managed, &unprofiled, &invited_instance] {
        assert!(sent.iter().any(|b| b.contains(id.as_str())), "{id} sent the Arc document: {sent:?}");
    }
    for (config, id) in [(&member, &unprofiled), (&invited, &invited_instance)] {
        let profile = seed::profile_of(config, REGION, id).await;
        assert_eq!(profile.map(|p| p.ends_with("/MdcConnectorInstanceProfile")), Some(true), "{id}");
    }
    let records: Vec<Value> = calls
        .iter()
        .filter(|c| c.operation == "PutEvents")
        .filter_map(|c| serde_json::from_str::<Value>(c.body.as_deref()?).ok())
        .flat_map(|b| b["Entries"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| serde_json::from_str::<Value>(e["Detail"].as_str()?).ok())
        .filter(|d| d["status"] == "onboarded")
        .collect();
    assert_eq!(records.len(), 2, "one record per account: {records:?}");
    let regions_of = |account: &str| records.iter().find(|r| r["accountId"] == account).map(|r| r["regions"].clone());
    assert_eq!(regions_of(&member_id), Some(serde_json::json!([REGION])), "over its enabled regions");
    assert_eq!(regions_of(&invited_id), Some(serde_json::json!([REGION, OTHER])));
    println!(
        "time to coverage (event to last Arc command, hand-off delay {delay} s): {:.1} s",
        last_command.as_secs_f64()
    );
}

/// Delegated administrator topology: the connector runs in a member account registered as the
/// StackSets delegated administrator (`STACKSET_CALL_AS=DELEGATED_ADMIN`), the member StackSet's
/// roles trust that account (not the management account), and the management account forwards its
/// Organizations events (CloudTrail: "available only in the management account's event history")
/// to the connector's bus. Both forwarded events onboard their account; profile-scan and
/// arc-provisioner, running with the administrator's credentials, reach both members. The emulator
/// evaluates role trust, so a role trusting only the management account is refused.
#[tokio::test(flavor = "multi_thread")]
async fn in_delegated_administrator_mode_forwarded_events_onboard_accounts_and_every_function_reaches_them() {
    const SET: &str = "mdc-connector-members";
    let moto = Moto::start();
    let management = moto.management_config().await;
    let ids = seed::organization(&management, 3).await;
    let (admin_id, joined_id, created_id) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let org = seed::organization_id(&management).await;
    moto.delegated_admin(&admin_id);
    let admin = moto.account_config(&admin_id).await;
    let joined = moto.account_config(&joined_id).await;
    let created = moto.account_config(&created_id).await;
    let joined_instance = seed::instance(&joined, REGION, &[], None).await;
    let created_instance = seed::instance(&created, REGION, &[], None).await;
    // The member template before this topology was supported: roles trusting the management account.
    let trusting_management = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    let iam = seed::iam(&joined);
    iam.create_role().role_name("legacy").assume_role_policy_document(trusting_management).send().await.expect("role");
    let sts = aws_sdk_sts::Client::new(&admin);
    let legacy = sts.assume_role().role_arn(format!("arn:aws:iam::{joined_id}:role/legacy")).role_session_name("t");
    let refused = legacy.send().await.expect_err("a role that trusts another account refuses the administrator");
    assert_eq!(refused.into_service_error().meta().code(), Some("AccessDenied"));

    seed::member_stack_set(&management, SET, REGION, &org, &admin_id).await;
    aws_sdk_eventbridge::Client::new(&admin).create_event_bus().name("records").send().await.expect("bus");
    seed::azure_federation(&moto, &admin).await;
    let profile_queue = common::poller::WorkQueue::create(&admin, "profile-scan-work", 3, 2).await;
    let arc_queue = common::poller::WorkQueue::create(&admin, "arc-provisioner-work", 3, 2).await;
    let credentials = aws_credential_types::provider::ProvideCredentials::provide_credentials(
        &admin.credentials_provider().expect("credentials"),
    )
    .await
    .expect("the administrator's credentials");
    let authority = moto.entra_authority();
    let mut env: Vec<(&str, &str)> = seed::ARC_ENV.to_vec();
    env.extend([
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key()),
        ("AWS_SESSION_TOKEN", credentials.session_token().unwrap_or_default()),
        ("ARC_AUTHORITY_HOST", authority.as_str()),
        ("ARC_RESOURCE_MANAGER_HOST", authority.as_str()),
        ("STACKSET_NAME", SET),
        ("STACKSET_REGIONS", REGION),
        ("STACKSET_CALL_AS", "DELEGATED_ADMIN"),
        ("CONNECTOR_EVENT_BUS", "records"),
        ("PROFILE_SCAN_QUEUE_URL", profile_queue.url.as_str()),
        ("ARC_PROVISIONER_QUEUE_URL", arc_queue.url.as_str()),
        ("PROFILE_SCAN_DELAY_SECONDS", "0"),
        ("WORK_QUEUE_URL", profile_queue.url.as_str()),
        ("HANDOFF_QUEUE_URL", arc_queue.url.as_str()),
    ]);
    let watch = Watch::start(&moto, &env);
    moto.clear_calls();

    // Both events as the management account's forwarding rule delivers them (`account` is the
    // management account, where CloudTrail recorded them).
    let mut joined_event =
        serde_json::from_str::<Value>(&fixture("organizations-account-joined.json")).expect("fixture");
    joined_event["detail"]["serviceEventDetails"]["accountId"] = joined_id.clone().into();
    let mut created_event =
        serde_json::from_str::<Value>(&fixture("organizations-create-account-result.json")).expect("fixture");
    created_event["detail"]["serviceEventDetails"]["createAccountStatus"]["accountId"] = created_id.clone().into();
    for event in [&joined_event, &created_event] {
        assert_eq!(event["account"], "123456789012", "recorded in the management account");
        let answer = report(&watch.invoke_function("account-discovery", &event.to_string()));
        assert_eq!(answer["summary"]["failed"], 0, "{answer}");
    }
    let cfn = aws_sdk_cloudformation::Client::new(&management);
    let listed = cfn.list_stack_instances().stack_set_name(SET).send().await.expect("instances");
    let mut current: Vec<(String, String)> = listed
        .summaries()
        .iter()
        .map(|s| {
            (s.account().unwrap_or("").to_string(), s.status().map(|x| x.as_str().to_string()).unwrap_or_default())
        })
        .collect();
    current.sort();
    let mut expected = vec![(joined_id.clone(), "CURRENT".to_string()), (created_id.clone(), "CURRENT".to_string())];
    expected.sort();
    assert_eq!(current, expected);
    seed::instance_role_policy(&joined).await;
    seed::instance_role_policy(&created).await;

    let drain = |queue: &'static str, function: &'static str| {
        let queue = if queue == "profile" { &profile_queue } else { &arc_queue };
        let watch = &watch;
        queue.drain(
            move |payload| std::future::ready(report(&watch.invoke_function(function, &payload.to_string()))),
            Duration::from_secs(6),
            Duration::from_secs(180),
        )
    };
    let profiled = drain("profile", "profile-scan").await;
    let provisioned = drain("arc", "arc-provisioner").await;
    for answers in [&profiled, &provisioned] {
        assert!(!answers.is_empty() && answers.iter().all(|a| a.get("batchItemFailures").is_none()), "{answers:?}");
    }
    for (config, id) in [(&joined, &joined_instance), (&created, &created_instance)] {
        let profile = seed::profile_of(config, REGION, id).await;
        assert_eq!(profile.map(|p| p.ends_with("/MdcConnectorInstanceProfile")), Some(true), "{id}");
    }
    let calls = moto.calls();
    let sent: Vec<String> =
        calls.iter().filter(|c| c.operation == "SendCommand" && !c.injected).filter_map(|c| c.body.clone()).collect();
    for id in [&joined_instance, &created_instance] {
        assert!(sent.iter().any(|b| b.contains(id.as_str())), "{id} sent the Arc document: {sent:?} {provisioned:?}");
    }
    let assumed: Vec<_> = calls.iter().filter(|c| c.operation == "AssumeRole").collect();
    assert!(!assumed.is_empty() && assumed.iter().all(|c| c.account == admin_id), "{assumed:?}");
}
