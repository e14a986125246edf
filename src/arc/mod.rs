//! Azure Arc agent provisioning through the connector's own SSM documents (`arc-provisioner`).
//!
//! Per (account, region): read managed instances (SSM), running instances (EC2), the documents'
//! versions and their runs of the last 30 days ([`read`]); plan who gets a command and why the
//! others do not ([`plan`]); stage the onboarding secret as a SecureString, send one command per
//! at most 50 instances of one platform, track every invocation to a final status, remove the
//! staged secret ([`send`], [`execute`]); map the script's result line to the report ([`outcome`]).
//! The Azure target comes from the `ARC_*` variables ([`settings`]).

pub mod execute;
pub mod job;
pub mod outcome;
pub mod plan;
pub mod read;
pub mod send;
pub mod settings;
pub mod state;

pub use job::ArcProvisioner;
