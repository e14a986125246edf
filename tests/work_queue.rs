//! Runs that outgrow one invocation: work units through the function's SQS work queue on the
//! emulator, delivered by a poller that behaves like Lambda's event source mapping.

mod common;

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use common::moto::{Moto, event};
use common::poller::WorkQueue;
use common::seed;
use connector_engine::config::Fleet;
use connector_engine::profile::{ProfileScan, ProfileSettings};
use connector_engine::report::Status;
use serde_json::{Value, json};

const R1: &str = "eu-west-1";

/// Management account and `members` members, each with the connector's profile and two
/// unprofiled instances in R1.
async fn estate(moto: &Moto, members: usize) -> (SdkConfig, Vec<(String, SdkConfig, Vec<String>)>) {
    let management = moto.management_config().await;
    let mut accounts = vec![("123456789012".to_string(), management.clone())];
    for member in seed::organization(&management, members).await {
        let config = moto.account_config(&member).await;
        accounts.push((member, config));
    }
    let mut out = Vec::new();
    for (account, config) in accounts {
        seed::connector_profile(&config).await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            ids.push(seed::instance(&config, R1, &[], None).await);
        }
        out.push((account, config, ids));
    }
    (management, out)
}

fn settings(work: &WorkQueue, handoff: Option<&WorkQueue>) -> ProfileSettings {
    ProfileSettings {
        fleet: Fleet {
            regions: Some(vec![R1.into()]),
            work_queue_url: Some(work.url.clone()),
            continuation_delay_seconds: 0,
            ..Fleet::default()
        },
        handoff_queue_url: handoff.map(|q| q.url.clone()),
        ..ProfileSettings::default()
    }
}

fn count(moto: &Moto, operation: &str) -> usize {
    moto.calls().iter().filter(|c| !c.injected && c.operation == operation).count()
}

async fn invoke(job: &ProfileScan, payload: Value, deadline: Option<Instant>) -> Value {
    serde_json::to_value(job.handle(&payload, deadline).await.expect("handled")).expect("report")
}

#[tokio::test]
async fn a_scheduled_scan_goes_through_the_queue_and_hands_fixed_instances_to_arc_provisioner() {
    let moto = Moto::start();
    let (management, accounts) = estate(&moto, 2).await;
    let work = WorkQueue::create(&management, "profile-scan-work", 3, 1).await;
    let arc = WorkQueue::create(&management, "arc-provisioner-work", 3, 1).await;
    let job = ProfileScan::new(settings(&work, Some(&arc)), management.clone());
    moto.clear_calls();

    let planned = invoke(&job, event("scheduled-event.json"), None).await;
    let queued: Vec<&Value> =
        planned["items"].as_array().unwrap().iter().filter(|i| i["action"] == "enqueue").collect();
    assert_eq!(queued.len(), 3, "one message per (account, region): {planned}");
    assert!(queued.iter().all(|i| i["status"] == "done"));
    assert_eq!(count(&moto, "SendMessageBatch"), 1, "ten units per call");
    assert_eq!(count(&moto, "AssociateIamInstanceProfile"), 0, "the planner writes nothing itself");

    let answers =
        work.drain(|payload| invoke(&job, payload, None), Duration::from_secs(2), Duration::from_secs(60)).await;
    assert!(answers.iter().all(|a| a.get("batchItemFailures").is_none()), "{answers:?}");
    for (account, config, ids) in &accounts {
        for id in ids {
            assert!(seed::profile_of(config, R1, id).await.is_some(), "{account} {id}");
        }
    }
    assert_eq!(count(&moto, "AssociateIamInstanceProfile"), 6);

    // Lambda destinations do not fire for SQS-triggered invocations: the fixed instances reach
    // arc-provisioner's queue instead, one message per (account, region).
    let handed: Vec<Value> = arc.peek().await.iter().map(|b| serde_json::from_str(b).expect("json")).collect();
    assert_eq!(handed.len(), 3, "{handed:?}");
    for (account, _, ids) in &accounts {
        let message = handed.iter().find(|m| m["accountId"] == account.as_str()).expect("a hand-off per account");
        assert_eq!(message["job"], "arc-provisioner");
        let mut got: Vec<String> =
            message["instanceIds"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        got.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn a_unit_out_of_time_continues_and_finishes_and_a_duplicate_writes_nothing_twice() {
    let moto = Moto::start();
    let (management, accounts) = estate(&moto, 0).await;
    let work = WorkQueue::create(&management, "profile-scan-work", 3, 1).await;
    let job = ProfileScan::new(settings(&work, None), management.clone());
    let unit = json!({"job": "profile-scan", "accountId": accounts[0].0, "region": R1}).to_string();
    // At-least-once delivery: the same unit twice.
    work.send(&unit).await;
    work.send(&unit).await;
    moto.clear_calls();

    // The first delivery finds its budget spent: the units continue through new messages, the
    // records themselves succeed (no redelivery, nothing dead-lettered).
    let mut first = true;
    let answers = work
        .drain(
            |payload| {
                let deadline = if first { Some(Instant::now()) } else { None };
                first = false;
                let job = &job;
                async move { invoke(job, payload, deadline).await }
            },
            Duration::from_secs(2),
            Duration::from_secs(60),
        )
        .await;
    assert!(answers.len() >= 2, "the continuation ran: {answers:?}");
    let deferred = answers[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["reason"].as_str().unwrap_or("").starts_with("deferred"))
        .count();
    assert_eq!(
        deferred, 1,
        "the unit (once: its copy in the same batch is not run twice) was out of time: {}",
        answers[0]
    );
    assert!(answers.iter().all(|a| a.get("batchItemFailures").is_none()), "{answers:?}");
    for id in &accounts[0].2 {
        assert!(seed::profile_of(&accounts[0].1, R1, id).await.is_some(), "{id}");
    }
    assert_eq!(count(&moto, "AssociateIamInstanceProfile"), 2, "each instance associated once, duplicates or not");
    assert!(work.dead_letters().await.is_empty());

    // A duplicate delivered later (another batch) re-reads and finds nothing left to do.
    work.send(&unit).await;
    let again =
        work.drain(|payload| invoke(&job, payload, None), Duration::from_secs(2), Duration::from_secs(30)).await;
    let compliant = again[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["reason"].as_str().unwrap_or("").starts_with("compliant"))
        .count();
    assert_eq!(compliant, 2, "{again:?}");
    assert_eq!(count(&moto, "AssociateIamInstanceProfile"), 2, "still one write per instance");
}

#[tokio::test]
async fn a_unit_that_keeps_failing_ends_in_the_dead_letter_queue_and_the_others_complete() {
    let moto = Moto::start();
    let (management, accounts) = estate(&moto, 1).await;
    let work = WorkQueue::create(&management, "profile-scan-work", 2, 1).await;
    let job = ProfileScan::new(settings(&work, None), management.clone());
    let member = accounts[1].0.clone();
    moto.faults(json!([{"service": "sts", "operation": "AssumeRole", "match": member,
                        "error": {"status": 403, "code": "AccessDenied", "message": "not allowed"}}]));
    invoke(&job, event("scheduled-event.json"), None).await;
    work.send("not a unit").await;

    let answers =
        work.drain(|payload| invoke(&job, payload, None), Duration::from_secs(4), Duration::from_secs(60)).await;
    let failures: usize = answers.iter().map(|a| a["batchItemFailures"].as_array().map_or(0, Vec::len)).sum();
    assert!(failures >= 4, "each bad record failed on each of its 2 deliveries: {answers:?}");
    let dead = work.dead_letters().await;
    assert_eq!(dead.len(), 2, "the denied account's unit and the malformed message: {dead:?}");
    assert!(dead.iter().any(|b| b.contains(&member)));
    for id in &accounts[0].2 {
        assert!(seed::profile_of(&accounts[0].1, R1, id).await.is_some(), "the other unit completed");
    }
    let reason = answers
        .iter()
        .flat_map(|a| a["items"].as_array().unwrap().iter())
        .find(|i| i["accountId"] == member.as_str() && i["status"] == "failed")
        .map(|i| i["reason"].to_string())
        .unwrap_or_default();
    assert!(reason.contains("AccessDenied"), "the unit's reason is reported: {reason}");
}

#[tokio::test]
async fn a_launch_event_still_runs_inline() {
    let moto = Moto::start();
    let (management, accounts) = estate(&moto, 0).await;
    let work = WorkQueue::create(&management, "profile-scan-work", 3, 1).await;
    let job = ProfileScan::new(settings(&work, None), management.clone());
    moto.clear_calls();
    let mut launch = event("ec2-instance-running.json");
    launch["account"] = json!(accounts[0].0);
    launch["region"] = json!(R1);
    launch["detail"]["instance-id"] = json!(accounts[0].2[0]);
    let report = job.handle(&launch, None).await.expect("handled");
    assert_eq!(report.items.len(), 1);
    assert_eq!(report.items[0].status, Status::Done);
    assert_eq!(count(&moto, "SendMessageBatch"), 0, "no queue hop for one instance");
    assert!(work.peek().await.is_empty());
}
