//! What every job builds once at cold start and reuses in warm invocations: its SDK config, the
//! management account's clients, its work queues, and who it is (asked of STS once).

use aws_config::SdkConfig;
use tokio::sync::OnceCell;

use crate::aws::{home_region, organizations_client};
use crate::error::InvocationError;
use crate::queue::WorkQueue;
use crate::sessions::{Identity, Sessions};

/// A job's cold-start state.
pub(crate) struct JobContext {
    base: SdkConfig,
    home_region: String,
    organizations: aws_sdk_organizations::Client,
    own_queue: Option<WorkQueue>,
    identity: OnceCell<Identity>,
}

impl JobContext {
    /// Builds the clients of the function's own account; `own_queue_url` is its work queue.
    pub(crate) fn new(base: SdkConfig, own_queue_url: Option<&str>) -> Self {
        JobContext {
            home_region: home_region(&base),
            organizations: organizations_client(&base),
            own_queue: own_queue_url.map(|url| WorkQueue::new(&base, url)),
            identity: OnceCell::new(),
            base,
        }
    }

    /// The function's own SDK config.
    pub(crate) fn base(&self) -> &SdkConfig {
        &self.base
    }

    /// The region the function runs in.
    pub(crate) fn home_region(&self) -> &str {
        &self.home_region
    }

    /// Organizations, from the function's own account.
    pub(crate) fn organizations(&self) -> &aws_sdk_organizations::Client {
        &self.organizations
    }

    /// The function's own work queue (`WORK_QUEUE_URL`), when it has one.
    pub(crate) fn own_queue(&self) -> Option<&WorkQueue> {
        self.own_queue.as_ref()
    }

    /// Who the function runs as: asked of STS on first use, then kept for the container's life.
    pub(crate) async fn identity(&self) -> Result<&Identity, InvocationError> {
        self.identity.get_or_try_init(|| Identity::discover(&self.base)).await.map_err(InvocationError::Identity)
    }

    /// Per-account sessions for one run of `job`, entering members through `member_role`.
    pub(crate) async fn sessions(&self, member_role: &str, job: &str) -> Result<Sessions, InvocationError> {
        let identity = self.identity().await?.clone();
        Ok(Sessions::new(self.base.clone(), self.organizations.clone(), identity, member_role, job))
    }
}
