//! Errors of the engine. Messages are lowercase and say what to do next.

use lambda_runtime::Diagnostic;

/// A configuration variable has a value the engine cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: invalid value {value:?}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// The offending value (configuration is never secret).
    pub value: String,
    /// What was expected instead.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn invalid(variable: &'static str, value: &str, problem: &str) -> Self {
        ConfigError { variable, value: value.to_string(), problem: problem.to_string() }
    }
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
    Identity(String),
    /// No region could be determined.
    #[error("cannot determine the regions to cover: {0}; set CONNECTOR_REGIONS")]
    Regions(String),
}

impl From<InvocationError> for Diagnostic {
    fn from(e: InvocationError) -> Self {
        let error_type = match &e {
            InvocationError::Event(EventError::Unrecognized(_)) => "UnrecognizedEvent",
            InvocationError::Event(EventError::InvalidRequest(_)) => "InvalidRequest",
            InvocationError::Event(EventError::NotHandled(_)) => "EventNotHandled",
            InvocationError::Identity(_) => "IdentityUnavailable",
            InvocationError::Regions(_) => "RegionsUnavailable",
        };
        Diagnostic { error_type: error_type.into(), error_message: e.to_string() }
    }
}
