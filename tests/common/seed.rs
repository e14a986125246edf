//! Seeding and reading AWS state on the emulator, with the real SDK clients.

use aws_config::{Region, SdkConfig};
use aws_sdk_ec2::types::{IamInstanceProfileSpecification, ResourceType, Tag, TagSpecification};

/// `AmazonSSMManagedInstanceCore`.
pub const SSM_CORE: &str = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
/// Systems Manager's policy without Parameter Store reads (`INSTANCE_POLICY=narrow`, the default).
pub const SSM_DEFAULT_HOST: &str = "arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy";
/// The connector's default instance profile (what the member template creates).
pub const CONNECTOR_PROFILE: &str = "MdcConnectorInstanceProfile";
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

pub fn ec2(config: &SdkConfig, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(config).region(Region::new(region.to_string())).build(),
    )
}

pub fn iam(config: &SdkConfig) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(config)
}

/// Creates the organization (management = moto's default account) and `n` member accounts.
pub async fn organization(management: &SdkConfig, n: usize) -> Vec<String> {
    let org = aws_sdk_organizations::Client::new(management);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .expect("create org");
    let mut members = Vec::new();
    for i in 0..n {
        let out = org
            .create_account()
            .account_name(format!("member-{i}"))
            .email(format!("member-{i}@example.com"))
            .send()
            .await
            .expect("create account");
        members.push(out.create_account_status().and_then(|s| s.account_id()).expect("account id").to_string());
    }
    members
}

/// Creates a role (optionally at a path, optionally carrying the SSM policy) and a profile holding it.
pub async fn profile(config: &SdkConfig, path: &str, profile: &str, role: Option<(&str, bool)>) -> String {
    let iam = iam(config);
    let out =
        iam.create_instance_profile().instance_profile_name(profile).path(path).send().await.expect("create profile");
    if let Some((role, with_policy)) = role {
        iam.create_role()
            .role_name(role)
            .path(path)
            .assume_role_policy_document(TRUST)
            .send()
            .await
            .expect("create role");
        if with_policy {
            iam.attach_role_policy().role_name(role).policy_arn(SSM_CORE).send().await.expect("attach");
        }
        iam.add_role_to_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
            .await
            .expect("add role");
    }
    out.instance_profile().expect("profile").arn().to_string()
}

/// The connector's profile and role, as the member template makes them.
pub async fn connector_profile(config: &SdkConfig) -> String {
    profile(config, "/", CONNECTOR_PROFILE, Some(("MdcConnectorInstanceRole", true))).await
}

/// Launches one instance, optionally tagged and with a profile; returns its id.
pub async fn instance(config: &SdkConfig, region: &str, tags: &[(&str, &str)], profile: Option<&str>) -> String {
    let mut request = ec2(config, region)
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro);
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        request = request.tag_specifications(spec.build());
    }
    if let Some(p) = profile {
        request = request.iam_instance_profile(IamInstanceProfileSpecification::builder().name(p).build());
    }
    let out = request.send().await.expect("run instances");
    out.instances()[0].instance_id().expect("id").to_string()
}

/// ARN of the profile associated with an instance, if any.
pub async fn profile_of(config: &SdkConfig, region: &str, instance_id: &str) -> Option<String> {
    let out = ec2(config, region)
        .describe_iam_instance_profile_associations()
        .filters(aws_sdk_ec2::types::Filter::builder().name("instance-id").values(instance_id).build())
        .send()
        .await
        .expect("describe associations");
    out.iam_instance_profile_associations()
        .iter()
        .find(|a| a.state().map(|s| s.as_str()) != Some("disassociated"))
        .and_then(|a| a.iam_instance_profile())
        .and_then(|p| p.arn())
        .map(String::from)
}

/// Whether a role carries a Systems Manager policy (`AmazonSSMManagedInstanceCore` or, narrow, the default host policy).
pub async fn role_has_ssm_policy(config: &SdkConfig, role: &str) -> bool {
    let out = iam(config).list_attached_role_policies().role_name(role).send().await.expect("list policies");
    out.attached_policies().iter().any(|p| [Some(SSM_CORE), Some(SSM_DEFAULT_HOST)].contains(&p.policy_arn()))
}

/// Creates one more member account in the existing organization.
pub async fn organization_account(management: &SdkConfig, name: &str) -> String {
    let out = aws_sdk_organizations::Client::new(management)
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .expect("create account");
    out.create_account_status().and_then(|s| s.account_id()).expect("account id").to_string()
}

/// Deploys `cfn/member.yaml` as a plain stack in one region of an account, with the global (IAM)
/// resources in that region; returns once it is created.
pub async fn member_stack(config: &SdkConfig, region: &str, management: &str, organization: &str) {
    let template = std::fs::read_to_string(super::moto::repo_root().join("cfn/member.yaml")).expect("member.yaml");
    let param = |key: &str, value: &str| {
        aws_sdk_cloudformation::types::Parameter::builder().parameter_key(key).parameter_value(value).build()
    };
    aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(config).region(Region::new(region.to_string())).build(),
    )
    .create_stack()
    .stack_name("mdc-connector-member")
    .template_body(template)
    .parameters(param("ConnectorAccountId", management))
    .parameters(param("OrganizationId", organization))
    .parameters(param("GlobalResourcesRegion", region))
    .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
    .send()
    .await
    .expect("member stack deploys");
}

/// Creates the self-managed StackSet `name` from `cfn/member.yaml` (no instances), with the
/// global (IAM) resources in `region`, whose member roles trust `functions_account` (the account
/// running the functions: the management account or a delegated administrator): what `sam deploy`
/// leaves for account-discovery.
pub async fn member_stack_set(
    management: &SdkConfig,
    name: &str,
    region: &str,
    organization: &str,
    functions_account: &str,
) {
    let template = std::fs::read_to_string(super::moto::repo_root().join("cfn/member.yaml")).expect("member.yaml");
    let param = |key: &str, value: &str| {
        aws_sdk_cloudformation::types::Parameter::builder().parameter_key(key).parameter_value(value).build()
    };
    aws_sdk_cloudformation::Client::new(management)
        .create_stack_set()
        .stack_set_name(name)
        .template_body(template)
        .parameters(param("ConnectorAccountId", functions_account))
        .parameters(param("OrganizationId", organization))
        .parameters(param("GlobalResourcesRegion", region))
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .expect("the member StackSet");
}

/// The organization's id.
pub async fn organization_id(management: &SdkConfig) -> String {
    let org = aws_sdk_organizations::Client::new(management).describe_organization().send().await.expect("org");
    org.organization().and_then(|o| o.id()).expect("org id").to_string()
}

/// Name of the SecureString holding the Arc onboarding secret (management account).
pub const ARC_SECRET_PARAMETER: &str = "/mdc-connector/arc/service-principal-secret";

/// The Azure target the tests give arc-provisioner: no secret anywhere (the function signs in to
/// Entra with an AWS identity token; `azure_federation` sets both sides up).
pub const ARC_ENV: [(&str, &str); 8] = [
    ("ARC_TENANT_ID", "11111111-2222-3333-4444-555555555555"),
    ("ARC_SUBSCRIPTION_ID", "aaaaaaaa-2222-3333-4444-555555555555"),
    ("ARC_RESOURCE_GROUP", "rg-arc"),
    ("ARC_LOCATION", "westeurope"),
    ("ARC_CONNECTOR_ID", "mdc-connector-1"),
    ("ARC_SERVICE_PRINCIPAL_ID", "bbbbbbbb-2222-3333-4444-555555555555"),
    // The sweep's own application (it never signs in as the onboarding one).
    ("ARC_SWEEP_SERVICE_PRINCIPAL_ID", ARC_SWEEPER),
    // The inventory table (`azure_federation` makes it, as the template does).
    ("ARC_INVENTORY_TABLE", ARC_INVENTORY_TABLE),
];

/// The inventory table of the tests.
pub const ARC_INVENTORY_TABLE: &str = "mdc-connector-arc-inventory";

/// The sweep's application in the tests.
pub const ARC_SWEEPER: &str = "cccccccc-2222-3333-4444-555555555555";

/// The opt-in fallback: sign in with the client secret kept in `ARC_SECRET_PARAMETER`.
pub const ARC_SECRET_SOURCE: (&str, &str) = ("ARC_CREDENTIAL_PARAMETER", ARC_SECRET_PARAMETER);

/// Secretless Azure sign-in for the identity of `config` (the one the function runs as): outbound
/// identity federation enabled in its account, and the onboarding application (`ARC_ENV`'s service
/// principal) trusting that account's issuer and this caller as subject, for Entra's audience.
/// Returns the (issuer, subject) pair. Also makes arc-provisioner's inventory table there, as the
/// template does.
pub async fn azure_federation(moto: &super::moto::Moto, config: &SdkConfig) -> (String, String) {
    arc_inventory(config).await;
    let iam = iam(config);
    let issuer = match iam.get_outbound_web_identity_federation_info().send().await {
        Ok(info) => info.issuer_identifier().unwrap_or_default().to_string(),
        Err(_) => {
            let enabled = iam.enable_outbound_web_identity_federation().send().await.expect("enable federation");
            enabled.issuer_identifier().unwrap_or_default().to_string()
        }
    };
    let caller = aws_sdk_sts::Client::new(config).get_caller_identity().send().await.expect("caller");
    // "Understanding token claims": `sub` is the role's ARN for a role session.
    let arn = caller.arn().unwrap_or_default();
    let subject = match arn.split_once(":assumed-role/") {
        Some((head, rest)) => {
            let role = rest.split('/').next().unwrap_or_default();
            format!("{}:role/{role}", head.replacen(":sts:", ":iam:", 1))
        }
        None => arn.to_string(),
    };
    let trust =
        serde_json::json!([{"issuer": issuer, "subject": subject, "audiences": ["api://AzureADTokenExchange"]}]);
    moto.entra(serde_json::json!({"federated": {ARC_ENV[5].1: trust, ARC_SWEEPER: trust}}));
    (issuer, subject)
}

/// arc-provisioner's inventory table (`ARC_INVENTORY_TABLE`) in `config`'s account and region, keyed
/// as `cfn/template.yaml` makes it; an existing one is kept.
pub async fn arc_inventory(config: &SdkConfig) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("key")
    };
    let created = aws_sdk_dynamodb::Client::new(config)
        .create_table()
        .table_name(ARC_INVENTORY_TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await;
    if let Err(e) = created {
        let code = aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e).unwrap_or_default().to_string();
        assert_eq!(code, "ResourceInUseException", "create the inventory table: {e:?}");
    }
}

/// Stores the onboarding secret where arc-provisioner reads it (the config's account and region).
pub async fn arc_secret(config: &SdkConfig, value: &str) {
    aws_sdk_ssm::Client::new(config)
        .put_parameter()
        .name(ARC_SECRET_PARAMETER)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("onboarding secret");
}

/// moto ignores `ManagedPolicyArns`: gives the member template's instance role the policy the
/// template declares (asserted on the template text in tests/templates.rs): Systems Manager's
/// default host management policy, alone.
pub async fn instance_role_policy(config: &SdkConfig) {
    iam(config)
        .attach_role_policy()
        .role_name("MdcConnectorInstanceRole")
        .policy_arn("arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy")
        .send()
        .await
        .expect("the member template's instance role policy");
}
