//! `profile-scan` Lambda function: gives every EC2 instance an instance profile whose role carries
//! `AmazonSSMManagedInstanceCore` (scheduled scan, launch events, manual `scan`).

use connector_engine::aws::load_base_config;
use connector_engine::profile::{ProfileScan, ProfileSettings};
use connector_engine::report::Report;
use connector_engine::runtime::{respond, write_deadline};
use connector_engine::telemetry;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let settings = ProfileSettings::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let job = ProfileScan::new(settings, load_base_config().await);
    let job = &job;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move { handle(job, event).await })).await
}

async fn handle(job: &ProfileScan, event: LambdaEvent<Value>) -> Result<Report, Diagnostic> {
    respond(job.handle(&event.payload, write_deadline(&event.context)).await)
}
