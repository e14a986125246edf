//! The fleet-job skeleton: everything profile-scan and arc-provisioner share about running
//! (account, region) work units, written once.
//!
//! A job implements [`FleetJob`] (its scope rules, per-run shared state, the work of one unit,
//! what to add once every unit is done); this module owns the rest: sessions and identity,
//! scope, the enqueue decision of a broad run, bounded fan-out with failure isolation, the
//! queue path's batch sorting and settling (modelled on the Lambda runtime's SQS partial-batch
//! helper: each record runs on its own and only the failed ones are named), and report assembly.

use std::collections::BTreeSet;
use std::future::Future;

use futures::StreamExt;
use tracing::Instrument;

use crate::budget::Budget;
use crate::config::{Common, Fleet};
use crate::context::JobContext;
use crate::error::{Failure, InvocationError};
use crate::queue::{MAX_CONTINUATIONS, PROPAGATION_RETRY_DELAY_SECONDS, QueueRecord, UnitMessage, WorkQueue};
use crate::report::{Action, Item, Outcome, Report, Status};
use crate::scope::{ScopeRequest, ScopeRules, region_not_enabled};
use crate::sessions::{AccountSession, Sessions};

/// Reason of a unit that was not started because the invocation's time budget was spent.
pub(crate) const UNIT_DEFERRED: &str =
    "deferred: the invocation's time budget was spent before this unit started; the next run takes it";

/// One (account, region) work unit and what else the job needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unit<W> {
    /// Account.
    pub(crate) account_id: String,
    /// Region.
    pub(crate) region: String,
    /// The job's own part (instances, dry run, force, ...).
    pub(crate) work: W,
}

/// A unit that ran: its items, and whether it left work for another invocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UnitDone {
    /// The unit's report items.
    pub(crate) items: Vec<Item>,
    /// True when the unit ran out of time and what is left must continue.
    pub(crate) deferred: bool,
    /// Instances to try again after a delay (outcome `awaiting-iam-propagation`, or
    /// `awaiting-registration`).
    pub(crate) retry_later: Vec<String>,
}

impl UnitDone {
    /// A unit's items; what it left for later is read from them and from `deferred`.
    fn of(items: Vec<Item>, deferred: bool) -> Self {
        let retry_later = items
            .iter()
            .filter(|i| matches!(i.outcome, Some(Outcome::AwaitingIamPropagation | Outcome::AwaitingRegistration)))
            .map(|i| i.resource_id.clone())
            .collect();
        UnitDone { items, deferred, retry_later }
    }
}

/// What a work unit yields: what it did, or the one item saying why the whole unit failed.
pub(crate) type UnitResult = Result<UnitDone, Item>;

/// Where the units of a run came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Run inside the invocation that received the trigger.
    Inline,
    /// Records of the function's work queue.
    Queue,
}

/// What the skeleton reads of a job: its cold-start context and the settings every fleet job has.
#[derive(Clone, Copy)]
pub(crate) struct FleetParts<'a> {
    /// The function's SDK config, identity and queues.
    pub(crate) context: &'a JobContext,
    /// Regions, concurrency, opt-out tag, work queue.
    pub(crate) fleet: &'a Fleet,
    /// `CONNECTOR_EXCLUDED_ACCOUNTS`.
    pub(crate) excluded: &'a BTreeSet<String>,
    /// `CONNECTOR_SCOPE_PARAMETER`.
    pub(crate) scope_parameter: Option<&'a str>,
    /// The role entered in member accounts.
    pub(crate) member_role: &'a str,
}

impl<'a> FleetParts<'a> {
    /// The parts of a job with these settings.
    pub(crate) fn new(context: &'a JobContext, fleet: &'a Fleet, common: &'a Common, member_role: &'a str) -> Self {
        FleetParts {
            context,
            fleet,
            excluded: &common.excluded_accounts,
            scope_parameter: common.scope_parameter.as_deref(),
            member_role,
        }
    }
}

/// A job that works per (account, region) on instances.
pub(crate) trait FleetJob: Sync {
    /// The job's part of a unit.
    type Work: Send + Sync;
    /// State the units of one run share (built fresh per run).
    type Shared: Default + Send + Sync;
    /// Name in reports, queue messages and STS session names.
    const NAME: &'static str;
    /// Report action of a whole unit.
    const ACTION: Action;
    /// What the job does to the own account when the organization cannot be listed ("scanned").
    const DONE_TO_OWN: &'static str;
    /// Delay before instances put back on the queue (`awaiting-...` outcomes) are tried again.
    const RETRY_DELAY_SECONDS: i32 = PROPAGATION_RETRY_DELAY_SECONDS;

    /// What the skeleton reads of the job: its context and settings.
    fn parts(&self) -> FleetParts<'_>;
    /// The resource a unit is about in its report items (`*`, or an instance id).
    fn resource(work: &Self::Work) -> &str;
    /// The job's part of a unit read from the work queue.
    fn from_message(message: &UnitMessage) -> Self::Work;
    /// The work of one unit in an account already entered and a region enabled there. Writes
    /// start only while `budget` allows them; a refusal makes the unit continue later.
    fn work(
        &self,
        unit: &Unit<Self::Work>,
        session: &AccountSession,
        shared: &Self::Shared,
        budget: &Budget,
    ) -> impl Future<Output = Result<Vec<Item>, Failure>> + Send;
    /// Items to add once every unit of the run is done (`items` so far).
    fn finish(&self, shared: Self::Shared, path: Path, items: &[Item]) -> impl Future<Output = Vec<Item>> + Send;

    /// The scope rules of the job's settings.
    fn rules(&self) -> ScopeRules<'_> {
        ScopeRules {
            excluded: self.parts().excluded,
            parameter: self.parts().scope_parameter,
            regions: self.parts().fleet.regions.as_deref(),
            action: Self::ACTION,
            done_to_own: Self::DONE_TO_OWN,
        }
    }
}

/// The sessions of one run of `job`.
pub(crate) async fn sessions<J: FleetJob>(job: &J) -> Result<Sessions, InvocationError> {
    let parts = job.parts();
    parts.context.sessions(parts.member_role, J::NAME).await
}

/// Runs `scope`: with `may_enqueue`, a work queue and no dry run, one message per unit to the
/// work queue; otherwise every unit inline, each with `work_of(account, region)`.
pub(crate) async fn scoped<J: FleetJob>(
    job: &J,
    scope: &ScopeRequest,
    may_enqueue: bool,
    dry_run: bool,
    budget: &Budget,
    work_of: impl Fn() -> J::Work,
) -> Result<Report, InvocationError> {
    let sessions = sessions(job).await?;
    let mut items = Vec::new();
    let units = job.rules().units(&sessions, scope, &mut items).await?;
    if let (Some(queue), true, false) = (job.parts().context.own_queue(), may_enqueue, dry_run) {
        items.extend(enqueue(queue, J::NAME, units).await);
        return Ok(Report::new(J::NAME, false, items, 0, 0));
    }
    let units = units.into_iter().map(|(account_id, region)| Unit { account_id, region, work: work_of() }).collect();
    Ok(inline(job, &sessions, units, items, dry_run, budget).await)
}

/// Runs `units` in this invocation, at most `CONNECTOR_CONCURRENCY` at once, each failing on its
/// own; `items` are what scoping already reported.
pub(crate) async fn inline<J: FleetJob>(
    job: &J,
    sessions: &Sessions,
    units: Vec<Unit<J::Work>>,
    mut items: Vec<Item>,
    dry_run: bool,
    budget: &Budget,
) -> Report {
    let shared = J::Shared::default();
    let unit_count = units.len();
    let shared_ref = &shared;
    // Results come back in completion order: each carries its own unit's account and region.
    let results = run_each(units, job.parts().fleet.concurrency, |unit| async move {
        let result = one_unit(job, sessions, &unit, shared_ref, budget).await;
        ((unit.account_id, unit.region), result)
    })
    .await;
    let mut failed_units = 0;
    let mut later = Vec::new();
    for (unit, result) in results {
        match result {
            Ok(done) => {
                items.extend(done.items);
                if !done.retry_later.is_empty() {
                    let message = UnitMessage {
                        instance_ids: Some(done.retry_later),
                        ..UnitMessage::unit(J::NAME, unit.0, unit.1)
                    };
                    later.push(UnitMessage { propagation_retries: 1, ..message });
                }
            }
            Err(item) => {
                failed_units += 1;
                items.push(item);
            }
        }
    }
    items.extend(retry_later(job.parts().context.own_queue(), later, J::ACTION, J::RETRY_DELAY_SECONDS).await);
    let finished = job.finish(shared, Path::Inline, &items).await;
    items.extend(finished);
    Report::new(J::NAME, dry_run, items, unit_count, failed_units)
}

/// Runs the records of a work-queue invocation: each record one unit; a unit out of time
/// continues through a new message, a failed unit's record is named in `batchItemFailures`.
pub(crate) async fn queued<J: FleetJob>(
    job: &J,
    records: Vec<QueueRecord>,
    budget: &Budget,
) -> Result<Report, InvocationError> {
    let sessions = sessions(job).await?;
    let mut batch = QueueBatch::sort(records, J::NAME, &job.rules());
    let unit_count = batch.units.len();
    let shared = J::Shared::default();
    let (sessions, shared_ref) = (&sessions, &shared);
    let parts = job.parts();
    let settled = run_each(std::mem::take(&mut batch.units), parts.fleet.concurrency, |(id, message)| async move {
        let unit = Unit {
            account_id: message.account_id.clone(),
            region: message.region.clone(),
            work: J::from_message(&message),
        };
        let result = one_unit(job, sessions, &unit, shared_ref, budget).await;
        (id, message, result)
    })
    .await;
    let delays = (parts.fleet.continuation_delay_seconds, J::RETRY_DELAY_SECONDS);
    batch.settle(settled, J::ACTION, parts.context.own_queue(), delays).await;
    let finished = job.finish(shared, Path::Queue, &batch.items).await;
    batch.items.extend(finished);
    let report = Report::new(J::NAME, false, batch.items, unit_count, batch.failed_units);
    Ok(report.with_failed_records(batch.failed_records))
}

/// Puts instances waiting (for IAM propagation, for their agent's registration) back on the work
/// queue, `delay_seconds` later; an item per message that cannot be sent (those instances wait for
/// the next scheduled run).
async fn retry_later(
    own_queue: Option<&WorkQueue>,
    messages: Vec<UnitMessage>,
    action: Action,
    delay_seconds: i32,
) -> Vec<Item> {
    let Some(queue) = own_queue.filter(|_| !messages.is_empty()) else {
        return Vec::new();
    };
    let bodies: Vec<String> = messages.iter().map(UnitMessage::body).collect();
    let sent = queue.send(&bodies, delay_seconds).await;
    messages
        .into_iter()
        .zip(sent)
        .filter_map(|(message, outcome)| {
            let reason = format!("{}; the next scheduled run retries these instances", outcome.err()?);
            Some(Item::new(message.account_id, message.region, queue.name(), action, Status::Failed, reason))
        })
        .collect()
}

/// One unit: out of time, not started; the account entered; a region it has not enabled
/// skipped; then the job's work, in a span naming the account and region.
async fn one_unit<J: FleetJob>(
    job: &J,
    sessions: &Sessions,
    unit: &Unit<J::Work>,
    shared: &J::Shared,
    budget: &Budget,
) -> UnitResult {
    let span = tracing::info_span!("unit", job = J::NAME, account_id = %unit.account_id, region = %unit.region);
    async {
        let (account, region, resource) = (&unit.account_id, &unit.region, J::resource(&unit.work));
        let fail = |reason: Failure| {
            tracing::warn!(%reason, "work unit failed");
            Item::new(account, region, resource, J::ACTION, Status::Failed, reason.to_string())
                .with_cause(reason.cause())
        };
        let budget = budget.for_unit();
        if budget.spent() {
            let deferred = Item::new(account, region, resource, J::ACTION, Status::Skipped, UNIT_DEFERRED);
            return Ok(UnitDone::of(vec![deferred], true));
        }
        let session = sessions.for_account(account).await.map_err(fail)?;
        if let Some(skipped) = region_not_enabled(&session, account, region, resource, J::ACTION).await {
            return Ok(UnitDone::of(vec![skipped], false));
        }
        // Boxed: a unit's future is large, and unboxed it overflows the layout computation.
        let items = Box::pin(job.work(unit, &session, shared, &budget)).await.map_err(fail)?;
        tracing::info!(items = items.len(), deferred = budget.deferred(), "work unit done");
        Ok(UnitDone::of(items, budget.deferred()))
    }
    .instrument(span)
    .await
}

/// Runs `work` on every unit, at most `concurrency` at once, and returns each unit's own result
/// (in completion order).
pub(crate) async fn run_each<U, T, F, Fut>(units: Vec<U>, concurrency: usize, work: F) -> Vec<T>
where
    F: Fn(U) -> Fut,
    Fut: Future<Output = T>,
{
    futures::stream::iter(units).map(work).buffer_unordered(concurrency.max(1)).collect().await
}

/// Sends one message per (account, region) unit to `queue` for `job`; returns one item per unit
/// (`enqueue`, `done` or `failed` with the reason).
pub(crate) async fn enqueue(queue: &WorkQueue, job: &str, units: Vec<(String, String)>) -> Vec<Item> {
    let messages = units.into_iter().map(|(account, region)| UnitMessage::unit(job, account, region)).collect();
    queue
        .send_units(messages)
        .await
        .into_iter()
        .map(|(unit, outcome)| {
            let (status, reason, cause) = match outcome {
                Ok(()) => (Status::Done, format!("queued to {}", queue.name()), None),
                Err(failure) => (Status::Failed, failure.to_string(), Some(failure.cause())),
            };
            Item::new(unit.account_id, unit.region, "*", Action::Enqueue, status, reason).with_known_cause(cause)
        })
        .collect()
}

/// The records of one queue invocation, sorted: the units to run, the items already known (units
/// out of scope, malformed records) and the records that failed.
pub(crate) struct QueueBatch {
    /// Units to run, with the message id of their record.
    pub(crate) units: Vec<(String, UnitMessage)>,
    /// The report's items so far.
    pub(crate) items: Vec<Item>,
    /// Records to deliver again (`batchItemFailures`).
    pub(crate) failed_records: Vec<String>,
    /// Units that failed as a whole.
    pub(crate) failed_units: usize,
}

impl QueueBatch {
    /// Parses `records` for `job`: a malformed record fails; a unit now out of scope is
    /// reported and acknowledged; a copy of a unit already in the batch is acknowledged without
    /// running twice (at-least-once delivery).
    pub(crate) fn sort(records: Vec<QueueRecord>, job: &str, rules: &ScopeRules<'_>) -> Self {
        let mut batch =
            QueueBatch { units: Vec::new(), items: Vec::new(), failed_records: Vec::new(), failed_units: 0 };
        for record in records {
            match UnitMessage::parse(&record.body, job) {
                Ok(message) => match rules.excludes(&message.account_id, &message.region) {
                    Some(reason) => {
                        let (account, region) = (&message.account_id, &message.region);
                        batch.items.push(Item::new(account, region, "*", rules.action, Status::Skipped, reason));
                    }
                    None if batch.units.iter().any(|(_, m)| m.same_unit(&message)) => {}
                    None => batch.units.push((record.message_id, message)),
                },
                Err(reason) => {
                    let reason = reason.to_string();
                    batch.items.push(Item::new("*", "*", &record.message_id, rules.action, Status::Failed, reason));
                    batch.failed_records.push(record.message_id);
                }
            }
        }
        batch
    }

    /// Takes the units' results: a failed unit's record is delivered again; a unit out of time
    /// continues through a new message on `own_queue` (after `delay_seconds`), or fails its record
    /// when that cannot be sent or it already continued [`MAX_CONTINUATIONS`] times.
    pub(crate) async fn settle(
        &mut self,
        results: Vec<(String, UnitMessage, UnitResult)>,
        action: Action,
        own_queue: Option<&WorkQueue>,
        (delay_seconds, retry_delay_seconds): (i32, i32),
    ) {
        let mut continuations = Vec::new();
        let mut later = Vec::new();
        for (message_id, message, result) in results {
            match result {
                Ok(done) => {
                    self.items.extend(done.items);
                    if !done.retry_later.is_empty() {
                        let retries = message.propagation_retries + 1;
                        let ids = Some(done.retry_later);
                        let base = UnitMessage { continuation: 0, ..message.clone() };
                        later.push(UnitMessage { instance_ids: ids, propagation_retries: retries, ..base });
                    }
                    if done.deferred && message.continuation >= MAX_CONTINUATIONS {
                        let reason = format!("the unit ran out of time {MAX_CONTINUATIONS} times in a row; given up");
                        self.fail_unit(&message_id, &message, action, reason);
                    } else if done.deferred {
                        continuations
                            .push((message_id, UnitMessage { continuation: message.continuation + 1, ..message }));
                    }
                }
                Err(item) => {
                    self.failed_units += 1;
                    self.items.push(item);
                    self.failed_records.push(message_id);
                }
            }
        }
        self.continue_units(continuations, action, own_queue, delay_seconds).await;
        self.items.extend(retry_later(own_queue, later, action, retry_delay_seconds).await);
    }

    fn fail_unit(&mut self, message_id: &str, message: &UnitMessage, action: Action, reason: String) {
        let (account, region) = (&message.account_id, &message.region);
        self.items.push(Item::new(account, region, "*", action, Status::Failed, reason));
        self.failed_units += 1;
        self.failed_records.push(message_id.to_string());
    }

    /// Sends the continuations; one that cannot be sent fails its record (SQS delivers the unit
    /// again instead).
    async fn continue_units(
        &mut self,
        continuations: Vec<(String, UnitMessage)>,
        action: Action,
        own_queue: Option<&WorkQueue>,
        delay_seconds: i32,
    ) {
        if continuations.is_empty() {
            return;
        }
        let bodies: Vec<String> = continuations.iter().map(|(_, m)| m.body()).collect();
        let sent = match own_queue {
            Some(queue) => queue.send(&bodies, delay_seconds).await,
            None => {
                bodies.iter().map(|_| Err(Failure::Precondition("no WORK_QUEUE_URL to continue on".into()))).collect()
            }
        };
        for ((message_id, message), outcome) in continuations.into_iter().zip(sent) {
            if let Err(reason) = outcome {
                let (account, region) = (&message.account_id, &message.region);
                let failed = Item::new(account, region, "*", action, Status::Failed, reason.to_string());
                self.items.push(failed.with_cause(reason.cause()));
                self.failed_records.push(message_id);
            }
        }
    }
}
