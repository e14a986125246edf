//! The contracts users read, held to the code that keeps them:
//!
//! * `docs/configuration.md`'s variable table is generated from the settings modules'
//!   declarations ([`connector_engine::config::Variable`]); each function's reader reads exactly
//!   its declared variables, accepts each declared example and refuses each refused value;
//! * `tests/contracts/contracts.json` carries the same declarations and the event names account-
//!   discovery acts on to the template checks (`tests/script/test_contracts.py`: each function's
//!   template environment, parameter patterns, EventBridge rules);
//! * every report action and arc-provisioner outcome is documented in `docs/report.md`.
//!
//! `UPDATE_CONTRACTS=1 scripts/test --test contracts` rewrites the generated files.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use connector_engine::config::Variable;
use connector_engine::discovery::events::{CONTROL_TOWER_EVENTS, ORGANIZATIONS_EVENTS};
use connector_engine::report::{Action, Cause, Outcome};
use connector_engine::{arc, discovery, profile};
use serde_json::json;

const BEGIN: &str = "<!-- BEGIN variables: generated from the settings modules by tests/contracts.rs -->";
const END: &str = "<!-- END variables -->";

type Reader = fn(&dyn Fn(&str) -> Option<String>) -> Result<(), connector_engine::error::ConfigError>;

/// Each function: its name, column letter, declared variables and settings reader.
fn functions() -> [(&'static str, &'static str, &'static [Variable], Reader); 3] {
    [
        ("profile-scan", "P", &profile::VARIABLES, |l| profile::ProfileSettings::from_lookup(l).map(|_| ())),
        ("account-discovery", "D", &discovery::VARIABLES, |l| discovery::DiscoverySettings::from_lookup(l).map(|_| ())),
        ("arc-provisioner", "A", &arc::VARIABLES, |l| arc::ArcSettings::from_lookup(l).map(|_| ())),
    ]
}

fn path(relative: &str) -> PathBuf {
    common::moto::repo_root().join(relative)
}

/// Writes `generated` when `UPDATE_CONTRACTS` is set; otherwise fails when `current` differs.
fn hold(file: &str, current: &str, generated: &str) {
    if std::env::var_os("UPDATE_CONTRACTS").is_some() {
        std::fs::write(path(file), generated).expect("write");
    } else {
        assert!(
            current == generated,
            "{file} is stale: run `UPDATE_CONTRACTS=1 scripts/test --test contracts` and commit the result"
        );
    }
}

/// One row per variable, in the order the functions declare them.
fn variable_table() -> String {
    let mut rows: Vec<(Variable, BTreeSet<&str>)> = Vec::new();
    for (_, column, variables, _) in functions() {
        for variable in variables {
            match rows.iter_mut().find(|(v, _)| v.name == variable.name) {
                Some((_, columns)) => _ = columns.insert(column),
                None => rows.push((*variable, BTreeSet::from([column]))),
            }
        }
    }
    let mut table =
        String::from("| variable | P | D | A | meaning | default | accepted |\n|---|---|---|---|---|---|---|\n");
    for (v, columns) in rows {
        let mark = |c: &str| if columns.contains(c) { "x" } else { "" };
        table.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            v.name,
            mark("P"),
            mark("D"),
            mark("A"),
            v.meaning,
            v.default,
            v.accepted
        ));
    }
    table
}

#[test]
fn the_configuration_doc_is_generated_from_the_declarations() {
    let file = "docs/configuration.md";
    let current = std::fs::read_to_string(path(file)).expect("configuration.md");
    let (Some(start), Some(end)) = (current.find(BEGIN), current.find(END)) else {
        panic!("{file} lacks the generated block markers");
    };
    let generated = format!("{}{BEGIN}\n{}{}", &current[..start], variable_table(), &current[end..]);
    hold(file, &current, &generated);
}

#[test]
fn the_template_checks_get_the_same_declarations() {
    let mut variables = BTreeMap::new();
    let mut per_function = BTreeMap::new();
    for (name, _, declared, _) in functions() {
        per_function.insert(name, declared.iter().map(|v| v.name).collect::<Vec<_>>());
        for v in declared {
            variables.insert(v.name, json!({"example": v.example, "refused": v.refused}));
        }
    }
    let contracts = json!({
        "functions": per_function,
        "variables": variables,
        "organizationsEvents": ORGANIZATIONS_EVENTS,
        "controlTowerEvents": CONTROL_TOWER_EVENTS,
    });
    let file = "tests/contracts/contracts.json";
    let generated = format!("{}\n", serde_json::to_string_pretty(&contracts).expect("json"));
    hold(file, &std::fs::read_to_string(path(file)).unwrap_or_default(), &generated);
}

#[test]
fn each_reader_reads_exactly_its_declared_variables() {
    for (function, _, declared, read) in functions() {
        let asked = Mutex::new(BTreeSet::new());
        let examples: HashMap<&str, &str> = declared.iter().map(|v| (v.name, v.example)).collect();
        let lookup = |name: &str| {
            asked.lock().expect("lock").insert(name.to_string());
            examples.get(name).map(|v| v.to_string())
        };
        read(&lookup).unwrap_or_else(|e| panic!("{function} refuses its own examples: {e}"));
        let declared: BTreeSet<String> = declared.iter().map(|v| v.name.to_string()).collect();
        assert_eq!(*asked.lock().expect("lock"), declared, "{function} reads other variables than it declares");
    }
}

#[test]
fn each_refused_value_is_refused_naming_its_variable() {
    for (function, _, declared, read) in functions() {
        for variable in declared {
            for refused in variable.refused {
                let lookup = |name: &str| {
                    let value = if name == variable.name {
                        *refused
                    } else {
                        declared.iter().find(|v| v.name == name)?.example
                    };
                    Some(value.to_string())
                };
                let err =
                    read(&lookup).err().unwrap_or_else(|| panic!("{function} accepts {}={refused:?}", variable.name));
                assert_eq!(err.variable, variable.name, "{function}: {}={refused:?} gave {err}", variable.name);
            }
        }
    }
}

#[test]
fn every_report_action_outcome_and_cause_is_documented() {
    let doc = std::fs::read_to_string(path("docs/report.md")).expect("report.md");
    let missing: Vec<&str> = Action::ALL
        .iter()
        .map(|a| a.as_str())
        .chain(Outcome::ALL.iter().map(|o| o.as_str()))
        .chain(Cause::ALL.iter().map(|c| c.as_str()))
        .filter(|spelling| !doc.contains(&format!("`{spelling}`")))
        .collect();
    assert!(missing.is_empty(), "docs/report.md does not document {missing:?}");
}

#[test]
fn every_event_name_acted_on_is_documented() {
    let doc = std::fs::read_to_string(path("docs/events.md")).expect("events.md");
    let missing: Vec<&&str> =
        ORGANIZATIONS_EVENTS.iter().chain(&CONTROL_TOWER_EVENTS).filter(|n| !doc.contains(**n)).collect();
    assert!(missing.is_empty(), "docs/events.md does not name {missing:?}");
}
