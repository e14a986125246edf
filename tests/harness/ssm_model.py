"""Systems Manager's managed instances and Run Command, as moto lacks them.

moto has no ``DescribeInstanceInformation`` or ``ListCommandInvocations``, and its ``SendCommand``
runs on every instance of the region and always succeeds. This model answers those operations
from moto's own EC2, IAM and SSM state:

* **Managed instances.** A running instance is managed (``PingStatus`` ``Online``) when its image
  carries the SSM agent and its instance profile's role carries ``AmazonSSMManagedInstanceCore`` (or
  ``AmazonSSMManagedEC2InstanceDefaultPolicy``),
  so a profile scan followed by provisioning works end to end. Fixture markers: images in
  ``AGENT_IMAGES`` carry the agent (any image with tag ``harness:ssm-agent=none`` on the *instance*
  does not); tag ``harness:platform=Windows`` makes a Windows instance; tag ``harness:ssm-ping``
  overrides the ping status (``ConnectionLost``).
* **Default Host Management Configuration.** ``GetServiceSetting`` / ``UpdateServiceSetting`` /
  ``ResetServiceSetting`` of ``/ssm/managed-instance/default-ec2-instance-management-role`` (the id
  or its ARN) per account and Region: ``Status`` ``Default`` until updated, then ``Customized`` with
  the role name as ``SettingValue``; any other setting id is refused (``ServiceSettingNotFound``).
  With DHMC on, an instance without a working profile is managed when "all instances using
  Instance Metadata Service Version 2 (IMDSv2) in the AWS Region and AWS account with SSM Agent
  version 3.2.582.0 or later installed automatically become managed instances" holds: its metadata
  options require tokens, its agent (tag ``harness:ssm-agent-version``, default ``3.3.2746.0``) is at
  least 3.2.582.0, and the registered role exists in the account with one of the agent policies.
* **SendCommand** validates like SSM: at most 50 instance ids (a 51st gets SSM's misleading
  throttling error), the document exists in that account and region, every parameter passes the
  document's ``allowedPattern``/``allowedValues`` (``InvalidParameters`` otherwise), every instance is
  managed and online (``InvalidInstanceId``). It targets exactly the ids given.
* **Invocation outcomes.** By default a Linux invocation really runs the document's script in a
  per-instance sandbox (``arc_sandbox.py``: stub ``curl``/``azcmagent``, the real ``openssl``; the
  sandbox and its memory-backed key directory outlive the command, so ``prepare`` then ``connect``
  work as on an instance) on a worker thread, ``InProgress`` until it finishes; a Windows
  invocation does the Windows document's two phases with ``openssl`` (a key in ``prepare``; in
  ``connect`` the sealed credential opened with it, once) and reports ``already-connected`` once
  connected. ``POST /_harness/ssm-outcomes``
  ``{"rules": [{"instanceId": "i-..." or "*", "status": "Failed", "output": "...", "connects": true,
  "pendingReads": 2, "missingReads": 1, "phase": "connect"}]}`` chooses outcomes instead (a rule with
  ``phase`` only for commands of that phase): ``pendingReads`` reads show
  ``InProgress`` first, ``missingReads`` reads answer ``InvocationDoesNotExist`` (and are absent from
  ``ListCommandInvocations``) first, as SSM does just after sending.
* ``ListCommands``, ``ListCommandInvocations`` (filters, ``Details``, paging) and
  ``GetCommandInvocation`` read that state, per account and region.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from moto.ec2.models import ec2_backends
from moto.ssm.models import ssm_backends

from arc_sandbox import Sandbox, key_id, make_key, open_sealed, parse_result

AGENT_IMAGES = {"ami-12c6146b"}
SSM_CORE = "AmazonSSMManagedInstanceCore"
# Either policy lets the agent register ("Systems Manager service core functionality"; the default
# host management policy is the same without parameter reads).
SSM_AGENT_POLICIES = (SSM_CORE, "AmazonSSMManagedEC2InstanceDefaultPolicy")
FINAL = {"Success", "Failed", "TimedOut", "Cancelled", "DeliveryTimedOut", "Undeliverable", "Terminated",
         "ExecutionTimedOut"}
OPERATIONS = {"DescribeInstanceInformation", "SendCommand", "ListCommands", "ListCommandInvocations",
              "GetCommandInvocation", "GetServiceSetting", "UpdateServiceSetting", "ResetServiceSetting"}
DHMC_SETTING = "/ssm/managed-instance/default-ec2-instance-management-role"
DHMC_MIN_AGENT = (3, 2, 582, 0)
DEFAULT_AGENT = "3.3.2746.0"

Answer = tuple[int, dict[str, Any]]


class SsmError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class Invocation:
    """One instance's part of a command."""

    def __init__(self, command: dict[str, Any], instance_id: str, rule: dict[str, Any] | None) -> None:
        self.command = command
        self.instance_id = instance_id
        self.rule = rule or {}
        self.status = "InProgress"
        self.output = ""
        self.error = ""
        self.response_code = -1
        self.reads = 0
        self.finished_at: float | None = None

    def finish(self, status: str, output: str, code: int, error: str = "") -> None:
        self.status, self.output, self.response_code, self.error = status, output, code, error
        self.finished_at = time.time()

    def read(self) -> str | None:
        """Counts a read; the status it sees, or None while the invocation does not exist yet."""
        self.reads += 1
        if self.reads <= int(self.rule.get("missingReads", 0)):
            return None
        if self.reads <= int(self.rule.get("missingReads", 0)) + int(self.rule.get("pendingReads", 0)):
            return "InProgress"
        return self.status

    def view(self, status: str, details: bool, limit: int) -> dict[str, Any]:
        c = self.command
        final = status in FINAL
        out = {
            "CommandId": c["CommandId"], "InstanceId": self.instance_id, "InstanceName": "",
            "Comment": c["Comment"], "DocumentName": c["DocumentName"], "DocumentVersion": c["DocumentVersion"],
            "RequestedDateTime": c["RequestedDateTime"], "Status": status, "StatusDetails": status,
            "StandardOutputUrl": "", "StandardErrorUrl": "", "ServiceRole": "",
        }
        if details:
            out["CommandPlugins"] = [{
                "Name": c["StepName"], "Status": status, "StatusDetails": status,
                "ResponseCode": self.response_code if final else -1,
                "Output": self.output[:limit] if final else "",
                "StandardOutputUrl": "", "StandardErrorUrl": "",
            }]
        return out


class SsmModel:
    """The state and the operations; thread-safe."""

    def __init__(self, token_key: bytes = b"", arm: Any = None, arm_url: Any = None) -> None:
        self.token_key = token_key
        # Azure Resource Manager of the emulator: the Linux stub agent reaches it over HTTPS
        # (ARC_STUB_ARM), the Windows model writes its machines directly.
        self.arm = arm
        self.arm_url = arm_url
        self.lock = threading.Lock()
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.invocations: dict[str, list[Invocation]] = {}
        self.rules: list[dict[str, Any]] = []
        self.windows_connected: dict[tuple[str, str], str] = {}
        # The agent's registration lag: an instance given a profile (AssociateIamInstanceProfile)
        # is listed only this many seconds later ("it can take a few minutes for the managed node to
        # be added to the list", Systems Manager user guide); /_harness/ssm-registration sets it.
        self.registration_seconds = 0.0
        self.associated: dict[tuple[str, str], float] = {}
        # DHMC's role per (account, region), once UpdateServiceSetting set it.
        self.dhmc: dict[tuple[str, str], str] = {}
        # When each setting last changed (its LastModifiedDate), epoch seconds.
        self.dhmc_modified: dict[tuple[str, str], float] = {}
        self.workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ssm-run")
        self.sandboxes = Path(tempfile.mkdtemp(prefix="harness-ssm-"))

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        with self.lock:
            self.rules = rules

    def handle(self, operation: str, account: str, region: str, body: bytes) -> Answer:
        request = json.loads(body or b"{}")
        try:
            handler = getattr(self, operation.lower())
            return 200, handler(account, region, request)
        except SsmError as e:
            return e.status, {"__type": e.code, "message": e.message}

    # -- managed instances ----------------------------------------------------------------------

    def managed(self, account: str, region: str) -> list[dict[str, Any]]:
        backend = ec2_backends[account][region]
        found = []
        for instance in backend.all_instances():
            if instance._state.name != "running":
                continue
            tags = backend.tags.get(instance.id, {})
            if instance.image_id not in AGENT_IMAGES or tags.get("harness:ssm-agent") == "none":
                continue
            association = backend.iam_instance_profile_associations.get(instance.id)
            roles = association.iam_instance_profile.roles if association else []
            since = self.associated.get((account, instance.id))
            if since is not None and time.monotonic() - since < self.registration_seconds:
                continue
            agent = tags.get("harness:ssm-agent-version", DEFAULT_AGENT)
            by_profile = any(arn.endswith(f":policy/{name}") for role in roles for arn in role.managed_policies
                             for name in SSM_AGENT_POLICIES)
            if not by_profile and not self.dhmc_serves(account, region, instance, agent):
                continue
            windows = tags.get("harness:platform") == "Windows"
            found.append({
                "InstanceId": instance.id,
                "PingStatus": tags.get("harness:ssm-ping", "Online"),
                "LastPingDateTime": time.time(),
                "AgentVersion": agent,
                "IsLatestVersion": True,
                "PlatformType": "Windows" if windows else "Linux",
                "PlatformName": "Microsoft Windows Server 2022 Datacenter" if windows else "Amazon Linux",
                "PlatformVersion": "10.0.20348" if windows else "2023",
                "ResourceType": "EC2Instance",
                "IPAddress": instance.private_ip,
                "ComputerName": getattr(instance, "private_dns_name", instance.id),
            })
        return found

    def dhmc_serves(self, account: str, region: str, instance: Any, agent: str) -> bool:
        """Whether DHMC manages `instance`: on in its account and Region with a role that exists and
        carries an agent policy, IMDSv2 required, agent recent enough."""
        role_name = self.dhmc.get((account, region))
        if role_name is None or getattr(instance.metadata_options, "http_tokens", "optional") != "required":
            return False
        try:
            version = tuple(int(p) for p in agent.split("."))
        except ValueError:
            return False
        if version < DHMC_MIN_AGENT:
            return False
        from moto.iam.models import iam_backends
        try:
            role = iam_backends[account]["global"].get_role(role_name.rsplit("/", 1)[-1])
        except Exception:  # noqa: BLE001 - no such role: DHMC cannot assume it
            return False
        return any(arn.endswith(f":policy/{name}") for arn in role.managed_policies for name in SSM_AGENT_POLICIES)

    def setting_id(self, request: dict[str, Any]) -> str:
        setting = request.get("SettingId", "")
        if setting.split(":servicesetting", 1)[-1] != DHMC_SETTING:
            raise SsmError("ServiceSettingNotFound", f"The service setting {setting} was not found")
        return setting

    def setting(self, account: str, region: str, setting: str) -> dict[str, Any]:
        role = self.dhmc.get((account, region))
        return {"ServiceSetting": {
            "SettingId": DHMC_SETTING, "SettingValue": role if role is not None else "$None",
            "Status": "Customized" if role is not None else "Default",
            "ARN": f"arn:aws:ssm:{region}:{account}:servicesetting{DHMC_SETTING}",
            "LastModifiedDate": self.dhmc_modified.get((account, region), 0.0), "LastModifiedUser": "harness"}}

    def age_setting(self, account: str, region: str, minutes: float) -> bool:
        """Time passing: the DHMC setting of (account, region) last changed `minutes` ago."""
        with self.lock:
            if (account, region) not in self.dhmc:
                return False
            self.dhmc_modified[(account, region)] = time.time() - minutes * 60
            return True

    def getservicesetting(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        return self.setting(account, region, self.setting_id(request))

    def updateservicesetting(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        self.setting_id(request)
        value = request.get("SettingValue", "")
        if not value:
            raise SsmError("ValidationException", "SettingValue must not be empty")
        with self.lock:
            self.dhmc[(account, region)] = value
            self.dhmc_modified[(account, region)] = time.time()
        return {}

    def resetservicesetting(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        setting = self.setting_id(request)
        with self.lock:
            self.dhmc.pop((account, region), None)
            self.dhmc_modified[(account, region)] = time.time()
        return self.setting(account, region, setting)

    def describeinstanceinformation(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        items = self.managed(account, region)
        for f in request.get("Filters", []):
            key, values = f["Key"], set(f["Values"])
            field = {"PingStatus": "PingStatus", "PlatformTypes": "PlatformType", "ResourceType": "ResourceType",
                     "InstanceIds": "InstanceId"}.get(key)
            if field is None:
                raise SsmError("InvalidInstanceInformationFilterValue", f"unsupported filter key {key}")
            items = [i for i in items if i[field] in values]
        return page(items, request, "InstanceInformationList", default=10, maximum=50)

    # -- commands -------------------------------------------------------------------------------

    def sendcommand(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        ids = request.get("InstanceIds", [])
        if len(ids) > 50:
            raise SsmError("ThrottlingException", "Rate exceeded")
        if not ids:
            raise SsmError("ValidationException", "InstanceIds or Targets must be given")
        documents = ssm_backends[account][region]._documents.get(request.get("DocumentName", ""))
        if documents is None:
            raise SsmError("InvalidDocument", f"Document with name {request.get('DocumentName')} does not exist.")
        version = request.get("DocumentVersion") or documents.default_version
        if version in ("$DEFAULT",):
            version = documents.default_version
        elif version == "$LATEST":
            version = documents.latest_version
        document = documents.find_by_version(version)
        if document is None:
            raise SsmError("InvalidDocumentVersion", f"Document version {version} does not exist.")
        content = json.loads(document.content)
        parameters = validate_parameters(content.get("parameters", {}), request.get("Parameters", {}))
        online = {i["InstanceId"]: i for i in self.managed(account, region) if i["PingStatus"] == "Online"}
        bad = [i for i in ids if i not in online]
        if bad:
            raise SsmError("InvalidInstanceId", f"Instances [{bad}] not in a valid state for account {account}")
        command = {
            "CommandId": str(uuid.uuid4()), "DocumentName": document.name, "DocumentVersion": version,
            "Comment": request.get("Comment", ""), "ExpiresAfter": time.time() + 3600,
            "Parameters": request.get("Parameters", {}), "InstanceIds": ids, "Targets": [],
            "RequestedDateTime": time.time(), "Status": "InProgress", "StatusDetails": "InProgress",
            "OutputS3Region": region, "MaxConcurrency": request.get("MaxConcurrency", "50"),
            "MaxErrors": request.get("MaxErrors", "0"), "TargetCount": len(ids), "CompletedCount": 0,
            "ErrorCount": 0, "DeliveryTimedOutCount": 0, "ServiceRole": "",
            "TimeoutSeconds": request.get("TimeoutSeconds", 3600), "StepName": "",
        }
        invocations = []
        with self.lock:
            for instance_id in ids:
                phase = (request.get("Parameters", {}).get("phase") or ["prepare"])[0]
                rule = next((r for r in self.rules if r.get("instanceId", "*") in ("*", instance_id)
                             and r.get("phase", phase) == phase), None)
                invocations.append(Invocation(command, instance_id, rule))
            self.commands.setdefault((account, region), []).append(command)
            self.invocations[command["CommandId"]] = invocations
        for invocation in invocations:
            platform = online[invocation.instance_id]["PlatformType"]
            step = next((s for s in content.get("mainSteps", [])
                         if s.get("precondition", {}).get("StringEquals", [None, platform])[1] == platform), None)
            command["StepName"] = step["name"] if step else "aws:runShellScript"
            self.start(invocation, account, region, platform, step, parameters)
        return {"Command": public(command)}

    def start(self, invocation: Invocation, account: str, region: str, platform: str, step: dict[str, Any] | None,
              parameters: dict[str, str]) -> None:
        rule = invocation.rule
        if "status" in rule:
            output = rule.get("output", "")
            if rule.get("connects"):
                output = self.connected_machine(invocation, account, parameters, output)
            invocation.finish(rule["status"], output, int(rule.get("responseCode",
                                                                   0 if rule["status"] == "Success" else 1)))
        elif step is None:
            invocation.finish("Success", "", 0)  # no step for this platform: skipped by the agent
        elif platform == "Windows":
            self.workers.submit(self.run_windows, invocation, account, parameters)
        else:
            script = "\n".join(step["inputs"]["runCommand"]) + "\n"
            self.workers.submit(self.run_linux, invocation, account, region, script, parameters)

    def connected_machine(self, invocation: Invocation, account: str, parameters: dict[str, str], output: str) -> str:
        """A rule with ``"connects": true``: the instance's Arc machine, ``Connected`` with a new
        vmId, as the agent's connect makes it; ``{resourceId}`` and ``{vmId}`` in the output say so."""
        machine = (f"/subscriptions/{parameters.get('subscriptionId')}/resourceGroups/{parameters.get('resourceGroup')}"
                   f"/providers/Microsoft.HybridCompute/machines/{invocation.instance_id}")
        vm_id = str(uuid.uuid4())
        if self.arm is not None:
            self.arm.configure({"machines": [{
                "id": machine, "name": invocation.instance_id,
                "tags": {"AccountId": account, "Cloud": "AWS", "InstanceId": invocation.instance_id,
                         "MDFCSecurityConnector": parameters.get("connectorId", "")},
                "properties": {"status": "Connected", "vmId": vm_id,
                               "lastStatusChange": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}]})
        return output.replace("{resourceId}", machine).replace("{vmId}", vm_id)

    def run_windows(self, invocation: Invocation, account: str, parameters: dict[str, str]) -> None:
        """The Windows document's two phases, its cryptography done with openssl (PowerShell cannot
        run here): prepare makes a key unless the agent is connected; connect opens the sealed
        credential with it (once) and connects."""
        try:
            key = (account, invocation.instance_id)
            keys = self.sandboxes / account / invocation.instance_id / "windows-keys"
            line = {"status": "", "reason": "", "detail": f"{parameters.get('subscriptionId')}/"
                    f"{parameters.get('resourceGroup')}", "instanceId": invocation.instance_id,
                    "correlationId": parameters.get("correlationId", ""), "publicKey": "", "resourceId": "", "vmId": ""}
            machine = (f"/subscriptions/{parameters.get('subscriptionId')}/resourceGroups/"
                       f"{parameters.get('resourceGroup')}/providers/Microsoft.HybridCompute/machines/"
                       f"{invocation.instance_id}")
            if key in self.windows_connected:
                line.update(status="already-connected", reason="connected", resourceId=machine,
                            vmId=self.windows_connected[key])
            elif parameters.get("phase") == "connect":
                opened = open_sealed(keys, parameters.get("sealedCredential", ""), parameters, invocation.instance_id)
                if opened:
                    vm_id = str(uuid.uuid4())
                    self.windows_connected[key] = vm_id
                    if self.arm is not None:
                        self.arm.configure({"machines": [{
                            "id": machine, "name": invocation.instance_id, "tags": {
                                "AccountId": account, "Cloud": "AWS", "InstanceId": invocation.instance_id,
                                "MDFCSecurityConnector": parameters.get("connectorId", "")},
                            "properties": {"status": "Connected", "vmId": vm_id, "lastStatusChange":
                                           time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}]})
                    line.update(status="connected", reason="connected", resourceId=machine, vmId=vm_id)
                else:
                    line.update(status="failed", reason="credential-unsealable", detail="")
            else:
                modulus = make_key(keys)
                line.update(status="key-ready", reason="key-ready", detail=key_id(modulus), publicKey=modulus)
            code = 1 if line["status"] == "failed" else 0
            invocation.finish("Failed" if code else "Success",
                              "MDC_ARC_RESULT " + json.dumps(line, separators=(",", ":")) + "\n", code)
        except Exception as e:  # noqa: BLE001 - the invocation fails, the server stays up
            invocation.finish("Failed", f"harness: {e}", 1)

    def run_linux(self, invocation: Invocation, account: str, region: str, script: str,
                  parameters: dict[str, str]) -> None:
        try:
            sandbox = Sandbox(self.sandboxes / account / invocation.instance_id)
            env = {"ARC_STUB_TOKEN_KEY": self.token_key.hex()}
            if self.arm_url is not None:
                env["ARC_STUB_ARM"] = self.arm_url()
            process = sandbox.run_document(script, parameters, invocation.instance_id, region, env=env)
            invocation.finish("Success" if process.returncode == 0 else "Failed", process.stdout,
                              process.returncode, process.stderr)
        except Exception as e:  # noqa: BLE001 - the invocation fails, the server stays up
            invocation.finish("Failed", f"harness: {e}", 1)

    def listcommands(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            commands = list(self.commands.get((account, region), []))
        if request.get("CommandId"):
            commands = [c for c in commands if c["CommandId"] == request["CommandId"]]
        if request.get("InstanceId"):
            commands = [c for c in commands if request["InstanceId"] in c["InstanceIds"]]
        return page([public(c) for c in commands], request, "Commands", default=50, maximum=50)

    def listcommandinvocations(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            commands = [c for c in self.commands.get((account, region), [])
                        if request.get("CommandId") in (None, c["CommandId"])]
            invocations = [i for c in commands for i in self.invocations[c["CommandId"]]
                           if request.get("InstanceId") in (None, i.instance_id)]
            rows = []
            for invocation in invocations:
                status = invocation.read()
                if status is None:
                    continue
                rows.append((invocation, status))
        for f in request.get("Filters", []):
            key, value = f["key"], f["value"]
            if key == "DocumentName":
                rows = [r for r in rows if r[0].command["DocumentName"] == value]
            elif key == "InvokedAfter":
                after = parse_time(value)
                rows = [r for r in rows if r[0].command["RequestedDateTime"] >= after]
            elif key == "InvokedBefore":
                before = parse_time(value)
                rows = [r for r in rows if r[0].command["RequestedDateTime"] <= before]
            elif key == "Status":
                rows = [r for r in rows if r[1] == value]
            else:
                raise SsmError("InvalidFilterKey", f"unsupported filter key {key}")
        rows.sort(key=lambda r: -r[0].command["RequestedDateTime"])
        details = bool(request.get("Details"))
        views = [inv.view(status, details, 2500) for inv, status in rows]
        return page(views, request, "CommandInvocations", default=50, maximum=50)

    def getcommandinvocation(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            commands = [c for c in self.commands.get((account, region), []) if c["CommandId"] == request.get("CommandId")]
            invocation = next((i for c in commands for i in self.invocations[c["CommandId"]]
                               if i.instance_id == request.get("InstanceId")), None)
            status = invocation.read() if invocation else None
        if invocation is None or status is None:
            raise SsmError("InvocationDoesNotExist", "")
        c = invocation.command
        final = status in FINAL
        return {
            "CommandId": c["CommandId"], "InstanceId": invocation.instance_id, "Comment": c["Comment"],
            "DocumentName": c["DocumentName"], "DocumentVersion": c["DocumentVersion"], "PluginName": c["StepName"],
            "ResponseCode": invocation.response_code if final else -1, "Status": status, "StatusDetails": status,
            "StandardOutputContent": invocation.output[:24000] if final else "",
            "StandardErrorContent": invocation.error[:8000] if final else "",
            "StandardOutputUrl": "", "StandardErrorUrl": "",
        }


def validate_parameters(declared: dict[str, Any], given: dict[str, list[str]]) -> dict[str, str]:
    """SSM's check of SendCommand parameters against the document; the values the agent gets."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise SsmError("InvalidParameters", f"Parameters {unknown} are not defined in the document.")
    values = {}
    for name, spec in declared.items():
        if name in given:
            if len(given[name]) != 1:
                raise SsmError("InvalidParameters", f"Parameter {name} takes exactly one value.")
            value = given[name][0]
        elif "default" in spec:
            value = spec["default"]
        else:
            raise SsmError("InvalidParameters", f"Parameter {name} is required.")
        allowed = spec.get("allowedValues")
        if allowed is not None and value not in allowed:
            raise SsmError("InvalidParameters", f"Parameter \"{name}\" \"{value}\" is not one of {allowed}.")
        pattern = spec.get("allowedPattern")
        if pattern is not None and re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is None:
            raise SsmError("InvalidParameters", f"Parameter \"{name}\" \"{value}\" does not match the "
                           f"allowed pattern {pattern}.")
        values[name] = value
    return values


def public(command: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in command.items() if k != "StepName"}


def page(items: list[Any], request: dict[str, Any], key: str, default: int, maximum: int) -> dict[str, Any]:
    size = min(int(request.get("MaxResults") or default), maximum)
    start = int(request.get("NextToken") or 0)
    out: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


def parse_time(value: str) -> float:
    """ISO-8601 (as the SDK sends filter values) to epoch seconds."""
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
