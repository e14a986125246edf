//! The accepted forms of the Azure target's values: the same rules as the SSM documents'
//! `allowedPattern` (`cfn/ssm/parameters.json`), so a bad value stops the function at cold start
//! instead of reaching SendCommand.

/// True for a GUID (`8-4-4-4-12` hex digits).
pub(crate) fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Azure resource group name: 1-90 of letters, digits, `.`, `_`, `(`, `)`, `-`.
pub(crate) fn is_resource_group(s: &str) -> bool {
    (1..=90).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._()-".contains(&b))
}

/// Placeholder of `ARC_RESOURCE_GROUP` for a resource group per AWS account.
pub(crate) const ACCOUNT_PLACEHOLDER: &str = "{accountId}";

/// A resource group name, or a template holding [`ACCOUNT_PLACEHOLDER`] once that is a resource
/// group name for every account id (e.g. `aws_{accountId}`).
pub(crate) fn is_resource_group_template(s: &str) -> bool {
    match s.matches(ACCOUNT_PLACEHOLDER).count() {
        0 => is_resource_group(s),
        1 => is_resource_group(&s.replace(ACCOUNT_PLACEHOLDER, "123456789012")),
        _ => false,
    }
}

/// Azure location: 1-40 lowercase letters and digits.
pub(crate) fn is_location(s: &str) -> bool {
    (1..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Connector id: a letter or digit, then up to 89 letters, digits, `.`, `_`, `-`.
pub(crate) fn is_connector_id(s: &str) -> bool {
    (1..=90).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `http(s)://host[:port][/]`, host of letters, digits, `.`, `-`.
pub(crate) fn is_proxy_url(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://")) else {
        return false;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    (1..=253).contains(&host.len())
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `https://host[:port]` with an optional trailing `/`: an Entra authority host.
pub(crate) fn is_authority_host(s: &str) -> bool {
    s.starts_with("https://") && is_proxy_url(s)
}

/// Azure Arc private link scope resource id.
pub(crate) fn is_private_link_scope(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == 9
        && parts[0].is_empty()
        && parts[1] == "subscriptions"
        && parts[2].len() == 36
        && parts[2].bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && parts[3] == "resourceGroups"
        && is_resource_group(parts[4])
        && parts[5] == "providers"
        && parts[6] == "Microsoft.HybridCompute"
        && parts[7] == "privateLinkScopes"
        && (1..=64).contains(&parts[8].len())
        && parts[8].bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// SSM parameter name: optional leading `/`, segments of 1-128 letters, digits, `_`, `.`, `-`, at most 15.
pub(crate) fn is_parameter_name(s: &str) -> bool {
    let body = s.strip_prefix('/').unwrap_or(s);
    let segments: Vec<&str> = body.split('/').collect();
    segments.len() <= 15
        && segments.iter().all(|seg| {
            (1..=128).contains(&seg.len()) && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        })
}

/// SSM document name: 3-128 letters, digits, `_`, `-`, `.`.
pub(crate) fn is_document_name(s: &str) -> bool {
    (3..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// SendCommand rate: `1`-`10000`-ish number, or `1%`-`100%`.
pub(crate) fn is_rate(s: &str) -> bool {
    let digits = s.strip_suffix('%').unwrap_or(s);
    (1..=7).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (!s.ends_with('%') || digits.parse::<u32>().is_ok_and(|n| (1..=100).contains(&n)))
}
