"""Deploys (or plans) the Terraform module deploy/terraform against the emulator, as a user would
with `terraform init/plan/apply`, from the machine's provider mirror (nothing is downloaded).

    python deploy_like_terraform.py --endpoint http://127.0.0.1:5055 --mode apply \
        --set 'organization_id = "o-abc"' --set 'stack_set_regions = "us-east-1,eu-west-1"'

A root module is written in a scratch copy of the repository's deploy/ and cfn/ (the module reads
../../cfn/member.yaml): the AWS provider pointed at the emulator, and a `module` block with the
required arguments (placeholder Azure target, placeholder packages: the emulator never runs them)
plus every `--set` line, which wins over a default. The bucket the module uploads the member
template to is created first. Prints one JSON line: {"status": "applied"|"planned"|"refused"|
"skipped", "resources": N, "reason": ...}; exits 1 when Terraform fails otherwise (its output on
stderr). "skipped": no `terraform` on PATH or no hashicorp/aws provider in the mirror
(TF_PROVIDER_MIRROR, default /opt/tf-plugins); "refused": a precondition (a template Rule) failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["sts", "iam", "s3", "sqs", "sns", "lambda", "events", "logs", "cloudwatch", "kms", "cloudformation", "dynamodb"]
BUCKET = "deploy-artifacts"
REQUIRED = {
    "organization_id": '"o-exampleorgid1"',
    "stack_set_regions": '"us-east-1"',
    "arc_tenant_id": '"11111111-2222-3333-4444-555555555555"',
    "arc_subscription_id": '"aaaaaaaa-2222-3333-4444-555555555555"',
    "arc_resource_group": '"rg-arc"',
    "arc_location": '"westeurope"',
    "arc_connector_id": '"mdc-connector-1"',
    "arc_service_principal_id": '"bbbbbbbb-2222-3333-4444-555555555555"',
    "template_bucket": f'"{BUCKET}"',
    # The emulator cannot run the functions (moto invokes Lambda in docker, and the packages here
    # are placeholders): the module's preflight invocations are left out.
    "preflight_after_apply": "false",
}
FUNCTIONS = ["profile-scan", "account-discovery", "arc-provisioner"]


def mirror() -> Path | None:
    """The provider mirror, when Terraform and the AWS provider are both installed."""
    path = Path(os.environ.get("TF_PROVIDER_MIRROR", "/opt/tf-plugins"))
    if shutil.which("terraform") is None or not (path / "registry.terraform.io/hashicorp/aws").is_dir():
        return None
    return path


def root_module(endpoint: str, package_dir: Path, settings: dict[str, str]) -> str:
    """The root module: the provider on the emulator and the connector module with `settings`."""
    endpoints = "\n".join(f"    {s} = \"{endpoint}\"" for s in SERVICES)
    arguments = "\n".join(f"  {k} = {v}" for k, v in settings.items())
    return f'''provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {{
{endpoints}
  }}
}}

module "connector" {{
  source      = "../deploy/terraform"
  package_dir = "{package_dir}"
{arguments}
}}
'''


def prepare(work: Path, endpoint: str, settings: dict[str, str], provider_mirror: Path) -> dict[str, str]:
    """The scratch copy, packages, CLI configuration and bucket; the environment Terraform runs in."""
    shutil.copytree(ROOT / "deploy", work / "deploy", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    shutil.copytree(ROOT / "cfn", work / "cfn")
    for name in FUNCTIONS:
        folder = work / "pkg" / name
        folder.mkdir(parents=True)
        with zipfile.ZipFile(folder / "bootstrap.zip", "w") as archive:
            archive.writestr("bootstrap", "placeholder: the emulator never runs it")
    (work / "root").mkdir()
    (work / "root" / "main.tf").write_text(root_module(endpoint, work / "pkg", settings))
    (work / "cli.tfrc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path    = "{provider_mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\ndisable_checkpoint = true\n')
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(work / "cli.tfrc"), "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1"}


def terraform(env: dict[str, str], work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["terraform", f"-chdir={work / 'root'}", *args, "-no-color", "-input=false"],
                          env=env, capture_output=True, text=True)


def run(endpoint: str, mode: str, settings: dict[str, str]) -> dict[str, object]:
    provider_mirror = mirror()
    if provider_mirror is None:
        return {"status": "skipped", "reason": "no terraform on PATH or no hashicorp/aws provider mirror"}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        env = prepare(work, endpoint, settings, provider_mirror)
        steps = [("init",), ("plan", "-lock=false")] if mode == "plan" else [("init",), ("apply", "-auto-approve")]
        for step in steps:
            done = terraform(env, work, *step)
            if done.returncode == 0:
                continue
            if "Resource precondition failed" in done.stderr:
                # The error block ends with the precondition's error_message.
                block = done.stderr.split("Resource precondition failed", 1)[1].split("\nError:", 1)[0]
                paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", block) if p.strip()]
                return {"status": "refused", "reason": paragraphs[-1] if paragraphs else "a precondition failed"}
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(1)
        counted = re.search(r"(Plan|Resources): (\d+) (to add|added)", done.stdout)
        return {"status": "planned" if mode == "plan" else "applied",
                "resources": int(counted.group(2)) if counted else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--mode", choices=["plan", "apply"], default="apply")
    parser.add_argument("--set", action="append", default=[], metavar="'name = value'",
                        help="a module argument as an HCL line (repeatable)")
    args = parser.parse_args()
    settings = dict(REQUIRED)
    for line in args.set:
        name, _, value = line.partition("=")
        settings[name.strip()] = value.strip()
    print(json.dumps(run(args.endpoint, args.mode, settings)))


if __name__ == "__main__":
    main()
