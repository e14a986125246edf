//! Whether a custom resource request can come from CloudFormation for this function: its
//! `ResponseURL` is CloudFormation's response bucket and its `ServiceToken` is this function.
//!
//! "The response URL ... is an Amazon S3 pre-signed URL" (custom resource request objects,
//! `ResponseURL`); CloudFormation's pre-signed URLs point into its regional response buckets,
//! `cloudformation-custom-resource-response-<region>` (`.s3.amazonaws.com`, `.s3.<region>.amazonaws.com`,
//! `.s3-<region>.amazonaws.com`, and `.amazonaws.com.cn` in China). A request naming any other
//! URL did not come from CloudFormation: it is neither acted on nor answered (answering would make
//! the function `PUT` to wherever the sender chose).

use reqwest::Url;

/// Prefix of CloudFormation's response buckets.
const RESPONSE_BUCKET: &str = "cloudformation-custom-resource-response-";

/// Whether `url` is a pre-signed URL of CloudFormation's response bucket over HTTPS. `emulator`
/// is the host of `AWS_ENDPOINT_URL` when one is configured (the local emulator): URLs of that
/// host are accepted too, over HTTP or HTTPS.
pub(crate) fn is_cloudformation_response_url(url: &str, emulator: Option<&str>) -> bool {
    let Ok(parsed) = Url::parse(url) else {
        return false;
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return false;
    }
    let Some(host) = parsed.host_str() else {
        return false;
    };
    if emulator.is_some_and(|local| local == host) && matches!(parsed.scheme(), "http" | "https") {
        return true;
    }
    let in_s3 = host
        .strip_prefix(RESPONSE_BUCKET)
        .and_then(|rest| rest.split_once('.').map(|(_region, service)| service))
        .is_some_and(|service| {
            (service.starts_with("s3.") || service.starts_with("s3-"))
                && (service.ends_with(".amazonaws.com") || service.ends_with(".amazonaws.com.cn"))
        });
    parsed.scheme() == "https" && parsed.port().is_none() && in_s3 && parsed.query().is_some()
}

/// A Lambda function ARN without its version or alias qualifier.
fn unqualified(arn: &str) -> &str {
    let mut colons = arn.match_indices(':').map(|(i, _)| i);
    colons.nth(6).map_or(arn, |seventh| &arn[..seventh])
}

/// Whether the request's `ServiceToken` is this function (`own`: the ARN it was invoked as),
/// qualifiers aside.
pub(crate) fn names_this_function(service_token: Option<&str>, own: &str) -> bool {
    service_token.is_some_and(|token| unqualified(token) == unqualified(own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cloudformations_presigned_response_urls_are_answered() {
        let good = [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws%3Acloudformation/abc?X-Amz-Signature=1",
            "https://cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com/x?Signature=1",
            "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/x?Signature=1",
        ];
        for url in good {
            assert!(is_cloudformation_response_url(url, None), "{url}");
        }
        let bad = [
            "http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?Signature=1",
            "https://attacker.example/cloudformation-custom-resource-response-useast1.s3.amazonaws.com?x=1",
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.attacker.example/x?s=1",
            "https://user:pw@cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?s=1",
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",
            "https://my-bucket.s3.amazonaws.com/x?Signature=1",
            "https://169.254.169.254/latest/meta-data?x=1",
            "not a url",
        ];
        for url in bad {
            assert!(!is_cloudformation_response_url(url, None), "{url}");
        }
        assert!(is_cloudformation_response_url("http://127.0.0.1:5555/r?signed=1", Some("127.0.0.1")));
        assert!(!is_cloudformation_response_url("http://127.0.0.2:5555/r?signed=1", Some("127.0.0.1")));
    }

    #[test]
    fn the_service_token_must_be_this_function_qualifiers_aside() {
        let own = "arn:aws:lambda:us-east-1:123456789012:function:mdc-connector-account-discovery";
        assert!(names_this_function(Some(own), own));
        assert!(names_this_function(Some(own), &format!("{own}:live")));
        assert!(!names_this_function(Some("arn:aws:lambda:us-east-1:123456789012:function:other"), own));
        assert!(!names_this_function(Some(&format!("{own}-x")), own));
        assert!(!names_this_function(None, own));
    }
}
