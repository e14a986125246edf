//! The account's Lambda concurrency: the three work queues' event source mappings run up to
//! [`WORK_QUEUE_CONCURRENCY`] invocations at once from the account's unreserved pool.
//!
//! Lambda, "GetAccountSettings": "Retrieves details about your account's limits and usage in an
//! Amazon Web Services Region". Lambda quotas: "new AWS accounts have reduced concurrency and
//! memory quotas"; the quota is raised through Service Quotas (quota code L-B99A9384, "Concurrent
//! executions").

use crate::aws::describe;
use crate::preflight::Check;

/// The sum of the work queues' `ScalingConfig.MaximumConcurrency` in cfn/template.yaml
/// (profile-scan 8, arc-provisioner 8, account-discovery 2; `tests/templates.rs` holds it), plus
/// one each for the functions' event and schedule invocations.
pub(crate) const WORK_QUEUE_CONCURRENCY: i32 = 8 + 8 + 2 + 3;

/// The check's name.
pub(crate) const NAME: &str = "lambda-concurrency";

/// Reads the account's unreserved concurrency in the function's region.
pub(crate) async fn check(lambda: &aws_sdk_lambda::Client, region: &str) -> Check {
    let settings = match lambda.get_account_settings().send().await {
        Ok(settings) => settings,
        Err(e) => {
            let check = format!("aws lambda get-account-settings --region {region}");
            return Check::unchecked(NAME, format!("GetAccountSettings failed: {}", describe(&e)), check);
        }
    };
    let limit = settings.account_limit();
    let unreserved = limit.and_then(|l| l.unreserved_concurrent_executions()).unwrap_or_default();
    let total = limit.map(|l| l.concurrent_executions()).unwrap_or_default();
    if unreserved >= WORK_QUEUE_CONCURRENCY {
        return Check::ok(NAME, format!("{unreserved} of {total} concurrent executions unreserved in {region}"));
    }
    let what = format!(
        "{unreserved} of {total} concurrent executions unreserved in {region}; the work queues run up to {WORK_QUEUE_CONCURRENCY} at once"
    );
    // The quota a request must reach: what is reserved elsewhere stays reserved.
    let wanted = (total - unreserved + WORK_QUEUE_CONCURRENCY).max(1000);
    let fix = format!(
        "aws service-quotas request-service-quota-increase --service-code lambda --quota-code L-B99A9384 --desired-value {wanted} --region {region}, or release reserved concurrency of other functions (aws lambda delete-function-concurrency)"
    );
    Check::missing(NAME, what, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_queues_concurrency_is_the_templates_plus_one_per_function() {
        let template = include_str!("../cfn/template.yaml");
        let maxima: i32 = template
            .lines()
            .filter_map(|l| l.trim().strip_prefix("MaximumConcurrency: "))
            .map(|n| n.trim().parse::<i32>().expect("a number"))
            .sum();
        assert_eq!(maxima + 3, WORK_QUEUE_CONCURRENCY);
    }
}
