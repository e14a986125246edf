//! Instance-profile remediation: every EC2 instance gets an instance profile whose role carries
//! `AmazonSSMManagedInstanceCore`.
//!
//! Per (account, region): [`read`] the instances, their associations and the profiles they use;
//! [`plan`] one decision per instance (pure); [`apply`] them, attaching the policy once per role per
//! run through the account's [`iam`] ledger. A customer's profile is never replaced or removed.

pub mod apply;
pub mod iam;
pub mod plan;
pub mod read;
pub mod scan;
pub mod state;

pub use scan::{JOB, ProfileScan, ScanRequest};
