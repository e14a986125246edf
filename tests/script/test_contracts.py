"""cfn/template.yaml holds the contracts the code declares.

``tests/contracts/contracts.json`` is generated from the code by ``tests/contracts.rs`` (the
settings modules' variable declarations, the event names account-discovery acts on) and checked
there for staleness; these tests hold the template to it:

* each function's environment is exactly the variables it reads (plus ``RUST_LOG``), so every
  documented variable can be set through the template and none is handed to a function that
  ignores it;
* a template parameter feeding a variable refuses every value the function's validator refuses
  (a value the template accepts never stops the function at cold start);
* the Organizations and Control Tower rules match exactly the event names the code classifies.

Run with the emulator's virtualenv (cfn-lint decodes the short-form intrinsics).
"""

from __future__ import annotations

import json
import re
import unittest
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = decode(str(ROOT / "cfn" / "template.yaml"))[0]
CONTRACTS = json.loads((ROOT / "tests" / "contracts" / "contracts.json").read_text())
FUNCTIONS = {
    "profile-scan": "ProfileScanFunction",
    "account-discovery": "AccountDiscoveryFunction",
    "arc-provisioner": "ArcProvisionerFunction",
}
# Not the connector's: the log level every function honours.
STANDARD = {"RUST_LOG"}


def environment(logical_id: str) -> dict[str, Any]:
    merged = dict(TEMPLATE.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    function = TEMPLATE["Resources"][logical_id]["Properties"]
    merged.update(function.get("Environment", {}).get("Variables", {}))
    return merged


def accepts(parameter: dict[str, Any], value: str) -> bool:
    """Whether CloudFormation accepts ``value`` for ``parameter`` (AllowedPattern must match the
    whole value; Number parameters honour MinValue and MaxValue)."""
    if "AllowedValues" in parameter and value not in parameter["AllowedValues"]:
        return False
    if "AllowedPattern" in parameter and not re.fullmatch(parameter["AllowedPattern"], value):
        return False
    if parameter.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return False
        low, high = parameter.get("MinValue"), parameter.get("MaxValue")
        if (low is not None and number < float(low)) or (high is not None and number > float(high)):
            return False
    return True


class FunctionEnvironments(unittest.TestCase):
    def test_each_function_gets_exactly_the_variables_it_reads(self) -> None:
        for function, logical_id in FUNCTIONS.items():
            given = set(environment(logical_id)) - STANDARD
            self.assertEqual(given, set(CONTRACTS["functions"][function]), function)

    def test_parameters_refuse_what_the_validators_refuse(self) -> None:
        parameters = TEMPLATE["Parameters"]
        checked = 0
        for logical_id in FUNCTIONS.values():
            for name, value in environment(logical_id).items():
                source = value.get("Ref") if isinstance(value, dict) else None
                if name in STANDARD or source not in parameters:
                    continue  # wired to a resource the template creates (a queue URL)
                parameter = parameters[source]
                self.assertTrue(
                    "AllowedPattern" in parameter or "AllowedValues" in parameter or parameter.get("Type") == "Number",
                    f"{source} feeds {name} unchecked",
                )
                for refused in CONTRACTS["variables"][name]["refused"]:
                    self.assertFalse(accepts(parameter, refused), f"{source} accepts {refused!r}, which {name} refuses")
                default = str(parameter.get("Default", ""))
                self.assertTrue(default == "" or accepts(parameter, default), f"{source}'s default")
                checked += 1
        self.assertGreater(checked, 30)

    def test_the_pattern_check_itself_catches_a_loose_pattern(self) -> None:
        loose = {"Type": "String", "AllowedPattern": "^[0-9]{1,7}%?$"}
        self.assertTrue(accepts(loose, "101%"), "the pattern ArcMaxErrors once had")
        self.assertIn("101%", CONTRACTS["variables"]["ARC_MAX_ERRORS"]["refused"])


class EventRules(unittest.TestCase):
    def rule_names(self, source: str) -> set[str]:
        names: set[str] = set()
        for resource in TEMPLATE["Resources"].values():
            pattern = resource.get("Properties", {}).get("EventPattern", {})
            if resource["Type"] == "AWS::Events::Rule" and pattern.get("source") == [source]:
                names |= set(pattern["detail"]["eventName"])
        return names

    def test_the_organizations_rule_matches_exactly_the_events_classified(self) -> None:
        self.assertEqual(self.rule_names("aws.organizations"), set(CONTRACTS["organizationsEvents"]))

    def test_the_control_tower_rule_matches_exactly_the_events_classified(self) -> None:
        self.assertEqual(self.rule_names("aws.controltower"), set(CONTRACTS["controlTowerEvents"]))

    def test_forwarded_lifecycle_events_are_exactly_the_events_classified(self) -> None:
        """A delegated administrator gets the management account's events through its forwarding
        stack and the rule on the connector bus: both match exactly what account-discovery acts on."""
        from cfnlint.decode import decode
        wanted = set(CONTRACTS["organizationsEvents"]) | set(CONTRACTS["controlTowerEvents"])
        forwarding = decode(str(ROOT / "cfn" / "forward-organization-events.yaml"))[0]
        for template, rule in ((forwarding, "ForwardAccountLifecycleEvents"), (TEMPLATE, "ForwardedOrganizationEventsRule")):
            pattern = template["Resources"][rule]["Properties"]["EventPattern"]
            self.assertEqual(set(pattern["source"]), {"aws.organizations", "aws.controltower"})
            self.assertEqual(set(pattern["detail"]["eventName"]), wanted, rule)


if __name__ == "__main__":
    unittest.main()
