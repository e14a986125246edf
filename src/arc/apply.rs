//! Applies a unit's plan in the documents' two phases: `prepare` to every planned instance (one
//! command per batch; an instance that needs a credential answers with a one-time public key),
//! then, for each instance that answered so, `connect` with the credential sealed to that key
//! (one command per instance: the sealed value differs). Every invocation is tracked to a final
//! status. Keys are read only from the invocations of the prepare commands this run sent.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_ssm::Client;
use futures::StreamExt;

use super::command::{CommandSettings, send, track, track_all};
use super::credential::Credential;
use super::outcome::{Reported, Verdict};
use super::phase::Phase;
use super::plan::{Batch, item};
use super::seal::{SealingKey, binding};
use crate::error::Failure;
use crate::report::{Item, Outcome, Status};

/// Commands of the connect phase in flight at once while sending.
const SEND_CONCURRENCY: usize = 8;
/// How far before sending the connect commands their invocations are looked for (clock skew).
const CLOCK_MARGIN: Duration = Duration::from_secs(300);

/// One (account, region) being provisioned.
pub(crate) struct UnitRun<'a> {
    /// Systems Manager in the unit.
    pub ssm: &'a Client,
    /// Account.
    pub account_id: &'a str,
    /// Region.
    pub region: &'a str,
    /// Parameters both phases carry (the Azure target, account, correlation id, force).
    pub parameters: &'a BTreeMap<&'static str, String>,
    /// Comment of the prepare commands.
    pub prepare_comment: &'a str,
    /// Comment of the connect commands (history counts deliveries by it).
    pub connect_comment: &'a str,
    /// `MaxConcurrency`.
    pub max_concurrency: &'a str,
    /// `MaxErrors`.
    pub max_errors: &'a str,
    /// When tracking stops.
    pub until: Instant,
}

/// An instance whose prepare phase made a key: the credential goes to it next.
#[derive(Clone, Debug)]
pub(crate) struct Ready {
    /// Instance.
    pub instance_id: String,
    /// The batch it came from (document and version to run again).
    pub batch: Batch,
    /// Its sealing key, read from this run's own prepare command.
    pub key: SealingKey,
}

impl UnitRun<'_> {
    fn settings<'p>(&'p self, parameters: &'p BTreeMap<&'static str, String>, comment: &'p str) -> CommandSettings<'p> {
        CommandSettings { parameters, comment, max_concurrency: self.max_concurrency, max_errors: self.max_errors }
    }

    /// The unit's parameters with the batch's `force`: what both phases carry and the seal binds.
    fn bound(&self, batch: &Batch) -> BTreeMap<&'static str, String> {
        let mut parameters = self.parameters.clone();
        if batch.force {
            parameters.insert("force", "true".to_string());
        }
        parameters
    }

    fn with_phase(&self, batch: &Batch, phase: Phase, sealed: String) -> BTreeMap<&'static str, String> {
        let mut parameters = self.bound(batch);
        parameters.insert("phase", phase.as_str().to_string());
        parameters.insert("sealedCredential", sealed);
        parameters
    }

    /// The prepare phase: every instance's final item, or its key when it needs a credential; and
    /// what the instances already connected reported of their Arc machine.
    pub(crate) async fn prepare(&self, batches: &[Batch]) -> (Vec<Item>, Vec<Ready>, Vec<(String, Reported)>) {
        let mut items = Vec::new();
        let mut reported = Vec::new();
        let mut tracking = Vec::new();
        for batch in batches {
            let parameters = self.with_phase(batch, Phase::Prepare, String::new());
            let settings = self.settings(&parameters, self.prepare_comment);
            match send(self.ssm, batch, &settings).await {
                Ok(command_id) => {
                    tracing::info!(command_id, instances = batch.instance_ids.len(), "prepare command sent");
                    tracking.push((command_id, batch));
                }
                Err(reason) => items.extend(self.failed(&batch.instance_ids, &reason)),
            }
        }
        let tracked = futures::future::join_all(
            tracking.iter().map(|(command_id, batch)| track(self.ssm, command_id, &batch.instance_ids, self.until)),
        )
        .await;
        let mut ready = Vec::new();
        for ((_, batch), outcomes) in tracking.iter().zip(tracked) {
            for (id, mut verdict) in outcomes {
                match verdict.key.take() {
                    Some(key) => ready.push(Ready { instance_id: id, batch: (*batch).clone(), key }),
                    None => items.push(self.finished(&id, verdict, &mut reported)),
                }
            }
        }
        ready.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        (items, ready, reported)
    }

    /// The item of a final verdict; what it reported of its Arc machine goes to `reported`.
    fn finished(&self, id: &str, verdict: Verdict, reported: &mut Vec<(String, Reported)>) -> Item {
        if let Some(found) = verdict.reported {
            reported.push((id.to_string(), found));
        }
        self.item(id, verdict.status, verdict.name, verdict.reason).with_known_cause(verdict.cause)
    }

    /// The connect phase: the credential sealed to each ready instance's own key, one command each;
    /// the items, and what the connected instances reported of their Arc machine.
    pub(crate) async fn deliver(
        &self,
        ready: &[Ready],
        credential: &Credential,
    ) -> (Vec<Item>, Vec<(String, Reported)>) {
        // SSM's clock may differ from ours: look for the invocations from a little before.
        let since = SystemTime::now() - CLOCK_MARGIN;
        let sends: Vec<_> = ready.iter().map(|r| self.send_sealed(r, credential)).collect();
        let sent: Vec<Result<(String, String, String), Item>> =
            futures::stream::iter(sends).buffer_unordered(SEND_CONCURRENCY).collect().await;
        let mut items = Vec::new();
        let mut by_document: BTreeMap<String, HashMap<String, String>> = BTreeMap::new();
        for result in sent {
            match result {
                Ok((command_id, id, document)) => {
                    by_document.entry(document).or_default().insert(command_id, id);
                }
                Err(item) => items.push(item),
            }
        }
        let tracked = futures::future::join_all(
            by_document.iter().map(|(document, commands)| track_all(self.ssm, document, since, commands, self.until)),
        )
        .await;
        let mut reported = Vec::new();
        for (id, verdict) in tracked.into_iter().flatten() {
            items.push(self.finished(&id, verdict, &mut reported));
        }
        (items, reported)
    }

    /// Seals the credential to one instance's key and sends its connect command: (command id,
    /// instance, document).
    async fn send_sealed(&self, ready: &Ready, credential: &Credential) -> Result<(String, String, String), Item> {
        let id = ready.instance_id.as_str();
        let binding = binding(&self.bound(&ready.batch), id);
        let sealed = ready.key.seal(&credential.value, &binding).map_err(|reason| {
            self.item(id, Status::Failed, Outcome::Failed, format!("cannot seal the credential: {reason}"))
        })?;
        let parameters = self.with_phase(&ready.batch, Phase::Connect, sealed);
        let batch = Batch { instance_ids: vec![id.to_string()], ..ready.batch.clone() };
        match send(self.ssm, &batch, &self.settings(&parameters, self.connect_comment)).await {
            Ok(command_id) => {
                tracing::info!(command_id, instance = id, key = ready.key.id, "sealed credential sent");
                Ok((command_id, id.to_string(), batch.document))
            }
            Err(reason) => Err(self.item(id, Status::Failed, Outcome::Failed, reason.to_string())),
        }
    }

    fn item(&self, id: &str, status: Status, outcome: Outcome, reason: String) -> Item {
        item(self.account_id, self.region, id, status, Some(outcome), reason)
    }

    /// Every one of `ids` failed for `reason`.
    pub(crate) fn failed(&self, ids: &[String], reason: &Failure) -> Vec<Item> {
        let failed = |id: &String| self.item(id, Status::Failed, Outcome::Failed, reason.to_string());
        ids.iter().map(|id| failed(id).with_cause(reason.cause())).collect()
    }
}
