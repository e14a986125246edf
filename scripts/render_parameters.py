#!/usr/bin/env python3
"""Writes the deploy parameters table of docs/deploy.md from cfn/template.yaml.

One row per parameter of the management template (the only template a deploy is given parameters
for: it passes those the nested onboarding and member templates need): its group, default and
validation (pattern, allowed values, constraint) and description. The table sits between
``<!-- BEGIN parameters -->`` and ``<!-- END parameters -->``; ``--check`` exits 1 when it is stale.
Run with the emulator's virtualenv (it uses cfn-lint's YAML decoder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "deploy.md"
BEGIN, END = "<!-- BEGIN parameters -->", "<!-- END parameters -->"


def cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def table() -> str:
    template = decode(str(ROOT / "cfn" / "template.yaml"))[0]
    groups = {}
    for group in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]:
        for name in group["Parameters"]:
            groups[name] = group["Label"]["default"]
    rows = ["| parameter | group | default | validation | what it is |", "|---|---|---|---|---|"]
    for name, spec in template["Parameters"].items():
        if "Default" not in spec:
            default = "**required**"
        else:
            default = f"`{spec['Default']}`" if str(spec["Default"]) else "empty"
        if "AllowedValues" in spec:
            validation = " / ".join(f"`{v}`" for v in spec["AllowedValues"])
        elif "AllowedPattern" in spec:
            validation = cell(spec.get("ConstraintDescription") or f"`{spec['AllowedPattern']}`")
        else:
            validation = cell(spec.get("ConstraintDescription", spec.get("Type", "")))
        if ("MinValue" in spec or "MaxValue" in spec) and "ConstraintDescription" not in spec:
            validation += f" {spec.get('MinValue', '')}..{spec.get('MaxValue', '')}"
        rows.append(f"| `{name}` | {groups.get(name, '')} | {cell(default)} | {validation} | "
                    f"{cell(spec.get('Description', ''))} |")
    return "\n".join(rows)


def render(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    current = DOC.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("docs/deploy.md is out of date: run scripts/render_parameters.py", file=sys.stderr)
            sys.exit(1)
        return
    DOC.write_text(wanted)


if __name__ == "__main__":
    main()
