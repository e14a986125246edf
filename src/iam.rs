//! IAM as the capabilities read it: an account's instance profiles, their roles, and whether each
//! role carries what Systems Manager and the connector need ([`InstancePolicies`]). One
//! [`IamView`] per account per run reads the
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
pub(crate) use crate::trust::Trust;
use crate::trust::trust;

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

/// A role and whether it carries what instances need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Role {
    /// Role name (no path): what `AttachRolePolicy` takes.
    pub(crate) name: String,
    /// Role ARN (with path).
    pub(crate) arn: String,
    /// Whether the role is sufficient ([`InstancePolicies::sufficient`]).
    pub(crate) policy: PolicyState,
    /// Which of the [`InstancePolicies`] are attached (ARNs).
    pub(crate) attached: Vec<String>,
    /// Who may assume it (its trust policy).
    pub(crate) trust: Trust,
}

/// Whether a role carries what Systems Manager and the connector need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PolicyState {
    /// Sufficient: `AmazonSSMManagedInstanceCore`, or `AmazonSSMManagedEC2InstanceDefaultPolicy`.
    Attached,
    /// Not sufficient.
    Missing,
    /// Its policies could not be listed; the reason.
    Unknown(String),
}

/// `AmazonSSMManagedInstanceCore`: what the reference product attaches ("Systems Manager service
/// core functionality"; it also allows `ssm:GetParameter(s)` on every parameter).
pub(crate) const SSM_CORE: &str = "AmazonSSMManagedInstanceCore";
/// `AmazonSSMManagedEC2InstanceDefaultPolicy`: Systems Manager's core without parameter reads.
pub(crate) const SSM_DEFAULT_HOST: &str = "AmazonSSMManagedEC2InstanceDefaultPolicy";
/// What profile-scan attaches to a customer's role that lacks what instances need
/// (`INSTANCE_POLICY`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InstancePolicy {
    /// `AmazonSSMManagedInstanceCore`, as the reference product asks (it also lets the instance
    /// read every parameter of its account).
    Core,
    /// `AmazonSSMManagedEC2InstanceDefaultPolicy`: Systems Manager without Parameter Store reads
    /// (the onboarding credential arrives sealed in the command; the instance reads nothing).
    #[default]
    Narrow,
}

impl InstancePolicy {
    /// The value of `INSTANCE_POLICY`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstancePolicy::Core => "core",
            InstancePolicy::Narrow => "narrow",
        }
    }

    /// The mode `INSTANCE_POLICY` names.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        [InstancePolicy::Core, InstancePolicy::Narrow].into_iter().find(|m| m.as_str() == value)
    }

    /// The policies' names, for reports.
    pub(crate) fn names(self) -> &'static str {
        match self {
            InstancePolicy::Core => SSM_CORE,
            InstancePolicy::Narrow => SSM_DEFAULT_HOST,
        }
    }
}

/// Which managed policies make an instance role sufficient: `AmazonSSMManagedInstanceCore` or
/// `AmazonSSMManagedEC2InstanceDefaultPolicy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InstancePolicies {
    /// `AmazonSSMManagedInstanceCore`'s ARN.
    pub(crate) core: String,
    /// `AmazonSSMManagedEC2InstanceDefaultPolicy`'s ARN.
    pub(crate) default_host: String,
}

impl InstancePolicies {
    /// The policies' ARNs in `partition`.
    pub(crate) fn new(partition: &str) -> Self {
        InstancePolicies {
            core: format!("arn:{partition}:iam::aws:policy/{SSM_CORE}"),
            default_host: format!("arn:{partition}:iam::aws:policy/{SSM_DEFAULT_HOST}"),
        }
    }

    /// Whether the attached policies (ARNs) make a role sufficient.
    pub(crate) fn sufficient(&self, attached: &[String]) -> bool {
        let has = |arn: &str| attached.iter().any(|a| a == arn);
        has(&self.core) || has(&self.default_host)
    }

    /// Whether `arn` is one of the policies this view tracks.
    fn relevant(&self, arn: &str) -> bool {
        arn == self.core || arn == self.default_host
    }

    /// What `mode` attaches to a role carrying `attached` (nothing when it is sufficient).
    pub(crate) fn to_attach(&self, mode: InstancePolicy, attached: &[String]) -> Vec<String> {
        if self.sufficient(attached) {
            return Vec::new();
        }
        let wanted = match mode {
            InstancePolicy::Core => vec![self.core.clone()],
            InstancePolicy::Narrow => vec![self.default_host.clone()],
        };
        wanted.into_iter().filter(|w| !attached.contains(w)).collect()
    }

    fn state(&self, attached: &[String]) -> PolicyState {
        if self.sufficient(attached) { PolicyState::Attached } else { PolicyState::Missing }
    }
}

/// Largest page `GetAccountAuthorizationDetails` gives.
const DETAILS_PAGE: i32 = 1000;

/// Cached IAM reads of one account for one run.
pub(crate) struct IamView {
    client: Client,
    policies: InstancePolicies,
    /// Every profile that holds a role, from the account-wide read (`Err` when it failed: the view
    /// then reads profile by profile).
    account: OnceCell<Result<HashMap<String, Profile>, String>>,
    profiles: Mutex<HashMap<String, ProfileLookup>>,
    /// (role name, policy ARN) this run attached.
    attached: std::sync::Mutex<HashSet<(String, String)>>,
}

impl IamView {
    /// A view of the account `policies` belong to.
    pub(crate) fn new(client: Client, policies: InstancePolicies) -> Self {
        IamView {
            client,
            policies,
            account: OnceCell::new(),
            profiles: Mutex::new(HashMap::new()),
            attached: std::sync::Mutex::new(HashSet::new()),
        }
    }

    /// The account's IAM client (for the capability that writes).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The policies this view tracks.
    pub(crate) fn policies(&self) -> &InstancePolicies {
        &self.policies
    }

    /// Records that `role_name` now carries `policy_arn`: later reads of this run say so without
    /// asking IAM again.
    pub(crate) fn mark_attached(&self, role_name: &str, policy_arn: &str) {
        if let Ok(mut attached) = self.attached.lock() {
            attached.insert((role_name.to_string(), policy_arn.to_string()));
        }
    }

    /// `attached` with what this run attached to `role_name`.
    fn with_known(&self, role_name: &str, mut attached: Vec<String>) -> Vec<String> {
        let known: Vec<String> = match self.attached.lock() {
            Ok(known) => known.iter().filter(|(role, _)| role == role_name).map(|(_, arn)| arn.clone()).collect(),
            Err(_) => Vec::new(),
        };
        for arn in known {
            if !attached.contains(&arn) {
                attached.push(arn);
            }
        }
        attached
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
                let attached: Vec<String> = role
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn())
                    .filter(|a| self.policies.relevant(a))
                    .map(str::to_string)
                    .collect();
                let policy = self.policies.state(&attached);
                let trusted = trust(role.assume_role_policy_document());
                for profile in role.instance_profile_list() {
                    let entry =
                        profiles.entry(profile.instance_profile_name().to_string()).or_insert_with(|| Profile {
                            name: profile.instance_profile_name().to_string(),
                            arn: profile.arn().to_string(),
                            roles: Vec::new(),
                        });
                    let (name, arn, attached) = (name.to_string(), arn.to_string(), attached.clone());
                    entry.roles.push(Role { name, arn, policy: policy.clone(), attached, trust: trusted.clone() });
                }
            }
        }
        Ok(profiles)
    }

    /// The profile with the roles this run attached the policy to marked as carrying it.
    fn with_known_attachments(&self, mut profile: Profile) -> Profile {
        for role in &mut profile.roles {
            role.attached = self.with_known(&role.name, std::mem::take(&mut role.attached));
            if role.policy == PolicyState::Missing {
                role.policy = self.policies.state(&role.attached);
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
            let (policy, attached) = match self.role_policies(&name).await {
                Ok(attached) => (self.policies.state(&attached), attached),
                Err(reason) => (PolicyState::Unknown(reason), Vec::new()),
            };
            let trust = trust(role.assume_role_policy_document());
            roles.push(Role { name, arn: role.arn().to_string(), policy, attached, trust });
        }
        ProfileLookup::Found(Profile {
            name: profile.instance_profile_name().to_string(),
            arn: profile.arn().to_string(),
            roles,
        })
    }

    /// The tracked policies attached to `role_name` (with what this run attached).
    async fn role_policies(&self, role_name: &str) -> Result<Vec<String>, String> {
        let mut attached = Vec::new();
        let mut pages = self.client.list_attached_role_policies().role_name(role_name).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe(&e))?;
            let arns = page.attached_policies().iter().filter_map(|p| p.policy_arn());
            attached.extend(arns.filter(|a| self.policies.relevant(a)).map(str::to_string));
        }
        Ok(self.with_known(role_name, attached))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_systems_manager_policy_is_sufficient_and_narrow_is_the_default() {
        let p = InstancePolicies::new("aws");
        assert!(p.sufficient(std::slice::from_ref(&p.core)));
        assert!(p.sufficient(std::slice::from_ref(&p.default_host)), "no Parameter Store read is needed any more");
        assert!(!p.sufficient(&["arn:aws:iam::aws:policy/ReadOnlyAccess".to_string()]));
        assert_eq!(InstancePolicy::default(), InstancePolicy::Narrow);
        assert_eq!(p.to_attach(InstancePolicy::Narrow, &[]), vec![p.default_host.clone()]);
    }

    #[test]
    fn profile_names_ignore_the_path() {
        assert_eq!(profile_name_from_arn("arn:aws:iam::111111111111:instance-profile/team/x/Name"), "Name");
        assert_eq!(profile_name_from_arn("arn:aws:iam::111111111111:instance-profile/Name"), "Name");
    }
}
