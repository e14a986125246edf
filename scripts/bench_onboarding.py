"""Benchmark of onboarding new accounts on the emulator (not a test): accounts join an organization
one after another (a `CreateAccountResult` event each, as Organizations sends them), and
account-discovery onboards each, publishes its record and hands it to profile-scan and
arc-provisioner. Then profile-scan's queue is drained as Lambda would.

    scripts/bench-onboarding [joining] [regions]        (defaults: 200 2)

Prints records published (must equal the accounts onboarded), units handed to each function (one
per account and region), calls per joining account, and per account the time from its event to
its hand-off (median, p95) and to the end of its profile-scan units. Results also go to
target/bench/onboarding.json. The StackSet's template is a marker (moto skips it), so only the
machinery is measured; IAM delay 0 (`PROFILE_SCAN_DELAY_SECONDS` adds to every figure).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "harness"))
import seed  # noqa: E402
from bench import free_port, invoke, peak_rss_kib, start_moto, start_watch, stop  # noqa: E402

REGIONS = ["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"]


def harness_calls(endpoint: str) -> list[dict]:
    return json.loads(urllib.request.urlopen(f"{endpoint}/_harness/calls").read())["calls"]


def clear_calls(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_harness/calls", method="DELETE")).read()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    joining = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    regions = REGIONS[: int(sys.argv[2]) if len(sys.argv) > 2 else 2]
    python = os.environ.get("BENCH_PYTHON", sys.executable)
    cargo_lambda = os.environ["CARGO_LAMBDA"]
    out_dir = ROOT / "target" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="false")
    moto, endpoint = start_moto(python, env)
    watch = None
    try:
        s = seed.Seeder(endpoint)
        org = s.client("organizations", None)
        org.create_organization(FeatureSet="ALL")
        org.enable_aws_service_access(ServicePrincipal="account.amazonaws.com")
        s.client("cloudformation", None).create_stack_set(
            StackSetName="mdc-connector-members",
            TemplateBody='{"Resources":{"Marker":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}')
        s.client("events", None).create_event_bus(Name="records")
        sqs = s.client("sqs", None)
        queues = {name: sqs.create_queue(QueueName=f"{name}-work")["QueueUrl"] for name in ("profile-scan", "arc-provisioner")}
        iport = free_port()
        fenv = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                    AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", STACKSET_NAME="mdc-connector-members",
                    STACKSET_REGIONS=",".join(regions), CONNECTOR_REGIONS=",".join(regions),
                    CONNECTOR_EVENT_BUS="records", PROFILE_SCAN_QUEUE_URL=queues["profile-scan"],
                    ARC_PROVISIONER_QUEUE_URL=queues["arc-provisioner"], PROFILE_SCAN_DELAY_SECONDS="0",
                    CONNECTOR_MEMBER_ROLE="OrganizationAccountAccessRole", RUST_LOG="warn")
        watch = start_watch(cargo_lambda, fenv, iport)
        invoke(cargo_lambda, "account-discovery", iport, '{"action":"reconcile","dryRun":true}')  # warm
        template = json.loads((ROOT / "tests/events/organizations-create-account-result.json").read_text())
        clear_calls(endpoint)
        joined: dict[str, float] = {}
        handed: dict[str, float] = {}
        started = time.time()
        for i in range(joining):
            account = org.create_account(AccountName=f"j{i}", Email=f"j{i}@example.com")["CreateAccountStatus"]["AccountId"]
            template["detail"]["serviceEventDetails"]["createAccountStatus"]["accountId"] = account
            joined[account] = time.time()
            report, _ = invoke(cargo_lambda, "account-discovery", iport, json.dumps(template))
            for item in report["items"]:
                if item["action"] == "hand-off" and item["status"] == "done":
                    handed.setdefault(item["accountId"], time.time())
        join_wall = time.time() - started
        calls = harness_calls(endpoint)
        records = []
        units: dict[str, list[dict]] = {"profile-scan": [], "arc-provisioner": []}
        for c in calls:
            body = json.loads(c["body"]) if c.get("body") else {}
            if c["operation"] == "PutEvents":
                records += [d for d in (json.loads(e["Detail"]) for e in body.get("Entries", [])) if d["status"] == "onboarded"]
            if c["operation"].startswith("SendMessage"):
                for e in body.get("Entries", [body]):
                    message = json.loads(e["MessageBody"])
                    units.setdefault(message["job"], []).append(message)
        per_account: dict[str, int] = {}
        for c in calls:
            per_account[f"{c['service']}:{c['operation']}"] = per_account.get(f"{c['service']}:{c['operation']}", 0) + 1

        # profile-scan's queue drained as the event source mapping would.
        scanned: dict[str, float] = {}
        drained_started = time.time()
        while True:
            got = sqs.receive_message(QueueUrl=queues["profile-scan"], MaxNumberOfMessages=10, VisibilityTimeout=60)
            messages = got.get("Messages", [])
            if not messages:
                break
            records_ = [{"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"} for m in messages]
            invoke(cargo_lambda, "profile-scan", iport, json.dumps({"Records": records_}))
            for m in messages:
                scanned[json.loads(m["Body"])["accountId"]] = time.time()
                sqs.delete_message(QueueUrl=queues["profile-scan"], ReceiptHandle=m["ReceiptHandle"])
        drain_wall = time.time() - drained_started

        to_hand_off = [handed[a] - joined[a] for a in joined if a in handed]
        onboarded = {r["accountId"] for r in records}
        result = {
            "joining": joining, "regions": regions, "records": len(records), "accounts_onboarded": len(onboarded),
            "units": {k: len(v) for k, v in units.items()}, "join_wall_s": round(join_wall, 1),
            "profile_scan_drain_wall_s": round(drain_wall, 1),
            "event_to_hand_off_s": {"median": round(statistics.median(to_hand_off), 2), "p95": round(p95(to_hand_off), 2)},
            "calls_per_joining_account": {k: round(v / joining, 2) for k, v in sorted(per_account.items())},
            "peak_rss_mib": round((peak_rss_kib("debug/account-discovery") or 0) / 1024, 1),
        }
        (out_dir / "onboarding.json").write_text(json.dumps(result, indent=1))
        print(f"\nonboarding benchmark: {joining} accounts joining one after another, {len(regions)} regions (debug build, moto on loopback)")
        print(f"records published: {len(records)} for {len(onboarded)} accounts onboarded (must be {joining})")
        print(f"units handed on: profile-scan {len(units['profile-scan'])}, arc-provisioner {len(units['arc-provisioner'])} (each must be {joining * len(regions)})")
        print(f"event to hand-off per account: median {result['event_to_hand_off_s']['median']} s, p95 {result['event_to_hand_off_s']['p95']} s")
        print(f"profile-scan queue drained in {result['profile_scan_drain_wall_s']} s ({len(scanned)} accounts)")
        print("\ncalls per joining account:")
        for op, n in result["calls_per_joining_account"].items():
            print(f"  {op:48} {n}")
        print(f"account-discovery peak RSS: {result['peak_rss_mib']} MiB\nresult: {out_dir / 'onboarding.json'}")
    finally:
        stop(watch, moto)


if __name__ == "__main__":
    main()
