//! Who the function is, and an SDK config per account it works in.
//!
//! [`Sessions`] hands out one [`AccountSession`] per account per run: the function's own
//! credentials for its own account, `sts:AssumeRole` into a role of the member template for the
//! others, plus the account's [`IamView`]. Different accounts are entered concurrently (no lock is
//! held across `AssumeRole`); a failed `AssumeRole` is not remembered, so the account's next use
//! in the run tries again.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::OnceCell;

use crate::aws::{chain, ec2_client, home_region, iam_client, ssm_client};
use crate::error::Failure;
use crate::iam::{IamView, InstancePolicies};

/// Who the function runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The function's own account (the management account in an organization).
    pub(crate) account_id: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub(crate) partition: String,
}

impl Identity {
    /// Asks STS who we are.
    pub(crate) async fn discover(base: &SdkConfig) -> Result<Self, Failure> {
        let sts = aws_sdk_sts::Client::new(base);
        let out = sts.get_caller_identity().send().await.map_err(|e| Failure::aws("GetCallerIdentity", &e))?;
        let account_id = out.account().unwrap_or_default().to_string();
        let partition = out.arn().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
        if account_id.is_empty() {
            return Err(Failure::Unexpected("GetCallerIdentity returned no account".into()));
        }
        Ok(Identity { account_id, partition })
    }
}

/// What a run needs to act in one account.
pub(crate) struct AccountSession {
    /// The account.
    pub(crate) account_id: String,
    /// SDK config with the account's credentials (region set per client).
    pub(crate) config: SdkConfig,
    /// The account's IAM reads, cached for the run.
    pub(crate) iam: Arc<IamView>,
    /// The regions enabled in this account, read once per run.
    regions: OnceCell<Result<Vec<String>, Failure>>,
}

impl AccountSession {
    /// EC2 in one region of the account, on the account's own retry budget.
    pub(crate) fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        ec2_client(&self.config, &self.account_id, region)
    }

    /// Systems Manager in one region of the account, on the account's own retry budget.
    pub(crate) fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        ssm_client(&self.config, &self.account_id, region)
    }

    /// Whether `region` is enabled in this account (opt-in regions are per account), read once per
    /// run with the account's own credentials: EC2 DescribeRegions "Describes the Regions that are
    /// enabled for your account". `None` when that cannot be read (the unit's own calls tell).
    pub(crate) async fn region_enabled(&self, region: &str) -> Option<bool> {
        let enabled = self
            .regions
            .get_or_init(|| async {
                // Asked in the function's own region, which is enabled in every account of the
                // organization that can run it (a default, non-opt-in region).
                enabled_regions(&self.ec2(&home_region(&self.config))).await
            })
            .await;
        enabled.as_ref().ok().map(|regions| regions.iter().any(|r| r == region))
    }
}

/// Per-account sessions of one run.
pub(crate) struct Sessions {
    base: SdkConfig,
    organizations: aws_sdk_organizations::Client,
    identity: Identity,
    member_role: String,
    session_name: String,
    cells: std::sync::Mutex<HashMap<String, Arc<OnceCell<Arc<AccountSession>>>>>,
}

impl Sessions {
    /// `member_role` is a role name or `path/name`; `job` names the STS session for CloudTrail.
    pub(crate) fn new(
        base: SdkConfig,
        organizations: aws_sdk_organizations::Client,
        identity: Identity,
        member_role: &str,
        job: &str,
    ) -> Self {
        Sessions {
            base,
            organizations,
            identity,
            member_role: member_role.to_string(),
            session_name: format!("mdc-connector-{job}"),
            cells: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The function's identity.
    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The base config (the function's own credentials).
    pub(crate) fn base(&self) -> &SdkConfig {
        &self.base
    }

    /// Organizations, from the function's own account.
    pub(crate) fn organizations(&self) -> &aws_sdk_organizations::Client {
        &self.organizations
    }

    /// ARN of the member role in `account_id`.
    fn member_role_arn(&self, account_id: &str) -> String {
        format!("arn:{}:iam::{account_id}:role/{}", self.identity.partition, self.member_role)
    }

    /// The account's session, entered on first use. A failure names the role and says what to
    /// check; it is not cached.
    pub(crate) async fn for_account(&self, account_id: &str) -> Result<Arc<AccountSession>, Failure> {
        let cell = {
            let Ok(mut cells) = self.cells.lock() else {
                return Err(Failure::Unexpected("internal: the session table is poisoned".into()));
            };
            cells.entry(account_id.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| self.enter(account_id)).await.cloned()
    }

    async fn enter(&self, account_id: &str) -> Result<Arc<AccountSession>, Failure> {
        let config =
            if account_id == self.identity.account_id { self.base.clone() } else { self.assume(account_id).await? };
        let policies = InstancePolicies::new(&self.identity.partition);
        let iam = Arc::new(IamView::new(iam_client(&config, account_id), policies));
        Ok(Arc::new(AccountSession { account_id: account_id.to_string(), config, iam, regions: OnceCell::new() }))
    }

    async fn assume(&self, account_id: &str) -> Result<SdkConfig, Failure> {
        let role_arn = self.member_role_arn(account_id);
        let provider = AssumeRoleProvider::builder(role_arn.clone())
            .session_name(self.session_name.clone())
            .configure(&self.base)
            .build()
            .await;
        match provider.provide_credentials().await {
            Ok(credentials) => {
                Ok(self.base.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build())
            }
            Err(e) => Err(Failure::AssumeRole { role_arn, detail: chain(&e) }),
        }
    }
}

/// Regions enabled in the account (`DescribeRegions`), sorted.
pub(crate) async fn enabled_regions(ec2: &aws_sdk_ec2::Client) -> Result<Vec<String>, Failure> {
    let out = ec2.describe_regions().send().await.map_err(|e| Failure::aws("DescribeRegions", &e))?;
    let mut regions: Vec<String> = out.regions().iter().filter_map(|r| r.region_name()).map(String::from).collect();
    regions.sort();
    Ok(regions)
}
