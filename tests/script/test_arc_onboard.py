"""The Linux onboarding script (cfn/ssm/arc-onboard.sh) in a sandbox with stub curl and azcmagent and the real openssl.

Run with the emulator's virtualenv: ``.venv-moto/bin/python -m unittest discover -s tests/script``
(``scripts/test`` does). Proves: exact azcmagent arguments, idempotency, connected-elsewhere,
forced moves only of this connector's agents, proxy and private link scope, failures named, each
missing instance prerequisite named by the first step with nothing else done, the access token (or, opted in, the secret) only ever in a root-only file, hostile
parameter values harmless (for current and legacy SSM agents), the document's allowedPatterns
reject them, the template embeds the current scripts, and shellcheck passes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "harness"))
sys.path.insert(0, str(ROOT / "scripts"))

from arc_sandbox import Sandbox, parse_result  # noqa: E402
from entra_model import issue  # noqa: E402
import render_documents  # noqa: E402

SCRIPT = (ROOT / "cfn" / "ssm" / "arc-onboard.sh").read_text()
PARAMETERS = json.loads((ROOT / "cfn" / "ssm" / "parameters.json").read_text())
INSTANCE = "i-0123456789abcdef0"
SECRET = "Q~s3cr3t.value_with-tilde"
KEY = os.urandom(32)
TOKEN_ENV = {"ARC_STUB_TOKEN_KEY": KEY.hex()}
GOOD = {
    "tenantId": "11111111-2222-3333-4444-555555555555",
    "subscriptionId": "aaaaaaaa-2222-3333-4444-555555555555",
    "resourceGroup": "rg-(prod).arc",
    "location": "westeurope",
    "cloud": "AzureCloud",
    "connectorId": "mdc-connector-1",
    "accountId": "111122223333",
    "servicePrincipalId": "bbbbbbbb-2222-3333-4444-555555555555",
    "phase": "prepare",
    "sealedCredential": "",
    "credentialType": "access-token",
    "proxyUrl": "",
    "privateLinkScope": "",
    "correlationId": "cccccccc-2222-3333-4444-555555555555",
    "force": "false",
}
TOKEN = issue(KEY, GOOD["tenantId"], GOOD["servicePrincipalId"], "https://management.azure.com", 3600)
PLS = ("/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg-net/providers/"
       "Microsoft.HybridCompute/privateLinkScopes/pls-1")
STUBS = ROOT / "tests" / "harness" / "arc_stubs"
# The first step's reachability probes (HEAD requests), in order, for the public cloud.
PROBES = ["https://packages.microsoft.com/keys/microsoft.asc", "https://login.microsoftonline.com/",
          "https://management.azure.com/"]


def is_probe(args: list[str]) -> bool:
    """A reachability probe of the first step: a HEAD request that keeps nothing."""
    return "-I" in args and "-o" in args and args[args.index("-o") + 1] == "/dev/null"


def path_without(sandbox: Sandbox, *names: str) -> str:
    """The sandbox's PATH with every command but ``names``: one directory of links to the first of
    each name on it (the stubs before the system's tools), after the sandbox's own bin."""
    tools = sandbox.root / ("path-without-" + "-".join(names))
    tools.mkdir()
    for directory in (STUBS, Path("/usr/bin"), Path("/bin"), Path(sys.executable).parent):
        for entry in sorted(directory.iterdir()):
            if entry.name in names or entry.name.startswith("_") or (tools / entry.name).exists():
                continue
            if entry.is_file() and os.access(entry, os.X_OK):
                (tools / entry.name).symlink_to(entry)
    return f"{sandbox.bin}:{tools}"


class ArcOnboardScript(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.sandbox = Sandbox(Path(self.tmp.name))
        self.sandbox.set_credential(TOKEN)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def run_script(self, agent: str = "current", env: dict[str, str] | None = None, **overrides: str):
        process = self.sandbox.onboard(SCRIPT, {**GOOD, **overrides}, INSTANCE, "eu-west-1", agent,
                                       {**TOKEN_ENV, **(env or {})})
        result = parse_result(process.stdout)
        self.assertIsNotNone(result, f"no result line: {process.stdout!r} {process.stderr!r}")
        return process, result

    def connect_args(self) -> list[list[str]]:
        return [a for a in self.sandbox.calls("azcmagent") if a and a[0] == "connect"]

    def test_installs_and_connects_with_exact_arguments(self) -> None:
        process, result = self.run_script()
        self.assertEqual(process.returncode, 0)
        self.assertEqual(result["status"], "connected")
        self.assertEqual(result["instanceId"], INSTANCE)
        self.assertEqual(result["correlationId"], GOOD["correlationId"])
        keys = [c for c in self.sandbox.calls("curl") if not is_probe(c)]
        self.assertEqual([k[-1] for k in keys], ["https://packages.microsoft.com/keys/microsoft.asc",
                                                "https://packages.microsoft.com/keys/microsoft-2025.asc"])
        self.assertTrue(all("=https" in k and "--tlsv1.2" in k for k in keys))
        # Before the install, in both phases, the first step asked whether Microsoft and Azure answer.
        probes = [c for c in self.sandbox.calls("curl") if is_probe(c)]
        self.assertEqual([c[-1] for c in probes], PROBES * 2)
        self.assertTrue(all("=https" in c and "--tlsv1.2" in c and "--connect-timeout" in c for c in probes))
        self.assertTrue(is_probe(self.sandbox.calls()[0]), "the probes come before anything else")
        self.assertEqual(self.sandbox.calls("apt-get")[-1], ["install", "-y", "azcmagent"])
        source = (self.sandbox.sysroot / "etc/apt/sources.list.d/mdc-connector-microsoft-prod.list").read_text()
        self.assertEqual(source, "deb [signed-by=/usr/share/keyrings/mdc-connector-microsoft.gpg] "
                                 "https://packages.microsoft.com/ubuntu/22.04/prod jammy main\n")
        # No AWS call at all: the credential arrived sealed in the command.
        self.assertEqual(self.sandbox.calls("aws"), [])
        self.assertEqual(list(self.sandbox.memory.glob("mdc-connector-keys/*")), [], "the key is used once")
        [connect] = self.connect_args()
        config = connect[connect.index("--config") + 1]
        self.assertEqual(connect[:1] + connect[3:], [
            "connect",
            "--tenant-id", GOOD["tenantId"],
            "--subscription-id", GOOD["subscriptionId"],
            "--resource-group", "rg-(prod).arc",
            "--location", "westeurope",
            "--cloud", "AzureCloud",
            "--resource-name", INSTANCE,
            "--tags", f"AccountId=111122223333,Cloud=AWS,InstanceId={INSTANCE},MDFCSecurityConnector=mdc-connector-1",
            "--correlation-id", GOOD["correlationId"],
        ])
        self.assertFalse(Path(config).exists(), "the credential file is removed")
        state = self.sandbox.agent_state()
        self.assertEqual((state["status"], state["credential"]), ("Connected", "access-token"))

    def test_the_service_principal_secret_connects_only_when_opted_in(self) -> None:
        self.sandbox.set_credential(SECRET)
        _, result = self.run_script(credentialType="service-principal-secret")
        self.assertEqual(result["status"], "connected")
        [connect] = self.connect_args()
        self.assertEqual(connect[connect.index("--service-principal-id") + 1], GOOD["servicePrincipalId"])
        self.assertEqual(self.sandbox.agent_state()["credential"], "service-principal-secret")
        # A secret staged where a token is expected is refused before anything changes.
        sandbox = Sandbox(Path(tempfile.mkdtemp(dir=self.tmp.name)))
        sandbox.set_credential(SECRET)
        process = sandbox.onboard(SCRIPT, GOOD, INSTANCE, env=TOKEN_ENV)
        self.assertEqual(parse_result(process.stdout)["reason"], "credential-unsealable")
        self.assertEqual([c[0] for c in sandbox.calls("azcmagent")], [], "nothing changed")

    def test_an_expired_token_fails_the_connect(self) -> None:
        self.sandbox.set_credential(issue(KEY, GOOD["tenantId"], GOOD["servicePrincipalId"], "x", -60))
        process, result = self.run_script()
        self.assertEqual((process.returncode, result["reason"]), (1, "connect-failed"))
        self.assertNotIn("credential", self.sandbox.agent_state())

    def test_credential_never_reaches_arguments_environment_output_or_log(self) -> None:
        for credential, kind in ((TOKEN, "access-token"), (SECRET, "service-principal-secret")):
            with self.subTest(kind=kind):
                sandbox = Sandbox(Path(tempfile.mkdtemp(dir=self.tmp.name)))
                sandbox.set_credential(credential)
                # Forced onto an agent of this connector elsewhere: Resource Manager is asked too.
                sandbox.preinstall("Connected", "dddddddd-2222-3333-4444-555555555555", "rg-other",
                                   {"MDFCSecurityConnector": GOOD["connectorId"]})
                process = sandbox.onboard(SCRIPT, {**GOOD, "credentialType": kind, "force": "true"}, INSTANCE,
                                               env=TOKEN_ENV)
                self.assertEqual(parse_result(process.stdout)["status"],
                                 "connected" if kind == "access-token" else "connected-elsewhere")
                rows = [json.loads(line) for line in sandbox.calls_file.read_text().splitlines()]
                for row in rows:
                    self.assertFalse(any(credential in a for a in row["args"]), row)
                    self.assertFalse(any(credential in v for v in row.get("env", {}).values()), row["cmd"])
                self.assertTrue(any(row.get("env") for row in rows), "child environments were recorded")
                self.assertNotIn(credential, process.stdout + process.stderr)
                log = sandbox.root / "arc.log"
                self.assertNotIn(credential, log.read_text() if log.exists() else "")

    def test_second_run_is_already_connected_and_changes_nothing(self) -> None:
        self.run_script()
        before = len(self.sandbox.calls())
        process, result = self.run_script()
        self.assertEqual((process.returncode, result["status"]), (0, "already-connected"))
        self.assertEqual([c[0] for c in self.sandbox.calls()[before:]], ["show"], "only azcmagent show")

    def test_resource_group_compares_case_insensitively(self) -> None:
        self.sandbox.preinstall("Connected", GOOD["subscriptionId"].upper(), "RG-(PROD).ARC", name=INSTANCE.upper())
        _, result = self.run_script()
        self.assertEqual(result["status"], "already-connected")

    def test_connected_elsewhere_is_reported_and_left_alone(self) -> None:
        other = "dddddddd-2222-3333-4444-555555555555"
        self.sandbox.preinstall("Connected", other, "rg-other")
        process, result = self.run_script()
        self.assertEqual((process.returncode, result["status"]), (0, "connected-elsewhere"))
        self.assertEqual(result["detail"], f"{other}/rg-other")
        self.assertEqual(self.connect_args(), [])

    def test_a_forced_move_takes_only_agents_of_this_connector(self) -> None:
        other = "dddddddd-2222-3333-4444-555555555555"
        self.sandbox.preinstall("Connected", other, "rg-other", {"MDFCSecurityConnector": GOOD["connectorId"]})
        _, result = self.run_script(force="true")
        self.assertEqual(result["status"], "connected")
        commands = [c[0] for c in self.sandbox.calls("azcmagent")]
        # show in prepare (which stops at the credential), show again in connect, then the move.
        self.assertEqual(commands, ["show", "show", "disconnect", "connect", "show"])
        self.assertEqual(self.sandbox.agent_state()["subscriptionId"], GOOD["subscriptionId"])
        [arm] = [c for c in self.sandbox.calls("curl") if c[-1].startswith("https://management.azure.com/")]
        self.assertEqual(arm[-1], f"https://management.azure.com/subscriptions/{other}/resourceGroups/rg-other/providers/"
                                  "Microsoft.HybridCompute/machines/web-01?api-version=2024-07-10")
        # The customer's own agent (no tag, another connector's tag) stays where it is.
        for tags in ({}, {"MDFCSecurityConnector": "another-connector"}):
            with self.subTest(tags=tags):
                sandbox = Sandbox(Path(tempfile.mkdtemp(dir=self.tmp.name)))
                sandbox.set_credential(TOKEN)
                sandbox.preinstall("Connected", other, "rg-other", tags)
                process = sandbox.onboard(SCRIPT, {**GOOD, "force": "true"}, INSTANCE, env=TOKEN_ENV)
                result = parse_result(process.stdout)
                self.assertEqual((process.returncode, result["status"]), (0, "connected-elsewhere"))
                self.assertIn("is not tagged MDFCSecurityConnector=mdc-connector-1", result["detail"])
                self.assertEqual([c[0] for c in sandbox.calls("azcmagent")], ["show", "show"], "not disconnected")
                self.assertEqual(sandbox.agent_state()["subscriptionId"], other)

    def test_disconnected_agent_is_connected_without_reinstalling(self) -> None:
        self.sandbox.preinstall("Disconnected")
        _, result = self.run_script()
        self.assertEqual(result["status"], "connected")
        self.assertEqual(self.sandbox.calls("apt-get"), [])
        self.assertEqual(len(self.connect_args()), 1)

    def test_an_expired_agent_of_this_connector_is_disconnected_locally_then_connected(self) -> None:
        # The sweep repairs agents Azure shows Disconnected or Expired: the local configuration
        # goes first ("azcmagent disconnect --force-local-only"), then a fresh connect.
        self.sandbox.preinstall("Expired", GOOD["subscriptionId"], GOOD["resourceGroup"], name=INSTANCE)
        _, result = self.run_script(force="true", env={"ARC_STUB_ARM_GONE": "1"})
        self.assertEqual(result["status"], "connected")
        commands = [c[0] for c in self.sandbox.calls("azcmagent")]
        self.assertEqual(commands[:3], ["show", "show", "disconnect"], commands)
        self.assertIn(["disconnect", "--force-local-only"], self.sandbox.calls("azcmagent"))
        self.assertLess(commands.index("disconnect"), commands.index("connect"))

    def test_a_repair_whose_azure_machine_still_exists_is_refused_before_anything_changes(self) -> None:
        # AZCM0044 "A resource with the same name already exists": a connect under the instance's
        # name cannot succeed while Azure holds the machine, so the local configuration is kept.
        self.sandbox.preinstall("Expired", GOOD["subscriptionId"], GOOD["resourceGroup"], name=INSTANCE)
        process, result = self.run_script(force="true")
        self.assertEqual((process.returncode, result["status"], result["reason"]), (1, "failed", "arc-resource-exists"))
        self.assertTrue(result["detail"].endswith(f"/machines/{INSTANCE}"), result["detail"])
        self.assertEqual([c[0] for c in self.sandbox.calls("azcmagent")], ["show", "show"], "nothing disconnected")
        self.assertEqual(self.sandbox.agent_state()["status"], "Expired")

    def test_an_agent_connected_to_the_target_under_another_name_is_someone_elses(self) -> None:
        self.sandbox.preinstall("Connected", GOOD["subscriptionId"], GOOD["resourceGroup"], name="web-01")
        process, result = self.run_script(force="true")
        self.assertEqual((process.returncode, result["status"]), (0, "connected-elsewhere"), result)
        self.assertIn("(as web-01)", result["detail"])
        self.assertNotIn("disconnect", [c[0] for c in self.sandbox.calls("azcmagent")])

    def test_without_a_token_a_silent_agent_is_cleared_only_when_the_connector_found_no_machine(self) -> None:
        secret = {"credentialType": "service-principal-secret"}
        self.sandbox.set_credential("Zq8~onboarding.secret_value-42")
        self.sandbox.preinstall("Disconnected", GOOD["subscriptionId"], GOOD["resourceGroup"], name=INSTANCE)
        process, result = self.run_script(**secret)
        self.assertEqual((result["status"], result["reason"]), ("failed", "arc-resource-exists"), result)
        self.assertNotIn("disconnect", [c[0] for c in self.sandbox.calls("azcmagent")])
        process, result = self.run_script(force="true", **secret)
        self.assertEqual(result["status"], "connected", result)

    def test_a_forced_run_believes_a_connected_agent_only_when_azure_holds_its_machine(self) -> None:
        self.sandbox.preinstall("Connected", GOOD["subscriptionId"], GOOD["resourceGroup"], name=INSTANCE)
        process, result = self.run_script(force="true")
        self.assertEqual((process.returncode, result["status"]), (0, "already-connected"))
        self.assertTrue(result["resourceId"].endswith(f"/machines/{INSTANCE}"), result)
        self.assertNotIn("disconnect", [c[0] for c in self.sandbox.calls("azcmagent")])
        # The machine was deleted in Azure (Resource Manager answers 404): local clean-up, then connect.
        self.sandbox.preinstall("Connected", GOOD["subscriptionId"], GOOD["resourceGroup"], name=INSTANCE)
        process, result = self.run_script(force="true", env={"ARC_STUB_ARM_GONE": "1"})
        self.assertEqual((process.returncode, result["status"]), (0, "connected"), result)
        self.assertIn(["disconnect", "--force-local-only"], self.sandbox.calls("azcmagent"))

    def test_proxy_and_private_link_scope(self) -> None:
        _, result = self.run_script(proxyUrl="http://proxy.corp.example:3128", privateLinkScope=PLS)
        self.assertEqual(result["status"], "connected")
        for download in self.sandbox.calls("curl"):
            self.assertIn("--proxy", download, "the key downloads go through the proxy too")
        [install] = [r for r in self.sandbox.calls_file.read_text().splitlines()
                     if '"cmd": "apt-get"' in r and '"install"' in r]
        self.assertEqual(json.loads(install)["env"]["https_proxy"], "http://proxy.corp.example:3128")
        self.assertIn(["config", "set", "proxy.url", "http://proxy.corp.example:3128"], self.sandbox.calls("azcmagent"))
        [connect] = self.connect_args()
        self.assertEqual(connect[-2:], ["--private-link-scope", PLS])

    def test_failures_are_named(self) -> None:
        cases = [
            ({"ARC_STUB_DOWNLOAD_FAIL": "1"}, "download-failed"),
            ({"ARC_STUB_BAD_KEY": "microsoft-2025.asc"}, "installer-unverified"),
            # The pinned key plus another one in the same file: nothing from that file is trusted.
            ({"ARC_STUB_EXTRA_KEY": "microsoft.asc"}, "installer-unverified"),
            ({"ARC_STUB_INSTALL_FAIL": "1"}, "install-failed"),
            ({"ARC_STUB_CONNECT_FAIL": "1"}, "connect-failed"),
        ]
        for env, reason in cases:
            with self.subTest(reason=reason):
                sandbox = Sandbox(Path(tempfile.mkdtemp(dir=self.tmp.name)))
                sandbox.set_credential(TOKEN)
                process = sandbox.onboard(SCRIPT, GOOD, INSTANCE, env={**TOKEN_ENV, **env})
                result = parse_result(process.stdout)
                self.assertEqual((process.returncode, result["status"], result["reason"]), (1, "failed", reason))

    def test_the_agent_comes_from_microsofts_repository_for_each_distribution(self) -> None:
        cases = [
            (("debian", "12", "bookworm"), "apt-get", "https://packages.microsoft.com/debian/12/prod bookworm main"),
            (("amzn", "2023"), "dnf", "baseurl=https://packages.microsoft.com/amazonlinux/2023/prod/"),
            (("rhel", "9.4"), "dnf", "baseurl=https://packages.microsoft.com/rhel/9/prod/"),
            (("sles", "15.5"), "zypper", "https://packages.microsoft.com/sles/15/prod/"),
        ]
        for distro, tool, where in cases:
            with self.subTest(distro=distro):
                sandbox = Sandbox(Path(tempfile.mkdtemp(dir=self.tmp.name)))
                sandbox.set_credential(TOKEN)
                sandbox.set_os(*distro)
                process = sandbox.onboard(SCRIPT, GOOD, INSTANCE, env=TOKEN_ENV)
                self.assertEqual(parse_result(process.stdout)["status"], "connected", process.stdout)
                self.assertIn(["-y", "install", "azcmagent"] if tool == "dnf" else
                              ["--non-interactive", "install", "-y", "azcmagent"] if tool == "zypper" else
                              ["install", "-y", "azcmagent"], sandbox.calls(tool))
                if tool == "apt-get":
                    written = (sandbox.sysroot / "etc/apt/sources.list.d/mdc-connector-microsoft-prod.list").read_text()
                elif tool == "dnf":
                    written = (sandbox.sysroot / "etc/yum.repos.d/mdc-connector-microsoft-prod.repo").read_text()
                    self.assertIn("gpgcheck=1", written)
                    self.assertIn("\nincludepkgs=azcmagent\n", written, "the agent package only")
                else:
                    written = " ".join(" ".join(c) for c in sandbox.calls("zypper"))
                    self.assertIn("--gpgcheck", written)
                self.assertIn(where, written)
                if tool != "apt-get":
                    self.assertEqual(sandbox.calls("rpm"), [["--import", str(sandbox.sysroot / "etc/pki/rpm-gpg/mdc-connector-microsoft.asc")]])

    def test_an_unknown_distribution_or_a_wrong_key_installs_nothing(self) -> None:
        self.sandbox.set_os("gentoo", "2.15")
        process, result = self.run_script()
        self.assertEqual((process.returncode, result["reason"]), (1, "prerequisite-missing:supported-os"))
        self.assertTrue(result["detail"].startswith("gentoo 2.15 has no Microsoft package repository"), result)
        self.assertEqual(self.sandbox.calls(), [], "refused in the first step: nothing downloaded or asked")
        sandbox = Sandbox(Path(tempfile.mkdtemp(dir=self.tmp.name)))
        sandbox.set_credential(TOKEN)
        process = sandbox.onboard(SCRIPT, GOOD, INSTANCE, env={**TOKEN_ENV, "ARC_STUB_BAD_KEY": "microsoft.asc"})
        result = parse_result(process.stdout)
        self.assertEqual(result["reason"], "installer-unverified")
        self.assertIn("not exactly BC528686B50D79E339D3721CEB3E94ADBE1229CF", result["detail"])
        self.assertEqual(sandbox.calls("apt-get"), [], "nothing installed with an unverified key")
        self.assertFalse((sandbox.sysroot / "etc/apt/sources.list.d/mdc-connector-microsoft-prod.list").exists())

    def test_a_credential_sealed_to_another_key_opens_nothing(self) -> None:
        from arc_sandbox import seal
        prepared = parse_result(self.sandbox.run_document(SCRIPT, GOOD, INSTANCE, env=TOKEN_ENV).stdout)
        self.assertEqual((prepared["status"], len(prepared["publicKey"])), ("key-ready", 512))
        self.assertEqual([c for c in self.sandbox.calls() if not is_probe(c)], [], "prepare changes nothing")
        # Another instance's key (its own prepare): this instance holds no such private key.
        other = Sandbox(Path(tempfile.mkdtemp(dir=self.tmp.name)))
        theirs = parse_result(other.run_document(SCRIPT, GOOD, INSTANCE, env=TOKEN_ENV).stdout)["publicKey"]
        sealed = seal(theirs, TOKEN, GOOD, INSTANCE)
        process = self.sandbox.run_document(SCRIPT, {**GOOD, "phase": "connect", "sealedCredential": sealed},
                                            INSTANCE, env=TOKEN_ENV)
        result = parse_result(process.stdout)
        self.assertEqual((process.returncode, result["reason"]), (1, "sealing-key-missing"))
        # Sealed to this instance's key id but tampered with: refused, and the key is gone after one use.
        # Sealed for other parameters (another resource group): refused, the key used up.
        moved = seal(prepared["publicKey"], TOKEN, {**GOOD, "resourceGroup": "rg-attacker"}, INSTANCE)
        process = self.sandbox.run_document(SCRIPT, {**GOOD, "phase": "connect", "sealedCredential": moved},
                                            INSTANCE, env=TOKEN_ENV)
        self.assertEqual((parse_result(process.stdout)["reason"], parse_result(process.stdout)["detail"]),
                         ("credential-unsealable", "binding"))
        prepared = parse_result(self.sandbox.run_document(SCRIPT, GOOD, INSTANCE, env=TOKEN_ENV).stdout)
        mine = seal(prepared["publicKey"], TOKEN, GOOD, INSTANCE)
        tag, key_id, wrapped, body = mine.split(".")
        flipped = body[:-8] + ("A" if body[-8] != "A" else "B") + body[-7:]
        process = self.sandbox.run_document(SCRIPT, {**GOOD, "phase": "connect",
                                                     "sealedCredential": ".".join([tag, key_id, wrapped, flipped])},
                                            INSTANCE, env=TOKEN_ENV)
        self.assertEqual(parse_result(process.stdout)["reason"], "credential-unsealable")
        process = self.sandbox.run_document(SCRIPT, {**GOOD, "phase": "connect", "sealedCredential": mine},
                                            INSTANCE, env=TOKEN_ENV)
        self.assertEqual(parse_result(process.stdout)["reason"], "sealing-key-missing", "one use only")
        self.assertEqual(self.connect_args(), [])

    def test_without_a_memory_filesystem_the_credential_never_reaches_disk(self) -> None:
        missing = str(self.sandbox.root / "no-shm")
        process, result = self.run_script(env={"MDC_ARC_MEMORY_ROOT": missing})
        self.assertEqual((process.returncode, result["reason"]), (1, "prerequisite-missing:memory-filesystem"))
        self.assertTrue(result["detail"].startswith(f"{missing} is not a writable directory"), result)
        self.assertEqual(self.connect_args(), [])
        written = [p for p in self.sandbox.tmp.rglob("*") if p.is_file()]
        self.assertEqual(written, [], "nothing left in the disk-backed fallback directory")

    def test_without_openssl_nothing_is_attempted(self) -> None:
        process = self.sandbox.run_document(SCRIPT, GOOD, INSTANCE, env={"PATH": path_without(self.sandbox, "openssl")})
        result = parse_result(process.stdout)
        self.assertEqual((process.returncode, result["reason"]), (1, "prerequisite-missing:openssl"), process.stderr)
        self.assertEqual(self.sandbox.calls(), [], "no download, no install, no agent call")

    def work_dirs(self) -> list[str]:
        roots = [Path("/dev/shm"), self.sandbox.memory, self.sandbox.tmp]
        return [str(p) for root in roots if root.is_dir() for p in root.glob("mdc-arc.*")]

    def test_work_directory_is_memory_backed_and_removed_on_every_exit(self) -> None:
        import time
        from arc_sandbox import render
        before = set(self.work_dirs())
        # Terminated while it runs (the agent call hangs): the trap still removes it.
        path = self.sandbox.root / "_hang.sh"
        # The hang is an interruptible wait (bash runs a trap at once during `wait`, but only after
        # a foreground command such as a plain `sleep` has ended).
        # A marker says the script is there: a SIGTERM sent earlier, during a foreground command,
        # would wait for that command (and a loaded CI machine is slow to get there).
        hanging = self.sandbox.root / "_hanging"
        hang = f"touch '{hanging}'\nsleep 30 >/dev/null 2>&1 &\nwait $!\nconnect_args=("
        prepared = parse_result(self.sandbox.run_document(SCRIPT, GOOD, INSTANCE, env=TOKEN_ENV).stdout)
        from arc_sandbox import seal
        connect = {**GOOD, "phase": "connect", "sealedCredential": seal(prepared["publicKey"], TOKEN, GOOD, INSTANCE)}
        path.write_text(render(SCRIPT, connect).replace("connect_args=(", hang, 1))
        # The sandbox's environment (its os-release, sysroot and memory): nothing outside it is written.
        env = {**self.sandbox.environment(INSTANCE, "eu-west-1", TOKEN_ENV),
               **{f"SSM_{k}": v for k, v in connect.items()}}
        running = subprocess.Popen(["/bin/bash", str(path)], cwd=self.sandbox.root, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        # Until the script has made its work directory and reached the hanging call.
        while time.time() < deadline and not hanging.exists() and running.poll() is None:
            time.sleep(0.05)
        time.sleep(0.2)
        created = set(self.work_dirs()) - before
        self.assertTrue(created, f"the script made its work directory: {running.poll()}")
        if Path("/dev/shm").is_dir():
            self.assertTrue(all(d.startswith("/dev/shm/") for d in created), created)
        running.terminate()
        running.communicate(timeout=10)
        self.assertEqual(set(self.work_dirs()), before, "after SIGTERM")
        # After success, and after a failure.
        self.run_script()
        self.assertEqual(set(self.work_dirs()), before, "after success")
        self.sandbox.set_credential("not a token")
        self.run_script(force="true", subscriptionId="dddddddd-2222-3333-4444-555555555555")
        self.assertEqual(set(self.work_dirs()), before, "after a failure")

    def test_instance_id_from_the_agent_is_validated(self) -> None:
        process = self.sandbox.onboard(SCRIPT, GOOD, "i-0123;touch pwned")
        self.assertEqual(parse_result(process.stdout)["reason"], "instance-id-unknown")
        self.assertFalse((self.sandbox.root / "pwned").exists())


class Prerequisites(unittest.TestCase):
    """Issue #32 item 4: the script's first step checks every instance prerequisite it relies on
    (docs/arc-provisioner.md#instance-prerequisites). A missing one is its own stable reason
    ``prerequisite-missing:<name>`` whose detail says how to fix it, in either phase, and nothing
    else is done: no key made, nothing downloaded, written or installed, no agent call (before an
    install, only the reachability probes, which keep nothing)."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def sandbox(self) -> Sandbox:
        sandbox = Sandbox(Path(tempfile.mkdtemp(dir=self.tmp.name)))
        sandbox.set_credential(TOKEN)
        return sandbox

    def assert_refused(self, sandbox: Sandbox, reason: str, detail: str, env: dict[str, str] | None = None,
                       probes: list[str] | None = None, **overrides: str) -> None:
        """Both phases end with ``reason`` (its detail starting with ``detail``), having done nothing
        but the first step's ``probes``."""
        before = sorted(p.relative_to(sandbox.root) for p in sandbox.root.rglob("*"))
        # connect: a well-formed sealed value; the first step comes before its key is looked for.
        for parameters in ({**GOOD, **overrides}, {**CONNECT, **overrides}):
            with self.subTest(reason=reason, phase=parameters["phase"]):
                if sandbox.calls_file.exists():
                    sandbox.calls_file.unlink()
                process = sandbox.run_document(SCRIPT, parameters, INSTANCE, env={**TOKEN_ENV, **(env or {})})
                result = parse_result(process.stdout)
                self.assertIsNotNone(result, process.stderr)
                self.assertEqual((process.returncode, result["status"], result["reason"]), (1, "failed", reason),
                                 result)
                self.assertTrue(result["detail"].startswith(detail), result["detail"])
                self.assertEqual(result["publicKey"], "", "no key made")
                calls = sandbox.calls()
                self.assertTrue(all(is_probe(c) for c in calls), f"only the reachability probes: {calls}")
                self.assertEqual([c[-1] for c in calls], probes or [])
                # Nothing written: no log, no key directory, no repository file, nothing in the sandbox.
                self.assertFalse((sandbox.memory / "mdc-connector-keys").exists())
                after = sorted(p.relative_to(sandbox.root) for p in sandbox.root.rglob("*")
                               if p.name not in ("_script.sh", "calls.jsonl"))
                self.assertEqual(after, [p for p in before if p.name not in ("_script.sh", "calls.jsonl")])

    def test_root(self) -> None:
        self.assert_refused(self.sandbox(), "prerequisite-missing:root", "run it as root",
                            env={"MDC_ARC_ROOT_UID": str(os.getuid() + 1)})

    def test_curl(self) -> None:
        sandbox = self.sandbox()
        self.assert_refused(sandbox, "prerequisite-missing:curl", "install curl",
                            env={"PATH": path_without(sandbox, "curl")})

    def test_openssl(self) -> None:
        sandbox = self.sandbox()
        self.assert_refused(sandbox, "prerequisite-missing:openssl", "install openssl",
                            env={"PATH": path_without(sandbox, "openssl")})

    def test_memory_filesystem(self) -> None:
        sandbox = self.sandbox()
        missing = str(sandbox.root / "no-shm")
        self.assert_refused(sandbox, "prerequisite-missing:memory-filesystem", f"{missing} is not a writable directory",
                            env={"MDC_ARC_MEMORY_ROOT": missing})
        self.assertEqual(list(sandbox.tmp.iterdir()), [], "nothing left in the disk-backed fallback")

    def test_systemd(self) -> None:
        sandbox = self.sandbox()
        (sandbox.sysroot / "run" / "systemd" / "system").rmdir()
        self.assert_refused(sandbox, "prerequisite-missing:systemd", "this instance did not boot with systemd")

    def test_supported_os(self) -> None:
        for distro in (("gentoo", "2.15"), ("ubuntu", "22.04"), ("rhel", "")):
            sandbox = self.sandbox()
            sandbox.set_os(*distro)
            self.assert_refused(sandbox, "prerequisite-missing:supported-os",
                                f"{distro[0]} {distro[1] or 'unknown'} has no Microsoft package repository")

    def test_package_manager(self) -> None:
        for distro, tools, detail in ((("ubuntu", "22.04", "jammy"), ("apt-get",), "apt-get not found"),
                                      (("rhel", "9.4"), ("dnf", "yum"), "rpm with dnf or yum not found"),
                                      (("amzn", "2023"), ("rpm",), "rpm with dnf or yum not found"),
                                      (("sles", "15.5"), ("zypper",), "rpm with zypper not found")):
            sandbox = self.sandbox()
            sandbox.set_os(*distro)
            self.assert_refused(sandbox, "prerequisite-missing:package-manager", detail,
                                env={"PATH": path_without(sandbox, *tools)})

    def test_gnupg(self) -> None:
        sandbox = self.sandbox()
        self.assert_refused(sandbox, "prerequisite-missing:gnupg", "install gnupg",
                            env={"PATH": path_without(sandbox, "gpg")})

    def test_outbound_https(self) -> None:
        for index, host in enumerate(("packages.microsoft.com", "login.microsoftonline.com", "management.azure.com")):
            self.assert_refused(self.sandbox(), "prerequisite-missing:outbound-https", f"{PROBES[index]} is not reachable over HTTPS:",
                                env={"ARC_STUB_UNREACHABLE": host}, probes=PROBES[:index + 1])
        # The configured cloud's endpoints, and through the proxy.
        self.assert_refused(self.sandbox(), "prerequisite-missing:outbound-https",
                            "https://login.microsoftonline.us/ is not reachable over HTTPS:", cloud="AzureUSGovernment",
                            env={"ARC_STUB_UNREACHABLE": "login.microsoftonline.us"},
                            probes=[PROBES[0], "https://login.microsoftonline.us/"])
        sandbox = self.sandbox()
        proxy = "http://proxy.corp.example:3128"
        self.assert_refused(sandbox, "prerequisite-missing:outbound-https",
                            f"{PROBES[0]} is not reachable over HTTPS through {proxy}:", proxyUrl=proxy,
                            env={"ARC_STUB_UNREACHABLE": "packages.microsoft.com"}, probes=PROBES[:1])
        [probe] = sandbox.calls("curl")
        self.assertEqual(probe[probe.index("--proxy") + 1], proxy)

    def test_an_installed_agent_needs_no_repository_gnupg_package_manager_or_network(self) -> None:
        sandbox = self.sandbox()
        sandbox.preinstall("Connected", GOOD["subscriptionId"], GOOD["resourceGroup"], name=INSTANCE)
        sandbox.set_os("gentoo", "2.15")
        process = sandbox.run_document(SCRIPT, GOOD, INSTANCE, env={
            **TOKEN_ENV, "PATH": path_without(sandbox, "gpg", "apt-get"),
            "ARC_STUB_UNREACHABLE": "packages.microsoft.com,login.microsoftonline.com,management.azure.com"})
        self.assertEqual(parse_result(process.stdout)["status"], "already-connected", process.stdout)
        self.assertEqual(sandbox.calls(), [["show", "-j"]], "no probe, only azcmagent show")

    def test_the_first_step_only_reads(self) -> None:
        # It runs once the parameters are checked, before the instance id is looked up (instance
        # metadata is read with curl) and before anything is written, downloaded or run.
        step = SCRIPT[SCRIPT.index("# First step:"):SCRIPT.index("# The instance this runs on:")]
        self.assertLess(SCRIPT.index("check force "), SCRIPT.index("# First step:"))
        first_write = min(SCRIPT.index(w) for w in ('2>>"$log_file"', 'mkdir -p "$key_dir"', "openssl genpkey",
                                                   "azcmagent show", "curl -fsS"))
        self.assertLess(SCRIPT.index("# The instance this runs on:"), first_write)
        code = "\n".join(line for line in step.splitlines() if not line.lstrip().startswith("#"))
        self.assertNotIn("$log_file", code)
        self.assertNotRegex(code, r"\b(mkdir|rm|mv|chmod|touch|tee) ")
        # Output goes nowhere but /dev/null.
        self.assertEqual(set(re.findall(r"\d?>>?(?!&)\s*([^\s);|]+)", code)), {"/dev/null"})
        # One stable reason per prerequisite, each raised with a detail that says how to fix it.
        self.assertEqual(set(re.findall(r"missing ([a-z0-9-]+) \"[^\"]+\"", code)), LINUX_PREREQUISITES)
        self.assertEqual(set(re.findall(r"missing ([a-z0-9-]+)", code)), LINUX_PREREQUISITES)

    def test_every_reason_is_documented_with_its_fix(self) -> None:
        self.assertEqual(documented_reasons("Linux"), LINUX_PREREQUISITES)


# The Linux script's prerequisites (docs/arc-provisioner.md#instance-prerequisites).
LINUX_PREREQUISITES = {"root", "curl", "openssl", "memory-filesystem", "systemd", "supported-os", "package-manager",
                       "gnupg", "outbound-https"}


def documented_reasons(platform: str) -> set[str]:
    """The reasons the "Instance prerequisites" section of docs/arc-provisioner.md lists for a platform
    (its table under "### <platform>")."""
    doc = (ROOT / "docs" / "arc-provisioner.md").read_text()
    section = doc[doc.index("## Instance prerequisites"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    table = section[section.index(f"### {platform}"):]
    table = table[:table.index("\n### ", 1)] if "\n### " in table[1:] else table
    return set(re.findall(r"`prerequisite-missing:([a-z0-9-]+)`", table))


def hostile_values(marker: Path) -> list[str]:
    touch = f"touch {marker}"
    return [
        f"$({touch})",
        f"`{touch}`",
        f"x; {touch}",
        f"x' ; {touch} ; echo '",
        f'x" ; {touch} ; echo "',
        f"x\n{touch}",
        f"x\\\n{touch}",
        f"x && {touch} #",
        f"x | {touch}",
        f"x > {marker}",
        f"${{IFS}}{touch}",
    ]


# A connect phase whose sealed credential is well formed (it opens nothing: no such key).
CONNECT = {**GOOD, "phase": "connect", "sealedCredential": f"mdcseal1.{'0' * 16}.{'A' * 342}==.{'A' * 44}"}
DELIMITER_BREAKOUT = "x\nMDC_ARC_VALUE\n); touch {marker}; (\nMDC_ARC_VALUE"


class HostileValues(unittest.TestCase):
    """A value that reaches the script can neither run code nor pass validation."""

    def check(self, agent: str, values_for: callable) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            marker = Path(tmp) / "pwned"
            for name in PARAMETERS:
                for value in values_for(marker):
                    with self.subTest(agent=agent, parameter=name, value=value):
                        sandbox = Sandbox(Path(tempfile.mkdtemp(dir=tmp)))
                        # Either phase: prepare, and connect with a well-formed sealed credential.
                        for phase in (GOOD, CONNECT):
                            process = sandbox.run_document(SCRIPT, {**phase, name: value}, INSTANCE, agent=agent)
                            self.assertFalse(marker.exists(), f"{name}={value!r} ran code")
                            result = parse_result(process.stdout)
                            self.assertIsNotNone(result, process.stderr)
                            self.assertEqual((result["status"], result["reason"], result["detail"]),
                                             ("failed", "invalid-parameter", name))
                        self.assertEqual(sandbox.calls("azcmagent"), [])

    def test_current_agent_environment_variables(self) -> None:
        # Values arrive as SSM_<name>, and (worst case) are substituted into the text as well.
        self.check("current", lambda m: hostile_values(m) + [DELIMITER_BREAKOUT.format(marker=m)])

    def test_legacy_agent_text_substitution(self) -> None:
        self.check("legacy", hostile_values)

    def test_document_patterns_reject_every_hostile_value(self) -> None:
        # SSM refuses SendCommand when a value fails allowedPattern/allowedValues: the delimiter
        # breakout never reaches a legacy agent.
        marker = Path("/tmp/pwned")
        for name, spec in PARAMETERS.items():
            self.assertEqual(spec.get("interpolationType"), "ENV_VAR", name)
            self.assertTrue("allowedPattern" in spec or "allowedValues" in spec, name)
            for value in hostile_values(marker) + [DELIMITER_BREAKOUT.format(marker=marker)]:
                with self.subTest(parameter=name, value=value):
                    self.assertFalse(document_accepts(spec, value))
            self.assertTrue(document_accepts(spec, GOOD[name]), name)


def document_accepts(spec: dict, value: str) -> bool:
    """SSM's check of one parameter value (a Java regex; \\Z-anchored here, as Java's $ is)."""
    if "allowedValues" in spec and value not in spec["allowedValues"]:
        return False
    pattern = spec.get("allowedPattern")
    return pattern is None or re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is not None


class Template(unittest.TestCase):
    def test_member_template_embeds_the_current_scripts(self) -> None:
        _, changed = render_documents.render((ROOT / "cfn" / "member.yaml").read_text())
        self.assertEqual(changed, [], "run scripts/render_documents.py")

    def test_linux_script_passes_shellcheck(self) -> None:
        shellcheck = Path(sys.executable).parent / "shellcheck"
        process = subprocess.run([str(shellcheck), "--severity=style", str(ROOT / "cfn" / "ssm" / "arc-onboard.sh")],
                                 capture_output=True, text=True)
        self.assertEqual(process.returncode, 0, process.stdout)

    def test_windows_script_cleans_up_on_every_path_and_verifies_the_installer(self) -> None:
        # PowerShell cannot be installed from the package registries here: the structure is checked.
        text = (ROOT / "cfn" / "ssm" / "arc-onboard.ps1").read_text()
        code = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
        # The main body runs in try/catch/finally: the work directory goes on every exit, and an
        # unexpected error still prints a result line.
        self.assertRegex(code, r"\ntry \{\n")
        self.assertRegex(code, r"\} catch \{\n(.*\n)*?\s*Write-Result 'failed' 'unexpected-error'")
        self.assertRegex(code, r"\} finally \{\n\s*\$credential = ''\n\s*Remove-WorkDir\n\}\s*$")
        # Native commands only through Invoke-Agent, under a local 'Continue' preference.
        agent_calls = [l for l in code.splitlines() if "& $Agent" in l]
        self.assertEqual(len(agent_calls), 2, agent_calls)  # Invoke-Agent itself, and `show -j` under Continue
        self.assertRegex(code, r"function Invoke-Agent[^}]*\$ErrorActionPreference = 'Continue'")
        self.assertNotRegex(code, r"\*>> \$LogFile\n(?![^\n]*finally)", "no bare redirected native call")
        # The credential file is written with .NET, never through a cmdlet parameter; Resource
        # Manager is asked with a .NET client (no -Headers parameter carries the token).
        self.assertNotIn("Set-Content", code)
        self.assertIn("[System.IO.File]::WriteAllText($config", code)
        self.assertNotRegex(code, r"Invoke-(RestMethod|WebRequest)[^\n]*\$credential")
        self.assertIn("$client.Headers.Add('Authorization', 'Bearer ' + $credential)", code)
        # A forced move asks for this connector's tag first, and the service principal id goes on
        # the command line only for the opted-in secret.
        tag_check = code.index("MDFCSecurityConnector=$ConnectorId\" }")
        self.assertIn("'disconnect', '--force-local-only'", code[tag_check:tag_check + 200])
        # An agent of the target is cleared locally only once Resource Manager answered 404 (its
        # machine deleted in Azure), and a silent one only while no machine holds its name (AZCM0044).
        self.assertLess(code.index("if ($status -ne 404)"), code.index("'disconnect', '--force-local-only'"))
        self.assertIn("if ($status -eq 200) { Write-Result 'failed' 'arc-resource-exists' $TargetMachineId }", code)
        self.assertIn("[string]$shown.resourceName -eq $InstanceId", code, "only the instance's own name is the target")
        self.assertIn("if ($CredentialType -eq 'service-principal-secret') { $connect += @('--service-principal-id'", code)
        # TLS 1.2 and a Microsoft Authenticode signature before msiexec runs.
        self.assertIn("[Net.SecurityProtocolType]::Tls12", code)
        self.assertLess(code.index("Get-AuthenticodeSignature"), code.index("Start-Process msiexec.exe"))
        # Exactly Microsoft's signer (case-sensitive equality, not a substring) and a chain ending in
        # Microsoft Root Certificate Authority 2010 or 2011 (by thumbprint).
        self.assertIn("$MicrosoftSigner = 'CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US'", code)
        self.assertIn("$signer.Subject -cne $MicrosoftSigner", code)
        self.assertIn("$MicrosoftRoots -notcontains $root", code)
        self.assertIn("'8F43288AD272F3103B6FB1428485EA3014C0BCFE'", code)
        self.assertNotIn("-notmatch 'O=Microsoft", code)
        # The log and the work directory: SYSTEM and Administrators only, by SID, nothing inherited.
        self.assertIn("$LogDir = Join-Path $env:ProgramData 'mdc-connector'", code)
        self.assertIn("Protect-Directory $WorkDir\n$WorkDirReady = $true\nProtect-Directory $LogDir", code)
        self.assertIn("@('S-1-5-18', 'S-1-5-32-544')", code)
        self.assertLess(code.index("Protect-Directory $LogDir"), code.index("(& $Agent show"), "protected before the first write")

    def test_windows_script_keeps_every_placeholder_inside_a_here_string(self) -> None:
        lines = (ROOT / "cfn" / "ssm" / "arc-onboard.ps1").read_text().splitlines()
        names = set()
        for i, line in enumerate(lines):
            for name in re.findall(r"\{\{\s*(\w+)\s*\}\}", line):
                if line.lstrip().startswith("#"):
                    continue
                names.add(name)
                self.assertEqual(line, f"{{{{ {name} }}}}", "a placeholder is alone on its line")
                self.assertTrue(lines[i - 1].endswith("else { @'"), lines[i - 1])
                self.assertTrue(lines[i + 1].startswith("'@"), lines[i + 1])
                self.assertIn(f"$env:SSM_{name}", lines[i - 1])
        self.assertEqual(names, set(PARAMETERS))


if __name__ == "__main__":
    unittest.main()
