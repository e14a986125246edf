"""Benchmark of arc-provisioner's sweep on the emulator (not a test): Resource Manager calls
(pages, deletes, token), AWS calls per operation, wall time and peak memory of the function, for
M Arc machines of which S are stale, across A accounts, plus J junk machines.

    scripts/bench-sweep [machines] [stale] [accounts] [junk]        (defaults: 10000 3000 50 1000)

Each account has (M - S) / A running instances in eu-west-1, each with a `Connected` Arc machine;
the S stale machines name instances that no longer exist, `Disconnected` for 10 days (grace 7).
All M are in the connector's inventory (DynamoDB), as arc-provisioner records them. The J junk
machines carry the connector's tags (anyone with an onboarding token can write them), name the
same accounts and made-up instances, `Disconnected` for 30 days, and are not in the inventory: never
deleted. Resource Manager pages hold 100 machines. The first sweep must delete exactly the stale
machines; the second finds nothing to delete. Results also go to target/bench/sweep.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "harness"))
import seed  # noqa: E402
from bench import bench_setup, create_members, free_port, invoke, peak_rss_kib, start_moto, start_watch, stop  # noqa: E402
from bench_arc import ARC_ENV, calls, harness  # noqa: E402

REGION = "eu-west-1"
GROUP = ("/subscriptions/aaaaaaaa-2222-3333-4444-555555555555/resourceGroups/rg-arc/providers/"
         "Microsoft.HybridCompute/machines")


def machine(name: str, account: str, instance: str, status: str, changed: datetime) -> dict:
    return {"id": f"{GROUP}/{name}", "name": name, "location": "westeurope",
            "tags": {"MDFCSecurityConnector": ARC_ENV["ARC_CONNECTOR_ID"], "AccountId": account,
                     "InstanceId": instance, "Cloud": "AWS"},
            "properties": {"status": status, "lastStatusChange": changed.isoformat().replace("+00:00", "Z"),
                           "vmId": f"vm-{name}"}}


def record(dynamodb, machines: list[dict]) -> None:
    """The inventory entries arc-provisioner would have written for `machines`."""
    for start in range(0, len(machines), 25):
        requests = [{"PutRequest": {"Item": {
            "pk": {"S": f"machine#{m['tags']['AccountId']}"}, "sk": {"S": m["name"]},
            "region": {"S": REGION}, "resourceId": {"S": m["id"]}, "vmId": {"S": m["properties"]["vmId"]},
            "machineName": {"S": m["name"]}, "connectorId": {"S": ARC_ENV["ARC_CONNECTOR_ID"]},
            "commandId": {"S": "bench"}, "onboardedAt": {"N": "0"}, "azureStatus": {"S": "Connected"},
            "adopted": {"BOOL": False}}}} for m in machines[start:start + 25]]
        dynamodb.batch_write_item(RequestItems={ARC_ENV["ARC_INVENTORY_TABLE"]: requests})


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    stale = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    accounts = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    junk = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    python, cargo_lambda, out_dir = bench_setup()
    moto, endpoint = start_moto(python)
    watch = None
    try:
        s = seed.Seeder(endpoint)
        ids = ["123456789012"] + create_members(s.client("organizations", None), accounts - 1)
        started = time.time()
        now = datetime.now(timezone.utc)
        machines, stale_ids = [], set()
        live = total - stale
        for n, account in enumerate(ids):
            count = live // accounts + (1 if n < live % accounts else 0)
            keys = s.session(None if n == 0 else account)
            ec2 = s.client("ec2", keys, REGION)
            launched = [i["InstanceId"] for i in ec2.run_instances(ImageId=seed.AMI, MinCount=count, MaxCount=count)["Instances"]] if count else []
            machines += [machine(i, account, i, "Connected", now - timedelta(hours=1)) for i in launched]
            for k in range(stale // accounts + (1 if n < stale % accounts else 0)):
                gone = f"i-{n:05x}{k:012x}"
                stale_ids.add(f"{GROUP}/{gone}")
                machines.append(machine(gone, account, gone, "Disconnected", now - timedelta(days=10)))
        seed.azure_federation(s, endpoint)
        record(s.client("dynamodb", None), machines)
        machines += [machine(f"i-f{n:016x}", ids[n % len(ids)], f"i-f{n:016x}", "Disconnected", now - timedelta(days=30))
                     for n in range(junk)]
        for start in range(0, len(machines), 2000):
            harness(endpoint, "/_harness/arm", {"machines": machines[start:start + 2000], "pageSize": 100}, "POST")
        print(f"seeded {len(machines)} machines ({len(stale_ids)} stale, {junk} junk), {live} instances, "
              f"{accounts} accounts in {time.time() - started:.0f} s", file=sys.stderr)
        authority = harness(endpoint, "/_harness/entra")["authority"]
        iport = free_port()
        fenv = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                    AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", CONNECTOR_REGIONS=REGION,
                    ARC_MEMBER_ROLE="OrganizationAccountAccessRole", RUST_LOG="warn",
                    ARC_AUTHORITY_HOST=authority, ARC_RESOURCE_MANAGER_HOST=authority,
                    SSL_CERT_FILE=str(ROOT / "tests/harness/entra/ca.pem"), **ARC_ENV)
        watch = start_watch(cargo_lambda, fenv, iport)
        runs = {}
        for name in ("sweep", "again"):
            harness(endpoint, "/_harness/calls", method="DELETE")
            before = harness(endpoint, "/_harness/arm")
            tokens_before = len(harness(endpoint, "/_harness/entra")["requests"])
            report, wall = invoke(cargo_lambda, "arc-provisioner", iport, '{"action":"sweep"}')
            after = harness(endpoint, "/_harness/arm")
            outcomes = Counter(f"{i['status']}/{i.get('outcome')}" for i in report["items"])
            arm = {"pages": after["pages"] - before["pages"], "deletes": after["deleted"] - before["deleted"],
                   "entra:token": len(harness(endpoint, "/_harness/entra")["requests"]) - tokens_before}
            runs[name] = {"wall_s": round(wall, 2), "summary": report["summary"], "outcomes": dict(outcomes),
                          "omittedItems": report.get("omittedItems", 0), "resource_manager": arm,
                          "aws_calls": dict(sorted(calls(endpoint).items()))}
        deleted = {d for d in harness(endpoint, "/_harness/arm")["deletes"]}
        exact = deleted == stale_ids
        peak = peak_rss_kib("debug/arc-provisioner")
        result = {"machines": len(machines), "stale": len(stale_ids), "junk": junk, "accounts": accounts, "runs": runs,
                  "deletes_exactly_the_stale": exact, "peak_rss_mib": round(peak / 1024, 1) if peak else None}
        (out_dir / "sweep.json").write_text(json.dumps(result, indent=1))
        print(f"\nsweep benchmark: {len(machines)} Arc machines ({len(stale_ids)} stale), {accounts} accounts "
              "(debug build, emulator on loopback)")
        for name, run in runs.items():
            print(f"\n{name}: wall {run['wall_s']} s; Resource Manager {run['resource_manager']}; outcomes {run['outcomes']}")
            print("  AWS: " + ", ".join(f"{op} {n}" for op, n in run["aws_calls"].items()))
        print(f"\ndeletes = exactly the stale machines: {exact}\nfunction peak RSS: {result['peak_rss_mib']} MiB"
              f"\nresult: {out_dir / 'sweep.json'}")
        if not exact:
            raise SystemExit(f"deleted {len(deleted)} machines, {len(deleted ^ stale_ids)} differ from the stale set")
    finally:
        stop(watch, moto)


if __name__ == "__main__":
    main()
