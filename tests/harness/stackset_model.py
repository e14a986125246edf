"""CloudFormation StackSet operations as AWS runs them, where moto is lenient.

moto runs every stack-instance operation synchronously, reports it ``SUCCEEDED`` whatever happened
in each account, and answers ``ListStackSetOperationResults`` with a fixed template. This model
sits in front of it (``moto_launcher.py`` calls it) and makes the emulator as strict as the API
reference:

* **Per-instance results and failure tolerance.** An operation's (account, region) targets each get
  a result: ``FAILED`` with a reason where a failure was injected (``POST
  /_harness/stackset-failures`` ``{"failures": [{"account", "region", "reason"}]}``), where a
  self-managed StackSet's roles would not let CloudFormation deploy it (``stackset_permissions.py``)
  or where the region is not enabled in the account (``POST /_harness/regions``), ``SUCCEEDED``
  elsewhere. The failed instances are left ``OUTDATED``/``FAILED`` in ``ListStackInstances``
  (moto still creates their stacks, as it does for an injected failure). The operation's own
  status is ``SUCCEEDED`` unless, in some region, more targets failed than its
  ``FailureToleranceCount`` / ``FailureTolerancePercentage`` allows (default: none), as the
  ``StackSetOperation`` reference says ("the failure tolerance of the stack set operation has been
  exceeded"); then ``FAILED``.
* **Operations that take time.** ``POST /_harness/stackset-operations`` ``{"runningPolls": N}``:
  each new operation answers ``RUNNING`` to its first N ``DescribeStackSetOperation`` calls, its
  results are ``RUNNING`` meanwhile and its instances show detailed status ``RUNNING``.
  ``{"finishRunning": true}`` ends every running operation now (time has passed): its instances
  show their final state, whether or not anyone polled it.
* **Template rollouts in waves.** ``UpdateStackSet`` (a changed template or parameters: how
  CloudFormation's ``AWS::CloudFormation::StackSet`` handler updates a StackSet; moto updates no
  instance when the request names none) reaches every instance of the StackSet, per Region in
  waves of ``MaxConcurrentPercentage`` % of its accounts ("rounds down ... if rounding down would
  result in zero, CloudFormation sets the number as one instead") or ``MaxConcurrentCount``; with
  ``ConcurrencyMode`` ``STRICT_FAILURE_TOLERANCE`` (the default) a wave is at most
  ``FailureToleranceCount`` + 1 accounts ("The initial actual concurrency is set to the lower of
  either the value of the MaxConcurrentCount, or the value of FailureToleranceCount +1"). Once more
  accounts of a Region failed than the tolerance allows, the Region's remaining accounts are
  ``CANCELLED`` and the operation ends ``FAILED``. Failed and cancelled instances stay ``OUTDATED``
  (detailed status ``FAILED`` / ``CANCELLED``); the others become ``CURRENT``.
* **50 OUs per operation.** ``CreateStackInstances`` / ``UpdateStackInstances`` /
  ``DeleteStackInstances`` with more than 50 ``DeploymentTargets.OrganizationalUnitIds`` are refused
  with ``ValidationError`` ("The maximum number of organizational unit (OUs) supported by a
  CreateStackInstances operation is 50.").

Targets are the request's ``Accounts`` (self-managed) or ``DeploymentTargets.Accounts`` (service
managed with ``AccountFilterType=INTERSECTION``, which is how the connector always targets).
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any
from urllib.parse import parse_qs

MAX_OUS = 50
INSTANCE_OPERATIONS = ("CreateStackInstances", "UpdateStackInstances", "DeleteStackInstances")
NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


def members(params: dict[str, list[str]], prefix: str) -> list[str]:
    """Values of ``prefix.member.N`` in list order."""
    found = []
    for key, values in params.items():
        match = re.fullmatch(re.escape(prefix) + r"\.member\.(\d+)", key)
        if match:
            found.append((int(match.group(1)), values[0]))
    return [v for _, v in sorted(found)]


def xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class StackSetModel:
    """Operations, their per-instance results, injected failures and disabled regions."""

    def __init__(self, unhealthy: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.lock = threading.Lock()
        self.unhealthy = unhealthy  # shared with the launcher's ListStackInstances override
        self.failures: dict[tuple[str, str], str] = {}
        self.disabled: dict[str, set[str]] = {}
        self.running_polls = 0
        self.operations: dict[str, dict[str, Any]] = {}

    # -- control --------------------------------------------------------------------------------

    def set_failures(self, failures: list[dict[str, str]]) -> None:
        with self.lock:
            self.failures = {(f["account"], f["region"]): f.get("reason", "injected failure") for f in failures}

    def set_running_polls(self, polls: int) -> None:
        with self.lock:
            self.running_polls = polls

    def finish_running(self) -> int:
        """Ends every running operation as it would have ended; how many there were."""
        finished = 0
        with self.lock:
            for op in self.operations.values():
                if op["polls"] > 0:
                    op["polls"] = 0
                    kind = {"CREATE": "CreateStackInstances", "UPDATE": "UpdateStackInstances",
                            "DELETE": "DeleteStackInstances"}[op["action"]]
                    for r in op["results"]:
                        self.settle(kind, (r["Account"], r["Region"]), r)
                    finished += 1
        return finished

    def set_disabled_regions(self, account: str, regions: list[str]) -> None:
        with self.lock:
            self.disabled[account] = set(regions)

    def region_disabled(self, account: str, region: str) -> bool:
        with self.lock:
            return region in self.disabled.get(account, set())

    def disabled_regions(self, account: str) -> set[str]:
        with self.lock:
            return set(self.disabled.get(account, set()))

    # -- requests -------------------------------------------------------------------------------

    @staticmethod
    def params(body: str) -> dict[str, list[str]]:
        return parse_qs(body, keep_blank_values=True)

    def refuse(self, operation: str, body: str) -> tuple[int, str, str] | None:
        """An error AWS gives before accepting the request, or None."""
        if operation not in INSTANCE_OPERATIONS:
            return None
        ous = members(self.params(body), "DeploymentTargets.OrganizationalUnitIds")
        if len(ous) > MAX_OUS:
            return (400, "ValidationError",
                    f"The maximum number of organizational unit (OUs) supported by a {operation} operation is 50.")
        return None

    def record(self, operation: str, body: str, response: bytes,
               refused: dict[tuple[str, str], str] | None = None) -> None:
        """After moto accepted an instance operation: its results, and the instances' state.
        `refused`: (account, region) -> the reason CloudFormation fails that instance for
        (stackset_permissions.py: the StackSet's roles)."""
        if operation not in INSTANCE_OPERATIONS:
            return
        found = re.search(rb"<OperationId>([^<]+)</OperationId>", response)
        if not found:
            return
        op_id = found.group(1).decode()
        params = self.params(body)
        accounts = members(params, "Accounts") or members(params, "DeploymentTargets.Accounts")
        regions = members(params, "Regions")
        count = (params.get("OperationPreferences.FailureToleranceCount") or [None])[0]
        percentage = (params.get("OperationPreferences.FailureTolerancePercentage") or [None])[0]
        results = []
        with self.lock:
            for region in regions:
                for account in accounts:
                    reason = self.failures.get((account, region)) or (refused or {}).get((account, region))
                    if reason is None and region in self.disabled.get(account, set()):
                        reason = f"Account {account} should have '{region}' region enabled"
                    results.append({"Account": account, "Region": region,
                                    "Status": "FAILED" if reason else "SUCCEEDED", "StatusReason": reason or ""})
            failed_status = "SUCCEEDED"
            for region in regions:
                in_region = [r for r in results if r["Region"] == region]
                failed = sum(1 for r in in_region if r["Status"] == "FAILED")
                if count is not None:
                    tolerance = int(count)
                elif percentage is not None:
                    tolerance = math.floor(len(in_region) * int(percentage) / 100)
                else:
                    tolerance = 0
                if failed > tolerance:
                    failed_status = "FAILED"
            self.operations[op_id] = {
                "action": {"CreateStackInstances": "CREATE", "UpdateStackInstances": "UPDATE",
                           "DeleteStackInstances": "DELETE"}[operation],
                "status": failed_status,
                "polls": self.running_polls,
                "results": results,
                "stackSetName": (params.get("StackSetName") or [""])[0],
            }
            retain = (params.get("RetainStacks") or ["false"])[0] == "true"
            for r in results:
                key = (r["Account"], r["Region"])
                if self.unhealthy.get(key, {}).get("Status") == "INOPERABLE" and not (
                        operation == "DeleteStackInstances" and retain):
                    # StackInstance reference: "INOPERABLE: ... Stacks in this state are excluded
                    # from further UpdateStackSet operations. You might need to perform a
                    # DeleteStackInstances operation, with RetainStacks set to true".
                    continue
                if self.running_polls:
                    self.unhealthy[key] = {"Status": "OUTDATED", "StatusReason": "",
                                           "StackInstanceStatus": {"DetailedStatus": "RUNNING"}}
                else:
                    self.settle(operation, key, r)

    def record_rollout(self, body: str, response: bytes, targets: list[tuple[str, str]]) -> None:
        """After moto accepted an ``UpdateStackSet``: the rollout to `targets` (account, region), in
        waves, stopped per Region once its failure tolerance is exceeded."""
        found = re.search(rb"<OperationId>([^<]+)</OperationId>", response)
        if not found:
            return
        params = self.params(body)
        preference = lambda name: (params.get(f"OperationPreferences.{name}") or [None])[0]  # noqa: E731
        results: list[dict[str, str]] = []
        status = "SUCCEEDED"
        with self.lock:
            for region in sorted({r for _, r in targets}):
                accounts = sorted(a for a, r in targets if r == region)
                if self.rollout_region(accounts, region, preference, results):
                    status = "FAILED"
            self.operations[found.group(1).decode()] = {
                "action": "UPDATE", "status": status, "polls": 0, "results": results,
                "stackSetName": (params.get("StackSetName") or [""])[0],
            }
            for r in results:
                self.settle("UpdateStackInstances", (r["Account"], r["Region"]), r)

    def rollout_region(self, accounts: list[str], region: str, preference: Any,
                       results: list[dict[str, str]]) -> bool:
        """One Region of a rollout (lock held); whether it stopped."""
        n = len(accounts)
        count, percentage = preference("FailureToleranceCount"), preference("FailureTolerancePercentage")
        tolerance = int(count) if count is not None else (
            math.floor(n * int(percentage) / 100) if percentage is not None else 0)
        most, most_percent = preference("MaxConcurrentCount"), preference("MaxConcurrentPercentage")
        wave = int(most) if most is not None else (
            max(1, math.floor(n * int(most_percent) / 100)) if most_percent is not None else 1)
        if (preference("ConcurrencyMode") or "STRICT_FAILURE_TOLERANCE") == "STRICT_FAILURE_TOLERANCE":
            wave = min(wave, tolerance + 1)
        failed, stopped = 0, False
        for start in range(0, n, max(1, wave)):
            for account in accounts[start:start + wave]:
                if stopped:
                    results.append({"Account": account, "Region": region, "Status": "CANCELLED",
                                    "StatusReason": "Cancelled since failure tolerance has exceeded"})
                    continue
                reason = self.failures.get((account, region))
                failed += reason is not None
                results.append({"Account": account, "Region": region,
                                "Status": "FAILED" if reason else "SUCCEEDED", "StatusReason": reason or ""})
            stopped = stopped or failed > tolerance
        return stopped

    def settle(self, operation: str, key: tuple[str, str], result: dict[str, str]) -> None:
        """The instance's state once its part of the operation ended (lock held)."""
        if operation == "DeleteStackInstances":
            self.unhealthy.pop(key, None)
        elif result["Status"] in ("FAILED", "CANCELLED"):
            self.unhealthy[key] = {"Status": "OUTDATED", "StatusReason": result["StatusReason"],
                                   "StackInstanceStatus": {"DetailedStatus": result["Status"]}}
        else:
            self.unhealthy.pop(key, None)

    # -- answers --------------------------------------------------------------------------------

    def answer(self, operation: str, body: str) -> bytes | None:
        """``DescribeStackSetOperation`` / ``ListStackSetOperationResults`` for operations this
        model tracks; None lets moto answer."""
        if operation not in ("DescribeStackSetOperation", "ListStackSetOperationResults"):
            return None
        op_id = (self.params(body).get("OperationId") or [""])[0]
        with self.lock:
            op = self.operations.get(op_id)
            if op is None:
                return None
            running = op["polls"] > 0
            if operation == "DescribeStackSetOperation":
                if running:
                    op["polls"] -= 1
                    if op["polls"] == 0:
                        kind = {"CREATE": "CreateStackInstances", "UPDATE": "UpdateStackInstances",
                                "DELETE": "DeleteStackInstances"}[op["action"]]
                        for r in op["results"]:
                            self.settle(kind, (r["Account"], r["Region"]), r)
                status = "RUNNING" if running else op["status"]
                inner = (f"<StackSetOperation><OperationId>{op_id}</OperationId><Action>{op['action']}</Action>"
                         f"<Status>{status}</Status></StackSetOperation>")
            else:
                rows = []
                for r in op["results"]:
                    status = "RUNNING" if running else r["Status"]
                    rows.append(f"<member><Account>{r['Account']}</Account><Region>{r['Region']}</Region>"
                                f"<Status>{status}</Status><StatusReason>{xml_escape(r['StatusReason'])}</StatusReason>"
                                "</member>")
                inner = f"<Summaries>{''.join(rows)}</Summaries>"
        return (f'<{operation}Response xmlns="{NS}"><{operation}Result>{inner}</{operation}Result>'
                f"<ResponseMetadata><RequestId>harness</RequestId></ResponseMetadata></{operation}Response>").encode()
