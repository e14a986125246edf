//! Settings every function shares, and the reader each function's own settings use.
//!
//! Each function reads and validates only its variables, once at cold start: [`Common`] (all
//! three), [`Fleet`] (the two that work per account and region) and its own settings type in its
//! capability module. A bad value is an error naming the variable and the accepted form.
//!
//! Every variable is declared once as a [`Variable`] (name, meaning, default, accepted form, a
//! value it accepts and values it refuses); the readers take the declaration, and
//! `docs/configuration.md` and the template checks are generated from the same declarations
//! (`tests/contracts.rs`), so the code, the docs and the template cannot drift apart.

use std::collections::BTreeSet;

use crate::error::ConfigError;
use crate::queue::{CONTINUATION_DELAY_SECONDS, is_queue_url};
use crate::validate::{is_account_id, is_parameter_name, is_region, is_tag_key};

/// Instances carrying this tag key are left alone when `CONNECTOR_OPT_OUT_TAG` is not set.
pub(crate) const DEFAULT_OPT_OUT_TAG: &str = "mdc-connector:opt-out";
/// Work units processed at once when `CONNECTOR_CONCURRENCY` is not set.
pub(crate) const DEFAULT_CONCURRENCY: usize = 8;

/// One configuration variable, as users read it in `docs/configuration.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable {
    /// The environment variable.
    pub name: &'static str,
    /// What it means.
    pub meaning: &'static str,
    /// The default, in words (`**required**` when there is none).
    pub default: &'static str,
    /// The accepted form, in words (also the error's "expected ...").
    pub accepted: &'static str,
    /// A value the reader accepts.
    pub example: &'static str,
    /// Values the reader refuses (the template's pattern must refuse them too).
    pub refused: &'static [&'static str],
}

/// `CONNECTOR_EXCLUDED_ACCOUNTS`.
pub const EXCLUDED_ACCOUNTS: Variable = Variable {
    name: "CONNECTOR_EXCLUDED_ACCOUNTS",
    meaning: "accounts never touched (reported `skipped`)",
    default: "none",
    accepted: "comma-separated 12-digit account ids",
    example: "111111111111,222222222222",
    refused: &["12345", "11111111111a", ",", "111111111111;x"],
};
/// `CONNECTOR_DRY_RUN`.
pub const DRY_RUN: Variable = Variable {
    name: "CONNECTOR_DRY_RUN",
    meaning: "plan only, no write call",
    default: "`false`",
    accepted: "`true`/`false`, `1`/`0`, `yes`/`no`",
    example: "true",
    refused: &["maybe", "2"],
};
/// `CONNECTOR_SCOPE_PARAMETER`.
pub const SCOPE_PARAMETER: Variable = Variable {
    name: "CONNECTOR_SCOPE_PARAMETER",
    meaning: "the SSM parameter (in the function's account and region) holding the scope document: `organizationalUnits` and `accounts` to cover (any depth under an OU), `excludedAccounts`; read on every run ([operate.md](operate.md#scope)); a set parameter that cannot be read stops the run before any account is touched",
    default: "unset: every account of the organization",
    accepted: "a parameter name starting with `/` (letters, digits, `_.-/`), not under `/aws` or `/ssm`, at most 1011 characters",
    example: "/mdc-connector/scope",
    refused: &["scope", "/aws/scope", "/mdc connector", "/a;b"],
};
/// `CONNECTOR_REGIONS`.
pub const REGIONS: Variable = Variable {
    name: "CONNECTOR_REGIONS",
    meaning: "regions to cover",
    default: "every region enabled in the account (`DescribeRegions`); the template and the Terraform module always set it, to `StackSetRegions` unless `ConnectorRegions` is given, which must equal it (one regions truth: the member template's documents and forwarding rules exist only there)",
    accepted: "comma-separated region names (`eu-west-1`); duplicates dropped; not empty",
    example: "eu-west-1,us-east-1",
    refused: &["mars-1", "eu-west-1,mars-1", ",", "eu-west-1;x"],
};
/// `CONNECTOR_OPT_OUT_TAG`.
pub const OPT_OUT_TAG: Variable = Variable {
    name: "CONNECTOR_OPT_OUT_TAG",
    meaning: "instances carrying this tag key are left alone",
    default: "`mdc-connector:opt-out`",
    accepted: "1-128 characters, not starting with `aws:`",
    example: "no-ssm",
    refused: &["aws:reserved"],
};
/// `CONNECTOR_OPT_IN_TAG`.
pub const OPT_IN_TAG: Variable = Variable {
    name: "CONNECTOR_OPT_IN_TAG",
    meaning: "pilot mode: only instances carrying this tag key are covered (the opt-out tag still wins)",
    default: "unset: every instance",
    accepted: "1-128 characters, not starting with `aws:`",
    example: "mdc-connector:pilot",
    refused: &["aws:reserved"],
};
/// `CONNECTOR_CONCURRENCY`.
pub const CONCURRENCY: Variable = Variable {
    name: "CONNECTOR_CONCURRENCY",
    meaning: "work units (account, region) processed at once",
    default: "`8`",
    accepted: "a whole number from 1 to 64",
    example: "3",
    refused: &["0", "65", "x", "-1"],
};
/// `WORK_QUEUE_URL`.
pub const WORK_QUEUE_URL: Variable = Variable {
    name: "WORK_QUEUE_URL",
    meaning: "the function's own SQS work queue: profile-scan and arc-provisioner send a broad run's (account, region) units there and consume them (the template wires the event source mapping); account-discovery sends itself delayed re-checks of pending StackSet work",
    default: "none: everything runs inline",
    accepted: "an SQS queue URL",
    example: "https://sqs.eu-west-1.amazonaws.com/123456789012/mdc-connector-work",
    refused: &["not a url", "ftp://sqs.eu-west-1.amazonaws.com/1/q"],
};

/// Variables every function reads.
pub const COMMON_VARIABLES: [Variable; 3] = [EXCLUDED_ACCOUNTS, SCOPE_PARAMETER, DRY_RUN];
/// Variables profile-scan and arc-provisioner read: [`COMMON_VARIABLES`], then the fleet's.
pub const FLEET_VARIABLES: [Variable; 8] =
    join(COMMON_VARIABLES, [REGIONS, OPT_OUT_TAG, OPT_IN_TAG, CONCURRENCY, WORK_QUEUE_URL]);

/// `first` followed by `then`, at compile time (a wrong length `N` fails the build).
pub(crate) const fn join<const A: usize, const B: usize, const N: usize>(
    first: [Variable; A],
    then: [Variable; B],
) -> [Variable; N] {
    assert!(A + B == N, "join: the result's length must be the sum of both");
    let mut out = [first[0]; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < A { first[i] } else { then[i - A] };
        i += 1;
    }
    out
}

/// Reads variables through a lookup (the environment in production, a map in tests): values are
/// trimmed, empty values count as unset.
pub(crate) struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    /// A reader over `lookup`.
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// The trimmed value, `None` when unset or empty.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// The trimmed value of `variable`, `None` when unset or empty.
    pub(crate) fn value(&self, variable: &Variable) -> Option<String> {
        self.get(variable.name)
    }

    /// One value that must pass `ok`; the error gives the variable's accepted form.
    pub(crate) fn single(&self, variable: &Variable, ok: impl Fn(&str) -> bool) -> Result<Option<String>, ConfigError> {
        match self.value(variable) {
            Some(v) if ok(&v) => Ok(Some(v)),
            Some(v) => Err(self.invalid(variable, &v)),
            None => Ok(None),
        }
    }

    /// The error for a value of `variable` not in its accepted form.
    pub(crate) fn invalid(&self, variable: &Variable, value: &str) -> ConfigError {
        ConfigError::invalid(variable.name, value, &format!("expected {}", variable.accepted))
    }

    /// A comma-separated list, each part passing `ok`, duplicates dropped, order kept.
    pub(crate) fn list(
        &self,
        variable: &Variable,
        ok: impl Fn(&str) -> bool,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let name = variable.name;
        let Some(value) = self.value(variable) else { return Ok(None) };
        let mut out: Vec<String> = Vec::new();
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if !ok(part) {
                return Err(self.invalid(variable, part));
            }
            if !out.iter().any(|p| p == part) {
                out.push(part.to_string());
            }
        }
        if out.is_empty() {
            return Err(ConfigError::invalid(name, &value, "the list is empty; unset the variable for the default"));
        }
        Ok(Some(out))
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`), `default` when unset.
    pub(crate) fn boolean(&self, variable: &Variable, default: bool) -> Result<bool, ConfigError> {
        match self.value(variable).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(ConfigError::invalid(variable.name, other, "expected true or false")),
        }
    }
}

/// Settings of every function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Common {
    /// `CONNECTOR_EXCLUDED_ACCOUNTS`: accounts never touched.
    pub excluded_accounts: BTreeSet<String>,
    /// `CONNECTOR_SCOPE_PARAMETER`: the SSM parameter of the scope document, read on every run.
    pub scope_parameter: Option<String>,
    /// `CONNECTOR_DRY_RUN`: plan only, no write call.
    pub dry_run: bool,
}

impl Common {
    /// Reads `CONNECTOR_EXCLUDED_ACCOUNTS`, `CONNECTOR_SCOPE_PARAMETER` and `CONNECTOR_DRY_RUN`.
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Common {
            excluded_accounts: env.list(&EXCLUDED_ACCOUNTS, is_account_id)?.unwrap_or_default().into_iter().collect(),
            scope_parameter: env.single(&SCOPE_PARAMETER, is_parameter_name)?,
            dry_run: env.boolean(&DRY_RUN, false)?,
        })
    }
}

/// What an instance's tags say of its scope ([`Fleet::tags_admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TagScope {
    /// Covered.
    In,
    /// Carries `CONNECTOR_OPT_OUT_TAG`: left alone.
    OptedOut,
    /// `CONNECTOR_OPT_IN_TAG` is set and the instance lacks it: left alone (a pilot).
    NotOptedIn,
}

impl TagScope {
    /// Why the instance is left alone; `None` when it is covered.
    pub(crate) fn left_alone(self, fleet: &Fleet) -> Option<String> {
        match (self, &fleet.opt_in_tag) {
            (TagScope::In, _) => None,
            (TagScope::OptedOut, _) => Some(format!("opted out by tag {}", fleet.opt_out_tag)),
            (TagScope::NotOptedIn, tag) => Some(format!(
                "not opted in: a pilot covers only instances tagged {} (CONNECTOR_OPT_IN_TAG)",
                tag.as_deref().unwrap_or_default()
            )),
        }
    }
}

/// Settings of the functions that work per (account, region) on instances: profile-scan and
/// arc-provisioner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fleet {
    /// `CONNECTOR_REGIONS`: regions to cover; `None` means every region enabled in the account.
    pub regions: Option<Vec<String>>,
    /// `CONNECTOR_OPT_OUT_TAG`: instances with this tag key are left alone.
    pub opt_out_tag: String,
    /// `CONNECTOR_OPT_IN_TAG`: when set, only instances with this tag key are covered (a pilot).
    pub opt_in_tag: Option<String>,
    /// `CONNECTOR_CONCURRENCY`: work units (account, region) processed at once.
    pub concurrency: usize,
    /// `WORK_QUEUE_URL`: the function's own work queue. Set, a broad run sends one message per
    /// work unit there instead of running them all in one invocation; unset, everything runs inline.
    pub work_queue_url: Option<String>,
    /// Delay of a unit's continuation message (not a variable: tests shorten it).
    pub continuation_delay_seconds: i32,
}

impl Default for Fleet {
    fn default() -> Self {
        Fleet {
            regions: None,
            opt_out_tag: DEFAULT_OPT_OUT_TAG.into(),
            opt_in_tag: None,
            concurrency: DEFAULT_CONCURRENCY,
            work_queue_url: None,
            continuation_delay_seconds: CONTINUATION_DELAY_SECONDS,
        }
    }
}

impl Fleet {
    /// Whether an instance whose tag keys are `keys` is in scope of the tags: without the opt-out
    /// tag, and with the opt-in tag when `CONNECTOR_OPT_IN_TAG` is set (a pilot).
    pub(crate) fn tags_admit<'a>(&self, keys: impl Iterator<Item = &'a str> + Clone) -> TagScope {
        if keys.clone().any(|k| k == self.opt_out_tag) {
            return TagScope::OptedOut;
        }
        match &self.opt_in_tag {
            Some(tag) if !keys.clone().any(|k| k == tag) => TagScope::NotOptedIn,
            _ => TagScope::In,
        }
    }

    /// Reads `CONNECTOR_REGIONS`, `CONNECTOR_OPT_OUT_TAG`, `CONNECTOR_OPT_IN_TAG` and `CONNECTOR_CONCURRENCY`.
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let in_range = |v: &str| v.parse::<usize>().is_ok_and(|n| (1..=64).contains(&n));
        let concurrency = env.single(&CONCURRENCY, in_range)?.and_then(|v| v.parse().ok());
        Ok(Fleet {
            regions: env.list(&REGIONS, is_region)?,
            opt_out_tag: env.single(&OPT_OUT_TAG, is_tag_key)?.unwrap_or_else(|| DEFAULT_OPT_OUT_TAG.into()),
            opt_in_tag: env.single(&OPT_IN_TAG, is_tag_key)?,
            concurrency: concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            work_queue_url: env.single(&WORK_QUEUE_URL, is_queue_url)?,
            continuation_delay_seconds: CONTINUATION_DELAY_SECONDS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with<T>(vars: &[(&str, &str)], read: impl Fn(&Env<'_>) -> Result<T, ConfigError>) -> Result<T, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = |k: &str| map.get(k).cloned();
        read(&Env::new(&lookup))
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        assert_eq!(with(&[], Common::read).unwrap(), Common::default());
        assert_eq!(with(&[], Fleet::read).unwrap(), Fleet::default());
    }

    #[test]
    fn parses_every_variable() {
        let vars = [
            ("CONNECTOR_REGIONS", " eu-west-1, us-east-1 ,eu-west-1"),
            ("CONNECTOR_EXCLUDED_ACCOUNTS", "111111111111,222222222222"),
            ("CONNECTOR_OPT_OUT_TAG", "no-ssm"),
            ("CONNECTOR_DRY_RUN", "TRUE"),
            ("CONNECTOR_CONCURRENCY", "3"),
        ];
        let common = with(&vars, Common::read).unwrap();
        let fleet = with(&vars, Fleet::read).unwrap();
        assert_eq!(fleet.regions, Some(vec!["eu-west-1".to_string(), "us-east-1".to_string()]));
        assert_eq!(common.excluded_accounts.len(), 2);
        assert_eq!(fleet.opt_out_tag, "no-ssm");
        assert!(common.dry_run);
        assert_eq!(fleet.concurrency, 3);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            ("CONNECTOR_REGIONS", "eu-west-1,mars-1"),
            ("CONNECTOR_REGIONS", ","),
            ("CONNECTOR_EXCLUDED_ACCOUNTS", "12345"),
            ("CONNECTOR_OPT_OUT_TAG", "aws:reserved"),
            ("CONNECTOR_DRY_RUN", "maybe"),
            ("CONNECTOR_CONCURRENCY", "0"),
        ];
        for (name, value) in cases {
            let common = with(&[(name, value)], Common::read).err();
            let fleet = with(&[(name, value)], Fleet::read).err();
            let err = common.or(fleet).expect("an error").to_string();
            assert!(err.starts_with(name), "{name}={value:?} gave {err}");
        }
    }
}
