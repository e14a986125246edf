//! The deploy's custom resource `Custom::MemberStackSetInstances` (cfn/template.yaml), which
//! makes `sam delete` complete: the member StackSet's instances are account-discovery's, and
//! CloudFormation's StackSet handler deletes only those its template lists before `DeleteStackSet`,
//! which AWS refuses "Before you can delete a stack set, all of its member stack instances must be
//! deleted". The resource depends on the nested onboarding stack, so CloudFormation deletes it
//! first: on `Delete`, every instance is deleted (stacks too; the member template retains the
//! instance role and profile), then the StackSet itself, at once: a reconcile starting in between
//! (the daily schedule, an Organizations event, a re-check) could otherwise deploy to it again
//! before CloudFormation reaches it, and CloudFormation's own deletion, finding it gone, is done.
//! `Create` and `Update` change nothing.
//!
//! A request whose `ResponseURL` is not CloudFormation's response bucket is neither acted on nor
//! answered (`super::origin`). A `Delete` acts only when it cannot be forged: its `ServiceToken`
//! is this function, it names this deployment's own stack (`CONNECTOR_STACK_ID`, the template's
//! `AWS::StackId`) and the resource's logical id, and that stack is `DELETE_IN_PROGRESS` (read back
//! from CloudFormation). Anything else (a request sent by whoever may invoke the function, another
//! stack's resource, a rollback or an update replacing the resource) is answered `SUCCESS` and
//! changes nothing.
//!
//! The answer is `PUT` to the request's pre-signed `ResponseURL` ("Custom resource response
//! objects": Status, Reason, PhysicalResourceId, StackId, RequestId, LogicalResourceId). An
//! organization too large to empty within one invocation is answered `FAILED`, saying so: the
//! stack's deletion stops, and `sam delete` again continues where this one left off.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudformation::types::CallAs;
use serde_json::json;

use super::apply::{Executor, Kind};
use super::job::AccountDiscovery;
use super::origin::{is_cloudformation_response_url, names_this_function};
use super::plan::{STACK_INSTANCE, action, batches};
use super::state::{Account, PermissionModel, StackInstance};
use super::trigger::JOB;
use crate::budget::Budget;
use crate::error::{Failure, InvocationError, quote};
use crate::event::{CustomResourceRequest, RequestKind};
use crate::report::{Action, Item, Report, Status};

/// The template's logical id of the teardown resource (cfn/template.yaml).
const TEARDOWN_RESOURCE: &str = "MemberStackSetInstances";

/// CloudFormation keeps at most 4,096 bytes of a response's reason.
const REASON_LIMIT: usize = 4000;

impl AccountDiscovery {
    /// Answers a custom resource request; the report has one item per instance deleted and one
    /// for the answer.
    pub(crate) async fn custom_resource(
        &self,
        request: &CustomResourceRequest,
        budget: &Budget,
    ) -> Result<Report, InvocationError> {
        let emulator = self.context.base().endpoint_url().and_then(|u| reqwest::Url::parse(u).ok());
        if !is_cloudformation_response_url(&request.response_url, emulator.as_ref().and_then(|u| u.host_str())) {
            tracing::warn!(stack_id = %request.stack_id, "custom resource request with a foreign ResponseURL ignored");
            let reason = format!(
                "{} neither acted on nor answered: its ResponseURL is not a pre-signed URL of CloudFormation's response bucket (a forged request)",
                request.kind.as_str()
            );
            let item =
                Item::new("*", "*", &request.logical_resource_id, Action::CustomResource, Status::Failed, reason);
            return Ok(Report::new(JOB, self.settings.common.dry_run, vec![item], 1, 1));
        }
        let name = self.settings.stackset_name.clone();
        let physical = request.physical_resource_id.clone().unwrap_or_else(|| format!("{name}-instances"));
        let kind = request.kind.as_str();
        let (mut items, outcome) = match request.kind {
            RequestKind::Delete => match self.delete_refusal(request).await {
                Some(why) => {
                    tracing::warn!(stack_id = %request.stack_id, %why, "custom resource Delete not acted on");
                    (Vec::new(), Ok(format!("Delete changes nothing: {why}")))
                }
                None => self.empty_the_stack_set(&name, budget).await,
            },
            RequestKind::Create | RequestKind::Update => (Vec::new(), Ok(format!("{kind} needs no change"))),
        };
        let (status, reason) = match &outcome {
            Ok(reason) => ("SUCCESS", reason.clone()),
            Err(failure) => ("FAILED", failure.to_string()),
        };
        let body = json!({
            "Status": status,
            "Reason": reason.chars().take(REASON_LIMIT).collect::<String>(),
            "PhysicalResourceId": physical,
            "StackId": request.stack_id,
            "RequestId": request.request_id,
            "LogicalResourceId": request.logical_resource_id,
            "NoEcho": false,
            "Data": {},
        });
        let answered = respond(&request.response_url, &body.to_string()).await;
        let (item_status, item_reason) = match (&answered, status) {
            (Ok(()), "SUCCESS") => (Status::Done, format!("{} answered SUCCESS: {reason}", kind)),
            (Ok(()), _) => (Status::Failed, format!("{} answered FAILED: {reason}", kind)),
            (Err(e), _) => {
                (Status::Failed, format!("{} could not be answered ({e}); CloudFormation waits for it", kind))
            }
        };
        let answer =
            Item::new("*", "*", &request.logical_resource_id, Action::CustomResource, item_status, item_reason);
        items.push(answer);
        let failed = usize::from(item_status == Status::Failed);
        Ok(Report::new(JOB, self.settings.common.dry_run, items, 1, failed))
    }

    /// Why a `Delete` must not empty the member StackSet, or `None` when it comes from this
    /// deployment's own stack while CloudFormation deletes it. Whoever may invoke the function can
    /// send a request naming anything; only CloudFormation deleting the stack that made this
    /// function puts that stack in `DELETE_IN_PROGRESS`. A rollback (`ROLLBACK_IN_PROGRESS`,
    /// `UPDATE_ROLLBACK_*`) or an update replacing the resource (`UPDATE_COMPLETE_CLEANUP_IN_PROGRESS`)
    /// also sends `Delete`: neither tears down.
    async fn delete_refusal(&self, request: &CustomResourceRequest) -> Option<String> {
        let Some(own) = self.settings.stack_id.as_deref() else {
            return Some(
                "CONNECTOR_STACK_ID is not set, so no request can be told to come from this deployment".into(),
            );
        };
        let Some(function) = self.own_arn() else {
            return Some("the function's own ARN is unknown, so the request's ServiceToken cannot be checked".into());
        };
        if !names_this_function(request.service_token.as_deref(), function) {
            let token = quote(request.service_token.as_deref().unwrap_or_default());
            return Some(format!("the request's ServiceToken {token} is not this function ({function})"));
        }
        if request.stack_id != own {
            return Some(format!("the request names stack {}, not this deployment's {own}", quote(&request.stack_id)));
        }
        if request.logical_resource_id != TEARDOWN_RESOURCE {
            let named = quote(&request.logical_resource_id);
            return Some(format!("the request is for resource {named}, not {TEARDOWN_RESOURCE}"));
        }
        match self.readers().stack_status(own).await {
            Ok(Some(status)) if status == "DELETE_IN_PROGRESS" => None,
            Ok(Some(status)) => {
                Some(format!("stack {own} is {status}, not being deleted (a rollback or an update never tears down)"))
            }
            Ok(None) => Some(format!("stack {own} does not exist")),
            Err(failure) => Some(format!("the stack's status cannot be read: {failure}")),
        }
    }

    /// Deletes every instance of the StackSet; `Ok` when none is left (or the StackSet is gone).
    async fn empty_the_stack_set(&self, name: &str, budget: &Budget) -> (Vec<Item>, Result<String, Failure>) {
        let (cfn, call_as) = (&self.cfn, self.call_as());
        let readers = self.readers();
        let stack_set = match readers.stack_set(name).await {
            Ok(s) => s,
            Err(Failure::Aws { code: Some(code), .. }) if code == "StackSetNotFoundException" => {
                return (Vec::new(), Ok(format!("{name} is gone")));
            }
            Err(e) => return (Vec::new(), Err(e)),
        };
        let instances = match readers.instances(name).await {
            Ok(i) => i,
            Err(e) => return (Vec::new(), Err(e)),
        };
        if instances.is_empty() {
            return (
                Vec::new(),
                delete_stack_set(cfn, name, call_as)
                    .await
                    .map(|()| format!("{name} deleted (it had no stack instance)")),
            );
        }
        let accounts = match readers.accounts(stack_set.model == PermissionModel::ServiceManaged).await {
            Ok(a) => a,
            Err(e) => return (Vec::new(), Err(e)),
        };
        let parent: BTreeMap<&str, Option<&str>> =
            accounts.iter().map(|a| (a.id.as_str(), a.parent.as_deref())).collect();
        let (active, mut inactive) = split_by_state(&instances, &accounts);
        let unreachable = match stack_set.model {
            PermissionModel::ServiceManaged => outside_the_organization(&mut inactive, &accounts),
            PermissionModel::SelfManaged => Targets::new(),
        };
        if self.settings.common.dry_run {
            let reason = "dry run: the stack instances are left".to_string();
            let items = instances
                .iter()
                .map(|i| Item::new(&i.account, &i.region, STACK_INSTANCE, action::REMOVE, Status::Planned, &reason))
                .collect();
            return (
                items,
                Err(Failure::Precondition(format!("{reason}; {name} cannot be deleted while it has instances"))),
            );
        }
        let executor = Executor {
            cfn,
            stack_set: &stack_set,
            call_as: call_as.clone(),
            dry_run: false,
            budget,
            backoff: self.backoff,
        };
        // Suspended, closed and departed accounts: StackSets cannot enter them to delete a stack,
        // so a delete with their stacks fails there and the StackSet never empties; only their
        // instances are removed (RetainStacks=true).
        let mut items = executor.run(Kind::Teardown, &batches(active, &parent)).await.items;
        items.extend(executor.run(Kind::Remove, &batches(inactive, &parent)).await.items);
        items.extend(left_for_a_person(&unreachable));
        let left: Vec<StackInstance> = match readers.instances(name).await {
            Ok(i) => i,
            Err(e) => return (items, Err(e)),
        };
        let stuck = left.iter().filter(|i| !unreachable.get(&i.account).is_some_and(|r| r.contains(&i.region)));
        let outcome = match (left.len(), stuck.count()) {
            (0, _) => delete_stack_set(cfn, name, readers.call_as.clone())
                .await
                .map(|()| format!("{} stack instances of {name} deleted, then {name}", instances.len())),
            (n, 0) => Ok(manual_step(name, n, &unreachable)),
            (_, still) => Err(Failure::Precondition(format!(
                "{still} stack instances of {name} are still being deleted; run sam delete again once they are gone"
            ))),
        };
        (items, outcome)
    }
}

/// Moves out of `inactive` the instances of accounts no longer in the organization: a
/// service-managed StackSet cannot reach them ("You can't target accounts outside your
/// organization", StackSets user guide, service-managed permissions).
fn outside_the_organization(inactive: &mut Targets, accounts: &[Account]) -> Targets {
    let departed: Vec<String> = inactive.keys().filter(|a| !accounts.iter().any(|m| &m.id == *a)).cloned().collect();
    departed.into_iter().filter_map(|a| inactive.remove_entry(&a)).collect()
}

/// One skipped item per instance a person has to deal with.
fn left_for_a_person(unreachable: &Targets) -> Vec<Item> {
    let reason = "the account is no longer in the organization: a service-managed StackSet cannot target it, so its instance is left (see the custom resource's answer)";
    unreachable
        .iter()
        .flat_map(|(account, regions)| regions.iter().map(move |r| (account, r)))
        .map(|(account, region)| Item::new(account, region, STACK_INSTANCE, action::REMOVE, Status::Skipped, reason))
        .collect()
}

/// The answer when only instances of departed accounts are left: the teardown is done as far as
/// anything can do it, and what a person does next.
fn manual_step(name: &str, left: usize, unreachable: &Targets) -> String {
    let listed: Vec<String> = unreachable
        .iter()
        .map(|(a, r)| format!("{a} ({})", r.iter().cloned().collect::<Vec<_>>().join(", ")))
        .collect();
    format!(
        "every stack instance this function can reach is deleted; {left} of {name} are left in accounts no longer in the organization, which a service-managed StackSet \"can't target\": {}. {name} cannot be deleted while they exist, so CloudFormation's deletion of it will fail: then run `aws cloudformation delete-stack --stack-name <the nested onboarding stack> --retain-resources MemberStackSet` and `sam delete` again; {name} stays for AWS Support to empty, and the stacks in those accounts are their owners' to delete",
        listed.join("; ")
    )
}

/// (account -> regions) of the StackSet's instances: those of ACTIVE accounts, and those whose
/// stacks StackSets cannot delete: every other account's (suspended, closed, or no longer in the
/// organization) and `INOPERABLE` ones ("perform a DeleteStackInstances operation, with
/// RetainStacks set to true", StackInstance reference).
pub(super) fn split_by_state(instances: &[StackInstance], accounts: &[Account]) -> (Targets, Targets) {
    let (mut active, mut inactive) = (Targets::new(), Targets::new());
    for instance in instances {
        let is_active = accounts.iter().any(|a| a.id == instance.account && a.state == "ACTIVE")
            && !super::plan::inoperable(instance);
        let side = if is_active { &mut active } else { &mut inactive };
        side.entry(instance.account.clone()).or_default().insert(instance.region.clone());
    }
    (active, inactive)
}

/// (account -> regions) to delete.
pub(super) type Targets = BTreeMap<String, BTreeSet<String>>;

/// Deletes the emptied StackSet (refused, and said so, if a stack instance came back meanwhile).
async fn delete_stack_set(cfn: &aws_sdk_cloudformation::Client, name: &str, call_as: CallAs) -> Result<(), Failure> {
    match cfn.delete_stack_set().stack_set_name(name).call_as(call_as).send().await {
        Ok(_) => Ok(()),
        Err(e) if crate::aws::error_code(&e) == Some("StackSetNotFoundException") => Ok(()),
        Err(e) => Err(Failure::aws_with(format!("cannot delete StackSet {name}"), &e, "run sam delete again")),
    }
}

/// `PUT`s the response to the pre-signed URL (no content type: the URL is signed without one).
async fn respond(url: &str, body: &str) -> Result<(), Failure> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|e| Failure::Unexpected(format!("no HTTP client: {e}")))?;
    let answer = client
        .put(url)
        .header("content-type", "")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| Failure::Unexpected(format!("PUT failed: {e}")))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(Failure::Unexpected(format!("PUT answered {}", answer.status())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_accounts_lose_their_stacks_on_teardown() {
        let instance = |account: &str| StackInstance {
            account: account.into(),
            region: "eu-west-1".into(),
            status: "CURRENT".into(),
            detailed_status: None,
            reason: None,
        };
        let account = |id: &str, state: &str| Account { id: id.into(), state: state.into(), parent: None };
        let mut broken = instance("200000000004");
        broken.status = "INOPERABLE".into();
        let instances = [instance("200000000001"), instance("200000000002"), instance("200000000003"), broken.clone()];
        let accounts = [
            account("200000000001", "ACTIVE"),
            account("200000000002", "SUSPENDED"),
            account("200000000004", "ACTIVE"),
        ];
        let (active, mut inactive) = split_by_state(&instances, &accounts);
        assert_eq!(active.keys().collect::<Vec<_>>(), ["200000000001"]);
        let kept = ["200000000002", "200000000003", "200000000004"];
        assert_eq!(inactive.keys().collect::<Vec<_>>(), kept, "suspended, departed and INOPERABLE");
        // Service-managed: the departed one cannot be targeted; it is left for a person.
        let unreachable = outside_the_organization(&mut inactive, &accounts);
        assert_eq!(unreachable.keys().collect::<Vec<_>>(), ["200000000003"]);
        assert_eq!(inactive.keys().collect::<Vec<_>>(), ["200000000002", "200000000004"]);
        let answer = manual_step("mdc-connector-members", 1, &unreachable);
        assert!(answer.contains("200000000003 (eu-west-1)") && answer.contains("--retain-resources MemberStackSet"));
    }
}
