//! The templates in `cfn/` against the code: the member template deployed into the emulator must
//! give profile-scan exactly the role and profile names it uses by default.

mod common;

use common::moto::{Moto, repo_root};
use common::seed;
use connector_engine::config::{Config, DEFAULT_INSTANCE_PROFILE, DEFAULT_MEMBER_ROLE};
use connector_engine::profile::ProfileScan;
use connector_engine::report::Status;
use serde_json::json;

const REGION: &str = "eu-west-1";

fn template(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("cfn").join(name)).expect("template")
}

#[tokio::test]
async fn member_template_gives_profile_scan_the_names_it_uses() {
    let moto = Moto::start();
    let management = moto.management_config().await;
    let members = seed::organization(&management, 1).await;
    let org_id = seed::organization_id(&management).await;
    let member = moto.account_config(&members[0]).await;
    let mut instances = Vec::new();
    for config in [&management, &member] {
        seed::member_stack(config, REGION, "123456789012", &org_id).await;
        instances.push((config.clone(), seed::instance(config, REGION, &[], None).await));
    }

    let job = ProfileScan::new(Config { regions: Some(vec![REGION.into()]), ..Config::default() }, management.clone());
    let report = job.handle(&json!({"action": "scan"}), None).await.expect("scan");
    assert_eq!(report.summary.failed, 0, "{:#?}", report.items);
    for (config, id) in &instances {
        let profile = seed::profile_of(config, REGION, id).await.unwrap_or_default();
        assert!(profile.ends_with(&format!(":instance-profile/{DEFAULT_INSTANCE_PROFILE}")), "{profile}");
        let item = report.items.iter().find(|i| &i.resource_id == id).expect("item");
        assert_eq!(item.status, Status::Done, "{item:?}");
        assert!(seed::role_has_ssm_policy(config, "MdcConnectorInstanceRole").await);
    }
}

#[test]
fn templates_agree_with_the_code_where_the_emulator_cannot_check() {
    let member = template("member.yaml");
    // moto ignores ManagedPolicyArns: the instance role must carry the policy by template.
    assert!(member.contains(
        "ManagedPolicyArns:\n        - !Sub arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
    ));
    assert!(member.contains(&format!("Default: {DEFAULT_MEMBER_ROLE}")));
    assert!(member.contains(&format!("Default: {DEFAULT_INSTANCE_PROFILE}")));
    // trust pinned to the organization and to the connector's function roles
    assert!(member.contains("aws:PrincipalOrgID: !Ref OrganizationId"));
    assert!(member.contains("role/mdc-connector-*"));
    let management = template("template.yaml");
    assert!(
        management.contains("RoleName: mdc-connector-profile-scan"),
        "function role matches the member trust pattern"
    );
    assert!(management.contains("Binary: profile-scan"));
    for variable in [
        "CONNECTOR_REGIONS",
        "CONNECTOR_EXCLUDED_ACCOUNTS",
        "CONNECTOR_MEMBER_ROLE",
        "CONNECTOR_OPT_OUT_TAG",
        "CONNECTOR_DRY_RUN",
        "INSTANCE_PROFILE_NAME",
        "ATTACH_POLICY_TO_EXISTING_ROLES",
    ] {
        assert!(management.contains(&format!("{variable}: !Ref")), "{variable} is a template parameter");
    }
}
