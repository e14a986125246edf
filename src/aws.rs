//! AWS SDK configuration, clients per region, and SDK errors in one line.
//!
//! One function builds the base [`SdkConfig`] (adaptive retry, honouring `AWS_MAX_ATTEMPTS`,
//! `AWS_RETRY_MODE` and `AWS_ENDPOINT_URL`); per-account configs come from
//! `crate::sessions`.

use std::error::Error as StdError;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::{RetryConfig, RetryMode};

/// Attempts per call (first try included) when `AWS_MAX_ATTEMPTS` is not set.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 6;

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

/// EC2 client for one region of an account config, retrying and rate-limiting on that account's
/// own budget: the SDK keeps adaptive retry's token bucket and client rate limiter per retry
/// partition for the whole process (by default service + region), so without an account in the
/// partition one throttled member would slow every account in the region. AWS throttles per
/// account and region, and so does this.
pub(crate) fn ec2_client(config: &SdkConfig, account: &str, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(config)
            .region(Region::new(region.to_string()))
            .retry_partition(aws_sdk_ec2::config::retry::RetryPartition::new(partition("ec2", account, region)))
            .build(),
    )
}

/// Systems Manager client for one region of an account config, on the account's own retry budget.
pub(crate) fn ssm_client(config: &SdkConfig, account: &str, region: &str) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(config)
            .region(Region::new(region.to_string()))
            .retry_partition(aws_sdk_ssm::config::retry::RetryPartition::new(partition("ssm", account, region)))
            .build(),
    )
}

/// IAM client (global) for an account config, on the account's own retry budget.
pub(crate) fn iam_client(config: &SdkConfig, account: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(config)
            .retry_partition(aws_sdk_iam::config::retry::RetryPartition::new(partition("iam", account, "global")))
            .build(),
    )
}

/// STS client of one region (regional endpoint: some operations, such as GetWebIdentityToken,
/// are "not available on the STS Global endpoint").
pub(crate) fn sts_client(config: &SdkConfig, region: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(config).region(Region::new(region.to_string())).build(),
    )
}

/// CloudTrail client of one region (preflight: the trail Organizations' API calls need).
pub(crate) fn cloudtrail_client(config: &SdkConfig, region: &str) -> aws_sdk_cloudtrail::Client {
    aws_sdk_cloudtrail::Client::from_conf(
        aws_sdk_cloudtrail::config::Builder::from(config).region(Region::new(region.to_string())).build(),
    )
}

/// DynamoDB client of one region (the function's own: the inventory table).
pub(crate) fn dynamodb_client(config: &SdkConfig, region: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config).region(Region::new(region.to_string())).build(),
    )
}

/// Name of the retry partition of one service in one account and region.
fn partition(service: &str, account: &str, region: &str) -> String {
    format!("{service}-{account}-{region}")
}

/// Region a config without one falls back to.
const FALLBACK_REGION: &str = "us-east-1";

/// The region `config` calls (the function's own region), `us-east-1` when it names none.
pub(crate) fn home_region(config: &SdkConfig) -> String {
    config.region().map_or_else(|| FALLBACK_REGION.to_string(), |r| r.to_string())
}

/// Organizations client, called in the function's own region.
pub(crate) fn organizations_client(config: &SdkConfig) -> aws_sdk_organizations::Client {
    aws_sdk_organizations::Client::from_conf(
        aws_sdk_organizations::config::Builder::from(config).region(Region::new(home_region(config))).build(),
    )
}

/// The error code of an SDK error, when the service sent one.
pub(crate) fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.code()
}

/// One line describing an SDK error: `Code: message` for service errors, the cause chain otherwise.
pub(crate) fn describe<E, R>(err: &SdkError<E, R>) -> String
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

pub(crate) fn chain(err: &(dyn StdError + 'static)) -> String {
    format!("{}", DisplayErrorContext(err))
}
