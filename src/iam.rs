//! IAM as the capabilities read it: an account's instance profiles, their roles, and whether each
//! role carries `AmazonSSMManagedInstanceCore`. One [`IamView`] per account per run reads the
//! account's roles with their instance profiles and attached managed policies in as few calls as
//! IAM allows (`GetAccountAuthorizationDetails` with the `Role` filter, up to 1,000 roles a page),
//! and falls back to `GetInstanceProfile` for a profile it did not see (a profile without a role,
//! deleted, or created since). Writes belong to the capability that makes them;
//! [`IamView::mark_attached`] lets it say what it changed.

use std::collections::{HashMap, HashSet};

use aws_sdk_iam::Client;
use aws_sdk_iam::types::EntityType;
use tokio::sync::{Mutex, OnceCell};

use crate::aws::{describe, error_code};

/// Region label of IAM items in the report (IAM is global).
pub(crate) const GLOBAL: &str = "global";

/// Last segment of an instance profile ARN (`arn:aws:iam::1:instance-profile/team/x/name` gives `name`).
pub(crate) fn profile_name_from_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What IAM said about an instance profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProfileLookup {
    /// It exists.
    Found(Profile),
    /// `NoSuchEntity`.
    Missing,
    /// Could not be read (access denied, throttled beyond retries); the reason.
    Unreadable(String),
}

/// An instance profile with its role (IAM allows one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Profile {
    /// Name.
    pub(crate) name: String,
    /// ARN.
    pub(crate) arn: String,
    /// Roles in the profile (zero or one).
    pub(crate) roles: Vec<Role>,
}

/// A role and whether it carries the SSM policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Role {
    /// Role name (no path): what `AttachRolePolicy` takes.
    pub(crate) name: String,
    /// Role ARN (with path).
    pub(crate) arn: String,
    /// Whether `AmazonSSMManagedInstanceCore` is attached.
    pub(crate) policy: PolicyState,
}

/// Whether a role carries `AmazonSSMManagedInstanceCore`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PolicyState {
    /// Attached.
    Attached,
    /// Not attached.
    Missing,
    /// Its policies could not be listed; the reason.
    Unknown(String),
}

/// Largest page `GetAccountAuthorizationDetails` gives.
const DETAILS_PAGE: i32 = 1000;

/// Cached IAM reads of one account for one run.
pub(crate) struct IamView {
    client: Client,
    policy_arn: String,
    /// Every profile that holds a role, from the account-wide read (`Err` when it failed: the view
    /// then reads profile by profile).
    account: OnceCell<Result<HashMap<String, Profile>, String>>,
    profiles: Mutex<HashMap<String, ProfileLookup>>,
    attached: std::sync::Mutex<HashSet<String>>,
}

impl IamView {
    /// `policy_arn` is `AmazonSSMManagedInstanceCore` in the account's partition.
    pub(crate) fn new(client: Client, policy_arn: &str) -> Self {
        IamView {
            client,
            policy_arn: policy_arn.to_string(),
            account: OnceCell::new(),
            profiles: Mutex::new(HashMap::new()),
            attached: std::sync::Mutex::new(HashSet::new()),
        }
    }

    /// The account's IAM client (for the capability that writes).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// ARN of the policy this view tracks.
    pub(crate) fn policy_arn(&self) -> &str {
        &self.policy_arn
    }

    /// Records that `role_name` now carries the policy: later reads of this run say so without
    /// asking IAM again.
    pub(crate) fn mark_attached(&self, role_name: &str) {
        if let Ok(mut attached) = self.attached.lock() {
            attached.insert(role_name.to_string());
        }
    }

    fn known_attached(&self, role_name: &str) -> bool {
        self.attached.lock().is_ok_and(|a| a.contains(role_name))
    }

    /// Looks up profiles by name: from the account-wide read, else each read at most once per run.
    pub(crate) async fn profiles(&self, names: impl IntoIterator<Item = String>) -> HashMap<String, ProfileLookup> {
        let account = self.account.get_or_init(|| self.read_account()).await;
        let mut cache = self.profiles.lock().await;
        let mut out = HashMap::new();
        for name in names {
            if let Some(profile) = account.as_ref().ok().and_then(|profiles| profiles.get(&name)) {
                out.insert(name, ProfileLookup::Found(self.with_known_attachments(profile.clone())));
                continue;
            }
            if !cache.contains_key(&name) {
                let found = self.read_profile(&name).await;
                cache.insert(name.clone(), found);
            }
            if let Some(found) = cache.get(&name) {
                out.insert(name, found.clone());
            }
        }
        out
    }

    /// Every role of the account with its instance profiles and attached managed policies, as
    /// profiles by name (paginated `GetAccountAuthorizationDetails`, `Role` filter).
    async fn read_account(&self) -> Result<HashMap<String, Profile>, String> {
        let mut pages = self
            .client
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .max_items(DETAILS_PAGE)
            .into_paginator()
            .send();
        let mut profiles: HashMap<String, Profile> = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe(&e))?;
            for role in page.role_detail_list() {
                let (Some(name), Some(arn)) = (role.role_name(), role.arn()) else { continue };
                let attached =
                    role.attached_managed_policies().iter().any(|p| p.policy_arn() == Some(&self.policy_arn));
                let policy = if attached { PolicyState::Attached } else { PolicyState::Missing };
                for profile in role.instance_profile_list() {
                    let entry =
                        profiles.entry(profile.instance_profile_name().to_string()).or_insert_with(|| Profile {
                            name: profile.instance_profile_name().to_string(),
                            arn: profile.arn().to_string(),
                            roles: Vec::new(),
                        });
                    entry.roles.push(Role { name: name.to_string(), arn: arn.to_string(), policy: policy.clone() });
                }
            }
        }
        Ok(profiles)
    }

    /// The profile with the roles this run attached the policy to marked as carrying it.
    fn with_known_attachments(&self, mut profile: Profile) -> Profile {
        for role in &mut profile.roles {
            if self.known_attached(&role.name) {
                role.policy = PolicyState::Attached;
            }
        }
        profile
    }

    async fn read_profile(&self, name: &str) -> ProfileLookup {
        let out = match self.client.get_instance_profile().instance_profile_name(name).send().await {
            Ok(out) => out,
            Err(e) if error_code(&e) == Some("NoSuchEntity") => return ProfileLookup::Missing,
            Err(e) => return ProfileLookup::Unreadable(describe(&e)),
        };
        let Some(profile) = out.instance_profile() else {
            return ProfileLookup::Unreadable("GetInstanceProfile returned no profile".into());
        };
        let mut roles = Vec::new();
        for role in profile.roles() {
            let name = role.role_name().to_string();
            let policy = self.role_policy(&name).await;
            roles.push(Role { name, arn: role.arn().to_string(), policy });
        }
        ProfileLookup::Found(Profile {
            name: profile.instance_profile_name().to_string(),
            arn: profile.arn().to_string(),
            roles,
        })
    }

    async fn role_policy(&self, role_name: &str) -> PolicyState {
        if self.known_attached(role_name) {
            return PolicyState::Attached;
        }
        let mut pages = self.client.list_attached_role_policies().role_name(role_name).into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => {
                    if page.attached_policies().iter().any(|p| p.policy_arn() == Some(self.policy_arn.as_str())) {
                        return PolicyState::Attached;
                    }
                }
                Err(e) => return PolicyState::Unknown(describe(&e)),
            }
        }
        PolicyState::Missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_ignore_the_path() {
        assert_eq!(profile_name_from_arn("arn:aws:iam::111111111111:instance-profile/team/x/Name"), "Name");
        assert_eq!(profile_name_from_arn("arn:aws:iam::111111111111:instance-profile/Name"), "Name");
    }
}
