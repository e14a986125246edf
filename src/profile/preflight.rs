//! profile-scan's prerequisites (`{"action":"preflight"}`, docs/deploy.md "Verify"): the account's
//! Lambda concurrency. Its other prerequisite, the member role in each account, is what
//! account-discovery's preflight reads in the member StackSet's stack instances.

use super::scan::{JOB, ProfileScan};
use crate::error::InvocationError;
use crate::lambda_concurrency as concurrency;
use crate::org_scope;
use crate::preflight::report;
use crate::report::Report;

impl ProfileScan {
    /// Checks every prerequisite; writes nothing.
    pub(super) async fn preflight(&self) -> Result<Report, InvocationError> {
        let own = self.context.identity().await?.account_id.clone();
        let region = self.context.home_region().to_string();
        let mut checks = vec![concurrency::check(&aws_sdk_lambda::Client::new(self.context.base()), &region).await];
        checks.extend(org_scope::check(&self.context, &own, &self.settings().common).await);
        Ok(report(JOB, &own, &region, &checks))
    }
}
