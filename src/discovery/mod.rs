//! Account discovery and StackSet onboarding (`account-discovery`): every ACTIVE member account
//! gets the member template as an instance of the onboarding StackSet, within seconds of joining
//! and on a daily reconcile.
//!
//! `read` the StackSet (its permission model decides the targets), its instances and the
//! organization; `plan` the missing, unhealthy and departed instances (pure, batched: one
//! operation per set of regions); `apply` them, retrying while the StackSet is busy; publish
//! member-connector `records`. [`trigger`] says what the function accepts (Organizations events
//! through [`events`]), `settings` what it reads from the environment.

mod apply;
mod chain;
pub mod events;
mod job;
mod origin;
mod plan;
mod preflight;
mod read;
mod recheck;
mod records;
mod regions;
mod settings;
mod state;
mod teardown;
mod trail;
pub mod trigger;

pub use apply::PENDING;
pub use job::AccountDiscovery;
pub use settings::{DEFAULT_MANAGEMENT_STACK, DiscoverySettings, VARIABLES};
pub use trigger::{DiscoveryTrigger, JOB, ReconcileCommand};
