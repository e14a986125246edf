//! Who may assume a role, read from its trust policy (`AssumeRolePolicyDocument`, which IAM returns
//! URL-encoded: "The policy document returned in this structure is URL-encoded compliant with RFC
//! 3986", IAM API reference, `Role`). profile-scan gives Systems Manager's rights only to roles
//! that EC2 alone may assume: a role in an instance profile may also be a CI role or a person's
//! federated role, and attaching the instance policy to it would hand those principals Systems
//! Manager's rights.

use serde_json::Value;

/// EC2's service principal ("ec2.amazonaws.com"; in the China Regions, "ec2.amazonaws.com.cn").
const EC2_PRINCIPALS: [&str; 2] = ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"];

/// Who may assume a role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Trust {
    /// Only the EC2 service (every `Allow` statement names it and nothing else).
    Ec2Only,
    /// Someone else too: the principals found beside EC2, or instead of it.
    Others(String),
    /// The document could not be read: why.
    Unreadable(String),
}

/// The trust of a role whose `AssumeRolePolicyDocument` is `encoded` (URL-encoded JSON).
pub(crate) fn trust(encoded: Option<&str>) -> Trust {
    let Some(encoded) = encoded else {
        return Trust::Unreadable("IAM returned no trust policy".into());
    };
    let Some(text) = percent_decode(encoded) else {
        return Trust::Unreadable("its trust policy is not URL-encoded UTF-8".into());
    };
    let document: Value = match serde_json::from_str(&text) {
        Ok(document) => document,
        Err(e) => return Trust::Unreadable(format!("its trust policy is not JSON: {e}")),
    };
    let statements = match &document["Statement"] {
        Value::Array(list) => list.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => return Trust::Unreadable("its trust policy has no Statement".into()),
    };
    let mut others = Vec::new();
    let mut ec2 = false;
    for statement in statements.iter().filter(|s| s["Effect"] == "Allow") {
        match &statement["Principal"] {
            Value::Object(principal) => {
                for (kind, names) in principal {
                    for name in strings(names) {
                        if kind == "Service" && EC2_PRINCIPALS.contains(&name.as_str()) {
                            ec2 = true;
                        } else {
                            others.push(format!("{kind} {name}"));
                        }
                    }
                }
            }
            other => others.push(format!("Principal {other}")),
        }
    }
    match (ec2, others.is_empty()) {
        (true, true) => Trust::Ec2Only,
        (false, true) => Trust::Others("no principal".into()),
        _ => Trust::Others(others.join(", ")),
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect(),
        other => vec![other.to_string()],
    }
}

/// RFC 3986 percent-decoding (`+` is left as it is: IAM encodes spaces as `%20`); `None` for a
/// broken escape or bytes that are not UTF-8. A document that is plain JSON decodes to itself.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(json: &str) -> String {
        json.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[test]
    fn only_a_role_ec2_alone_may_assume_is_ec2_only() {
        let ec2 = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert_eq!(trust(Some(&encoded(ec2))), Trust::Ec2Only);
        assert_eq!(trust(Some(ec2)), Trust::Ec2Only, "plain JSON too");
        let listed = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}}"#;
        assert_eq!(trust(Some(&encoded(listed))), Trust::Ec2Only);
        let ci = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#;
        assert!(
            matches!(trust(Some(&encoded(ci))), Trust::Others(who) if who.contains("token.actions.githubusercontent.com"))
        );
        let person = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"],"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}"#;
        assert!(
            matches!(trust(Some(&encoded(person))), Trust::Others(who) if who.contains("AWS arn:aws:iam::111111111111:root"))
        );
        let anyone = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}"#;
        assert!(matches!(trust(Some(&encoded(anyone))), Trust::Others(_)));
        let denied_only = r#"{"Statement":[{"Effect":"Deny","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert!(matches!(trust(Some(&encoded(denied_only))), Trust::Others(_)));
        assert!(matches!(trust(Some("%zz")), Trust::Unreadable(_)));
        assert!(matches!(trust(None), Trust::Unreadable(_)));
    }
}
