//! The pure planner: turns a unit's state into one decision per instance. No AWS here.

use std::collections::HashSet;

use super::dhmc::{Reach, UNREACHED_AFTER_SECONDS};
use super::state::{Instance, UnitState};
use crate::iam::{PolicyState, Profile, ProfileLookup, Role, Trust};
use crate::report::Action;

/// Actions of profile-scan's report items.
pub(crate) mod action {
    use crate::report::Action;
    /// Nothing needed.
    pub(crate) const NONE: Action = Action::None;
    /// Associate the connector's instance profile.
    pub(crate) const ASSOCIATE: Action = Action::AssociateInstanceProfile;
    /// Attach the instance policy (`INSTANCE_POLICY`) to a role.
    pub(crate) const ATTACH: Action = Action::AttachRolePolicy;
    /// A whole work unit.
    pub(crate) const SCAN: Action = Action::Scan;
}

/// A role that must carry the policy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RoleRef {
    /// Name, for `AttachRolePolicy`.
    pub name: String,
    /// ARN, for the report.
    pub arn: String,
    /// The tracked policies it carries (`crate::iam::InstancePolicies`).
    pub attached: Vec<String>,
}

/// What to do with one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Profile present and its role carries the policy.
    Compliant {
        /// Profile name.
        profile: String,
        /// Role name.
        role: String,
    },
    /// No profile: associate the connector's profile, then make sure its role carries the policy.
    Associate {
        /// Profile to associate.
        profile: String,
        /// The profile's role when it lacks the policy.
        attach: Option<RoleRef>,
    },
    /// Profile present, its role lacks the policy: attach it to the role (once per role).
    AttachPolicy {
        /// The customer's profile.
        profile: String,
        /// Its role.
        role: RoleRef,
    },
    /// No profile, and Default Host Management Configuration manages it: nothing written.
    ServedByDhmc {
        /// Why, for the report.
        reason: String,
    },
    /// No profile, `SSM_REACH=dhmc`, and DHMC cannot serve it: reported with the fix, not written.
    DhmcCannotServe {
        /// Why, and the fix.
        reason: String,
    },
    /// Left alone: opted out, in flux, or not fixable by us (`failed`), with the reason.
    Leave {
        /// Report action.
        action: Action,
        /// True when the instance stays non-compliant and someone must act.
        failed: bool,
        /// What happened and what to do.
        reason: String,
    },
}

/// Planner inputs that come from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Policy<'a> {
    /// Profile given to unprofiled instances.
    pub connector_profile: &'a str,
    /// Whether customers' roles may be changed.
    pub attach_to_existing_roles: bool,
    /// Account, for messages.
    pub account_id: &'a str,
    /// `SSM_REACH`.
    pub reach: Reach,
    /// Default Host Management Configuration in the unit's account and Region.
    pub dhmc: DhmcView<'a>,
}

/// What the planner knows of Default Host Management Configuration in a unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DhmcView<'a> {
    /// DHMC manages the Region's IMDSv2 instances.
    pub serves: bool,
    /// Since when it has been on, in seconds since the Unix epoch (the setting's `LastModifiedDate`);
    /// `None` when unknown or turned on by this run.
    pub on_since: Option<i64>,
    /// The instances Systems Manager lists (`None`: not read).
    pub managed: Option<&'a HashSet<String>>,
    /// Now, in seconds since the Unix epoch.
    pub now: i64,
}

impl DhmcView<'_> {
    /// Systems Manager lists the instance.
    fn lists(&self, id: &str) -> bool {
        self.managed.is_some_and(|m| m.contains(id))
    }

    /// A running IMDSv2 instance DHMC should have reached, that Systems Manager still does not list
    /// an hour ([`UNREACHED_AFTER_SECONDS`]) after the later of its launch and DHMC's last change.
    fn missed(&self, instance: &Instance) -> bool {
        let (Some(launched), Some(on_since)) = (instance.launched_at, self.on_since) else {
            return false;
        };
        instance.state == "running"
            && self.now - launched.max(on_since) >= UNREACHED_AFTER_SECONDS
            && self.managed.is_some_and(|m| !m.contains(&instance.id))
    }
}

/// One decision per instance, in input order.
pub(crate) fn plan(state: &UnitState, policy: &Policy<'_>) -> Vec<(String, Decision)> {
    state.instances.iter().map(|i| (i.id.clone(), decide(i, state, policy))).collect()
}

fn decide(instance: &Instance, state: &UnitState, policy: &Policy<'_>) -> Decision {
    if let Some(reason) = &instance.left_alone {
        return leave(action::NONE, false, reason.clone());
    }
    if !matches!(instance.state.as_str(), "running" | "stopped") {
        return leave(
            action::NONE,
            false,
            format!("instance is {}; it is checked again when it is running or stopped", instance.state),
        );
    }
    let attached = instance.profile.as_ref().filter(|p| p.association_state.as_deref() != Some("disassociated"));
    match attached {
        None => unprofiled_reach(instance, state, policy),
        Some(p) => match p.association_state.as_deref() {
            Some(s @ ("associating" | "disassociating")) => {
                leave(action::NONE, false, format!("profile association is {s}; the next scan checks it again"))
            }
            _ => reach_profiled(instance, profiled(p.name(), &p.arn, state, policy), policy),
        },
    }
}

/// An instance with a profile, by `SSM_REACH`: where its role lacks the policy and DHMC reached it
/// anyway, nothing is written ("The SSM Agent attempts to use instance profile permissions before
/// using the Default Host Management Configuration permissions", Systems Manager User Guide); with
/// `dhmc` the role is never written, the instance is reported instead.
fn reach_profiled(instance: &Instance, decided: Decision, policy: &Policy<'_>) -> Decision {
    if !policy.reach.uses_dhmc() || !matches!(decided, Decision::AttachPolicy { .. }) {
        return decided;
    }
    if policy.dhmc.serves && policy.dhmc.lists(&instance.id) {
        return Decision::ServedByDhmc {
            reason: "its profile's role lacks Systems Manager's rights and the agent falls back to Default Host Management Configuration: Systems Manager manages it, nothing written".into(),
        };
    }
    match policy.reach {
        Reach::Dhmc => Decision::DhmcCannotServe {
            reason: format!(
                "its profile's role lacks Systems Manager's rights and Default Host Management Configuration does not reach it (Systems Manager does not list it; with SSM_REACH=dhmc no role is written): attach AmazonSSMManagedEC2InstanceDefaultPolicy to the role, require IMDSv2 on {} with an SSM Agent of 3.2.582.0 or later, or set SSM_REACH=both",
                instance.id
            ),
        },
        _ => decided,
    }
}

/// An instance without a profile, by `SSM_REACH`: DHMC where it serves the instance, the
/// connector's profile where the mode allows it, or the report of why DHMC cannot serve it.
fn unprofiled_reach(instance: &Instance, state: &UnitState, policy: &Policy<'_>) -> Decision {
    if !policy.reach.uses_dhmc() {
        return unprofiled(state, policy);
    }
    let missed = policy.dhmc.missed(instance);
    if policy.dhmc.serves && policy.dhmc.lists(&instance.id) {
        // Listed: DHMC reached it, whatever its metadata options say.
        return Decision::ServedByDhmc { reason: served(instance, &policy.dhmc) };
    }
    match (policy.dhmc.serves, instance.imds_v2_required) {
        (true, true) if !missed => Decision::ServedByDhmc { reason: served(instance, &policy.dhmc) },
        _ if policy.reach == Reach::Both => unprofiled(state, policy),
        (true, true) => Decision::DhmcCannotServe { reason: not_listed(&instance.id) },
        (serves, imds_v2) => Decision::DhmcCannotServe { reason: cannot_serve(&instance.id, serves, imds_v2) },
    }
}

/// Why an instance is left to DHMC.
fn served(instance: &Instance, dhmc: &DhmcView<'_>) -> String {
    if dhmc.managed.is_some_and(|m| m.contains(&instance.id)) {
        return "no instance profile: Systems Manager manages it through Default Host Management Configuration, nothing written".into();
    }
    "no instance profile: Default Host Management Configuration is on and the instance requires IMDSv2, so Systems Manager registers it without a profile once its SSM Agent (3.2.582.0 or later) reports; nothing written".into()
}

/// An IMDSv2 instance DHMC should reach and that Systems Manager does not list.
fn not_listed(id: &str) -> String {
    format!(
        "no instance profile, and Systems Manager does not list it although Default Host Management Configuration is on and it requires IMDSv2, an hour or more after its launch: its SSM Agent is missing or older than 3.2.582.0, or it cannot reach the Systems Manager endpoints; update or install the agent on {id}, or set SSM_REACH=both to give it the connector's instance profile"
    )
}

/// Why DHMC cannot serve an instance, and the fix.
fn cannot_serve(id: &str, serves: bool, imds_v2: bool) -> String {
    let mut why = Vec::new();
    if !serves {
        why.push("DHMC is not on in this account and Region (see its register-dhmc item)".to_string());
    }
    if !imds_v2 {
        why.push(format!(
            "the instance allows IMDSv1, which DHMC \"doesn't support\": require IMDSv2 with aws ec2 modify-instance-metadata-options --instance-id {id} --http-tokens required --http-endpoint enabled"
        ));
    }
    format!(
        "no instance profile and Default Host Management Configuration cannot serve it: {}; or set SSM_REACH=both to give it the connector's instance profile",
        why.join("; ")
    )
}

fn unprofiled(state: &UnitState, policy: &Policy<'_>) -> Decision {
    let name = policy.connector_profile;
    match state.profiles.get(name) {
        Some(ProfileLookup::Found(profile)) => match single_role(profile) {
            Some(role) if role.policy != PolicyState::Attached && role.trust != Trust::Ec2Only => {
                leave(action::ASSOCIATE, true, not_ec2_only(role, profile))
            }
            Some(role) => Decision::Associate {
                profile: name.to_string(),
                attach: (role.policy != PolicyState::Attached).then(|| role_ref(role)),
            },
            None => leave(action::ASSOCIATE, true, format!("{}; redeploy the member template", no_role(profile))),
        },
        Some(ProfileLookup::Unreadable(e)) => {
            leave(action::ASSOCIATE, true, format!("cannot read instance profile {name}: {e}"))
        }
        Some(ProfileLookup::Missing) | None => leave(
            action::ASSOCIATE,
            true,
            format!(
                "instance has no profile and instance profile {name} does not exist in account {}; deploy the member template or set INSTANCE_PROFILE_NAME",
                policy.account_id
            ),
        ),
    }
}

fn profiled(name: &str, arn: &str, state: &UnitState, policy: &Policy<'_>) -> Decision {
    let profile = match state.profiles.get(name) {
        Some(ProfileLookup::Found(p)) => p,
        Some(ProfileLookup::Unreadable(e)) => {
            return leave(action::ATTACH, true, format!("cannot read instance profile {arn}: {e}"));
        }
        Some(ProfileLookup::Missing) | None => {
            return leave(
                action::ATTACH,
                true,
                format!(
                    "associated instance profile {arn} no longer exists; associate a valid profile (the connector never replaces a customer's profile)"
                ),
            );
        }
    };
    let role = match single_role(profile) {
        Some(role) => role,
        None => {
            let reason = no_role(profile);
            return leave(
                action::ATTACH,
                true,
                format!(
                    "{reason}; add a role carrying AmazonSSMManagedEC2InstanceDefaultPolicy (or AmazonSSMManagedInstanceCore) to it"
                ),
            );
        }
    };
    match &role.policy {
        PolicyState::Attached => Decision::Compliant { profile: profile.name.clone(), role: role.name.clone() },
        PolicyState::Unknown(e) => {
            leave(action::ATTACH, true, format!("cannot list the policies of role {}: {e}", role.arn))
        }
        PolicyState::Missing if policy.attach_to_existing_roles && role.trust == Trust::Ec2Only => {
            Decision::AttachPolicy { profile: profile.name.clone(), role: role_ref(role) }
        }
        PolicyState::Missing if policy.attach_to_existing_roles => {
            leave(action::ATTACH, true, not_ec2_only(role, profile))
        }
        PolicyState::Missing => leave(
            action::ATTACH,
            true,
            format!(
                "role {} of profile {} lacks AmazonSSMManagedEC2InstanceDefaultPolicy (or AmazonSSMManagedInstanceCore) and ATTACH_POLICY_TO_EXISTING_ROLES is false; attach the policy to the role or set the variable to true",
                role.arn, profile.name
            ),
        ),
    }
}

/// Why the instance policy is not attached to a role that others than EC2 may assume: it would give
/// them Systems Manager's rights.
fn not_ec2_only(role: &Role, profile: &Profile) -> String {
    let who = match &role.trust {
        Trust::Others(who) => format!("may also be assumed by {who}"),
        Trust::Unreadable(why) => format!("has a trust policy that cannot be read ({why})"),
        Trust::Ec2Only => "is EC2's alone".to_string(),
    };
    format!(
        "role {} of profile {} {who}: the connector attaches the instance policy only to roles EC2 alone may assume (ec2.amazonaws.com), so nothing else gains Systems Manager's rights; attach it yourself if that is intended, or give the instance a profile whose role only EC2 may assume",
        role.arn, profile.name
    )
}

/// The profile's role; a profile without one is a finding ([`no_role`]).
fn single_role(profile: &Profile) -> Option<&Role> {
    profile.roles.first()
}

/// Why nothing can be done for an instance whose profile has no role.
fn no_role(profile: &Profile) -> String {
    format!("instance profile {} has no role", profile.arn)
}

fn role_ref(role: &Role) -> RoleRef {
    RoleRef { name: role.name.clone(), arn: role.arn.clone(), attached: role.attached.clone() }
}

fn leave(action: Action, failed: bool, reason: String) -> Decision {
    Decision::Leave { action, failed, reason }
}

#[cfg(test)]
mod tests {
    use super::super::state::AttachedProfile;
    use super::*;

    const ACCOUNT: &str = "111111111111";

    fn policy() -> Policy<'static> {
        Policy {
            connector_profile: "Connector",
            attach_to_existing_roles: true,
            account_id: ACCOUNT,
            reach: Reach::Profiles,
            dhmc: DhmcView::default(),
        }
    }

    fn instance(id: &str, profile: Option<(&str, Option<&str>)>) -> Instance {
        Instance {
            id: id.into(),
            state: "running".into(),
            left_alone: None,
            profile: profile
                .map(|(arn, state)| AttachedProfile { arn: arn.into(), association_state: state.map(String::from) }),
            imds_v2_required: false,
            launched_at: None,
        }
    }

    fn profile(name: &str, path: &str, role: Option<(&str, PolicyState)>) -> (String, ProfileLookup) {
        let roles = role
            .into_iter()
            .map(|(r, policy)| Role {
                name: r.into(),
                arn: format!("arn:aws:iam::{ACCOUNT}:role/{path}{r}"),
                policy,
                attached: Vec::new(),
                trust: Trust::Ec2Only,
            })
            .collect();
        let arn = format!("arn:aws:iam::{ACCOUNT}:instance-profile/{path}{name}");
        (name.to_string(), ProfileLookup::Found(Profile { name: name.into(), arn, roles }))
    }

    fn state(instances: Vec<Instance>, profiles: Vec<(String, ProfileLookup)>) -> UnitState {
        UnitState { instances, profiles: profiles.into_iter().collect() }
    }

    fn decide_one(s: &UnitState, p: &Policy<'_>) -> Decision {
        plan(s, p).remove(0).1
    }

    #[test]
    fn unprofiled_instance_gets_the_connector_profile() {
        let s = state(
            vec![instance("i-1", None)],
            vec![profile("Connector", "", Some(("ConnectorRole", PolicyState::Attached)))],
        );
        assert_eq!(decide_one(&s, &policy()), Decision::Associate { profile: "Connector".into(), attach: None });
    }

    /// DHMC "doesn't support Instance Metadata Service Version 1": only IMDSv2 instances are left
    /// to it; `both` gives the others the profile, `dhmc` reports them with the fix.
    #[test]
    fn without_a_profile_dhmc_serves_imdsv2_instances_and_the_mode_decides_the_others() {
        let mut v2 = instance("i-2", None);
        v2.imds_v2_required = true;
        let s = state(
            vec![v2, instance("i-1", None)],
            vec![profile("Connector", "", Some(("ConnectorRole", PolicyState::Attached)))],
        );
        let decisions =
            |reach, serves| plan(&s, &Policy { reach, dhmc: DhmcView { serves, ..DhmcView::default() }, ..policy() });
        let both = decisions(Reach::Both, true);
        assert!(matches!(both[0].1, Decision::ServedByDhmc { .. }), "{both:?}");
        assert!(matches!(both[1].1, Decision::Associate { .. }), "IMDSv1: the profile");
        let dhmc = decisions(Reach::Dhmc, true);
        match &dhmc[1].1 {
            Decision::DhmcCannotServe { reason } => {
                assert!(reason.contains("--instance-id i-1 --http-tokens required"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let off = decisions(Reach::Dhmc, false);
        assert!(matches!(&off[0].1, Decision::DhmcCannotServe { reason } if reason.contains("not on")), "{off:?}");
        let profiles = decisions(Reach::Profiles, true);
        assert!(profiles.iter().all(|(_, d)| matches!(d, Decision::Associate { .. })), "today's behaviour");
    }

    /// An IMDSv2 instance DHMC should reach but Systems Manager does not list an hour after its
    /// launch (its agent too old, or missing): `both` gives it the profile, `dhmc` reports it; a
    /// younger one, or one DHMC was turned on for in this very run, is left to DHMC.
    #[test]
    fn an_imdsv2_instance_dhmc_misses_for_an_hour_falls_back_to_the_profile_under_both() {
        let at = |id: &str, launched: i64| {
            let mut i = instance(id, None);
            (i.imds_v2_required, i.launched_at) = (true, Some(launched));
            i
        };
        let s = state(
            vec![at("i-old", 0), at("i-young", 3000), at("i-listed", 0)],
            vec![profile("Connector", "", Some(("ConnectorRole", PolicyState::Attached)))],
        );
        let managed: HashSet<String> = ["i-listed".to_string()].into();
        let view = |on_since| DhmcView { serves: true, on_since, managed: Some(&managed), now: 3600 };
        let decide = |reach, on_since| plan(&s, &Policy { reach, dhmc: view(on_since), ..policy() });
        let both = decide(Reach::Both, Some(0));
        assert!(matches!(both[0].1, Decision::Associate { .. }), "{both:?}");
        assert!(matches!(both[1].1, Decision::ServedByDhmc { .. }), "younger than an hour");
        assert!(matches!(both[2].1, Decision::ServedByDhmc { .. }), "listed: reached");
        let dhmc = decide(Reach::Dhmc, Some(0));
        assert!(matches!(&dhmc[0].1, Decision::DhmcCannotServe { reason } if reason.contains("older than 3.2.582.0")));
        let just_on = decide(Reach::Both, None);
        assert!(matches!(just_on[0].1, Decision::ServedByDhmc { .. }), "DHMC turned on by this run: not judged yet");
        let changed_lately = decide(Reach::Both, Some(1800));
        assert!(matches!(changed_lately[0].1, Decision::ServedByDhmc { .. }), "an hour from DHMC's last change");
    }

    #[test]
    fn connector_profile_whose_role_lacks_the_policy_is_associated_and_its_role_fixed() {
        let s = state(
            vec![instance("i-1", None)],
            vec![profile("Connector", "", Some(("ConnectorRole", PolicyState::Missing)))],
        );
        match decide_one(&s, &policy()) {
            Decision::Associate { attach: Some(role), .. } => assert_eq!(role.name, "ConnectorRole"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_connector_profile_is_reported_with_the_fix() {
        let s = state(vec![instance("i-1", None)], vec![("Connector".into(), ProfileLookup::Missing)]);
        match decide_one(&s, &policy()) {
            Decision::Leave { failed: true, reason, action } => {
                assert_eq!(action, action::ASSOCIATE);
                assert!(reason.contains("does not exist in account 111111111111"), "{reason}");
                assert!(reason.contains("INSTANCE_PROFILE_NAME"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn profile_with_path_and_compliant_role_is_left_alone() {
        let arn = "arn:aws:iam::111111111111:instance-profile/team/x/AppProfile";
        let s = state(
            vec![instance("i-1", Some((arn, Some("associated"))))],
            vec![profile("AppProfile", "team/x/", Some(("AppRole", PolicyState::Attached)))],
        );
        assert_eq!(
            decide_one(&s, &policy()),
            Decision::Compliant { profile: "AppProfile".into(), role: "AppRole".into() }
        );
    }

    #[test]
    fn role_lacking_the_policy_gets_it_once_per_role_when_allowed() {
        let arn = "arn:aws:iam::111111111111:instance-profile/App";
        let s = state(
            vec![instance("i-1", Some((arn, None))), instance("i-2", Some((arn, None)))],
            vec![profile("App", "", Some(("AppRole", PolicyState::Missing)))],
        );
        let decisions = plan(&s, &policy());
        assert_eq!(decisions.len(), 2);
        for (_, d) in decisions {
            match d {
                Decision::AttachPolicy { role, .. } => {
                    assert_eq!(role.arn, "arn:aws:iam::111111111111:role/AppRole")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn role_lacking_the_policy_is_reported_when_attaching_is_off() {
        let arn = "arn:aws:iam::111111111111:instance-profile/App";
        let s = state(
            vec![instance("i-1", Some((arn, None)))],
            vec![profile("App", "", Some(("AppRole", PolicyState::Missing)))],
        );
        let p = Policy { attach_to_existing_roles: false, ..policy() };
        match decide_one(&s, &p) {
            Decision::Leave { failed: true, reason, .. } => {
                assert!(reason.contains("ATTACH_POLICY_TO_EXISTING_ROLES"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn profile_without_role_or_vanished_profile_is_never_replaced() {
        let arn = "arn:aws:iam::111111111111:instance-profile/Empty";
        let s = state(vec![instance("i-1", Some((arn, None)))], vec![profile("Empty", "", None)]);
        assert!(
            matches!(decide_one(&s, &policy()), Decision::Leave { failed: true, ref reason, .. } if reason.contains("has no role"))
        );
        let gone = state(
            vec![instance("i-1", Some(("arn:aws:iam::1:instance-profile/Gone", None)))],
            vec![("Gone".into(), ProfileLookup::Missing)],
        );
        assert!(
            matches!(decide_one(&gone, &policy()), Decision::Leave { failed: true, ref reason, .. } if reason.contains("never replaces"))
        );
    }

    #[test]
    fn opted_out_in_flux_and_pending_instances_are_skipped() {
        let mut opted = instance("i-1", None);
        opted.left_alone = Some("opted out by tag opt-out".into());
        let flux = instance("i-2", Some(("arn:aws:iam::1:instance-profile/P", Some("associating"))));
        let mut pending = instance("i-3", None);
        pending.state = "pending".into();
        let s = state(vec![opted, flux, pending], vec![]);
        for (_, d) in plan(&s, &policy()) {
            assert!(matches!(d, Decision::Leave { failed: false, .. }), "{d:?}");
        }
    }

    #[test]
    fn disassociated_association_counts_as_no_profile() {
        let s = state(
            vec![instance("i-1", Some(("arn:aws:iam::1:instance-profile/Old", Some("disassociated"))))],
            vec![profile("Connector", "", Some(("ConnectorRole", PolicyState::Attached)))],
        );
        assert!(matches!(decide_one(&s, &policy()), Decision::Associate { .. }));
    }

    #[test]
    fn unreadable_role_policies_are_failures_not_guesses() {
        let arn = "arn:aws:iam::111111111111:instance-profile/App";
        let s = state(
            vec![instance("i-1", Some((arn, None)))],
            vec![profile("App", "", Some(("AppRole", PolicyState::Unknown("AccessDenied".into()))))],
        );
        assert!(
            matches!(decide_one(&s, &policy()), Decision::Leave { failed: true, ref reason, .. } if reason.contains("AccessDenied"))
        );
    }

    #[test]
    fn a_role_others_than_ec2_may_assume_never_gets_the_instance_policy() {
        let mut customer = profile("AppProfile", "", Some(("CiRole", PolicyState::Missing)));
        if let ProfileLookup::Found(p) = &mut customer.1 {
            p.roles[0].trust = Trust::Others("Federated token.actions.githubusercontent.com".into());
        }
        let arn = format!("arn:aws:iam::{ACCOUNT}:instance-profile/AppProfile");
        let s = state(vec![instance("i-1", Some((&arn, Some("associated"))))], vec![customer]);
        match decide_one(&s, &policy()) {
            Decision::Leave { failed: true, reason, .. } => {
                assert!(reason.contains("may also be assumed by Federated token.actions"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
