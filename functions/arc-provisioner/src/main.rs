//! `arc-provisioner` Lambda function: connects SSM-managed EC2 instances to Azure Arc through the
//! connector's own SSM documents (hourly schedule, after a profile scan, SSM command status events,
//! manual `reprovision`).

// The SDK futures nested in the handler are deep; the default limit (128) is just short.
#![recursion_limit = "256"]

use connector_engine::arc::{ArcProvisioner, ArcSettings};
use connector_engine::aws::load_base_config;
use connector_engine::report::Report;
use connector_engine::runtime::{respond, write_deadline};
use connector_engine::telemetry;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let settings = ArcSettings::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let job = ArcProvisioner::new(settings, load_base_config().await);
    let job = &job;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move { handle(job, event).await })).await
}

async fn handle(job: &ArcProvisioner, event: LambdaEvent<Value>) -> Result<Report, Diagnostic> {
    respond(job.handle(&event.payload, write_deadline(&event.context)).await)
}
