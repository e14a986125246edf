"""Benchmark of account-discovery on the emulator (not a test): API calls and StackSet operations
to reconcile an organization of N accounts, wall time and peak memory of the function.

    scripts/bench-discovery [accounts] [regions]        (defaults: 500 2)

A self-managed StackSet (a template moto skips, so only the StackSet machinery is measured) gets
its first reconcile (every account missing), then a second one (nothing to do). Calls come from
moto's recorder. Managed IAM policies are not loaded here (they cost 1.7 s per account in moto and
account-discovery does not need them). Results also go to target/bench/discovery.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "harness"))
import seed  # noqa: E402
from bench import free_port, invoke, peak_rss_kib, post, recorded_calls, start_moto, start_watch, stop  # noqa: E402

REGIONS = ["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"]


def main() -> None:
    accounts = int(sys.argv[1]) if len(sys.argv) > 1 else 500
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
        started = time.time()
        for i in range(accounts - 1):
            org.create_account(AccountName=f"m{i}", Email=f"m{i}@example.com")
        s.client("cloudformation", None).create_stack_set(
            StackSetName="mdc-connector-members",
            TemplateBody='{"Resources":{"Marker":{"Type":"AWS::CloudFormation::WaitConditionHandle"}}}')
        print(f"seeded {accounts} accounts in {time.time() - started:.0f} s", file=sys.stderr)

        iport = free_port()
        fenv = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                    AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", STACKSET_NAME="mdc-connector-members",
                    STACKSET_REGIONS=",".join(regions), RUST_LOG="warn")
        watch = start_watch(cargo_lambda, fenv, iport)
        event = (ROOT / "tests/events/scheduled-event.json").read_text()
        runs = {}
        for name in ("reconcile", "again"):
            post(f"{endpoint}/moto-api/recorder/reset-recording")
            post(f"{endpoint}/moto-api/recorder/start-recording")
            report, wall = invoke(cargo_lambda, "account-discovery", iport, event)
            post(f"{endpoint}/moto-api/recorder/stop-recording")
            runs[name] = {"wall_s": round(wall, 2), "summary": report["summary"], "calls": dict(sorted(recorded_calls(endpoint).items()))}
        peak = peak_rss_kib("debug/account-discovery")
        result = {"accounts": accounts, "regions": regions, "runs": runs, "peak_rss_mib": round(peak / 1024, 1) if peak else None}
        (out_dir / "discovery.json").write_text(json.dumps(result, indent=1))
        print(f"\naccount-discovery benchmark: {accounts} accounts x {len(regions)} regions (debug build, moto on loopback)")
        ops = sorted(set(runs["reconcile"]["calls"]) | set(runs["again"]["calls"]))
        print(f"\n{'operation':48} {'reconcile':>9} {'again':>6}")
        for op in ops:
            print(f"{op:48} {runs['reconcile']['calls'].get(op, 0):>9} {runs['again']['calls'].get(op, 0):>6}")
        for name in ("reconcile", "again"):
            s_ = runs[name]["summary"]
            print(f"\n{name}: wall {runs[name]['wall_s']} s; {s_['done']} done, {s_['skipped']} skipped, {s_['failed']} failed")
        print(f"function peak RSS: {result['peak_rss_mib']} MiB\nresult: {out_dir / 'discovery.json'}")
    finally:
        stop(watch, moto)


if __name__ == "__main__":
    main()
