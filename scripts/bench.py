"""Benchmark of profile-scan on the emulator (not a test): API calls per operation against the
minimum, wall time and peak memory of the function, for N instances across accounts and regions.

    scripts/bench [instances] [accounts] [regions]      (defaults: 600 3 2)

Each (account, region) gets instances/(accounts*regions) instances: 50% without a profile, 30% on
two customer roles lacking the policy, 20% compliant. The scheduled scan runs through the Lambda
Runtime API (cargo lambda watch + invoke, debug build); calls are read from moto's recorder.
Results also go to target/bench/result.json.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "harness"))
import seed  # noqa: E402

REGIONS = ["eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"]
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


def post(url: str) -> bytes:
    return urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST")).read()


def recorded_calls(endpoint: str) -> Counter:
    raw = urllib.request.urlopen(f"{endpoint}/moto-api/recorder/download-recording").read().decode()
    counts: Counter = Counter()
    for line in raw.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
        found = CREDENTIAL.search(headers.get("authorization", ""))
        service = found.group(3) if found else "?"
        target = headers.get("x-amz-target")
        if target:
            op = target.rsplit(".", 1)[-1]
        else:
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode("utf-8", "replace")
            if isinstance(body, dict):
                body = "&".join(f"{k}={v}" for k, v in body.items())
            op = (parse_qs(body).get("Action") or parse_qs(entry.get("url", "").split("?", 1)[-1]).get("Action") or ["?"])[0]
        counts[f"{service}:{op}"] += 1
    return counts


def peak_rss_kib(pattern: str = "debug/profile-scan") -> int | None:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    best = None
    for pid in out:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    kib = int(line.split()[1])
                    best = max(best or 0, kib)
        except OSError:
            continue
    return best


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def start_watch(cargo_lambda: str, env: dict[str, str], port: int) -> subprocess.Popen:
    """`cargo lambda watch` serving the workspace's functions, in its own process group."""
    return subprocess.Popen([cargo_lambda, "lambda", "watch", "--ignore-changes", "--quiet", "--invoke-port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def invoke(cargo_lambda: str, function: str, port: int, event: str) -> tuple[dict, float]:
    """Invokes a function (retrying while the watcher starts); returns its report and the wall time."""
    for _ in range(240):
        t = time.time()
        r = subprocess.run([cargo_lambda, "lambda", "invoke", function, "--invoke-port", str(port),
                            "--output-format", "json", "--data-ascii", event], cwd=ROOT, capture_output=True, text=True)
        if r.returncode == 0:
            return json.loads(r.stdout), time.time() - t
        if "refused" not in r.stderr and "error sending request" not in r.stderr:
            raise SystemExit(r.stderr)
        time.sleep(0.5)
    raise SystemExit(f"{function} never answered")


def start_moto(python: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """The harness's emulator on a free port; the process and its endpoint."""
    moto = subprocess.Popen([python, str(ROOT / "tests/harness/moto_launcher.py")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    port = int(moto.stdout.readline().split()[1])  # type: ignore[union-attr]
    return moto, f"http://127.0.0.1:{port}"


def bench_setup() -> tuple[str, str, Path]:
    """The emulator's Python, cargo-lambda and target/bench (created), from the wrapper scripts."""
    out_dir = ROOT / "target" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    return os.environ.get("BENCH_PYTHON", sys.executable), os.environ["CARGO_LAMBDA"], out_dir


def create_members(org: Any, count: int) -> list[str]:
    """An organization (all features) of the caller and `count` new member accounts; their ids."""
    org.create_organization(FeatureSet="ALL")
    created = [org.create_account(AccountName=f"m{i}", Email=f"m{i}@example.com") for i in range(count)]
    return [c["CreateAccountStatus"]["AccountId"] for c in created]


def stop(watch: subprocess.Popen | None, moto: subprocess.Popen) -> None:
    if watch:
        os.killpg(watch.pid, signal.SIGTERM)
    moto.terminate()


def main() -> None:
    instances = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    accounts = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    regions = REGIONS[: int(sys.argv[3]) if len(sys.argv) > 3 else 2]
    units = accounts * len(regions)
    per_unit = max(1, instances // units)
    roles = 2
    unprofiled = per_unit // 2
    shared = (per_unit * 3 // 10) // roles
    compliant = per_unit - unprofiled - shared * roles
    python = os.environ.get("BENCH_PYTHON", sys.executable)
    cargo_lambda = os.environ["CARGO_LAMBDA"]
    out_dir = ROOT / "target" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)

    moto, endpoint = start_moto(python)
    watch = None
    try:
        print(f"seeding {accounts} accounts x {len(regions)} regions x {per_unit} instances "
              f"({unprofiled} unprofiled, {shared * roles} on {roles} roles lacking the policy, {compliant} compliant)...",
              file=sys.stderr)
        started = time.time()
        s = seed.Seeder(endpoint)
        org = s.client("organizations", None)
        org.create_organization(FeatureSet="ALL")
        members = [org.create_account(AccountName=f"m{i}", Email=f"m{i}@example.com")["CreateAccountStatus"]["AccountId"]
                   for i in range(accounts - 1)]
        counts = {"unprofiled": unprofiled, "shared": shared, "compliant": compliant, "opted_out": 0, "empty": 0}
        for account in [None] + members:
            seed.seed_account(s, s.session(account), regions, None, counts, roles)
        print(f"seeded in {time.time() - started:.0f} s", file=sys.stderr)

        iport = free_port()
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", CONNECTOR_REGIONS=",".join(regions),
                   CONNECTOR_MEMBER_ROLE="OrganizationAccountAccessRole", RUST_LOG="warn")
        watch = start_watch(cargo_lambda, env, iport)
        event = (ROOT / "tests/events/scheduled-event.json").read_text()

        runs = {}
        for name in ("scan", "rescan"):
            post(f"{endpoint}/moto-api/recorder/reset-recording")
            post(f"{endpoint}/moto-api/recorder/start-recording")
            report, wall = invoke(cargo_lambda, "profile-scan", iport, event)
            post(f"{endpoint}/moto-api/recorder/stop-recording")
            runs[name] = {"wall_s": round(wall, 2), "summary": report["summary"], "calls": dict(sorted(recorded_calls(endpoint).items()))}
        peak = peak_rss_kib()

        minimum = {
            "sts:GetCallerIdentity": 1,
            "sts:AssumeRole": accounts - 1,
            "organizations:ListAccounts": math.ceil(accounts / 20),
            "ec2:DescribeInstances": units * max(1, math.ceil(per_unit / 1000)),
            "ec2:DescribeIamInstanceProfileAssociations": units,
            "ec2:AssociateIamInstanceProfile": unprofiled * units,
            # Every role of an account, with its profiles and attached policies: one page (<= 1,000 roles).
            "iam:GetAccountAuthorizationDetails": accounts,
            "iam:AttachRolePolicy": accounts * roles,
            # Opt-in regions are per account: one read per account.
            "ec2:DescribeRegions": accounts,
        }
        result = {"instances": per_unit * units, "accounts": accounts, "regions": regions, "runs": runs,
                  "minimum_first_scan": minimum, "peak_rss_mib": round(peak / 1024, 1) if peak else None}
        (out_dir / "result.json").write_text(json.dumps(result, indent=1))

        print(f"\nprofile-scan benchmark: {per_unit * units} instances, {accounts} accounts x {len(regions)} regions "
              f"(debug build, moto on loopback)")
        ops = sorted(set(minimum) | set(runs["scan"]["calls"]) | set(runs["rescan"]["calls"]))
        print(f"\n{'operation':48} {'scan':>6} {'minimum':>8} {'rescan':>7}")
        for op in ops:
            print(f"{op:48} {runs['scan']['calls'].get(op, 0):>6} {minimum.get(op, 0):>8} {runs['rescan']['calls'].get(op, 0):>7}")
        for name in ("scan", "rescan"):
            s_ = runs[name]["summary"]
            print(f"\n{name}: wall {runs[name]['wall_s']} s; {s_['done']} done, {s_['skipped']} skipped, {s_['failed']} failed, "
                  f"{s_['failedWorkUnits']} failed work units")
        print(f"function peak RSS: {result['peak_rss_mib']} MiB\nresult: {out_dir / 'result.json'}")
    finally:
        stop(watch, moto)


if __name__ == "__main__":
    main()
