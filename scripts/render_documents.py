#!/usr/bin/env python3
"""Embeds the onboarding scripts of cfn/ssm/ into the SSM documents of cfn/member.yaml.

The scripts are kept as files (linted with shellcheck, run in the sandbox tests); the template
carries them as the documents' JSON content between ``# BEGIN generated <name>`` and
``# END generated <name>`` comment lines. Run it after editing a script or parameters.json;
``--check`` exits 1 (and says which document) when the template is out of date, as CI does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "cfn" / "member.yaml"
SSM = ROOT / "cfn" / "ssm"

DOCUMENTS = {
    "arc-onboard-linux": {
        "script": "arc-onboard.sh",
        "platform": "Linux",
        "action": "aws:runShellScript",
        "step": "connectLinuxToArc",
    },
    "arc-onboard-windows": {
        "script": "arc-onboard.ps1",
        "platform": "Windows",
        "action": "aws:runPowerShellScript",
        "step": "connectWindowsToArc",
    },
}


def content(name: str) -> str:
    """The document's content: schema 2.2, shared parameters, one step running the script."""
    spec = DOCUMENTS[name]
    # Comment-only and blank lines are left out of the document (the scripts in cfn/ssm/ keep them):
    # the template stays small. The scripts hold
    # no such line inside a heredoc or here-string (those hold only the {{ name }} placeholders).
    script = "".join(
        line for line in (SSM / spec["script"]).read_text().splitlines(keepends=True)
        if line.strip() and (not line.lstrip().startswith("#") or line.startswith("#!"))
    )
    document = {
        "schemaVersion": "2.2",
        "description": f"mdc-connector: connect {spec['platform']} instances to Azure Arc. Generated from "
        f"cfn/ssm/{spec['script']}; the onboarding credential arrives sealed to a key only the instance holds (two phases).",
        "parameters": json.loads((SSM / "parameters.json").read_text()),
        "mainSteps": [
            {
                "action": spec["action"],
                "name": spec["step"],
                "precondition": {"StringEquals": ["platformType", spec["platform"]]},
                # One string: SSM runs the joined lines, and one JSON string line per script keeps
                # the template small.
                "inputs": {"timeoutSeconds": "1800", "runCommand": [script]},
            }
        ],
    }
    return json.dumps(document, indent=2)


def render(template: str) -> tuple[str, list[str]]:
    """The template with every generated block replaced; and the names of blocks that changed."""
    lines = template.splitlines(keepends=True)
    out: list[str] = []
    changed: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        stripped = line.strip()
        if stripped.startswith("# BEGIN generated "):
            name = stripped.removeprefix("# BEGIN generated ").split()[0]
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == f"# END generated {name}")
            indent = line[: len(line) - len(line.lstrip())]
            block = [f"{indent}Content: |\n"] + [f"{indent}  {c}\n" for c in content(name).splitlines()]
            if lines[i + 1 : end] != block:
                changed.append(name)
            out.extend(block)
            i = end
            continue
        i += 1
    return "".join(out), changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the template is out of date")
    args = parser.parse_args()
    template = TEMPLATE.read_text()
    rendered, changed = render(template)
    if args.check:
        if changed:
            print(f"cfn/member.yaml is out of date for {', '.join(changed)}: run scripts/render_documents.py",
                  file=sys.stderr)
            return 1
        return 0
    TEMPLATE.write_text(rendered)
    print(f"updated: {', '.join(changed) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
