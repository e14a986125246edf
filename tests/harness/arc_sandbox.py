"""Runs the connector's Linux onboarding script the way SSM Run Command would, in a sandbox.

SSM Agent passes each parameter with ``interpolationType: ENV_VAR`` as the variable ``SSM_<name>``
(agents before 3.3.2746.0 only substitute ``{{ name }}`` placeholders into the text), then runs the
text as a shell script with ``AWS_SSM_INSTANCE_ID`` and ``AWS_SSM_REGION_NAME`` set. Here the script
runs with a ``PATH`` whose ``curl`` and (once "installed") ``azcmagent`` are stubs from
``arc_stubs/`` that record their arguments and keep the agent's state in the sandbox directory, so a
second run on the same sandbox sees an installed, connected agent; ``gpg`` and the package tools
(``apt-get``, ``dnf``, ``yum``, ``zypper``, ``rpm``) are stubs too, the distribution is described by
the sandbox's ``os-release`` (Ubuntu 22.04 unless a test says otherwise), the package manager's
files go under the sandbox's ``sysroot`` (where ``run/systemd/system`` says systemd booted the
instance), and the script counts the user running the tests as root (``MDC_ARC_ROOT_UID``).

The credential reaches the script as arc-provisioner sends it: the ``prepare`` phase reports a
public key made with the real ``openssl`` (kept under the sandbox's own memory-backed directory),
and :func:`seal` seals the credential to it with the ``openssl`` CLI (an implementation independent
of the Rust one) for the ``connect`` phase.

Used by the script tests (``tests/script/``) and by the emulator's managed-instance model.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
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


def key_id(modulus_hex: str) -> str:
    """The key id of a sealing key: the first 16 hex digits of the SHA-256 of its modulus in hex."""
    return hashlib.sha256(modulus_hex.lower().encode()).hexdigest()[:16]


# The connect parameters a sealed credential is bound to, in order (src/arc/seal.rs, binding).
BOUND = ["tenantId", "subscriptionId", "resourceGroup", "location", "cloud", "connectorId", "accountId",
         "servicePrincipalId", "credentialType", "proxyUrl", "privateLinkScope", "correlationId", "force"]


def binding(parameters: dict[str, str], instance_id: str) -> str:
    """The first 32 hex digits of the SHA-256 of the bound parameters and the instance id."""
    text = "".join(f"{name}={parameters.get(name, '')}\n" for name in BOUND) + f"instance={instance_id}\n"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def seal(modulus_hex: str, credential: str, parameters: dict[str, str], instance_id: str) -> str:
    """``credential`` sealed to the RSA key with this modulus (exponent 65537), in the ``mdcseal1``
    format the documents open: RSA-OAEP-SHA256 wraps a one-time passphrase (64 hex), the
    credential's SHA-256 (64 hex) and the binding to the connect command's parameters and the
    instance (32 hex); ``openssl enc -aes-256-cbc -md sha256`` carries the credential."""
    openssl = shutil.which("openssl") or "openssl"
    with tempfile.TemporaryDirectory() as work:
        d = Path(work)
        (d / "key.conf").write_text(f"asn1=SEQUENCE:key\n[key]\nn=INTEGER:0x{modulus_hex.upper()}\ne=INTEGER:0x010001\n")
        run = lambda *args: subprocess.run([openssl, *args], check=True, capture_output=True)  # noqa: E731
        run("asn1parse", "-genconf", str(d / "key.conf"), "-out", str(d / "key.der"), "-noout")
        run("rsa", "-RSAPublicKey_in", "-inform", "DER", "-in", str(d / "key.der"), "-pubout", "-out", str(d / "key.pem"))
        passphrase = os.urandom(32).hex()
        (d / "pass").write_text(passphrase + "\n")
        (d / "plain").write_text(passphrase + hashlib.sha256(credential.encode()).hexdigest()
                                 + binding(parameters, instance_id))
        (d / "credential").write_text(credential)
        run("pkeyutl", "-encrypt", "-pubin", "-inkey", str(d / "key.pem"), "-pkeyopt", "rsa_padding_mode:oaep",
            "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256", "-in", str(d / "plain"),
            "-out", str(d / "wrapped"))
        run("enc", "-aes-256-cbc", "-md", "sha256", "-salt", "-pass", f"file:{d / 'pass'}", "-in",
            str(d / "credential"), "-out", str(d / "body"))
        wrapped = base64.b64encode((d / "wrapped").read_bytes()).decode()
        body = base64.b64encode((d / "body").read_bytes()).decode()
    return f"mdcseal1.{key_id(modulus_hex)}.{wrapped}.{body}"


def make_key(directory: Path) -> str:
    """A sealing key pair as the Windows document makes one (RSA 2048, e = 65537), its private key
    kept in ``directory`` under its key id; the modulus in lowercase hex."""
    openssl = shutil.which("openssl") or "openssl"
    directory.mkdir(parents=True, exist_ok=True)
    pem = directory / "new.pem"
    subprocess.run([openssl, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(pem)],
                   check=True, capture_output=True)
    modulus = subprocess.run([openssl, "rsa", "-in", str(pem), "-noout", "-modulus"], check=True,
                             capture_output=True, text=True).stdout.strip().removeprefix("Modulus=").lower()
    pem.rename(directory / f"{key_id(modulus)}.pem")
    return modulus


def open_sealed(directory: Path, sealed: str, parameters: dict[str, str], instance_id: str) -> str | None:
    """What the Windows document does in connect: the credential, opened with the key the sealed
    value names (used once) and bound to these parameters and this instance, or None."""
    openssl = shutil.which("openssl") or "openssl"
    parts = sealed.split(".")
    if len(parts) != 4 or parts[0] != "mdcseal1":
        return None
    pem = directory / f"{parts[1]}.pem"
    if not pem.exists():
        return None
    with tempfile.TemporaryDirectory() as work:
        d = Path(work)
        (d / "wrapped").write_bytes(base64.b64decode(parts[2]))
        (d / "body").write_bytes(base64.b64decode(parts[3]))
        unwrapped = subprocess.run([openssl, "pkeyutl", "-decrypt", "-inkey", str(pem), "-pkeyopt",
                                    "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt",
                                    "rsa_mgf1_md:sha256", "-in", str(d / "wrapped")], capture_output=True)
        pem.unlink()
        text = unwrapped.stdout.decode(errors="replace")
        if unwrapped.returncode != 0 or len(text) != 160 or text[128:] != binding(parameters, instance_id):
            return None
        (d / "pass").write_text(text[:64] + "\n")
        opened = subprocess.run([openssl, "enc", "-d", "-aes-256-cbc", "-md", "sha256", "-pass", f"file:{d / 'pass'}",
                                 "-in", str(d / "body")], capture_output=True)
        if opened.returncode != 0 or hashlib.sha256(opened.stdout).hexdigest() != text[64:128]:
            return None
        return opened.stdout.decode()


class Sandbox:
    """One instance's filesystem: stub state, installed agent, call log, log file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.bin = self.root / "bin"
        self.tmp = self.root / "tmp"
        self.sysroot = self.root / "sysroot"
        for d in (self.bin, self.tmp, self.sysroot, self.sysroot / "run" / "systemd" / "system"):
            d.mkdir(parents=True, exist_ok=True)
        # The instance's memory-backed filesystem (its sealing keys live there between the phases).
        shm = Path("/dev/shm")
        memory_parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else self.root
        # One per sandbox root, the same for every Sandbox object on it (the emulator makes one per command).
        self.memory = memory_parent / f"mdc-sandbox-{hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]}"
        self.memory.mkdir(mode=0o700, exist_ok=True)
        self.credential = ""
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

    def set_credential(self, value: str) -> None:
        """What arc-provisioner seals to this host in the connect phase."""
        self.credential = value

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

    def onboard(self, script: str, parameters: dict[str, str], instance_id: str, region: str = "us-east-1",
                agent: str = "current", env: dict[str, str] | None = None,
                credential: str | None = None) -> subprocess.CompletedProcess[str]:
        """Both phases, as arc-provisioner runs them: ``prepare``; when it reports a key, the
        credential sealed to it and ``connect``. The last phase's process."""
        first = self.run_document(script, {**parameters, "phase": "prepare", "sealedCredential": ""}, instance_id,
                                  region, agent, env)
        result = parse_result(first.stdout)
        if not result or result.get("status") != "key-ready":
            return first
        credential = self.credential if credential is None else credential
        (self.root / "credential.json").write_text(json.dumps({"value": credential}))
        sealed = seal(result["publicKey"], credential, parameters, instance_id)
        return self.run_document(script, {**parameters, "phase": "connect", "sealedCredential": sealed}, instance_id,
                                 region, agent, env)

    def environment(self, instance_id: str, region: str = "us-east-1",
                    env: dict[str, str] | None = None) -> dict[str, str]:
        """The script's environment as SSM would give it, every file it touches in the sandbox."""
        return {
            "PATH": f"{self.bin}:{STUBS}:/usr/bin:/bin:{Path(sys.executable).parent}",
            "HOME": str(self.root),
            "TMPDIR": str(self.tmp),
            "AWS_SSM_INSTANCE_ID": instance_id,
            "AWS_SSM_REGION_NAME": region,
            "MDC_ARC_LOG": str(self.root / "arc.log"),
            "MDC_ARC_OS_RELEASE": str(self.root / "os-release"),
            "MDC_ARC_SYSROOT": str(self.sysroot),
            "MDC_ARC_MEMORY_ROOT": str(self.memory),
            "MDC_ARC_ROOT_UID": str(os.getuid()),
            "ARC_STUB_ROOT": str(self.root),
            "ARC_STUB_DIR": str(STUBS),
            **(env or {}),
        }

    def run(self, script: str, instance_id: str, region: str = "us-east-1", env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Runs an already rendered script as SSM would; returns the finished process."""
        path = self.root / "_script.sh"
        path.write_text(script)
        return subprocess.run(["/bin/bash", str(path)], cwd=self.root, env=self.environment(instance_id, region, env),
                              capture_output=True, text=True, timeout=timeout)
