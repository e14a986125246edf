//! The templates in `cfn/` against the code: the member template deployed into the emulator (plain
//! stack in the management account, StackSet instances in members) must give the functions exactly
//! the names they use by default; what the emulator cannot check (managed policies, the OIDC
//! provider, the management template) is asserted on the template text.

mod common;

use common::moto::{Moto, repo_root};
use common::seed;
use connector_engine::arc::ArcProvisioner;
use connector_engine::arc::ArcSettings;
use connector_engine::arc::settings::{DEFAULT_LINUX_DOCUMENT, DEFAULT_PROVISIONING_ROLE, DEFAULT_WINDOWS_DOCUMENT};
use connector_engine::config::Fleet;
use connector_engine::profile::{DEFAULT_INSTANCE_PROFILE, DEFAULT_MEMBER_ROLE, ProfileScan, ProfileSettings};
use connector_engine::report::Status;
use serde_json::json;

const REGION: &str = "eu-west-1";

fn template(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("cfn").join(name)).expect("template")
}

#[tokio::test]
async fn member_template_gives_the_functions_the_names_they_use() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 2).await;
    let org_id = seed::organization_id(&management).await;
    // The management account gets a plain stack; the members get StackSet instances.
    seed::member_stack(&management, REGION, "123456789012", &org_id).await;
    let cfn = aws_sdk_cloudformation::Client::new(&management);
    seed::member_stack_set(&management, "mdc-connector-members", REGION, &org_id, "123456789012").await;
    cfn.create_stack_instances()
        .stack_set_name("mdc-connector-members")
        .set_accounts(Some(members.clone()))
        .regions(REGION)
        .send()
        .await
        .expect("stack instances in the members");
    let mut instances = Vec::new();
    for account in std::iter::once("123456789012".to_string()).chain(members.iter().cloned()) {
        let config = if account == "123456789012" { management.clone() } else { moto.account_config(&account).await };
        instances.push((config.clone(), seed::instance(&config, REGION, &[], None).await));
    }

    // profile-scan assumes the template's member role and gives the template's profile.
    let settings = ProfileSettings {
        fleet: Fleet { regions: Some(vec![REGION.into()]), ..Fleet::default() },
        ..ProfileSettings::default()
    };
    let job = ProfileScan::new(settings, management.clone());
    let report = job.handle(&json!({"action": "scan"}), None).await.expect("scan");
    assert_eq!(report.summary.failed, 0, "{:#?}", report.items);
    for (config, id) in &instances {
        let profile = seed::profile_of(config, REGION, id).await.unwrap_or_default();
        assert!(profile.ends_with(&format!(":instance-profile/{DEFAULT_INSTANCE_PROFILE}")), "{profile}");
        let item = report.items.iter().find(|i| &i.resource_id == id).expect("item");
        assert_eq!(item.status, Status::Done, "{item:?}");
        assert!(seed::role_has_ssm_policy(config, "MdcConnectorInstanceRole").await);
    }

    // arc-provisioner finds the template's documents and the member role may send them: every
    // instance is connected.
    seed::azure_federation(&moto, &management).await;
    let authority = moto.entra_authority();
    let vars: std::collections::HashMap<&str, &str> = seed::ARC_ENV
        .iter()
        .chain(&[
            ("CONNECTOR_REGIONS", REGION),
            ("ARC_AUTHORITY_HOST", authority.as_str()),
            ("ARC_RESOURCE_MANAGER_HOST", authority.as_str()),
        ])
        .copied()
        .collect();
    let settings = ArcSettings::from_lookup(|k| vars.get(k).map(|v| v.to_string())).expect("settings");
    let arc = ArcProvisioner::new(settings, management.clone());
    let report = arc
        .handle(
            &json!({"version":"0","id":"t","detail-type":"Scheduled Event","source":"aws.events",
        "account":"123456789012","time":"2026-11-29T00:00:00Z","region":"us-east-1","resources":[],"detail":{}}),
            None,
        )
        .await
        .expect("arc run");
    for (_, id) in &instances {
        let item = report.items.iter().find(|i| &i.resource_id == id).expect("item");
        assert_eq!(item.outcome.map(|o| o.as_str()), Some("connected"), "{item:?}");
    }
}

#[test]
fn templates_agree_with_the_code_where_the_emulator_cannot_check() {
    let member = template("member.yaml");
    // moto ignores ManagedPolicyArns: the instance role must carry the narrow policy alone by
    // template (seed::instance_role_policy gives it the same in the emulator).
    assert!(member.contains(
        "ManagedPolicyArns:\n        - !Sub arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy\n\n"
    ));
    assert!(!member.contains("AWS::IAM::ManagedPolicy") && !member.contains("AWS::KMS::"), "nothing staged");
    assert!(
        !member.contains("iam::aws:policy/AmazonSSMManagedInstanceCore\n        - !Ref"),
        "not Core on the connector's role"
    );
    assert!(member.contains(&format!("Default: {DEFAULT_MEMBER_ROLE}")));
    assert!(member.contains(&format!("Default: {DEFAULT_INSTANCE_PROFILE}")));
    // trust pinned to the organization and to the connector's function roles
    assert!(member.contains("aws:PrincipalOrgID: !Ref OrganizationId"));
    assert!(member.contains("role/mdc-connector-profile-scan"), "the member role trusts profile-scan only");
    assert!(member.contains("role/mdc-connector-arc-provisioner"), "the provisioning role trusts arc-provisioner only");
    assert!(member.contains(&format!("Default: {DEFAULT_PROVISIONING_ROLE}")));
    assert!(!member.contains("role/mdc-connector-*"), "no wildcard trust");
    let management = template("template.yaml");
    assert!(
        management.contains("RoleName: mdc-connector-profile-scan"),
        "function role matches the member trust pattern"
    );
    for binary in ["profile-scan", "account-discovery", "arc-provisioner"] {
        assert!(management.contains(&format!("Binary: {binary}")), "{binary}");
        assert!(management.contains(&format!("RoleName: mdc-connector-{binary}")), "{binary} role matches the trust");
    }
    for schedule in ["Default: rate(30 days)", "Default: rate(1 day)", "Default: rate(1 hour)"] {
        assert!(management.contains(schedule), "{schedule}");
    }
    assert!(management.contains("aws:PrincipalOrgID: !Ref OrganizationId"), "the bus admits the organization only");
    assert!(
        management.contains("source: [aws.organizations]")
            && management.contains("Condition: InOrganizationsHomeRegion")
    );
    assert!(management.contains("Destination: !GetAtt ArcProvisionerFunction.Arn"), "profile-scan reports to arc");
    // The documents and the OIDC trust, as the code and the service expect them; no role writes
    // a parameter (the credential travels sealed in the command).
    assert!(member.contains(&format!("Default: {DEFAULT_LINUX_DOCUMENT}")));
    assert!(member.contains(&format!("Default: {DEFAULT_WINDOWS_DOCUMENT}")));
    assert!(!member.contains("ssm:PutParameter") && !management.contains("ssm:PutParameter"), "nothing staged");
    assert!(member.contains("Type: AWS::IAM::OIDCProvider"));
    assert!(
        member.contains("ThumbprintList: !If [HasThumbprint, [!Ref OidcThumbprint], !Ref AWS::NoValue]")
            && member.contains("ClientIdList: [!Ref OidcAudience]")
    );
    assert!(member.contains(r#""${OidcIssuerHostPath}:aud": "${OidcAudience}""#), "trust pinned to the audience");
    assert!(member.contains(r#""${OidcIssuerHostPath}:sub": "${OidcSubject}""#), "trust pinned to the subject");
    assert!(member.contains("Default: CspmMonitorAws"));
    assert!(member.contains("policy/ReadOnlyAccess") && member.contains("policy/SecurityAudit"));
    assert!(member.contains("- billing:*") && member.contains("- ce:*"), "read-only minus billing");
    for template in [&member, &management] {
        assert!(!template.contains("AWS::S3::Bucket"), "no bucket (any bucket would need a TLS-only policy)");
    }
    for variable in [
        "CONNECTOR_EXCLUDED_ACCOUNTS",
        "CONNECTOR_OPT_IN_TAG",
        "CONNECTOR_MEMBER_ROLE",
        "CONNECTOR_OPT_OUT_TAG",
        "CONNECTOR_DRY_RUN",
        "INSTANCE_PROFILE_NAME",
        "ATTACH_POLICY_TO_EXISTING_ROLES",
        "CONNECTOR_CONCURRENCY",
        "STACKSET_NAME",
        "STACKSET_REGIONS",
        "STACKSET_RETRY_FAILED",
        "STACKSET_REMOVE_DEPARTED",
        "STACKSET_CALL_AS",
        "STACKSET_ACTIVATE_ORGANIZATIONS_ACCESS",
        "MANAGEMENT_STACK_NAME",
        "CONNECTOR_EVENT_BUS",
        "ARC_MEMBER_ROLE",
        "ARC_TENANT_ID",
        "ARC_SUBSCRIPTION_ID",
        "ARC_RESOURCE_GROUP",
        "ARC_LOCATION",
        "ARC_CLOUD",
        "ARC_CONNECTOR_ID",
        "ARC_PROXY_URL",
        "ARC_PRIVATE_LINK_SCOPE",
        "ARC_SERVICE_PRINCIPAL_ID",
        "ARC_CREDENTIAL_PARAMETER",
        "ARC_LINUX_DOCUMENT",
        "ARC_WINDOWS_DOCUMENT",
        "ARC_MAX_CONCURRENCY",
        "ARC_MAX_ERRORS",
        "ARC_MAX_DELIVERIES",
    ] {
        assert!(management.contains(&format!("{variable}: !Ref")), "{variable} is a template parameter");
    }
    // One regions truth: the functions' regions are the StackSet's unless given (and then equal).
    let regions =
        "CONNECTOR_REGIONS: !If [ConnectorRegionsFollowTheStackSet, !Ref StackSetRegions, !Ref ConnectorRegions]";
    assert_eq!(management.matches(regions).count(), 2, "profile-scan's and arc-provisioner's CONNECTOR_REGIONS");
}

/// Deleting the member stack (or removing the account from the StackSet with its stack deleted)
/// never pulls the instance role and profile from under running instances: both are retained,
/// while the roles the functions assume go with the stack.
#[tokio::test]
async fn deleting_the_member_stack_keeps_what_live_instances_use() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    seed::organization(&management, 1).await;
    let org_id = seed::organization_id(&management).await;
    seed::member_stack(&management, REGION, "123456789012", &org_id).await;
    let iam = seed::iam(&management);
    assert!(iam.get_instance_profile().instance_profile_name(DEFAULT_INSTANCE_PROFILE).send().await.is_ok());

    let cfn = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&management).region(aws_config::Region::new(REGION)).build(),
    );
    cfn.delete_stack().stack_name("mdc-connector-member").send().await.expect("delete the member stack");

    assert!(
        iam.get_instance_profile().instance_profile_name(DEFAULT_INSTANCE_PROFILE).send().await.is_ok(),
        "the instance profile is retained"
    );
    assert!(iam.get_role().role_name("MdcConnectorInstanceRole").send().await.is_ok(), "the instance role is retained");
    assert!(iam.get_role().role_name(DEFAULT_MEMBER_ROLE).send().await.is_err(), "the member role is deleted");
}
