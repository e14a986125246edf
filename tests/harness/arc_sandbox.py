"""Runs the connector's Linux onboarding script the way SSM Run Command would, in a sandbox.

SSM Agent passes each parameter with ``interpolationType: ENV_VAR`` as the variable ``SSM_<name>``
(agents before 3.3.2746.0 only substitute ``{{ name }}`` placeholders into the text), then runs the
text as a shell script with ``AWS_SSM_INSTANCE_ID`` and ``AWS_SSM_REGION_NAME`` set. Here the script
runs with a ``PATH`` whose ``curl``, ``aws`` and (once "installed") ``azcmagent`` are stubs from
``arc_stubs/`` that record their arguments and keep the agent's state in the sandbox directory, so a
second run on the same sandbox sees an installed, connected agent; ``gpg`` and the package tools
(``apt-get``, ``dnf``, ``yum``, ``zypper``, ``rpm``) are stubs too, the distribution is described by
the sandbox's ``os-release`` (Ubuntu 22.04 unless a test says otherwise) and the package manager's
files go under the sandbox's ``sysroot``.

Used by the script tests (``tests/script/``) and by the emulator's managed-instance model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

STUBS = Path(__file__).resolve().parent / "arc_stubs"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
RESULT_PREFIX = "MDC_ARC_RESULT "


def render(script: str, parameters: dict[str, str]) -> str:
    """SSM's substitution: each known ``{{ name }}`` becomes the value, verbatim."""
    return PLACEHOLDER.sub(lambda m: parameters.get(m.group(1), m.group(0)), script)


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The script's result line, parsed; None when it printed none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    return None


class Sandbox:
    """One instance's filesystem: stub state, installed agent, call log, log file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.bin = self.root / "bin"
        self.tmp = self.root / "tmp"
        self.sysroot = self.root / "sysroot"
        for d in (self.bin, self.tmp, self.sysroot):
            d.mkdir(parents=True, exist_ok=True)
        self.set_os("ubuntu", "22.04", "jammy")

    def set_os(self, os_id: str, version: str, codename: str = "") -> None:
        """The distribution the script finds in os-release."""
        lines = [f"ID={os_id}", f'VERSION_ID="{version}"'] + ([f"VERSION_CODENAME={codename}"] if codename else [])
        (self.root / "os-release").write_text("\n".join(lines) + "\n")

    @property
    def calls_file(self) -> Path:
        return self.root / "calls.jsonl"

    def preinstall(self, status: str = "Connected", subscription: str = "", group: str = "",
                   tags: dict[str, str] | None = None, name: str = "web-01") -> None:
        """An agent already installed (and connected to subscription/group when status says so, its
        Arc resource `name` carrying `tags`)."""
        shutil.copy(STUBS / "fake-azcmagent", self.bin / "azcmagent")
        state = {"status": status, "subscriptionId": subscription, "resourceGroup": group, "resourceName": name,
                 "tags": tags or {}}
        (self.root / "agent.json").write_text(json.dumps(state))

    def set_secret(self, name: str, value: str | None) -> None:
        """What the SecureString parameter `name` holds for this host (None: it does not exist)."""
        path = self.root / "secret.json"
        if value is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(json.dumps({"name": name, "value": value}))

    def deny_secret(self, name: str, message: str) -> None:
        """The SecureString `name` exists but its key refuses this host's role session (kms_policy.py)."""
        (self.root / "secret.json").write_text(json.dumps({"name": name, "denied": message}))

    def agent_state(self) -> dict[str, Any]:
        path = self.root / "agent.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def calls(self, command: str | None = None) -> list[list[str]]:
        """Arguments of every stub call (optionally only of one command), in order."""
        if not self.calls_file.exists():
            return []
        rows = [json.loads(line) for line in self.calls_file.read_text().splitlines() if line]
        return [r["args"] for r in rows if command is None or r["cmd"] == command]

    def run_document(self, script: str, parameters: dict[str, str], instance_id: str, region: str = "us-east-1",
                     agent: str = "current", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Runs the script with these parameter values as SSM Agent would.

        ``agent="current"`` (3.3.2746.0+, interpolationType ENV_VAR): the values arrive as ``SSM_<name>``
        variables, and, as the worst case, are also substituted into the text. ``agent="legacy"``: text
        substitution only.
        """
        variables = {f"SSM_{k}": v for k, v in parameters.items()} if agent == "current" else {}
        return self.run(render(script, parameters), instance_id, region, {**variables, **(env or {})})

    def run(self, script: str, instance_id: str, region: str = "us-east-1", env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Runs an already rendered script as SSM would; returns the finished process."""
        path = self.root / "_script.sh"
        path.write_text(script)
        environment = {
            "PATH": f"{self.bin}:{STUBS}:/usr/bin:/bin:{Path(sys.executable).parent}",
            "HOME": str(self.root),
            "TMPDIR": str(self.tmp),
            "AWS_SSM_INSTANCE_ID": instance_id,
            "AWS_SSM_REGION_NAME": region,
            "MDC_ARC_LOG": str(self.root / "arc.log"),
            "MDC_ARC_OS_RELEASE": str(self.root / "os-release"),
            "MDC_ARC_SYSROOT": str(self.sysroot),
            "ARC_STUB_ROOT": str(self.root),
            "ARC_STUB_DIR": str(STUBS),
            **(env or {}),
        }
        return subprocess.run(["/bin/bash", str(path)], cwd=self.root, env=environment, capture_output=True,
                              text=True, timeout=timeout)
