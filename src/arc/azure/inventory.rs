//! The inventory of the Arc machines this connector onboarded (Amazon DynamoDB, `ARC_INVENTORY_TABLE`,
//! in the account and region the functions run in). One item per instance: partition key
//! `machine#<account>`, sort key the instance id, so one `Query` reads an account's machines.
//!
//! Written only from the result lines of commands arc-provisioner itself sent (it knows their
//! ids; a comment in SSM's history proves nothing), once Resource Manager shows a `Connected`
//! machine of that name with that `vmId`. An instance counts as connected only when its entry
//! matches such a machine; the sweep deletes only machines whose resource id, name and `vmId`
//! match an entry.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use super::resource_manager::ArcMachine;
use crate::arc::coverage::CoverageRow;
use crate::error::Failure;

/// One Arc machine the connector onboarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// AWS account of the instance.
    pub account_id: String,
    /// Region of the instance.
    pub region: String,
    /// Instance id (the machine's name).
    pub instance_id: String,
    /// Arc resource id.
    pub resource_id: String,
    /// The machine's `vmId` in Azure.
    pub vm_id: String,
    /// `MDFCSecurityConnector` of the connector that onboarded it.
    pub connector_id: String,
    /// The command whose result reported it.
    pub command_id: String,
    /// When it was recorded (seconds since the Unix epoch).
    pub onboarded_at: u64,
    /// Status Resource Manager showed when it was recorded.
    pub azure_status: String,
    /// Taken over from an earlier version's onboarding (the agent said so in this connector's own
    /// command and Azure showed the machine), not connected by this version.
    pub adopted: bool,
}

impl Entry {
    /// Whether `machine` is the one this entry recorded: same resource id (case-insensitive, as
    /// Azure compares ids), name and `vmId`.
    pub(crate) fn matches(&self, machine: &ArcMachine) -> bool {
        machine.id.eq_ignore_ascii_case(&self.resource_id)
            && machine.name.eq_ignore_ascii_case(&self.instance_id)
            && machine.properties.vm_id.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(&self.vm_id))
    }
}

/// The inventory table.
#[derive(Clone, Debug)]
pub(crate) struct Inventory {
    client: Client,
    table: String,
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn partition(account_id: &str) -> String {
    format!("machine#{account_id}")
}

impl Inventory {
    /// The table `table` through `client` (the function's own account and region).
    pub(crate) fn new(client: Client, table: String) -> Self {
        Inventory { client, table }
    }

    /// Every entry of `account_id`, by instance id.
    pub(crate) async fn account(&self, account_id: &str) -> Result<HashMap<String, Entry>, Failure> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(partition(account_id)))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut out = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Failure::aws(format!("Query {}", self.table), &e))?;
            for item in page.items() {
                if let Some(entry) = from_item(account_id, item) {
                    out.insert(entry.instance_id.clone(), entry);
                }
            }
        }
        Ok(out)
    }

    /// Records (or replaces) one entry.
    pub(crate) async fn record(&self, entry: &Entry) -> Result<(), Failure> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(entry)))
            .send()
            .await
            .map_err(|e| Failure::aws(format!("PutItem {}", self.table), &e))?;
        Ok(())
    }

    /// Forgets one instance's entry (its machine was deleted).
    pub(crate) async fn forget(&self, account_id: &str, instance_id: &str) -> Result<(), Failure> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(partition(account_id)))
            .key("sk", AttributeValue::S(instance_id.to_string()))
            .send()
            .await
            .map_err(|e| Failure::aws(format!("DeleteItem {}", self.table), &e))?;
        Ok(())
    }
}

/// `BatchWriteItem` takes at most 25 requests ("The BatchWriteItem operation puts or deletes
/// multiple items in one or more tables. A single call to BatchWriteItem can transmit up to 16MB of
/// data over the network, consisting of up to 25 item put or delete operations").
const BATCH_WRITE: usize = 25;
/// Rounds of `UnprocessedItems` retried before giving up.
const UNPROCESSED_ROUNDS: usize = 5;

impl Inventory {
    /// Forgets the entries of many (account, instance) pairs, 25 to a `BatchWriteItem`, retrying
    /// what DynamoDB leaves unprocessed; the pairs that could not be forgotten, with why.
    pub(crate) async fn forget_all(&self, keys: &[(String, String)]) -> Vec<((String, String), String)> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let mut failed = Vec::new();
        for chunk in keys.chunks(BATCH_WRITE) {
            let requests: Vec<WriteRequest> = chunk
                .iter()
                .filter_map(|(account, instance)| {
                    let delete = DeleteRequest::builder()
                        .key("pk", AttributeValue::S(partition(account)))
                        .key("sk", AttributeValue::S(instance.clone()))
                        .build()
                        .ok()?;
                    Some(WriteRequest::builder().delete_request(delete).build())
                })
                .collect();
            let mut pending = HashMap::from([(self.table.clone(), requests)]);
            for round in 0..UNPROCESSED_ROUNDS {
                if round > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(100 << round)).await;
                }
                match self.client.batch_write_item().set_request_items(Some(pending.clone())).send().await {
                    Ok(out) => pending = out.unprocessed_items().cloned().unwrap_or_default(),
                    Err(e) => {
                        let reason = Failure::aws(format!("BatchWriteItem {}", self.table), &e).to_string();
                        failed.extend(chunk.iter().map(|k| (k.clone(), reason.clone())));
                        pending.clear();
                        break;
                    }
                }
                if pending.values().all(Vec::is_empty) {
                    break;
                }
            }
            if pending.values().any(|left| !left.is_empty()) {
                let reason = "DynamoDB left the deletion unprocessed".to_string();
                failed.extend(chunk.iter().map(|k| (k.clone(), reason.clone())));
            }
        }
        failed
    }
}

/// The partition of the coverage rows (one item per (account, region)).
const COVERAGE: &str = "coverage";

impl Inventory {
    /// Keeps one unit's coverage row (replacing the previous one).
    pub(crate) async fn record_coverage(&self, row: &CoverageRow) -> Result<(), Failure> {
        let n = |v: u64| AttributeValue::N(v.to_string());
        let counts = |m: &std::collections::BTreeMap<String, u64>| {
            AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), n(*v))).collect())
        };
        let examples = AttributeValue::M(
            row.examples
                .iter()
                .map(|(k, ids)| {
                    (k.clone(), AttributeValue::L(ids.iter().map(|i| AttributeValue::S(i.clone())).collect()))
                })
                .collect(),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(COVERAGE.into()))
            .item("sk", AttributeValue::S(format!("{}#{}", row.account_id, row.region)))
            .item("instances", n(row.instances))
            .item("managed", n(row.managed))
            .item("connected", n(row.connected))
            .item("uncovered", counts(&row.uncovered))
            .item("examples", examples)
            .item("at", n(row.at))
            .send()
            .await
            .map_err(|e| Failure::aws(format!("PutItem {}", self.table), &e))?;
        Ok(())
    }

    /// Every coverage row, paged.
    pub(crate) async fn coverage(&self) -> Result<Vec<CoverageRow>, Failure> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(COVERAGE.into()))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Failure::aws(format!("Query {}", self.table), &e))?;
            out.extend(page.items().iter().filter_map(coverage_row));
        }
        Ok(out)
    }
}

fn coverage_row(item: &HashMap<String, AttributeValue>) -> Option<CoverageRow> {
    let n = |v: &AttributeValue| v.as_n().ok().and_then(|n| n.parse::<u64>().ok());
    let number = |name: &str| item.get(name).and_then(n).unwrap_or(0);
    let (account_id, region) = item.get("sk")?.as_s().ok()?.split_once('#')?;
    let map = |name: &str| item.get(name).and_then(|v| v.as_m().ok());
    Some(CoverageRow {
        account_id: account_id.to_string(),
        region: region.to_string(),
        instances: number("instances"),
        managed: number("managed"),
        connected: number("connected"),
        uncovered: map("uncovered")
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), n(v)?))).collect())
            .unwrap_or_default(),
        examples: map("examples")
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let ids = v
                            .as_l()
                            .map(|l| l.iter().filter_map(|i| i.as_s().ok().cloned()).collect())
                            .unwrap_or_default();
                        (k.clone(), ids)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        at: number("at"),
    })
}

fn to_item(entry: &Entry) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_string());
    HashMap::from([
        ("pk".to_string(), s(&partition(&entry.account_id))),
        ("sk".to_string(), s(&entry.instance_id)),
        ("region".to_string(), s(&entry.region)),
        ("resourceId".to_string(), s(&entry.resource_id)),
        ("vmId".to_string(), s(&entry.vm_id)),
        ("machineName".to_string(), s(&entry.instance_id)),
        ("connectorId".to_string(), s(&entry.connector_id)),
        ("commandId".to_string(), s(&entry.command_id)),
        ("onboardedAt".to_string(), AttributeValue::N(entry.onboarded_at.to_string())),
        ("azureStatus".to_string(), s(&entry.azure_status)),
        ("adopted".to_string(), AttributeValue::Bool(entry.adopted)),
    ])
}

fn from_item(account_id: &str, item: &HashMap<String, AttributeValue>) -> Option<Entry> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some(Entry {
        account_id: account_id.to_string(),
        region: s("region")?,
        instance_id: s("sk")?,
        resource_id: s("resourceId")?,
        vm_id: s("vmId")?,
        connector_id: s("connectorId").unwrap_or_default(),
        command_id: s("commandId").unwrap_or_default(),
        onboarded_at: item.get("onboardedAt").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0),
        azure_status: s("azureStatus").unwrap_or_default(),
        adopted: item.get("adopted").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arc::azure::resource_manager::MachineProperties;

    fn entry() -> Entry {
        Entry {
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            instance_id: "i-0123456789abcdef0".into(),
            resource_id:
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/i-0123456789abcdef0"
                    .into(),
            vm_id: "7b0c7f6e-1111-4222-8333-944444444444".into(),
            connector_id: "c1".into(),
            command_id: "cmd-1".into(),
            onboarded_at: 1_767_225_600,
            azure_status: "Connected".into(),
            adopted: false,
        }
    }

    #[test]
    fn an_entry_survives_its_item_form() {
        let entry = entry();
        assert_eq!(from_item(&entry.account_id, &to_item(&entry)), Some(entry));
    }

    #[test]
    fn a_machine_matches_only_with_the_same_id_name_and_vm_id() {
        let entry = entry();
        let machine = |id: &str, name: &str, vm: Option<&str>| ArcMachine {
            id: id.into(),
            name: name.into(),
            tags: Default::default(),
            properties: MachineProperties { vm_id: vm.map(str::to_string), ..MachineProperties::default() },
        };
        let upper = entry.resource_id.to_uppercase();
        assert!(entry.matches(&machine(&upper, &entry.instance_id, Some(&entry.vm_id.to_uppercase()))));
        assert!(!entry.matches(&machine(&entry.resource_id, &entry.instance_id, Some("another"))), "recreated");
        assert!(!entry.matches(&machine(&entry.resource_id, &entry.instance_id, None)));
        assert!(!entry.matches(&machine(&entry.resource_id, "i-0000000000000000f", Some(&entry.vm_id))));
        let elsewhere = entry.resource_id.replace("/rg/", "/other/");
        assert!(!entry.matches(&machine(&elsewhere, &entry.instance_id, Some(&entry.vm_id))));
    }
}
