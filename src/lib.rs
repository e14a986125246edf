//! Engine of the multicloud security connector's AWS side.
//!
//! The functions under `functions/` are thin shells around this crate:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use connector_engine::{aws, config::Config, profile::ProfileScan};
//! let job = ProfileScan::new(Config::from_env()?, aws::load_base_config().await);
//! let report = job.handle(&serde_json::json!({"action": "scan", "dryRun": true}), None).await?;
//! println!("{}", report.to_json_line());
//! # Ok(()) }
//! ```
//!
//! Modules: [`config`] (environment), [`event`] (accepted events), [`aws`] (SDK config and
//! per-account credentials), [`scope`] (accounts and regions), [`profile`] (instance-profile
//! remediation), [`report`] (the run report), [`runtime`] (the Lambda glue).

pub mod arc;
pub mod aws;
pub mod config;
pub mod discovery;
pub mod error;
pub mod event;
pub mod metrics;
pub mod profile;
pub mod report;
pub mod runtime;
pub mod scope;
pub mod telemetry;
pub mod validate;
