//! `account-discovery` Lambda function: onboards every ACTIVE member account to the connector's
//! StackSet (daily reconcile, Organizations and Control Tower events, manual `reconcile`).

use connector_engine::aws::load_base_config;
use connector_engine::discovery::{AccountDiscovery, DiscoverySettings};
use connector_engine::report::Report;
use connector_engine::runtime::{respond, write_deadline};
use connector_engine::telemetry;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let settings =
        DiscoverySettings::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let job = AccountDiscovery::new(settings, load_base_config().await);
    let job = &job;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move { handle(job, event).await })).await
}

async fn handle(job: &AccountDiscovery, event: LambdaEvent<Value>) -> Result<Report, Diagnostic> {
    job.invoked_as(&event.context.invoked_function_arn);
    respond(job.handle(&event.payload, write_deadline(&event.context)).await)
}
