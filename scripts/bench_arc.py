"""Benchmark of arc-provisioner on the emulator (not a test): API calls per operation against the
minimum, wall time and peak memory of the function, for N managed instances.

    scripts/bench-arc [instances] [accounts] [regions]        (defaults: 1000 4 2)

Every instance is managed (connector profile whose role carries the SSM policy), a tenth of them
Windows. Invocations answer `Success` with a `connected` result after one `InProgress` read (a
harness outcome rule), so the provisioner is measured, not the sandboxed script. The first run
connects everything; the second finds everything settled and must write nothing. Calls come from
the harness's call log (moto's recorder does not see the SSM operations the harness answers).
Results also go to target/bench/arc.json.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "harness"))
import seed  # noqa: E402
from bench import bench_setup, create_members, free_port, invoke, peak_rss_kib, start_moto, start_watch, stop  # noqa: E402

REGIONS = ["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"]
# The harness makes each instance's Arc machine (as the agent's connect does) and fills in its id.
CONNECTED = ('MDC_ARC_RESULT {"status":"connected","reason":"connected","detail":"sub/rg",'
             '"resourceId":"{resourceId}","vmId":"{vmId}"}')
# The prepare phase's answer: a real RSA 2048 public key (the unit tests' fixture), so every
# instance's credential is really sealed; the connect phase answers CONNECTED.
MODULUS = (ROOT / "src/arc/seal_test_key.txt").read_text().splitlines()[1]
KEY_READY = ('MDC_ARC_RESULT {"status":"key-ready","reason":"key-ready","detail":"bench","publicKey":"'
             + MODULUS + '"}')
ARC_ENV = {
    "ARC_TENANT_ID": "11111111-2222-3333-4444-555555555555",
    "ARC_SUBSCRIPTION_ID": "aaaaaaaa-2222-3333-4444-555555555555",
    "ARC_RESOURCE_GROUP": "rg-arc", "ARC_LOCATION": "westeurope", "ARC_CONNECTOR_ID": "bench",
    "ARC_SERVICE_PRINCIPAL_ID": "bbbbbbbb-2222-3333-4444-555555555555",
    "ARC_SWEEP_SERVICE_PRINCIPAL_ID": "cccccccc-2222-3333-4444-555555555555",
    "ARC_INVENTORY_TABLE": "mdc-connector-arc-inventory",
}


def harness(endpoint: str, path: str, body: dict | None = None, method: str = "GET") -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{endpoint}{path}", data=data, method=method)
    return json.loads(urllib.request.urlopen(request).read())


def calls(endpoint: str) -> Counter:
    return Counter(f"{c['service']}:{c['operation']}" for c in harness(endpoint, "/_harness/calls")["calls"])


def main() -> None:
    instances = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    accounts = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    regions = REGIONS[: int(sys.argv[3]) if len(sys.argv) > 3 else 2]
    python, cargo_lambda, out_dir = bench_setup()
    moto, endpoint = start_moto(python)
    watch = None
    try:
        s = seed.Seeder(endpoint)
        ids = [None] + create_members(s.client("organizations", None), accounts - 1)
        units = [(a, r) for a in ids for r in regions]
        per_unit = [instances // len(units) + (1 if i < instances % len(units) else 0) for i in range(len(units))]
        started = time.time()
        expected = Counter()
        for account in ids:
            keys = s.session(account)
            seed.profile(s.client("iam", keys), "/", "MdcConnectorInstanceProfile", "MdcConnectorInstanceRole", True)
        for (account, region), n in zip(units, per_unit):
            keys = s.session(account)
            ssm = s.client("ssm", keys, region)
            for name, source in seed.DOCUMENTS.items():
                ssm.create_document(Name=name, Content=seed.render_documents.content(source), DocumentType="Command",
                                    DocumentFormat="JSON")
            ec2 = s.client("ec2", keys, region)
            windows = n // 10
            launched = [i["InstanceId"] for i in ec2.run_instances(ImageId=seed.AMI, MinCount=n - windows, MaxCount=n - windows)["Instances"]] if n - windows else []
            if windows:
                launched += [i["InstanceId"] for i in ec2.run_instances(
                    ImageId=seed.AMI, MinCount=windows, MaxCount=windows,
                    TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "harness:platform", "Value": "Windows"}]}])["Instances"]]
            for instance in launched:
                ec2.associate_iam_instance_profile(InstanceId=instance, IamInstanceProfile={"Name": "MdcConnectorInstanceProfile"})
            # Two phases: one prepare command per platform batch of at most 50, then one connect
            # command per instance (its credential sealed to its own key).
            prepares = math.ceil((n - windows) / 50) + math.ceil(windows / 50)
            expected.update({"ssm:DescribeInstanceInformation": max(1, math.ceil(n / 50)), "ec2:DescribeInstances": 1,
                             "ssm:DescribeDocument": 2, "ssm:GetDocument": 2, "ssm:SendCommand": prepares + n})
            # history (empty, one per document); per prepare command one InProgress poll, one final;
            # the connect commands of a document polled together (two polls of their pages)
            expected["ssm:ListCommandInvocations"] += 2 + 2 * prepares + 2 * prepares
        seed.azure_federation(s, endpoint)  # secretless: no GetParameter, one identity token
        expected.update({"sts:GetWebIdentityToken": 1, "entra:token": 1, "arm:permissions": 1, "sts:AssumeRole": accounts - 1, "sts:GetCallerIdentity": 1,
                         "organizations:ListAccounts": 1,
                         # opt-in regions are per account: one read per account
                         "ec2:DescribeRegions": accounts})
        print(f"seeded {instances} instances in {len(units)} units in {time.time() - started:.0f} s", file=sys.stderr)
        harness(endpoint, "/_harness/ssm-outcomes",
                {"rules": [{"instanceId": "*", "phase": "prepare", "status": "Success", "output": KEY_READY, "pendingReads": 1},
                           {"instanceId": "*", "phase": "connect", "status": "Success", "output": CONNECTED,
                            "pendingReads": 1, "connects": True}]}, "POST")

        iport = free_port()
        fenv = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                    AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", CONNECTOR_REGIONS=",".join(regions),
                    CONNECTOR_MEMBER_ROLE="OrganizationAccountAccessRole", ARC_MEMBER_ROLE="OrganizationAccountAccessRole", RUST_LOG="warn",
                    # Tokens from the emulator's Entra endpoint (HTTPS with the test CA).
                    ARC_AUTHORITY_HOST=harness(endpoint, "/_harness/entra")["authority"],
                    ARC_RESOURCE_MANAGER_HOST=harness(endpoint, "/_harness/entra")["authority"],
                    SSL_CERT_FILE=str(ROOT / "tests/harness/entra/ca.pem"), **ARC_ENV)
        watch = start_watch(cargo_lambda, fenv, iport)
        event = (ROOT / "tests/events/scheduled-event.json").read_text()
        runs = {}
        for name in ("provision", "again"):
            harness(endpoint, "/_harness/calls", method="DELETE")
            tokens_before = len(harness(endpoint, "/_harness/entra")["requests"])
            arm_before = harness(endpoint, "/_harness/arm")
            permissions_before = arm_before["permissionReads"]
            report, wall = invoke(cargo_lambda, "arc-provisioner", iport, event)
            outcomes = Counter(i.get("outcome") for i in report["items"] if i.get("outcome"))
            runs[name] = {"wall_s": round(wall, 2), "summary": report["summary"], "outcomes": dict(outcomes),
                          "calls": dict(sorted(calls(endpoint).items()))}
            # Microsoft Entra token requests (the emulator's endpoint): one per invocation that sends.
            runs[name]["calls"]["entra:token"] = len(harness(endpoint, "/_harness/entra")["requests"]) - tokens_before
            # Resource Manager's permissions list: the token's rights, checked once per invocation that sends.
            arm_after = harness(endpoint, "/_harness/arm")
            runs[name]["calls"]["arm:permissions"] = arm_after["permissionReads"] - permissions_before
            # Resource Manager reads of machines: list pages and single reads (requests minus the rest).
            runs[name]["calls"]["arm:list-pages"] = arm_after["pages"] - arm_before["pages"]
            runs[name]["calls"]["arm:requests"] = arm_after["requests"] - arm_before["requests"]
        peak = peak_rss_kib("debug/arc-provisioner")
        result = {"instances": instances, "accounts": accounts, "regions": regions, "runs": runs,
                  "minimum_first_run": dict(sorted(expected.items())),
                  "peak_rss_mib": round(peak / 1024, 1) if peak else None}
        (out_dir / "arc.json").write_text(json.dumps(result, indent=1))
        print(f"\narc-provisioner benchmark: {instances} instances, {accounts} accounts x {len(regions)} regions "
              "(debug build, moto on loopback)")
        ops = sorted(set(runs["provision"]["calls"]) | set(runs["again"]["calls"]) | set(expected))
        print(f"\n{'operation':40} {'provision':>9} {'minimum':>8} {'again':>6}")
        for op in ops:
            print(f"{op:40} {runs['provision']['calls'].get(op, 0):>9} {expected.get(op, 0):>8} {runs['again']['calls'].get(op, 0):>6}")
        for name in ("provision", "again"):
            print(f"\n{name}: wall {runs[name]['wall_s']} s; outcomes {runs[name]['outcomes']}")
        print(f"function peak RSS: {result['peak_rss_mib']} MiB\nresult: {out_dir / 'arc.json'}")
    finally:
        stop(watch, moto)


if __name__ == "__main__":
    main()
