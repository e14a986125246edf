//! Azure Arc agent provisioning through the connector's own SSM documents (`arc-provisioner`).
//!
//! Per (account, region): read managed instances (SSM), running instances (EC2), the documents'
//! versions and their runs of the last 30 days (`read`); plan who gets a command and why the
//! others do not (`plan`); obtain the onboarding credential, by default a short-lived Entra
//! access token (`credential`), stage it as a SecureString of the run's own that expires by itself,
//! send one command per at most 50 instances of one platform, track every invocation to a final
//! status, remove the staged copy (`send`, `execute`); map the script's result line to the report (`outcome`).
//! [`trigger`] says what the function accepts, `settings` what it reads from the environment
//! (the Azure target from the `ARC_*` variables).

mod credential;
mod execute;
mod job;
mod outcome;
mod plan;
mod read;
mod send;
pub mod settings;
mod state;
pub mod trigger;

pub use job::{ArcProvisioner, JOB};
pub use settings::{ArcSettings, VARIABLES};
pub use trigger::{ArcTrigger, ReprovisionCommand, TagSelector};
