//! Benchmark (not a test) of runs that outgrow one invocation: profile-scan through its SQS work
//! queue on the emulator, every invocation given a short time budget so that units continue
//! through new messages, as with a short Lambda timeout.
//!
//! ```text
//! scripts/bench-queue [accounts] [regions] [budget-seconds]      # many units, one instance each
//! scripts/bench-queue --bucket [instances] [budget-seconds]      # one unit under EC2's bucket
//! ```
//!
//! The first form seeds `accounts` accounts x `regions` regions with one unprofiled instance per
//! unit and prints messages sent, invocations, continuations, writes against the minimum, wall time
//! and peak memory. The second seeds one account and region with `instances` unprofiled instances
//! under an emulated token bucket of 50 tokens refilled at 5 per second (EC2's mutating actions) and
//! prints the achieved write rate against the refill rate and how many calls were throttled.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::moto::{Moto, event};
use common::poller::WorkQueue;
use common::seed;
use connector_engine::config::Fleet;
use connector_engine::profile::{ProfileScan, ProfileSettings};
use serde_json::{Value, json};

const REGIONS: [&str; 4] = ["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"];

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: f64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    if args.first().map(String::as_str) == Some("--bucket") {
        bucket(number(1, 500.0) as usize, number(2, 30.0)).await;
    } else {
        many_units(number(0, 100.0) as usize, (number(1, 3.0) as usize).min(REGIONS.len()), number(2, 2.0)).await;
    }
}

fn settings(work: &WorkQueue, regions: &[&str]) -> ProfileSettings {
    ProfileSettings {
        fleet: Fleet {
            regions: Some(regions.iter().map(|r| r.to_string()).collect()),
            work_queue_url: Some(work.url.clone()),
            continuation_delay_seconds: 0,
            ..Fleet::default()
        },
        ..ProfileSettings::default()
    }
}

/// Every invocation through the poller, each with `budget` of time; returns the answers.
async fn drain(work: &WorkQueue, job: &ProfileScan, budget: Duration) -> Vec<Value> {
    work.drain(
        |payload| async move {
            let report = job.handle(&payload, Some(Instant::now() + budget)).await.expect("handled");
            serde_json::to_value(report).expect("json")
        },
        Duration::from_secs(3),
        Duration::from_secs(3600),
    )
    .await
}

fn calls(moto: &Moto, operation: &str) -> (usize, usize) {
    let all: Vec<_> = moto.calls().into_iter().filter(|c| c.operation == operation).collect();
    (all.iter().filter(|c| !c.injected).count(), all.iter().filter(|c| c.injected).count())
}

/// Invocations whose units ran out of time (each sent a continuation per deferred unit).
fn continuations(answers: &[Value]) -> usize {
    answers
        .iter()
        .map(|a| {
            let items = a["items"].as_array().cloned().unwrap_or_default();
            let deferred: std::collections::BTreeSet<(String, String)> = items
                .iter()
                .filter(|i| i["reason"].as_str().unwrap_or("").starts_with("deferred"))
                .map(|i| (i["accountId"].to_string(), i["region"].to_string()))
                .collect();
            deferred.len()
        })
        .sum()
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn many_units(accounts: usize, regions: usize, budget: f64) {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let regions = &REGIONS[..regions];
    let started = Instant::now();
    let mut configs = vec![management.clone()];
    for member in seed::organization(&management, accounts.saturating_sub(1)).await {
        configs.push(moto.account_config(&member).await);
    }
    for config in &configs {
        seed::connector_profile(config).await;
        for region in regions {
            seed::instance(config, region, &[], None).await;
        }
    }
    eprintln!(
        "seeded {} accounts x {} regions in {:.0} s",
        configs.len(),
        regions.len(),
        started.elapsed().as_secs_f64()
    );
    let work = WorkQueue::create(&management, "profile-scan-work", 5, 2).await;
    let job = ProfileScan::new(settings(&work, regions), management.clone());
    moto.clear_calls();

    let started = Instant::now();
    let planned =
        serde_json::to_value(job.handle(&event("scheduled-event.json"), None).await.expect("plan")).expect("json");
    let planning = started.elapsed().as_secs_f64();
    let answers = drain(&work, &job, Duration::from_secs_f64(budget)).await;
    let wall = started.elapsed().as_secs_f64();
    let units = configs.len() * regions.len();
    let queued = planned["items"].as_array().map_or(0, |i| i.iter().filter(|i| i["action"] == "enqueue").count());
    let done = answers
        .iter()
        .flat_map(|a| a["items"].as_array().cloned().unwrap_or_default())
        .filter(|i| i["action"] == "associate-instance-profile" && i["status"] == "done")
        .count();
    let (writes, throttled) = calls(&moto, "AssociateIamInstanceProfile");
    let (batches, _) = calls(&moto, "SendMessageBatch");
    println!(
        "\nprofile-scan through the work queue: {} accounts x {} regions = {units} units, one instance each, {budget} s per invocation",
        configs.len(),
        regions.len()
    );
    println!(
        "  planner: {queued} messages in {batches} SendMessageBatch calls (minimum {}), {planning:.1} s",
        units.div_ceil(10)
    );
    println!(
        "  workers: {} invocations (minimum {}), {} continuations",
        answers.len(),
        units.div_ceil(10),
        continuations(&answers)
    );
    println!("  writes: {writes} AssociateIamInstanceProfile (minimum {units}), {done} done, {throttled} throttled");
    println!("  dead letters: {}", work.dead_letters().await.len());
    println!("  wall {wall:.1} s; peak RSS of the benchmark process (engine in-process) {:.1} MiB", peak_rss_mib());
}

async fn bucket(instances: usize, budget: f64) {
    let moto = Moto::start();
    let management = moto.management_config().await;
    seed::connector_profile(&management).await;
    let ec2 = seed::ec2(&management, REGIONS[0]);
    let mut left = instances;
    while left > 0 {
        let n = left.min(500) as i32;
        ec2.run_instances().image_id("ami-12c6146b").min_count(n).max_count(n).send().await.expect("instances");
        left -= n as usize;
    }
    moto.token_buckets(
        json!([{"service": "ec2", "operation": "AssociateIamInstanceProfile", "capacity": 50, "rate": 5}]),
    );
    let work = WorkQueue::create(&management, "profile-scan-work", 5, 2).await;
    let job = ProfileScan::new(settings(&work, &REGIONS[..1]), management.clone());
    moto.clear_calls();

    let started = Instant::now();
    job.handle(&event("scheduled-event.json"), None).await.expect("plan");
    let answers = drain(&work, &job, Duration::from_secs_f64(budget)).await;
    // The poller waits 3 s on an empty queue before stopping: not write time.
    let wall = started.elapsed().as_secs_f64() - 3.0;
    let (writes, throttled) = calls(&moto, "AssociateIamInstanceProfile");
    let failed: usize = answers
        .iter()
        .flat_map(|a| a["items"].as_array().cloned().unwrap_or_default())
        .filter(|i| i["status"] == "failed")
        .count();
    let paced = (writes.saturating_sub(50)) as f64 / (wall.max(0.001) * 5.0);
    println!(
        "\none account and region, {instances} unprofiled instances, EC2 bucket 50 tokens + 5/s, {budget} s per invocation"
    );
    println!(
        "  {} invocations, {} continuations, {writes} writes (minimum {instances}), {throttled} throttled, {failed} failed items",
        answers.len(),
        continuations(&answers)
    );
    println!("  wall {wall:.1} s; after the 50-token burst, writes at {:.0} % of the 5/s refill rate", paced * 100.0);
    println!("  peak RSS of the benchmark process (engine in-process) {:.1} MiB", peak_rss_mib());
}
