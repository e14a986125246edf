//! AWS SDK configuration and per-account credentials.
//!
//! One function builds the base [`SdkConfig`] (adaptive retry, honouring `AWS_MAX_ATTEMPTS`,
//! `AWS_RETRY_MODE` and `AWS_ENDPOINT_URL`). [`Sessions`] hands out a config per account: the
//! function's own credentials for its own account, `sts:AssumeRole` into the member role for the
//! others, each assumed once per run and cached.

use std::collections::HashMap;
use std::error::Error as StdError;

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::{RetryConfig, RetryMode};
use tokio::sync::Mutex;

/// Attempts per call (first try included) when `AWS_MAX_ATTEMPTS` is not set.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

/// Loads the base SDK configuration from the environment, with adaptive retry by default.
pub async fn load_base_config() -> SdkConfig {
    let loaded = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let env_set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let current = loaded.retry_config().cloned().unwrap_or_else(RetryConfig::standard);
    let max_attempts = if env_set("AWS_MAX_ATTEMPTS") { current.max_attempts() } else { DEFAULT_MAX_ATTEMPTS };
    let retry = match (env_set("AWS_RETRY_MODE"), current.mode()) {
        (true, RetryMode::Standard) => RetryConfig::standard(),
        _ => RetryConfig::adaptive(),
    }
    .with_max_attempts(max_attempts)
    .with_initial_backoff(current.initial_backoff());
    loaded.into_builder().retry_config(retry).build()
}

/// Who the function runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The function's own account (the management account in an organization).
    pub account_id: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
}

impl Identity {
    /// Asks STS who we are.
    pub async fn discover(base: &SdkConfig) -> Result<Self, String> {
        let out = aws_sdk_sts::Client::new(base).get_caller_identity().send().await.map_err(|e| describe(&e))?;
        let account_id = out.account().unwrap_or_default().to_string();
        let partition = out.arn().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
        if account_id.is_empty() {
            return Err("GetCallerIdentity returned no account".into());
        }
        Ok(Identity { account_id, partition })
    }

    /// ARN of `AmazonSSMManagedInstanceCore` in this partition.
    pub fn ssm_core_policy_arn(&self) -> String {
        format!("arn:{}:iam::aws:policy/AmazonSSMManagedInstanceCore", self.partition)
    }
}

/// Per-account SDK configs for one run.
pub struct Sessions {
    base: SdkConfig,
    identity: Identity,
    member_role: String,
    session_name: String,
    cache: Mutex<HashMap<String, Result<SdkConfig, String>>>,
}

impl Sessions {
    /// `member_role` is a role name or `path/name`; `job` names the STS session for CloudTrail.
    pub fn new(base: SdkConfig, identity: Identity, member_role: &str, job: &str) -> Self {
        Sessions {
            base,
            identity,
            member_role: member_role.to_string(),
            session_name: format!("mdc-connector-{job}"),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The function's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The base config (the function's own credentials).
    pub fn base(&self) -> &SdkConfig {
        &self.base
    }

    /// ARN of the member role in `account_id`.
    pub fn member_role_arn(&self, account_id: &str) -> String {
        format!("arn:{}:iam::{account_id}:role/{}", self.identity.partition, self.member_role)
    }

    /// SDK config acting in `account_id`: own credentials for the own account, else the assumed
    /// member role. A failure names the role and says what to check.
    pub async fn for_account(&self, account_id: &str) -> Result<SdkConfig, String> {
        if account_id == self.identity.account_id {
            return Ok(self.base.clone());
        }
        let mut cache = self.cache.lock().await;
        if let Some(found) = cache.get(account_id) {
            return found.clone();
        }
        let role_arn = self.member_role_arn(account_id);
        let provider = AssumeRoleProvider::builder(role_arn.clone())
            .session_name(self.session_name.clone())
            .configure(&self.base)
            .build()
            .await;
        let assumed = match provider.provide_credentials().await {
            Ok(credentials) => {
                Ok(self.base.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build())
            }
            Err(e) => Err(format!(
                "cannot assume {role_arn}: {}; check that the member template is deployed in the account and trusts this function",
                chain(&e)
            )),
        };
        cache.insert(account_id.to_string(), assumed.clone());
        assumed
    }
}

/// EC2 client for one region of an account config.
pub fn ec2_client(config: &SdkConfig, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(config).region(Region::new(region.to_string())).build(),
    )
}

/// Systems Manager client for one region of an account config.
pub fn ssm_client(config: &SdkConfig, region: &str) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(config).region(Region::new(region.to_string())).build(),
    )
}

/// IAM client (global) for an account config.
pub fn iam_client(config: &SdkConfig) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(config)
}

/// Organizations client; the service lives in us-east-1 for the commercial partition.
pub fn organizations_client(config: &SdkConfig) -> aws_sdk_organizations::Client {
    let region = config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    aws_sdk_organizations::Client::from_conf(
        aws_sdk_organizations::config::Builder::from(config).region(Region::new(region)).build(),
    )
}

/// The error code of an SDK error, when the service sent one.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.code()
}

/// One line describing an SDK error: `Code: message` for service errors, the cause chain otherwise.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug + 'static,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => chain(err),
    }
}

fn chain(err: &(dyn StdError + 'static)) -> String {
    format!("{}", DisplayErrorContext(err))
}
