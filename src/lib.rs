//! Engine of the multicloud security connector's AWS side.
//!
//! The functions under `functions/` are thin shells around this crate:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use connector_engine::{aws, profile::{ProfileScan, ProfileSettings}};
//! let job = ProfileScan::new(ProfileSettings::from_env()?, aws::load_base_config().await);
//! let report = job.handle(&serde_json::json!({"action": "scan", "dryRun": true}), None).await?;
//! println!("{}", report.to_json_line());
//! # Ok(()) }
//! ```
//!
//! Layers (docs/architecture.md): the functions use the capabilities, [`profile`],
//! [`discovery`] and [`arc`], which never use each other; the capabilities use the shared
//! modules, which use no capability: [`config`] (settings every function shares, the variable
//! declarations), `event` (payloads by shape, refusals), [`aws`] (SDK config, clients), `context`
//! (what a job builds once at cold start), `sessions` (identity, per-account credentials), `iam`
//! (cached IAM reads), `trust` (who may assume a role), `scope` (accounts and regions), `run` (the fleet-job skeleton), `budget`
//! (the invocation's time budget), [`queue`] (the SQS work queue), `pace` (EC2 write pacing),
//! [`report`] (the run report, its actions and outcomes), `metrics`, [`runtime`] (the Lambda
//! glue), `validate`, [`error`], [`telemetry`] (logging).

#![warn(unreachable_pub)]

pub mod arc;
pub mod aws;
pub mod bound;
mod budget;
pub mod config;
mod context;
pub mod discovery;
pub mod error;
pub(crate) mod event;
mod iam;
mod lambda_concurrency;
mod log_lines;
mod metrics;
mod org_scope;
mod pace;
mod preflight;
pub mod profile;
pub mod queue;
pub mod report;
mod run;
pub mod runtime;
mod scope;
mod sessions;
pub mod telemetry;
mod trust;
mod validate;
