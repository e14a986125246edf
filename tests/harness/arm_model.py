"""A local Azure Resource Manager for the Arc machines of the sweep (arc-provisioner).

Served by the Entra stub's HTTPS server (same port, same test certificate), as Resource Manager
answers ``Microsoft.HybridCompute/machines`` at api-version ``2024-07-10``:

* ``GET /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.HybridCompute/machines`` lists the
  group's machines, a page at a time (``pageSize``, default 100) with an absolute ``nextLink``
  ("Use the nextLink property in the response to get the next page of hybrid machines");
* ``GET /subscriptions/.../machines/{name}`` reads one (404 ``ResourceNotFound`` when absent);
* ``DELETE /subscriptions/.../machines/{name}`` deletes one (200; 204 when there is none), and
  records it;
* ``PUT /subscriptions/.../machines/{name}`` creates or replaces one, as the agent's ``connect`` does
  with the onboarding token (``Microsoft.HybridCompute/machines/write``, refused 403
  ``AuthorizationFailed`` without it): ``location``, ``tags`` and ``properties.vmId`` from the body,
  status ``Connected`` from now (the agent's first heartbeat);
* every request needs ``Authorization: Bearer`` with a token the Entra stub issued for Resource
  Manager (audience ``https://management.azure.com``), else 401 ``InvalidAuthenticationToken``;
* ``GET /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Authorization/permissions``
  (api-version ``2022-04-01``) answers what the token's application may do there, as Resource
  Manager's "Permissions - List For Resource Group" does (``{"value": [{"actions": [...],
  "notActions": [...], "dataActions": [...], "notDataActions": [...]}]}``): by default the
  built-in *Azure Connected Machine Onboarding* role's actions; ``permissions`` sets them per
  application (client id) or for ``"*"``, optionally for one group (``"<client id or *>/<group>"``,
  the group in lower case);
* ``GET /subscriptions/{s}/providers/Microsoft.HybridCompute/machines`` lists every group's machines
  of the subscription (a group per AWS account);
* ``throttle``: the next N requests are answered 429 ``TooManyRequests`` with ``Retry-After: 1``
  (Resource Manager's throttling answer).

Controlled through the emulator's ``/_harness/arm``: ``POST {"machines": [{"id": ..., "name": ...,
"tags": {...}, "properties": {"status": "Disconnected", "lastStatusChange": "..."}}], "throttle": 2,
"pageSize": 100, "permissions": {"<client id>": [{"actions": ["*"]}]}, "remove": ["<id>"]}`` (machines are added or
replaced, by id; ``remove`` deletes some behind the connector's back); ``GET`` returns the machines left, every delete and
the request counts.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode

API_VERSION = "2024-07-10"
AUDIENCE = "https://management.azure.com"
PROVIDER = "/providers/microsoft.hybridcompute/machines"
PERMISSIONS = "/providers/microsoft.authorization/permissions"
PERMISSIONS_API_VERSION = "2022-04-01"
# Microsoft's built-in roles reference, "Azure Connected Machine Onboarding" (b64e21ea-...): its
# permissions, as Resource Manager lists them for an application holding only that role.
ONBOARDING = [{"actions": ["Microsoft.HybridCompute/machines/read", "Microsoft.HybridCompute/machines/write",
                           "Microsoft.HybridCompute/privateLinkScopes/read",
                           "Microsoft.GuestConfiguration/guestConfigurationAssignments/read"],
               "notActions": [], "dataActions": [], "notDataActions": []}]

Answer = tuple[int, dict[str, str], dict[str, Any] | None]


class ResourceManagerModel:
    """Arc machines by resource id, throttling and a request log."""

    def __init__(self, verify: Callable[[str], dict[str, Any] | None]) -> None:
        self.verify = verify
        self.lock = threading.Lock()
        self.machines: dict[str, dict[str, Any]] = {}
        self.deletes: list[str] = []
        self.throttle = 0
        self.page_size = 100
        self.counts = {"requests": 0, "pages": 0, "deleted": 0, "written": 0, "throttled": 0, "unauthorized": 0,
                       "permissionReads": 0}
        self.permissions: dict[str, list[dict[str, Any]]] = {}

    def configure(self, spec: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            for machine in spec.get("machines", []):
                self.machines[machine["id"].lower()] = machine
            for gone in spec.get("remove", []):
                self.machines.pop(gone.lower(), None)
            self.throttle = int(spec.get("throttle", self.throttle))
            self.page_size = max(1, int(spec.get("pageSize", self.page_size)))
            self.permissions.update(spec.get("permissions", {}))
        return self.report()

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {"machines": list(self.machines.values()), "deletes": list(self.deletes), **self.counts}

    def handle(self, method: str, base: str, path: str, query: str, authorization: str,
               body: bytes = b"") -> Answer:
        """Resource Manager's answer to one request (``base`` is ``https://host:port``)."""
        params = {k: v[0] for k, v in parse_qs(query).items()}
        with self.lock:
            self.counts["requests"] += 1
            token = authorization.removeprefix("Bearer ").strip()
            claims = self.verify(token) if authorization.startswith("Bearer ") else None
            if claims is None or claims.get("aud") != AUDIENCE:
                self.counts["unauthorized"] += 1
                return 401, {}, error("InvalidAuthenticationToken", "The access token is invalid.")
            if self.throttle > 0:
                self.throttle -= 1
                self.counts["throttled"] += 1
                return 429, {"Retry-After": "1"}, error("TooManyRequests", "The request is being throttled.")
            lowered = path.lower()
            if method == "GET" and lowered.endswith(PERMISSIONS):
                if params.get("api-version") != PERMISSIONS_API_VERSION:
                    return 400, {}, error("InvalidApiVersionParameter", f"api-version {params.get('api-version')}")
                self.counts["permissionReads"] += 1
                client = str(claims.get("appid", ""))
                group = lowered.split("/resourcegroups/")[1].split("/")[0] if "/resourcegroups/" in lowered else ""
                keys = [f"{client}/{group}", client, f"*/{group}", "*"]
                found = next((self.permissions[k] for k in keys if k in self.permissions), ONBOARDING)
                return 200, {}, {"value": found}
            if params.get("api-version") != API_VERSION:
                return 400, {}, error("InvalidApiVersionParameter", f"api-version {params.get('api-version')}")
            lowered = path.lower()
            if method == "GET" and lowered.endswith(PROVIDER):
                return self.page(base, path, params)
            if method == "GET" and PROVIDER + "/" in lowered:
                found = self.machines.get(lowered)
                if found is None:
                    return 404, {}, error("ResourceNotFound", f"The Resource '{path}' was not found.")
                return 200, {}, found
            if method == "PUT" and PROVIDER + "/" in lowered:
                return self.put(path, claims, body)
            if method == "DELETE" and PROVIDER + "/" in lowered:
                found = self.machines.pop(lowered, None)
                if found is None:
                    return 204, {}, None
                self.deletes.append(found["id"])
                self.counts["deleted"] += 1
                return 200, {}, None
        return 404, {}, error("NotFound", path)

    def allowed(self, claims: dict[str, Any], path: str, action: str) -> bool:
        """Whether the token's application holds ``action`` at the machine's group (lock held)."""
        lowered = path.lower()
        group = lowered.split("/resourcegroups/")[1].split("/")[0] if "/resourcegroups/" in lowered else ""
        client = str(claims.get("appid", ""))
        keys = [f"{client}/{group}", client, f"*/{group}", "*"]
        found = next((self.permissions[k] for k in keys if k in self.permissions), ONBOARDING)
        actions = [a.lower() for p in found for a in p.get("actions", [])]
        return "*" in actions or action.lower() in actions or "microsoft.hybridcompute/*" in actions

    def put(self, path: str, claims: dict[str, Any], body: bytes) -> Answer:
        """The agent's connect: the machine resource, ``Connected`` (lock held)."""
        if not self.allowed(claims, path, "Microsoft.HybridCompute/machines/write"):
            return 403, {}, error("AuthorizationFailed", "The client does not have authorization to perform "
                                  "action 'Microsoft.HybridCompute/machines/write'.")
        spec = json.loads(body or b"{}")
        name = path.rstrip("/").rsplit("/", 1)[1]
        machine = {"id": path, "name": name, "location": spec.get("location", ""), "tags": spec.get("tags", {}),
                   "properties": {"status": "Connected", "vmId": spec.get("properties", {}).get("vmId", ""),
                                  "lastStatusChange": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
        self.machines[path.lower()] = machine
        self.counts["written"] += 1
        return 200, {}, machine

    def page(self, base: str, path: str, params: dict[str, str]) -> Answer:
        """One page of the group's machines (lock held)."""
        scope = path.lower()[: -len(PROVIDER)]
        # A group's machines, or (at subscription scope) every group's of the subscription.
        prefix = scope + PROVIDER + "/" if "/resourcegroups/" in scope else scope + "/resourcegroups/"
        listed = sorted((m for key, m in self.machines.items() if key.startswith(prefix)), key=lambda m: m["id"])
        start = int(params.get("$skiptoken", "0") or 0)
        answer: dict[str, Any] = {"value": listed[start:start + self.page_size]}
        if start + self.page_size < len(listed):
            query = urlencode({"api-version": API_VERSION, "$skiptoken": str(start + self.page_size)})
            answer["nextLink"] = f"{base}{path}?{query}"
        self.counts["pages"] += 1
        return 200, {}, answer


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def encode(payload: dict[str, Any] | None) -> bytes:
    return json.dumps(payload).encode() if payload is not None else b""
