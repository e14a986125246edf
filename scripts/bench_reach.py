"""Benchmark of profile-scan's reach modes on the emulator (not a test): the writes and wall time
to reach every instance under SSM_REACH=profiles and SSM_REACH=both.

    scripts/bench-reach [instances-per-unit] [accounts] [regions] [imdsv2-percent]   (defaults: 300 10 2 80)

Each (account, region) gets that many instances without a profile, `imdsv2-percent` of them
requiring IMDSv2 (`HttpTokens=required`), the rest allowing IMDSv1; each account has the member
template's instance profile and DHMC role. For each mode a fresh emulator is seeded and the
scheduled scan runs through the Lambda Runtime API (cargo lambda watch + invoke, debug build);
writes are read from moto's recorder. The goal (issue "DHMC"): one write per account and Region
for the instances DHMC serves, none per instance. Results also go to target/bench/reach.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import REGIONS, ROOT, bench_setup, free_port, invoke, start_moto, start_watch, stop  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "harness"))
import seed  # noqa: E402

WRITES = ("ec2:AssociateIamInstanceProfile", "iam:AttachRolePolicy", "ssm:UpdateServiceSetting")
DHMC_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def harness_calls(endpoint: str) -> list[dict]:
    return json.loads(urllib.request.urlopen(f"{endpoint}/_harness/calls").read())["calls"]


def seed_estate(endpoint: str, accounts: int, regions: list[str], per_unit: int, v2_percent: int) -> None:
    s = seed.Seeder(endpoint)
    org = s.client("organizations", None)
    org.create_organization(FeatureSet="ALL")
    members = [org.create_account(AccountName=f"m{i}", Email=f"m{i}@example.com")["CreateAccountStatus"]["AccountId"]
               for i in range(accounts - 1)]
    v2 = per_unit * v2_percent // 100
    for account in [None] + members:
        keys = s.session(account)
        iam = s.client("iam", keys)
        seed.profile(iam, "/", "MdcConnectorInstanceProfile", "MdcConnectorInstanceRole", True)
        iam.create_role(RoleName="MdcConnectorDhmcRole", AssumeRolePolicyDocument=TRUST)
        iam.attach_role_policy(RoleName="MdcConnectorDhmcRole", PolicyArn=DHMC_POLICY)
        for region in regions:
            ec2 = s.client("ec2", keys, region)
            if v2:
                ec2.run_instances(ImageId=seed.AMI, MinCount=v2, MaxCount=v2, InstanceType="t3.micro",
                                  MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"})
            seed.launch(ec2, per_unit - v2)


def run_mode(mode: str, python: str, cargo_lambda: str, shape: tuple[int, list[str], int, int]) -> dict:
    accounts, regions, per_unit, v2_percent = shape
    moto, endpoint = start_moto(python)
    watch = None
    try:
        started = time.time()
        seed_estate(endpoint, accounts, regions, per_unit, v2_percent)
        print(f"{mode}: seeded in {time.time() - started:.0f} s", file=sys.stderr)
        port = free_port()
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", CONNECTOR_REGIONS=",".join(regions),
                   CONNECTOR_MEMBER_ROLE="OrganizationAccountAccessRole", RUST_LOG="warn", SSM_REACH=mode)
        watch = start_watch(cargo_lambda, env, port)
        event = (ROOT / "tests/events/scheduled-event.json").read_text()
        before = len(harness_calls(endpoint))
        report, wall = invoke(cargo_lambda, "profile-scan", port, event)
        # The harness's own log: it also sees the calls it answers itself (SSM's service settings),
        # which moto's recorder does not.
        calls = Counter(f"{c['service']}:{c['operation']}" for c in harness_calls(endpoint)[before:]
                        if not c.get("injected"))
        reach: dict[str, int] = {}
        for item in report.get("items", []):
            if item.get("reach"):
                reach[item["reach"]] = reach.get(item["reach"], 0) + 1
        return {"wall_s": round(wall, 2), "summary": report["summary"], "reach": reach,
                "writes": {op: calls.get(op, 0) for op in WRITES}}
    finally:
        stop(watch, moto)


def main() -> None:
    per_unit = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    accounts = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    regions = REGIONS[: int(sys.argv[3]) if len(sys.argv) > 3 else 2]
    v2_percent = int(sys.argv[4]) if len(sys.argv) > 4 else 80
    python, cargo_lambda, out_dir = bench_setup()
    shape = (accounts, regions, per_unit, v2_percent)
    results = {mode: run_mode(mode, python, cargo_lambda, shape) for mode in ("profiles", "both")}
    units = accounts * len(regions)
    out = {"accounts": accounts, "regions": regions, "instances": per_unit * units, "imdsv2_percent": v2_percent,
           "modes": results}
    (out_dir / "reach.json").write_text(json.dumps(out, indent=1))
    print(f"\nreach benchmark: {per_unit * units} instances without a profile, {accounts} accounts x "
          f"{len(regions)} regions, {v2_percent}% requiring IMDSv2 (debug build, moto on loopback)")
    print(f"\n{'mode':10} {'wall s':>7} " + " ".join(f"{op.split(':')[1]:>28}" for op in WRITES) + "  reach")
    for mode, r in results.items():
        print(f"{mode:10} {r['wall_s']:>7} " + " ".join(f"{r['writes'][op]:>28}" for op in WRITES) + f"  {r['reach']}")
    print(f"result: {out_dir / 'reach.json'}")


if __name__ == "__main__":
    main()
