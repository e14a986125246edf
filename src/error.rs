//! Errors of the engine. Messages are lowercase and say what to do next.

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

use crate::aws::describe;
use crate::report::Cause;

/// A configuration variable has a value the engine cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: invalid value {}: {problem}", quote(value))]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// The offending value (configuration is never secret).
    pub value: String,
    /// What was expected instead.
    pub problem: String,
}

impl ConfigError {
    /// `variable` is unset but the function needs it.
    pub(crate) fn missing(variable: &'static str, function: &str) -> Self {
        ConfigError { variable, value: String::new(), problem: format!("required by {function}") }
    }

    pub(crate) fn invalid(variable: &'static str, value: &str, problem: &str) -> Self {
        ConfigError { variable, value: value.to_string(), problem: problem.to_string() }
    }
}

/// Longest part of an offending value quoted in an error message.
pub(crate) const QUOTE_LIMIT: usize = 100;

/// `value` quoted for an error message, cut after [`QUOTE_LIMIT`] characters (a 5,000-character
/// id is not echoed whole).
pub(crate) fn quote(value: &str) -> String {
    if value.chars().count() <= QUOTE_LIMIT {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(QUOTE_LIMIT).collect();
    format!("{head:?}... ({} characters)", value.chars().count())
}

/// An event the function cannot act on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// Not JSON of any accepted shape.
    #[error("unrecognized event: {0}")]
    Unrecognized(String),
    /// A manual request that does not validate.
    #[error("invalid manual request: {0}")]
    InvalidRequest(String),
    /// A well-formed event meant for another function.
    #[error("this function does not handle {0}")]
    NotHandled(String),
}

/// Why a call, a step or a work unit failed: typed inside the engine, one line of words an operator
/// can act on in the report.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Failure {
    /// An AWS call failed after the SDK's retries.
    #[error("{context}: {detail}{}", remedy_suffix(remedy))]
    Aws {
        /// What was being done (`DescribeInstances`, `cannot read StackSet x`).
        context: String,
        /// AWS's error code, when it sent one.
        code: Option<String>,
        /// `Code: message`, or the cause chain.
        detail: String,
        /// What to do about it; empty when the context says enough.
        remedy: &'static str,
    },
    /// A role in another account could not be assumed.
    #[error(
        "cannot assume {role_arn}: {detail}; check that the member template is deployed in the account and trusts this function"
    )]
    AssumeRole {
        /// The role.
        role_arn: String,
        /// The cause chain.
        detail: String,
    },
    /// AWS answered without what the engine needs, or a request could not be built.
    #[error("{0}")]
    Unexpected(String),
    /// Something AWS would refuse the work for is not in place; the message says how to fix it.
    #[error("{0}")]
    Precondition(String),
    /// A refusal with a stable cause of its own (Microsoft Entra's sign-in, the onboarding
    /// application's rights); the message says how to fix it.
    #[error("{1}")]
    Caused(Cause, String),
}

impl Failure {
    /// The stable cause in an item's code (docs/report.md, "Codes"): `aws:<AWS error code>` when
    /// AWS sent one, else the [`Cause`].
    pub(crate) fn cause(&self) -> String {
        match self {
            Failure::Aws { code: Some(code), .. } => format!("aws:{code}"),
            Failure::Aws { code: None, .. } => Cause::AwsCallFailed.into(),
            Failure::AssumeRole { .. } => Cause::AssumeRoleRefused.into(),
            Failure::Unexpected(_) => Cause::Unexpected.into(),
            Failure::Precondition(_) => Cause::Precondition.into(),
            Failure::Caused(cause, _) => (*cause).into(),
        }
    }

    /// An AWS call failed while doing `context`.
    pub(crate) fn aws<E, R>(context: impl Into<String>, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + 'static,
        R: std::fmt::Debug + 'static,
    {
        Self::aws_with(context, err, "")
    }

    /// An AWS call failed while doing `context`; `remedy` says what to do.
    pub(crate) fn aws_with<E, R>(context: impl Into<String>, err: &SdkError<E, R>, remedy: &'static str) -> Self
    where
        E: ProvideErrorMetadata + StdError + 'static,
        R: std::fmt::Debug + 'static,
    {
        Failure::Aws { context: context.into(), code: err.code().map(str::to_string), detail: describe(err), remedy }
    }
}

fn remedy_suffix(remedy: &str) -> String {
    if remedy.is_empty() { String::new() } else { format!("; {remedy}") }
}

/// Why an invocation failed as a whole (nothing could be attempted).
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// Bad event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The caller's own identity could not be established (credentials or network).
    #[error(
        "cannot establish the function's own AWS identity: {0}; check the execution role and AWS_REGION / AWS_ENDPOINT_URL"
    )]
    Identity(Failure),
    /// No region could be determined.
    #[error("cannot determine the regions to cover: {0}; set CONNECTOR_REGIONS")]
    Regions(Failure),
    /// The scope parameter is set but cannot be read, parsed or resolved: nothing is touched.
    #[error("cannot read the scope: {0}")]
    Scope(Failure),
}

impl From<InvocationError> for Diagnostic {
    fn from(e: InvocationError) -> Self {
        let error_type = match &e {
            InvocationError::Event(EventError::Unrecognized(_)) => "UnrecognizedEvent",
            InvocationError::Event(EventError::InvalidRequest(_)) => "InvalidRequest",
            InvocationError::Event(EventError::NotHandled(_)) => "EventNotHandled",
            InvocationError::Identity(_) => "IdentityUnavailable",
            InvocationError::Regions(_) => "RegionsUnavailable",
            InvocationError::Scope(_) => "ScopeUnavailable",
        };
        Diagnostic { error_type: error_type.into(), error_message: e.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "i".repeat(5000);
        let message = ConfigError::invalid("CONNECTOR_REGIONS", &long, "expected a region").to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("5000 characters"), "{message}");
        assert_eq!(quote("eu-west-1"), "\"eu-west-1\"");
    }
}
