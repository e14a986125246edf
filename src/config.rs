//! Settings every function shares, and the reader each function's own settings use.
//!
//! Each function reads and validates only its variables, once at cold start: [`Common`] (all
//! three), [`Fleet`] (the two that work per account and region) and its own settings type in its
//! capability module. A bad value is an error naming the variable and the accepted form.

use std::collections::BTreeSet;

use crate::error::ConfigError;
use crate::queue::{CONTINUATION_DELAY_SECONDS, is_queue_url};
use crate::validate::{is_account_id, is_region, is_tag_key};

/// Instances carrying this tag key are left alone when `CONNECTOR_OPT_OUT_TAG` is not set.
pub(crate) const DEFAULT_OPT_OUT_TAG: &str = "mdc-connector:opt-out";
/// Work units processed at once when `CONNECTOR_CONCURRENCY` is not set.
pub(crate) const DEFAULT_CONCURRENCY: usize = 8;

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

    /// One value that must pass `ok`; `expected` describes the accepted form.
    pub(crate) fn single(
        &self,
        name: &'static str,
        ok: impl Fn(&str) -> bool,
        expected: &str,
    ) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            Some(v) if ok(&v) => Ok(Some(v)),
            Some(v) => Err(ConfigError::invalid(name, &v, &format!("expected {expected}"))),
            None => Ok(None),
        }
    }

    /// A comma-separated list, each part passing `ok`, duplicates dropped, order kept.
    pub(crate) fn list(
        &self,
        name: &'static str,
        ok: impl Fn(&str) -> bool,
        expected: &str,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(value) = self.get(name) else { return Ok(None) };
        let mut out: Vec<String> = Vec::new();
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if !ok(part) {
                return Err(ConfigError::invalid(
                    name,
                    part,
                    &format!("expected a comma-separated list, each {expected}"),
                ));
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
    pub(crate) fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(ConfigError::invalid(name, other, "expected true or false")),
        }
    }
}

/// Settings of every function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Common {
    /// `CONNECTOR_EXCLUDED_ACCOUNTS`: accounts never touched.
    pub excluded_accounts: BTreeSet<String>,
    /// `CONNECTOR_DRY_RUN`: plan only, no write call.
    pub dry_run: bool,
}

impl Common {
    /// Reads `CONNECTOR_EXCLUDED_ACCOUNTS` and `CONNECTOR_DRY_RUN`.
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Common {
            excluded_accounts: env
                .list("CONNECTOR_EXCLUDED_ACCOUNTS", is_account_id, "a 12-digit account id")?
                .unwrap_or_default()
                .into_iter()
                .collect(),
            dry_run: env.boolean("CONNECTOR_DRY_RUN", false)?,
        })
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
            concurrency: DEFAULT_CONCURRENCY,
            work_queue_url: None,
            continuation_delay_seconds: CONTINUATION_DELAY_SECONDS,
        }
    }
}

impl Fleet {
    /// Reads `CONNECTOR_REGIONS`, `CONNECTOR_OPT_OUT_TAG` and `CONNECTOR_CONCURRENCY`.
    pub(crate) fn read(env: &Env<'_>) -> Result<Self, ConfigError> {
        let concurrency = match env.get("CONNECTOR_CONCURRENCY") {
            None => DEFAULT_CONCURRENCY,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => n,
                _ => {
                    return Err(ConfigError::invalid(
                        "CONNECTOR_CONCURRENCY",
                        &v,
                        "expected a whole number from 1 to 64",
                    ));
                }
            },
        };
        Ok(Fleet {
            regions: env.list("CONNECTOR_REGIONS", is_region, "a region name such as eu-west-1")?,
            opt_out_tag: env
                .single("CONNECTOR_OPT_OUT_TAG", is_tag_key, "a tag key of 1-128 characters not starting with aws:")?
                .unwrap_or_else(|| DEFAULT_OPT_OUT_TAG.into()),
            concurrency,
            work_queue_url: env.single("WORK_QUEUE_URL", is_queue_url, "an SQS queue URL")?,
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
