"""CloudFormation's template Rules, which moto does not evaluate: "Rules validate parameter values
passed to a template during a stack creation or stack update" and "If any assertion fails, the
stack creation or update doesn't proceed" (CloudFormation User Guide, Rules syntax). A rule's
assertions apply when its ``RuleCondition`` (if any) is true.

The rule-specific intrinsic functions evaluated here are those the templates use: ``Fn::And``,
``Fn::Contains`` ("Returns true if a specified string matches at least one value in a list of
strings"), ``Fn::EachMemberEquals``, ``Fn::EachMemberIn`` ("Returns true if each member in a list of
strings matches at least one value in a second list of strings"), ``Fn::Equals``, ``Fn::Not``,
``Fn::Or`` and ``Ref`` (a ``CommaDelimitedList`` or ``List<...>`` parameter is a list of strings).
"""

from __future__ import annotations

from typing import Any


def failed_assertions(template: dict[str, Any], values: dict[str, str]) -> list[str]:
    """The AssertDescription of every assertion of `template`'s Rules that fails for the parameter
    `values` (defaults filled in by the caller); empty when the stack may proceed."""
    types = {name: spec.get("Type", "String") for name, spec in template.get("Parameters", {}).items()}
    failed = []
    for name, rule in template.get("Rules", {}).items():
        condition = rule.get("RuleCondition")
        if condition is not None and not evaluate(condition, values, types):
            continue
        for assertion in rule.get("Assertions", []):
            if not evaluate(assertion["Assert"], values, types):
                failed.append(f"{name}: {assertion.get('AssertDescription', 'assertion failed')}")
    return failed


def evaluate(node: Any, values: dict[str, str], types: dict[str, str]) -> Any:
    """The value of a rule expression."""
    if not isinstance(node, dict) or len(node) != 1:
        return node
    (key, arg), = node.items()
    if key == "Ref":
        value = values[arg]
        listed = types.get(arg, "String").startswith(("List<", "CommaDelimitedList"))
        return [v.strip() for v in value.split(",") if v.strip()] if listed else value
    args = [evaluate(a, values, types) for a in (arg if isinstance(arg, list) else [arg])]
    if key == "Fn::Equals":
        return str(args[0]) == str(args[1])
    if key == "Fn::Not":
        return not args[0]
    if key == "Fn::And":
        return all(args)
    if key == "Fn::Or":
        return any(args)
    if key == "Fn::Contains":
        return args[1] in args[0]
    if key == "Fn::EachMemberEquals":
        return all(member == args[1] for member in args[0])
    if key == "Fn::EachMemberIn":
        return all(member in args[1] for member in args[0])
    raise ValueError(f"rule function {key} not evaluated here")
