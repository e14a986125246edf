//! Account discovery and StackSet onboarding: every ACTIVE member account gets the member template
//! as an instance of the onboarding StackSet, within seconds of joining and on a daily reconcile.
//!
//! [`read`] the StackSet (its permission model decides the targets), its instances and the
//! organization; [`plan`] the missing, unhealthy and departed instances (pure, batched: one
//! operation per set of regions); [`apply`] them, retrying while the StackSet is busy.

pub mod apply;
pub mod events;
pub mod job;
pub mod plan;
pub mod read;
pub mod records;
pub mod state;

pub use job::{AccountDiscovery, JOB};
