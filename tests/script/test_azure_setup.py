"""scripts/azure-setup against a stub Azure CLI (tests/harness/azure_stubs/az, first on PATH).

Run with the emulator's virtualenv: ``.venv-moto/bin/python -m unittest discover -s tests/script``
(``scripts/test`` does). The stub keeps a tenant in a JSON file (resource groups, resource
providers, applications, service principals, federated credentials, role definitions and
assignments; the stack's outputs and the federation issuer for the stub ``aws``), records every
call and answers as az does. Proves: a fresh tenant gets exactly the expected changes, a second run
makes none, a partly set-up tenant (also by the hand-typed commands of docs/deploy.md) gets only
what is missing, a dry run changes nothing and prints exactly the commands a run makes, a missing
or signed-out az and a wrong tenant stop it with a clear message, hostile values (flags or stack
outputs) are refused before any command, conflicting rights are reported, and shellcheck passes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "azure-setup"
STUBS = ROOT / "tests" / "harness" / "azure_stubs"
sys.path.insert(0, str(STUBS))

import _tenant  # noqa: E402
from _tenant import CONTRIBUTOR_ROLE, ONBOARDING_ROLE, RESOURCE_ADMINISTRATOR_ROLE, derived  # noqa: E402

BASH = shutil.which("bash") or "/bin/bash"
TENANT = "11111111-2222-3333-4444-555555555555"
SUB = "aaaaaaaa-2222-3333-4444-555555555555"
GROUP = "mdc-arc"
LOCATION = "westeurope"
STACK = "mdc-connector"
ISSUER = "https://0a1b2c3d-1111-2222-3333-444455556666.tokens.sts.global.api.aws"
SUBJECT = "arn:aws:iam::111122223333:role/mdc-connector-arc-provisioner"
AUDIENCE = "api://AzureADTokenExchange"
ONBOARDING = "mdc-connector-arc-onboarding"
SWEEP = "mdc-connector-arc-sweep"
SWEEP_ROLE = "MDC connector Arc sweep"
PROVIDERS = ["Microsoft.HybridCompute", "Microsoft.GuestConfiguration", "Microsoft.HybridConnectivity"]
SWEEP_ACTIONS = ["Microsoft.HybridCompute/machines/read", "Microsoft.HybridCompute/machines/delete"]
ARGS = ["--subscription", SUB, "--resource-group", GROUP, "--location", LOCATION, "--stack-name", STACK]
READS = {"show", "list", "exists"}

ONBOARDING_APP = derived("app", ONBOARDING)
ONBOARDING_SP = derived("sp", ONBOARDING_APP)
SWEEP_APP = derived("app", SWEEP)
SWEEP_SP = derived("sp", SWEEP_APP)
SWEEP_ROLE_ID = derived("role", SWEEP_ROLE)


def scope(group: str = GROUP) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{group}"


def credential(name: str = "aws-mdc-connector") -> dict:
    return {"name": name, "issuer": ISSUER, "subject": SUBJECT,
            "description": "arc-provisioner of mdc-connector (AWS outbound identity federation)",
            "audiences": [AUDIENCE]}


def group_create(group: str = GROUP) -> list:
    return ["group", "create", "--name", group, "--location", LOCATION, "--subscription", SUB, "-o", "none"]


def provider_register(namespace: str) -> list:
    return ["provider", "register", "--namespace", namespace, "--subscription", SUB, "-o", "none"]


def app_create(name: str) -> list:
    return ["ad", "app", "create", "--display-name", name, "--sign-in-audience", "AzureADMyOrg", "--query", "appId", "-o", "tsv"]


def sp_create(app_id: str) -> list:
    return ["ad", "sp", "create", "--id", app_id, "--query", "id", "-o", "tsv"]


def credential_create(app_id: str) -> list:
    return ["ad", "app", "federated-credential", "create", "--id", app_id, "--parameters", credential(), "-o", "none"]


def role_create(assignable: list[str] | None = None) -> list:
    return ["role", "definition", "create", "--subscription", SUB, "--role-definition", {
        "Name": SWEEP_ROLE, "IsCustom": True,
        "Description": "List and delete Azure Arc machines (mdc-connector arc-provisioner sweep)",
        "Actions": SWEEP_ACTIONS, "NotActions": [], "DataActions": [], "NotDataActions": [],
        "AssignableScopes": assignable or [f"/subscriptions/{SUB}"]}, "--query", "name", "-o", "tsv"]


def assign(sp: str, role: str, group: str = GROUP) -> list:
    return ["role", "assignment", "create", "--assignee-object-id", sp, "--assignee-principal-type", "ServicePrincipal",
            "--role", role, "--scope", scope(group), "--subscription", SUB, "-o", "none"]


FRESH = [
    group_create(),
    *[provider_register(p) for p in PROVIDERS],
    app_create(ONBOARDING), sp_create(ONBOARDING_APP), credential_create(ONBOARDING_APP),
    app_create(SWEEP), sp_create(SWEEP_APP), credential_create(SWEEP_APP),
    assign(ONBOARDING_SP, ONBOARDING_ROLE),
    role_create(),
    assign(SWEEP_SP, SWEEP_ROLE_ID),
]


def parsed(args: list[str]) -> list:
    """A command's words, its JSON arguments parsed (so the tests compare content, not spacing)."""
    return [json.loads(a) if a.startswith("{") else a for a in args]


class Tenant:
    """A stub tenant in a temporary directory, and the script run against it."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.state_path = directory / "tenant.json"
        self.calls_path = directory / "calls.jsonl"
        self.marker = directory / "pwned"
        # The stubs run with this interpreter (the emulator's virtualenv has jmespath).
        self.bin = directory / "python-bin"
        self.bin.mkdir()
        python = self.bin / "python3"
        python.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} \"$@\"\n")
        python.chmod(0o755)
        state = _tenant.empty_tenant(TENANT, SUB)
        state["aws"] = {"stacks": {STACK: {"Outputs": {"ArcFederationSubject": SUBJECT, "ArcFederationAudience": AUDIENCE,
                                                       "ConnectorBusArn": "arn:aws:events:us-east-1:111122223333:event-bus/mdc-connector"}}},
                        "issuer": ISSUER}
        self.save(state)

    def state(self) -> dict:
        return json.loads(self.state_path.read_text())

    def save(self, state: dict) -> None:
        self.state_path.write_text(json.dumps(state, indent=1, sort_keys=True))

    def run(self, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
        self.calls_path.unlink(missing_ok=True)
        env = {
            "PATH": path if path is not None else os.pathsep.join([str(STUBS), str(self.bin), os.environ.get("PATH", "")]),
            "AZ_STUB_STATE": str(self.state_path), "AZ_STUB_CALLS": str(self.calls_path),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": str(self.dir), "LC_ALL": "C",
        }
        return subprocess.run([BASH, str(SCRIPT), *args], env=env, cwd=self.dir, capture_output=True, text=True, timeout=300)

    def calls(self, tool: str = "az") -> list[list[str]]:
        if not self.calls_path.exists():
            return []
        rows = [json.loads(line) for line in self.calls_path.read_text().splitlines()]
        return [r["args"] for r in rows if r["cmd"] == tool]

    def changes(self) -> list[list]:
        """The az calls that change something: every call but show, list and exists."""
        changes = []
        for args in self.calls():
            words = [a for a in args[: next((i for i, a in enumerate(args) if a.startswith("-")), len(args))]]
            if words[-1] not in READS:
                changes.append(parsed(args))
        return changes


def statuses(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.split(" ", 1)[0] in ("ok", "created", "would", "conflict", "skipped")]


def printed(stdout: str) -> list[list]:
    """The commands the script printed (`$ az ...`), read back as a shell would."""
    commands = []
    for line in stdout.splitlines():
        if line.startswith("$ "):
            words = shlex.split(line[2:])
            assert words[0] == "az", line
            commands.append(parsed(words[1:]))
    return commands


def parameters(stdout: str) -> dict[str, str]:
    return dict(line.strip().split("=", 1) for line in stdout.splitlines() if line.startswith("  Arc"))


class AzureSetup(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.tenant = Tenant(Path(self.tmp.name))

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def run_ok(self, *args: str) -> subprocess.CompletedProcess:
        process = self.tenant.run(*args)
        self.assertEqual(process.returncode, 0, f"stdout:\n{process.stdout}\nstderr:\n{process.stderr}")
        return process

    def test_fresh_tenant_gets_exactly_every_piece(self) -> None:
        process = self.run_ok(*ARGS)
        self.assertEqual(self.tenant.changes(), FRESH)
        self.assertEqual(printed(process.stdout), FRESH, "each change's exact command is printed")
        lines = statuses(process.stdout)
        self.assertEqual(len([l for l in lines if l.startswith("created ")]), len(FRESH), process.stdout)
        self.assertFalse([l for l in lines if not l.startswith(("created ", "ok "))], process.stdout)
        self.assertIn(f"created resource group {GROUP}", lines)
        self.assertIn(f"created role Azure Connected Machine Onboarding for {ONBOARDING} on resource group {GROUP}", lines)
        self.assertEqual(parameters(process.stdout), {
            "ArcTenantId": TENANT, "ArcSubscriptionId": SUB, "ArcResourceGroup": GROUP, "ArcLocation": LOCATION,
            "ArcServicePrincipalId": ONBOARDING_APP, "ArcSweepServicePrincipalId": SWEEP_APP})
        # What the tenant holds now: each application trusts arc-provisioner's role, the onboarding
        # one holds the onboarding role alone, the sweep's read and delete of machines alone.
        state = self.tenant.state()
        for app in state["apps"]:
            self.assertEqual([{k: c[k] for k in ("name", "issuer", "subject", "audiences")} for c in app["federatedIdentityCredentials"]],
                             [{"name": "aws-mdc-connector", "issuer": ISSUER, "subject": SUBJECT, "audiences": [AUDIENCE]}])
            self.assertEqual(app["signInAudience"], "AzureADMyOrg")
        (definition,) = state["roleDefinitions"]
        self.assertEqual(definition["permissions"], [{"actions": SWEEP_ACTIONS, "notActions": [], "dataActions": [], "notDataActions": []}])
        held = sorted((a["principalId"], a["roleDefinitionId"].rsplit("/", 1)[1], a["scope"]) for a in state["roleAssignments"])
        self.assertEqual(held, sorted([(ONBOARDING_SP, ONBOARDING_ROLE, scope()), (SWEEP_SP, SWEEP_ROLE_ID, scope())]))
        self.assertEqual(state["subscriptions"][SUB]["providers"], {p: "Registering" for p in PROVIDERS})
        # The stack was read with the AWS CLI for the subject, the audience and the issuer.
        self.assertEqual([c[:2] for c in self.tenant.calls("aws")],
                         [["cloudformation", "describe-stacks"]] * 2 + [["iam", "get-outbound-web-identity-federation-info"]])

    def test_second_run_changes_nothing(self) -> None:
        first = self.run_ok(*ARGS)
        second = self.run_ok(*ARGS)
        self.assertEqual(self.tenant.changes(), [])
        self.assertEqual(printed(second.stdout), [])
        lines = statuses(second.stdout)
        self.assertTrue(lines and all(l.startswith("ok ") for l in lines), second.stdout)
        self.assertIn("nothing to change", second.stdout)
        self.assertEqual(parameters(second.stdout), parameters(first.stdout))
        # Once registered in the background, the providers still need nothing.
        state = self.tenant.state()
        state["subscriptions"][SUB]["providers"] = {p: "Registered" for p in PROVIDERS}
        self.tenant.save(state)
        self.run_ok(*ARGS)
        self.assertEqual(self.tenant.changes(), [])

    def test_partly_set_up_tenant_gets_only_what_is_missing(self) -> None:
        self.run_ok(*ARGS)
        state = self.tenant.state()
        state["subscriptions"][SUB]["providers"]["Microsoft.HybridConnectivity"] = "NotRegistered"
        state["apps"] = [a for a in state["apps"] if a["displayName"] != SWEEP]
        state["servicePrincipals"] = [s for s in state["servicePrincipals"] if s["appId"] != SWEEP_APP]
        state["roleAssignments"] = []
        self.tenant.save(state)
        process = self.run_ok(*ARGS)
        self.assertEqual(self.tenant.changes(), [
            provider_register("Microsoft.HybridConnectivity"),
            app_create(SWEEP), sp_create(SWEEP_APP), credential_create(SWEEP_APP),
            assign(ONBOARDING_SP, ONBOARDING_ROLE),
            assign(SWEEP_SP, SWEEP_ROLE_ID),
        ])
        lines = statuses(process.stdout)
        for line in (f"ok resource group {GROUP}", f"ok application {ONBOARDING} (client id {ONBOARDING_APP})",
                     f"ok service principal of {ONBOARDING}", f"ok custom role {SWEEP_ROLE} ({', '.join(SWEEP_ACTIONS)})"):
            self.assertIn(line, lines)
        self.assertEqual(parameters(process.stdout)["ArcSweepServicePrincipalId"], SWEEP_APP)

    def test_tenant_set_up_by_hand_is_recognised(self) -> None:
        # What the commands typed from docs/deploy.md leave: the application (with its service
        # principal) under a name of one's own, a federated credential named otherwise, the sweep's
        # role assignable at the group only; the providers registered.
        state = self.tenant.state()
        sub = state["subscriptions"][SUB]
        sub["groups"][GROUP] = {"name": GROUP, "location": LOCATION}
        sub["providers"] = {p: "Registered" for p in PROVIDERS}
        self.tenant.save(state)
        self.run_ok(*ARGS)  # a tenant to copy the pieces from
        state = self.tenant.state()
        onboarding = next(a for a in state["apps"] if a["displayName"] == ONBOARDING)
        onboarding["federatedIdentityCredentials"][0]["name"] = "typed-by-hand"
        state["roleDefinitions"][0]["assignableScopes"] = [scope()]
        self.tenant.save(state)
        process = self.run_ok(*ARGS)
        self.assertEqual(self.tenant.changes(), [])
        self.assertIn(f"ok federated credential aws-mdc-connector of {ONBOARDING} (subject {SUBJECT}) (as typed-by-hand)",
                      statuses(process.stdout))

    def test_dry_run_changes_nothing_and_prints_what_a_run_would_do(self) -> None:
        before = self.tenant.state()
        dry = self.run_ok(*ARGS, "--dry-run")
        self.assertEqual(self.tenant.changes(), [])
        self.assertEqual(self.tenant.state(), before)
        lines = statuses(dry.stdout)
        self.assertTrue(lines and all(l.startswith("would create ") for l in lines), dry.stdout)
        # Each "would create" follows its command, and the commands are those a run makes, with
        # what only the run can know (ids Azure gives) as placeholders.
        out = dry.stdout.splitlines()
        for i, line in enumerate(out):
            if line.startswith("would create "):
                self.assertTrue(out[i - 1].startswith("$ az "), line)
        known = {f"<client id of {ONBOARDING}>": ONBOARDING_APP, f"<object id of {ONBOARDING}'s service principal>": ONBOARDING_SP,
                 f"<client id of {SWEEP}>": SWEEP_APP, f"<object id of {SWEEP}'s service principal>": SWEEP_SP,
                 f"<id of {SWEEP_ROLE}>": SWEEP_ROLE_ID}
        commands = [[known.get(w, w) if isinstance(w, str) else w for w in c] for c in printed(dry.stdout)]
        self.assertEqual(commands, FRESH)
        self.assertEqual(len(lines), len(FRESH))
        self.assertIn("dry run: 13 change(s) not made", dry.stdout)
        # On a set-up tenant the dry run has nothing to print.
        self.run_ok(*ARGS)
        dry = self.run_ok(*ARGS, "--dry-run")
        self.assertEqual(self.tenant.changes(), [])
        self.assertEqual(printed(dry.stdout), [])
        self.assertIn("nothing to change", dry.stdout)

    def test_without_federation_values_the_credentials_wait_for_the_stack(self) -> None:
        process = self.run_ok("--subscription", SUB, "--resource-group", GROUP, "--location", LOCATION)
        self.assertEqual(self.tenant.changes(), [c for c in FRESH if c[:3] != ["ad", "app", "federated-credential"]])
        self.assertEqual(self.tenant.calls("aws"), [])
        self.assertIn("skipped federated credentials: after sam deploy, run this again with --stack-name", process.stdout)
        self.run_ok(*ARGS)
        self.assertEqual(self.tenant.changes(), [credential_create(ONBOARDING_APP), credential_create(SWEEP_APP)])
        # Or the values themselves, as printed by the stack (or terraform output).
        self.run_ok("--subscription", SUB, "--resource-group", GROUP, "--location", LOCATION,
                    "--issuer", ISSUER, "--subject", SUBJECT, "--audience", AUDIENCE)
        self.assertEqual(self.tenant.changes(), [])

    def test_a_group_per_aws_account(self) -> None:
        accounts = ["111122223333", "444455556666"]
        process = self.run_ok("--subscription", SUB, "--resource-group", "aws_{accountId}", "--location", LOCATION,
                              "--account-id", accounts[0], "--account-id", accounts[1], "--stack-name", STACK)
        groups = [f"aws_{a}" for a in accounts]
        self.assertEqual(self.tenant.changes(), [
            group_create(groups[0]), group_create(groups[1]),
            *[provider_register(p) for p in PROVIDERS],
            app_create(ONBOARDING), sp_create(ONBOARDING_APP), credential_create(ONBOARDING_APP),
            app_create(SWEEP), sp_create(SWEEP_APP), credential_create(SWEEP_APP),
            assign(ONBOARDING_SP, ONBOARDING_ROLE, groups[0]), role_create(), assign(SWEEP_SP, SWEEP_ROLE_ID, groups[0]),
            assign(ONBOARDING_SP, ONBOARDING_ROLE, groups[1]), assign(SWEEP_SP, SWEEP_ROLE_ID, groups[1]),
        ])
        self.assertEqual(parameters(process.stdout)["ArcResourceGroup"], "aws_{accountId}")
        refused = self.tenant.run("--subscription", SUB, "--resource-group", "aws_{accountId}", "--location", LOCATION)
        self.assertEqual(refused.returncode, 2)
        self.assertIn("--account-id", refused.stderr)

    def test_missing_or_signed_out_az_stops_with_a_clear_message(self) -> None:
        empty = Path(self.tmp.name) / "bin"
        empty.mkdir()
        process = self.tenant.run(*ARGS, path=str(empty))
        self.assertEqual(process.returncode, 1)
        self.assertIn("az (the Azure CLI) is not on PATH", process.stderr)
        self.assertEqual(self.tenant.calls(), [])

        state = self.tenant.state()
        state["loggedIn"] = False
        self.tenant.save(state)
        process = self.tenant.run(*ARGS)
        self.assertEqual(process.returncode, 1)
        self.assertIn("az is not signed in: run az login", process.stderr)
        self.assertEqual(self.tenant.calls(), [["account", "show", "--query", "tenantId", "-o", "tsv"]])
        self.assertNotIn("created", process.stdout)

    def test_wrong_tenant_or_subscription_stops_before_any_change(self) -> None:
        other = "99999999-2222-3333-4444-555555555555"
        process = self.tenant.run(*ARGS, "--tenant-id", other)
        self.assertEqual(process.returncode, 1)
        self.assertIn(f"belongs to tenant {TENANT}, not --tenant-id {other}", process.stderr)
        self.assertEqual(self.tenant.changes(), [])
        process = self.tenant.run("--subscription", other, "--resource-group", GROUP, "--location", LOCATION)
        self.assertEqual(process.returncode, 1)
        self.assertIn(f"cannot see subscription {other}", process.stderr)
        self.assertEqual(self.tenant.changes(), [])

    def test_hostile_values_are_refused_before_any_command(self) -> None:
        marker = self.tenant.marker
        hostile = [
            ("--resource-group", f"rg$(touch {marker})"),
            ("--resource-group", f"rg;touch {marker}"),
            ("--subscription", f"{SUB}; touch {marker}"),
            ("--location", "west europe"),
            ("--onboarding-app", "x' or displayName eq 'y"),
            ("--sweep-app", "sweep`touch pwned`"),
            ("--sweep-role", 'MDC", "Actions": ["*"], "x": "'),
            ("--subject", f'{SUBJECT}", "audiences": ["api://evil"], "x": "'),
            ("--issuer", f"https://evil.example/$(touch {marker})"),
            ("--audience", "api://evil"),
            ("--credential-name", "a b"),
            ("--provider", "Microsoft.Foo;id"),
            ("--tenant-id", "*"),
            ("--stack-name", "mdc;id"),
        ]
        for flag, value in hostile:
            with self.subTest(flag=flag, value=value):
                process = self.tenant.run(*ARGS, flag, value)
                self.assertEqual(process.returncode, 2, process.stdout + process.stderr)
                self.assertIn(f"azure-setup: {flag}:", process.stderr)
                self.assertEqual(self.tenant.calls(), [], "no command ran")
                self.assertEqual(self.tenant.calls("aws"), [])
                self.assertFalse(marker.exists())
        process = self.tenant.run("--subscription", SUB, "--resource-group", "aws_{accountId}", "--location", LOCATION,
                                  "--account-id", "11112222333$(id)")
        self.assertEqual(process.returncode, 2)
        self.assertIn("azure-setup: --account-id:", process.stderr)
        process = self.tenant.run(*ARGS, "--unknown", "x")
        self.assertEqual(process.returncode, 2)
        self.assertEqual(self.tenant.calls(), [])

    def test_hostile_stack_outputs_are_refused_before_any_change(self) -> None:
        for key, value in (("ArcFederationSubject", f'{SUBJECT}"; touch {self.tenant.marker}; "'),
                           ("ArcFederationAudience", "api://AzureADTokenExchange\"]}")):
            with self.subTest(key=key):
                state = self.tenant.state()
                state["aws"]["stacks"][STACK]["Outputs"] = {"ArcFederationSubject": SUBJECT, "ArcFederationAudience": AUDIENCE, key: value}
                self.tenant.save(state)
                process = self.tenant.run(*ARGS)
                self.assertEqual(process.returncode, 2, process.stdout + process.stderr)
                self.assertIn(f"output {key}", process.stderr)
                self.assertEqual(self.tenant.changes(), [])
                self.assertFalse(self.tenant.marker.exists())
        state = self.tenant.state()
        state["aws"]["stacks"][STACK]["Outputs"] = {"ArcFederationSubject": SUBJECT, "ArcFederationAudience": AUDIENCE}
        state["aws"]["issuer"] = "https://evil.example/x y"
        self.tenant.save(state)
        process = self.tenant.run(*ARGS)
        self.assertEqual(process.returncode, 2)
        self.assertIn("get-outbound-web-identity-federation-info", process.stderr)
        self.assertEqual(self.tenant.changes(), [])
        # A stack without the outputs (not the connector's, or not deployed yet) is refused too.
        process = self.tenant.run(*ARGS[:-1], "other-stack")
        self.assertEqual(process.returncode, 1)
        self.assertIn("Stack with id other-stack does not exist", process.stderr)
        self.assertEqual(self.tenant.changes(), [])

    def test_more_rights_on_the_onboarding_application_are_reported(self) -> None:
        self.run_ok(*ARGS)
        for role, at, name in ((RESOURCE_ADMINISTRATOR_ROLE, scope(), "Azure Connected Machine Resource Administrator"),
                               (CONTRIBUTOR_ROLE, f"/subscriptions/{SUB}", "Contributor"),
                               (SWEEP_ROLE_ID, scope(), SWEEP_ROLE)):
            with self.subTest(role=name):
                state = self.tenant.state()
                state["roleAssignments"].append({
                    "id": f"{at}/providers/Microsoft.Authorization/roleAssignments/x", "name": "x",
                    "principalId": ONBOARDING_SP, "principalType": "ServicePrincipal",
                    "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}",
                    "roleDefinitionName": name, "scope": at})
                self.tenant.save(state)
                process = self.tenant.run(*ARGS)
                self.assertEqual(process.returncode, 1)
                self.assertIn(f"conflict {ONBOARDING} also holds {name} at {at}", process.stdout)
                self.assertIn("onboarding stays off", process.stderr)
                self.assertEqual(self.tenant.changes(), [], "nothing is removed for you")
                dry = self.tenant.run(*ARGS, "--dry-run")
                self.assertEqual(dry.returncode, 1)
                self.assertIn(f"conflict {ONBOARDING} also holds {name} at {at}", dry.stdout)
                state["roleAssignments"].pop()
                self.tenant.save(state)
        self.run_ok(*ARGS)

    def test_a_credential_of_the_same_name_trusting_another_role_stops_the_run(self) -> None:
        self.run_ok(*ARGS)
        state = self.tenant.state()
        state["aws"]["stacks"][STACK]["Outputs"]["ArcFederationSubject"] = "arn:aws:iam::444455556666:role/mdc-connector-arc-provisioner"
        self.tenant.save(state)
        process = self.tenant.run(*ARGS)
        self.assertEqual(process.returncode, 1)
        self.assertIn(f"{ONBOARDING}'s federated credential aws-mdc-connector trusts issuer {ISSUER}, subject {SUBJECT}", process.stderr)
        self.assertEqual(self.tenant.changes(), [])

    def test_a_sweep_role_of_the_same_name_with_other_rights_stops_the_run(self) -> None:
        self.run_ok(*ARGS)
        for actions, extra in ((SWEEP_ACTIONS + ["Microsoft.HybridCompute/machines/write"], {}),
                               (["Microsoft.HybridCompute/*"], {}),
                               (SWEEP_ACTIONS[:1], {}),
                               (SWEEP_ACTIONS, {"dataActions": ["Microsoft.HybridCompute/machines/login/action"]})):
            with self.subTest(actions=actions, extra=extra):
                state = self.tenant.state()
                state["roleDefinitions"][0]["permissions"] = [{"actions": actions, "notActions": [], "dataActions": [],
                                                               "notDataActions": [], **extra}]
                self.tenant.save(state)
                process = self.tenant.run(*ARGS)
                self.assertEqual(process.returncode, 1, process.stdout)
                self.assertIn(f"custom role {SWEEP_ROLE} allows", process.stderr)
                self.assertEqual(self.tenant.changes(), [])
        # The same two actions in another case and order are the same role.
        state = self.tenant.state()
        state["roleDefinitions"][0]["permissions"] = [{"actions": ["microsoft.hybridcompute/machines/DELETE", SWEEP_ACTIONS[0]],
                                                       "notActions": [], "dataActions": [], "notDataActions": []}]
        self.tenant.save(state)
        self.run_ok(*ARGS)
        self.assertEqual(self.tenant.changes(), [])

    def test_script_passes_shellcheck(self) -> None:
        shellcheck = Path(sys.executable).parent / "shellcheck"
        process = subprocess.run([str(shellcheck), "--severity=style", str(SCRIPT)], capture_output=True, text=True)
        self.assertEqual(process.returncode, 0, process.stdout)

    def test_help_names_every_flag_the_script_takes(self) -> None:
        process = self.tenant.run("--help")
        self.assertEqual(process.returncode, 0)
        text = SCRIPT.read_text()
        flags = set(re.findall(r"^    (--[a-z-]+)\) ", text, re.M))
        self.assertGreater(len(flags), 10)
        for flag in sorted(flags):
            self.assertIn(flag, process.stdout)


if __name__ == "__main__":
    unittest.main()
