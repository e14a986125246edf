//! Azure Arc agent provisioning through the connector's own SSM documents (`arc-provisioner`).
//!
//! Per (account, region): read managed instances (SSM), running instances (EC2), the documents'
//! versions and their runs of the last 30 days (`read`); plan who gets a command and why the
//! others do not (`plan`); obtain the onboarding credential, by default a short-lived Entra
//! access token (`credential`), only when an instance needs it; send the documents' prepare phase,
//! one command per at most 50 instances of one platform, and to every instance that reported a
//! one-time key the credential sealed to it (`seal`) in the connect phase; track every invocation
//! to a final status (`command`, `apply`); map the script's result line to the report (`outcome`).
//! [`trigger`] says what the function accepts, `settings` what it reads from the environment
//! (declared in `variables`, checked by `forms`) into the Azure [`target`].

mod applications;
mod apply;
mod azure;
mod command;
mod coverage;
mod credential;
mod document;
mod estate;
mod federation;
mod forms;
mod job;
mod outcome;
mod phase;
mod plan;
mod preflight;
mod read;
mod rights;
mod seal;
mod secret;
pub mod settings;
mod state;
mod status;
pub mod target;
pub mod trigger;
mod variables;
mod verify;

pub use applications::APPLICATION_TAG;
pub use job::{ArcProvisioner, JOB};
pub use settings::ArcSettings;
pub use trigger::{ArcTrigger, ReprovisionCommand, SweepCommand, TagSelector};
pub use variables::VARIABLES;
