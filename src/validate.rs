//! Strict validators for identifiers that come from configuration or events.

/// True for a 12-digit AWS account id.
pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// True for a region name such as `us-east-1`, `eu-central-2`, `us-gov-west-1`.
pub(crate) fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && s.len() <= 32
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts.last().is_some_and(|p| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// True for an EC2 instance id (`i-` and 8 or 17 hex digits).
pub(crate) fn is_instance_id(s: &str) -> bool {
    s.strip_prefix("i-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// True for an IAM name (role or instance profile), optionally preceded by a path for roles:
/// `[\w+=,.@-]{1,64}` per segment.
pub(crate) fn is_iam_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// True for an IAM role given as `name` or `path/name` (no leading or trailing slash).
pub(crate) fn is_role_ref(s: &str) -> bool {
    let segments: Vec<&str> = s.split('/').collect();
    segments.last().is_some_and(|n| is_iam_name(n, 64)) && segments.iter().all(|seg| is_iam_name(seg, 512))
}

/// True for a usable EC2 tag key: 1 to 128 characters, not reserved (`aws:`), no control characters.
pub(crate) fn is_tag_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= 128
        && !s.to_ascii_lowercase().starts_with("aws:")
        && !s.chars().any(char::is_control)
}

/// True for a Systems Manager parameter name in a hierarchy: a leading `/`, then letters, digits
/// and `_.-/` ("Parameter names can include only the following symbols and letters:
/// a-zA-Z0-9_.-"; "the slash character ( / ) is used to delineate hierarchies"), not prefixed
/// with `aws` or `ssm` ("A parameter name can't be prefixed with "aws" or "ssm""), at most 1011.
pub(crate) fn is_parameter_name(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    s.len() <= 1011
        && s.len() > 1
        && s.starts_with('/')
        && !lower.starts_with("/aws")
        && !lower.starts_with("/ssm")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_identifiers() {
        assert!(is_account_id("123456789012"));
        for r in ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-7", "il-central-1"] {
            assert!(is_region(r), "{r}");
        }
        assert!(is_instance_id("i-0123456789abcdef0"));
        assert!(is_instance_id("i-01234567"));
        assert!(is_role_ref("team/x/ConnectorRole"));
        assert!(is_tag_key("connector:opt-out"));
    }

    #[test]
    fn rejects_hostile_or_malformed_values() {
        for a in ["12345678901", "1234567890123", "12345678901a", "", "123456789012\n"] {
            assert!(!is_account_id(a), "{a:?}");
        }
        for r in ["us-east", "US-EAST-1", "us-east-1;rm", "us--1", "", "useast1"] {
            assert!(!is_region(r), "{r:?}");
        }
        for i in ["i-123", "i-0123456789ABCDEF0", "i-0123456789abcdef0;", "x-01234567", "i-$(id)xx"] {
            assert!(!is_instance_id(i), "{i:?}");
        }
        for n in ["", "role name", "/lead", "trail/", "a$b", "r\n"] {
            assert!(!is_role_ref(n), "{n:?}");
        }
        assert!(!is_tag_key("aws:cloudformation"));
        assert!(!is_tag_key(""));
    }
}
