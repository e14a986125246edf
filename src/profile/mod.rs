//! Instance-profile remediation (`profile-scan`): every EC2 instance gets an instance profile
//! whose role carries `AmazonSSMManagedInstanceCore`.
//!
//! Per (account, region): `read` the instances, their associations and the profiles they use
//! (through the shared `crate::iam` view); `plan` one decision per instance (pure); `apply`
//! them, attaching the policy once per role per run through the account's `ledger`. A
//! customer's profile is never replaced or removed. [`trigger`] says what the function accepts,
//! `settings` what it reads from the environment.

mod apply;
mod dhmc;
mod ledger;
mod plan;
mod preflight;
mod read;
mod scan;
mod settings;
mod state;
pub mod trigger;

pub use crate::iam::InstancePolicy;
pub use dhmc::Reach;
pub use scan::{JOB, ProfileScan};
pub use settings::{DEFAULT_DHMC_ROLE, DEFAULT_INSTANCE_PROFILE, DEFAULT_MEMBER_ROLE, ProfileSettings, VARIABLES};
pub use trigger::{ProfileTrigger, ScanCommand};
