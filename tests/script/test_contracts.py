"""cfn/template.yaml holds the contracts the code declares.

``tests/contracts/contracts.json`` is generated from the code by ``tests/contracts.rs`` (the
settings modules' variable declarations, the event names account-discovery acts on) and checked
there for staleness; these tests hold the template to it:

* each function's environment is exactly the variables it reads (plus ``RUST_LOG``), so every
  documented variable can be set through the template and none is handed to a function that
  ignores it;
* a template parameter feeding a variable refuses every value the function's validator refuses
  (a value the template accepts never stops the function at cold start);
* the Organizations and Control Tower rules match exactly the event names the code classifies;
* the alarms read what the code logs: each metric filter's values are ones its function writes
  (docs/report.md, "The log"), each alarm on the ``mdc-connector`` namespace a metric a run emits.

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


    def test_region_opt_in_events_are_forwarded_wherever_they_are_sent(self) -> None:
        """Review F10 (#31.4): AWS sends "Region Opt-In Status Change" to the calling account; with a
        delegated administrator the management account's calls (the regions it enables for itself or
        a member) reach the connector bus only through the forwarding stack, and the member
        template forwards the member's own. Each forwards exactly what the connector bus's rule
        hands to account-discovery, and only ENABLED."""
        forwarding = decode(str(ROOT / "cfn" / "forward-organization-events.yaml"))[0]
        member = decode(str(ROOT / "cfn" / "member.yaml"))[0]
        wanted = TEMPLATE["Resources"]["AccountDiscoveryFunction"]["Properties"]["Events"]["RegionEnabledInMembers"]["Properties"]["Pattern"]
        self.assertEqual(wanted, {"source": ["aws.account"], "detail-type": ["Region Opt-In Status Change"],
                                  "detail": {"status": ["ENABLED"]}})
        self.assertEqual(forwarding["Resources"]["ForwardRegionOptInEvents"]["Properties"]["EventPattern"], wanted)
        target = forwarding["Resources"]["ForwardRegionOptInEvents"]["Properties"]["Targets"]
        self.assertEqual(target, forwarding["Resources"]["ForwardAccountLifecycleEvents"]["Properties"]["Targets"])
        forwarded = member["Resources"]["ForwardToConnectorBus"]["Properties"]["EventPattern"]["$or"]
        self.assertIn(wanted, forwarded)

    def test_alarms_read_what_the_code_logs(self) -> None:
        """Each metric filter (on a function's log group) compares item fields with values that
        function's code writes: a status, an action of src/report.rs, a code (its action and a cause
        of src/report.rs, or a preflight check's name and outcome), a resourceId literal, or a
        reason's fixed start (a string literal, ending the filter's value at its one * wildcard).
        Each alarm on the connector's namespace reads a metric a metric filter publishes or every run
        emits (src/metrics.rs, the preflight's PreflightFailed), for one of the three jobs."""
        code = {"ProfileScanLogGroup": "profile", "AccountDiscoveryLogGroup": "discovery", "ArcProvisionerLogGroup": "arc"}
        report = (ROOT / "src" / "report.rs").read_text()
        actions = set(re.findall(r'Action::\w+ => "([a-z-]+)"', report))
        causes = set(re.findall(r'Cause::\w+ => "([a-z-]+)"', report))
        self.assertIn("entra-sign-in-refused", causes)
        self.assertIn("preflight", actions)
        resources = TEMPLATE["Resources"]
        filters = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::Logs::MetricFilter"}
        self.assertTrue(filters, "no metric filter")
        published = set()
        for logical, spec in filters.items():
            group = spec["LogGroupName"]["Ref"]
            source = "\n".join(f.read_text() for f in sorted((ROOT / "src" / code[group]).rglob("*.rs")))
            terms = re.findall(r'\$\.(\w+)\s*(=|!=)\s*"([^"]*)"', spec["FilterPattern"])
            self.assertTrue(terms, logical)
            for field, _, value in terms:
                with self.subTest(filter=logical, field=field, value=value):
                    if field == "status":
                        self.assertIn(value, {"done", "planned", "skipped", "failed"})
                    elif field == "action":
                        self.assertIn(value, actions)
                    elif field == "resourceId":
                        self.assertTrue(f'"{value}"' in source, f"no literal {value!r} in src/{code[group]}")
                    elif field == "code":
                        # <action>/<cause>: a Cause of src/report.rs, or a preflight check's
                        # <check>:<outcome> (docs/report.md, "Codes").
                        action, _, cause = value.partition("/")
                        self.assertIn(action, actions)
                        check, _, verdict = cause.partition(":")
                        if verdict:
                            self.assertEqual(action, "preflight")
                            self.assertIn(verdict, {"ok", "missing", "unchecked"})
                            self.assertTrue(f'"{check}"' in source, f"no check {check!r} in src/{code[group]}")
                        else:
                            self.assertIn(cause, causes)
                    elif field == "reason":
                        self.assertTrue(value.endswith("*") and "*" not in value[:-1], "a fixed start, then *")
                        self.assertTrue(f'"{value[:-1]}' in source, f"no literal starting {value[:-1]!r} in src/{code[group]}")
                    else:
                        self.fail(f"{logical}: field {field} is not held to the code here")
            published |= {(t["MetricNamespace"], t["MetricName"]) for t in spec["MetricTransformations"]}
        emitted = set(re.findall(r'\("([A-Za-z]+)", s\.', (ROOT / "src" / "metrics.rs").read_text()))
        emitted |= set(re.findall(r'FAILED_METRIC: &str = "(\w+)"', (ROOT / "src" / "preflight.rs").read_text()))
        self.assertIn("Failed", emitted)
        self.assertIn("PreflightFailed", emitted)
        alarms = [r["Properties"] for r in resources.values()
                  if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == "mdc-connector"]
        self.assertTrue(alarms)
        for alarm in alarms:
            with self.subTest(alarm=alarm["AlarmName"]):
                name = alarm["MetricName"]
                dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
                if ("mdc-connector", name) in published:
                    self.assertEqual(dimensions, {}, "metric filters here publish no dimension")
                else:
                    self.assertIn(name, emitted)
                    self.assertIn(dimensions.get("Job"), FUNCTIONS)
                    self.assertEqual(set(dimensions), {"Job"})


if __name__ == "__main__":
    unittest.main()
