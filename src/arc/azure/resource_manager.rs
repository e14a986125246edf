//! Azure Resource Manager for the sweep: the Arc machines (`Microsoft.HybridCompute/machines`) of
//! the configured resource group, and their deletion, through the Azure SDK for Rust's pipeline
//! (`azure_core`): the onboarding application's credential as bearer token for Resource Manager
//! only, and its retry policy, which waits out `Retry-After` on 429 and 503 ("use any retry-after
//! headers returned by the server to determine how long to wait") and retries other 5xx answers,
//! bounded by the time the invocation has left.
//!
//! `Machines_ListByResourceGroup`: "Lists all the hybrid machines in the specified resource group.
//! Use the nextLink property in the response to get the next page of hybrid machines." A
//! `nextLink` on another host is refused: the bearer token never leaves Resource Manager.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{
    ClientOptions, Context, ExponentialRetryOptions, Method, Pipeline, Request, RetryOptions, StatusCode, Url,
};
use serde::Deserialize;

use crate::arc::credential::resource_manager_scope;
use crate::arc::target::ArcTarget;
use crate::error::Failure;

/// The stable `Microsoft.HybridCompute` api-version (the one the onboarding scripts read with).
pub(crate) const API_VERSION: &str = "2024-07-10";

/// What a 403 needs (docs/deploy.md, "Azure permissions").
const FORBIDDEN_REMEDY: &str = "give the sweep's application (ARC_SWEEP_SERVICE_PRINCIPAL_ID) read and delete of Microsoft.HybridCompute/machines in the resource group, and the onboarding application only Azure Connected Machine Onboarding (docs/deploy.md)";

/// A page has at most this many follow-ups: a `nextLink` loop never runs the invocation out.
const MAX_PAGES: usize = 10_000;

/// One Arc machine as the sweep needs it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct ArcMachine {
    /// Resource id (`/subscriptions/.../machines/<name>`).
    pub id: String,
    /// Machine name.
    pub name: String,
    /// Tags (`MDFCSecurityConnector`, `AccountId`, `InstanceId`, ...).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `status`, `lastStatusChange`.
    #[serde(default)]
    pub properties: MachineProperties,
}

/// What the agent last reported.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MachineProperties {
    /// `Connected`, `Disconnected` or `Error` (and `Expired` for agents offline too long).
    #[serde(default)]
    pub status: Option<String>,
    /// When the status last changed (RFC 3339).
    #[serde(default)]
    pub last_status_change: Option<String>,
    /// "Specifies the hybrid machine unique ID." (Machines REST API): a new one at every connect,
    /// so a machine deleted and made again under the same name is told apart.
    #[serde(default)]
    pub vm_id: Option<String>,
}

/// One entry of the permissions list (a role assignment's role, as it applies at the scope).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Permission {
    /// Allowed control-plane actions (wildcards allowed).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Control-plane actions excluded from `actions`.
    #[serde(default)]
    pub not_actions: Vec<String>,
    /// Allowed data-plane actions.
    #[serde(default)]
    pub data_actions: Vec<String>,
}

/// One page of a Resource Manager list.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(default)]
    next_link: Option<String>,
}

/// Resource Manager for one resource group.
pub(crate) struct ResourceManager {
    pipeline: Pipeline,
    endpoint: Url,
    /// The target: its subscription and its group, or groups (one per account).
    target: ArcTarget,
}

impl ResourceManager {
    /// A client for the target's resource group; retries end within `budget`.
    pub(crate) fn new(
        target: &ArcTarget,
        credential: Arc<dyn TokenCredential>,
        budget: Duration,
    ) -> Result<Self, Failure> {
        let endpoint = Url::parse(&endpoint(target))
            .map_err(|e| Failure::Precondition(format!("Resource Manager endpoint: {e}")))?;
        let seconds = |d: Duration| azure_core::time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let retry = ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(500),
            max_retries: 6,
            max_total_elapsed: seconds(budget.max(Duration::from_secs(1))),
            max_delay: seconds(Duration::from_secs(30)),
        };
        let options = ClientOptions { retry: RetryOptions::exponential(retry), ..Default::default() };
        let bearer: Arc<dyn Policy> =
            Arc::new(BearerTokenAuthorizationPolicy::new(credential, [resource_manager_scope(&target.cloud)]));
        let pipeline = Pipeline::new(
            Some("mdc-connector"),
            Some(env!("CARGO_PKG_VERSION")),
            options,
            Vec::new(),
            vec![bearer],
            None,
        );
        Ok(ResourceManager { pipeline, endpoint, target: target.clone() })
    }

    /// `/subscriptions/{s}/resourceGroups/{group}`.
    fn group_path(&self, group: &str) -> String {
        format!("/subscriptions/{}/resourceGroups/{group}", self.target.subscription_id)
    }

    /// Whether `machine_id` lies in one of the target's groups of its subscription.
    fn holds(&self, machine_id: &str) -> bool {
        let lowered = machine_id.to_ascii_lowercase();
        let prefix = format!("/subscriptions/{}/resourcegroups/", self.target.subscription_id.to_ascii_lowercase());
        let group = lowered.strip_prefix(&prefix).and_then(|rest| rest.split('/').next());
        group.is_some_and(|g| self.target.holds_group(g))
    }

    /// Every Arc machine of the target's group, following `nextLink`; how many pages it took. With
    /// a group per account, the subscription's machines (Resource Manager lists only what the
    /// caller may read) in groups of the target's form.
    pub(crate) async fn machines(&self) -> Result<(Vec<ArcMachine>, usize), Failure> {
        let scope = if self.target.group_per_account() {
            format!("/subscriptions/{}", self.target.subscription_id)
        } else {
            self.group_path(&self.target.resource_group)
        };
        let first = format!("{scope}/providers/Microsoft.HybridCompute/machines?api-version={API_VERSION}");
        let (machines, pages) = self.list::<ArcMachine>(&first, "Arc machines").await?;
        Ok((machines.into_iter().filter(|m| self.holds(&m.id)).collect(), pages))
    }

    /// Every Arc machine of resource group `group` ("Machines - List By Resource Group", paged by
    /// Resource Manager: it has no page-size parameter).
    pub(crate) async fn group_machines(&self, group: &str) -> Result<Vec<ArcMachine>, Failure> {
        let first =
            format!("{}/providers/Microsoft.HybridCompute/machines?api-version={API_VERSION}", self.group_path(group));
        match self.list::<ArcMachine>(&first, "Arc machines").await {
            Ok((machines, _)) => Ok(machines),
            // A group not made yet holds no machine.
            Err(Failure::Aws { code: Some(code), .. }) if code == "404" => Ok(Vec::new()),
            Err(other) => Err(other),
        }
    }

    /// What the caller may do in resource group `group` ("Permissions - List For Resource Group").
    pub(crate) async fn permissions(&self, group: &str) -> Result<Vec<Permission>, Failure> {
        let first =
            format!("{}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01", self.group_path(group));
        Ok(self.list::<Permission>(&first, "permissions").await?.0)
    }

    /// Every entry of a list, following `nextLink` (same host only); how many pages it took.
    async fn list<T: serde::de::DeserializeOwned>(&self, first: &str, what: &str) -> Result<(Vec<T>, usize), Failure> {
        let mut next = Some(self.url(first)?);
        let (mut entries, mut pages) = (Vec::new(), 0);
        while let Some(url) = next.take() {
            if pages == MAX_PAGES {
                return Err(Failure::Unexpected(format!("more than {MAX_PAGES} pages of {what}")));
            }
            let page: Page<T> = self.send(Method::Get, url).await?.json().map_err(|e| {
                Failure::Unexpected(format!("Resource Manager answered a page that is not a list of {what}: {e}"))
            })?;
            pages += 1;
            entries.extend(page.value);
            next = page.next_link.map(|link| self.follow(&link)).transpose()?;
        }
        Ok((entries, pages))
    }

    /// The Arc machine `name` of `account_id`'s resource group, if there is one.
    pub(crate) async fn machine(&self, account_id: &str, name: &str) -> Result<Option<ArcMachine>, Failure> {
        let group = self.group_path(&self.target.group(account_id));
        let path = format!("{group}/providers/Microsoft.HybridCompute/machines/{name}?api-version={API_VERSION}");
        match self.send(Method::Get, self.url(&path)?).await {
            Ok(body) => body.json().map(Some).map_err(|e| Failure::Unexpected(format!("not an Arc machine: {e}"))),
            Err(Failure::Aws { code: Some(code), .. }) if code == "404" => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Deletes one Arc machine; one already gone (404) counts as deleted.
    pub(crate) async fn delete(&self, machine_id: &str) -> Result<(), Failure> {
        if !self.holds(machine_id) {
            return Err(Failure::Precondition(format!("{machine_id} is not in the configured resource group")));
        }
        let url = self.url(&format!("{machine_id}?api-version={API_VERSION}"))?;
        match self.send(Method::Delete, url).await {
            Ok(_) => Ok(()),
            Err(Failure::Aws { code: Some(code), .. }) if code == "404" => Ok(()),
            Err(other) => Err(other),
        }
    }

    async fn send(&self, method: Method, url: Url) -> Result<azure_core::http::response::ResponseBody, Failure> {
        let mut request = Request::new(url.clone(), method);
        match self.pipeline.send(&Context::new(), &mut request, None).await {
            Ok(response) => Ok(response.into_body()),
            Err(e) => {
                let status = e.http_status();
                let first = e.to_string().lines().next().unwrap_or_default().to_string();
                Err(match status {
                    Some(status) => Failure::Aws {
                        context: format!("Resource Manager {} {}", method_name(&method), url.path()),
                        code: Some(u16::from(status).to_string()),
                        detail: first,
                        remedy: if status == StatusCode::Forbidden { FORBIDDEN_REMEDY } else { "" },
                    },
                    None => Failure::Unexpected(format!("Resource Manager {}: {first}", url.path())),
                })
            }
        }
    }

    fn url(&self, path_and_query: &str) -> Result<Url, Failure> {
        self.endpoint.join(path_and_query).map_err(|e| Failure::Unexpected(format!("Resource Manager URL: {e}")))
    }

    /// A `nextLink`, only on the same scheme, host and port as the endpoint.
    fn follow(&self, link: &str) -> Result<Url, Failure> {
        let url = Url::parse(link).map_err(|e| Failure::Unexpected(format!("nextLink {link}: {e}")))?;
        let same = url.scheme() == self.endpoint.scheme()
            && url.host_str() == self.endpoint.host_str()
            && url.port_or_known_default() == self.endpoint.port_or_known_default();
        if !same {
            return Err(Failure::Precondition(format!(
                "nextLink {link} leaves Resource Manager ({}): not followed",
                self.endpoint
            )));
        }
        Ok(url)
    }
}

fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Delete => "DELETE",
        _ => "GET",
    }
}

/// Resource Manager of `ARC_CLOUD`, or `ARC_RESOURCE_MANAGER_HOST`.
fn endpoint(target: &ArcTarget) -> String {
    if let Some(host) = &target.resource_manager_host {
        return format!("{}/", host.trim_end_matches('/'));
    }
    match target.cloud.as_str() {
        "AzureUSGovernment" => "https://management.usgovcloudapi.net/".into(),
        "AzureChinaCloud" => "https://management.chinacloudapi.cn/".into(),
        _ => "https://management.azure.com/".into(),
    }
}
