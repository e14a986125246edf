"""The templates' Rules as CloudFormation evaluates them before a deploy (tests/harness/cfn_rules.py,
which the emulator's `sam deploy` stand-in applies): each refuses what it says, and the defaults
pass. Run with the emulator's virtualenv: `.venv-moto/bin/python -m unittest discover -s tests/script`.
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "harness"))

from cfn_rules import failed_assertions  # noqa: E402
from tf_parity.canon import load_cfn  # noqa: E402

TEMPLATE = load_cfn(ROOT / "cfn" / "template.yaml")


def defaults(**overrides: str) -> dict[str, str]:
    values = {k: str(v.get("Default", "")) for k, v in TEMPLATE["Parameters"].items()}
    values.update(overrides)
    return values


class OneRegionsTruth(unittest.TestCase):
    def test_the_defaults_pass(self) -> None:
        self.assertEqual(failed_assertions(TEMPLATE, defaults()), [])

    def test_connector_regions_empty_or_equal_to_the_stack_sets_pass(self) -> None:
        same = defaults(StackSetRegions="eu-west-1,us-east-1", ConnectorRegions="eu-west-1,us-east-1")
        self.assertEqual(failed_assertions(TEMPLATE, same), [])

    def test_functions_acting_where_no_member_template_is_are_refused_with_the_reason(self) -> None:
        for connector in ("eu-west-1", "us-east-1,eu-west-1", "us-east-1,ap-east-1"):
            refused = failed_assertions(TEMPLATE, defaults(StackSetRegions="us-east-1", ConnectorRegions=connector))
            self.assertEqual(len(refused), 1, connector)
            self.assertTrue(refused[0].startswith("FunctionsActWhereTheMemberTemplateIs: ConnectorRegions must be"))


if __name__ == "__main__":
    unittest.main()
