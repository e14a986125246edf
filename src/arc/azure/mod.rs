//! The Azure side of what the connector onboarded: the inventory of the Arc machines it made
//! (`inventory`, DynamoDB), Resource Manager (`resource_manager`), the daily sweep that deletes,
//! repairs or keeps them (`sweep` judges, `sweep_run` runs it) and the termination fast path
//! (`terminated`).

pub(crate) mod inventory;
pub(crate) mod resource_manager;
pub(crate) mod sweep;
mod sweep_run;
mod terminated;
