"""The connector's version in every place, CHANGELOG.md, and scripts/release (never a real build).

Run with the emulator's virtualenv: ``.venv-moto/bin/python -m unittest discover -s tests/script -p
test_release.py`` (``scripts/test`` runs every file here). Proves:

- the version is set once (``Cargo.toml``'s ``[workspace.package]``, every package inheriting it)
  and every place that shows it carries the same one: the run report (``env!("CARGO_PKG_VERSION")``),
  each template's ``Description``, ``cfn/template.yaml``'s ``ConnectorVersion`` output, the
  Terraform module's ``connector_version``, the report example in docs/report.md;
- CHANGELOG.md is Keep a Changelog shaped (``## [Unreleased]`` first, then ``## [X.Y.Z] -
  YYYY-MM-DD`` newest first) and has a section for this version;
- ``scripts/release --dry-run`` prints every command and runs none (the build tools are stubs that
  would record a call, and no folder appears): the one arm64 build of the three packages into the
  folder, the release template whose functions' CodeUri are those packages (the printed ``sed`` is
  applied here to show it), the copies, the documents, the changelog section, ``sam package`` with
  ``--bucket``, and the checksums last;
- it refuses, before any command, a VERSION other than Cargo.toml's, a malformed one, a
  changelog or template without the version, an existing folder and (without ``--dry-run``) a
  dirty tree; a clean scratch checkout passes every check and its first command is the (stubbed)
  document check;
- shellcheck passes.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import tomllib
import unittest
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "release"
BASH = shutil.which("bash") or "/bin/bash"
SHELLCHECK = ROOT / ".venv-moto" / "bin" / "shellcheck"
FUNCTIONS = {"ProfileScanFunction": "profile-scan", "AccountDiscoveryFunction": "account-discovery",
             "ArcProvisionerFunction": "arc-provisioner"}
TEMPLATES = ["cfn/template.yaml", "cfn/onboarding.yaml", "cfn/member.yaml", "cfn/forward-organization-events.yaml"]
# What a release reads from a checkout (a scratch repository gets copies).
RELEASE_INPUTS = ["Cargo.toml", "CHANGELOG.md", "deploy/terraform/version.tf", "scripts/release", *TEMPLATES]
TOOLS = ["cargo", "cargo-lambda", "sam", "python3", "aws", "rustc", "rustup", "zig"]


def workspace_version() -> str:
    return tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]


VERSION = workspace_version()


def stub_tools(directory: Path, log: Path) -> dict[str, str]:
    """Stubs of every build and deploy tool, first on PATH: each records its call and fails."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        stub = directory / tool
        stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "{tool} $*" >>"{log}"\nexit 1\n')
        stub.chmod(0o755)
    env = dict(os.environ, PATH=f"{directory}{os.pathsep}{os.environ.get('PATH', '')}",
               CARGO_LAMBDA=str(directory / "cargo-lambda"), SAM=str(directory / "sam"))
    env.pop("CARGO_TARGET_DIR", None)
    return env


class TheVersionIsEverywhere(unittest.TestCase):
    def test_cargo_sets_it_once_and_every_package_inherits_it(self) -> None:
        self.assertRegex(VERSION, r"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$")
        root = tomllib.loads((ROOT / "Cargo.toml").read_text())
        members = root["workspace"]["members"]
        self.assertIn(".", members)
        for member in members:
            manifest = tomllib.loads((ROOT / member / "Cargo.toml").read_text())
            with self.subTest(member=member):
                self.assertEqual(manifest["package"]["version"], {"workspace": True})

    def test_the_run_report_carries_the_package_version(self) -> None:
        report = (ROOT / "src" / "report.rs").read_text()
        self.assertIn('pub const VERSION: &str = env!("CARGO_PKG_VERSION");', report)
        self.assertRegex(report, r"version: VERSION,")
        example = (ROOT / "docs" / "report.md").read_text()
        self.assertIn(f'"version":"{VERSION}"', example)

    def test_every_template_description_ends_with_the_version(self) -> None:
        for path in TEMPLATES:
            template, matches = decode(str(ROOT / path))
            with self.subTest(template=path):
                self.assertFalse(matches, matches)
                description = " ".join(template["Description"].split())
                self.assertTrue(description.endswith(f"(mdc-connector {VERSION})"), description[-80:])
                self.assertLessEqual(len(template["Description"].encode()), 1024)  # CloudFormation's limit

    def test_the_stack_and_the_terraform_module_output_it(self) -> None:
        template, _ = decode(str(ROOT / "cfn" / "template.yaml"))
        self.assertEqual(template["Outputs"]["ConnectorVersion"]["Value"], VERSION)
        module = (ROOT / "deploy" / "terraform" / "version.tf").read_text()
        self.assertEqual(re.findall(r'^\s*connector_version\s*=\s*"([^"]*)"', module, re.M), [VERSION])
        self.assertRegex(module, r'output "connector_version" \{[^}]*value\s*=\s*local\.connector_version')

    def test_the_changelog_has_this_version_newest_first(self) -> None:
        text = (ROOT / "CHANGELOG.md").read_text()
        self.assertIn("keepachangelog.com", text)
        headings = re.findall(r"^## (.*)$", text, re.M)
        self.assertEqual(headings[0], "[Unreleased]")
        versions = []
        for heading in headings[1:]:
            m = re.fullmatch(r"\[(\d+)\.(\d+)\.(\d+)\] - (\d{4}-\d{2}-\d{2})", heading)
            self.assertIsNotNone(m, f"not '[X.Y.Z] - YYYY-MM-DD': {heading}")
            datetime.date.fromisoformat(m.group(4))
            versions.append(tuple(int(m.group(i)) for i in (1, 2, 3)))
        self.assertEqual(versions, sorted(versions, reverse=True), "newest first")
        self.assertEqual(".".join(map(str, versions[0])), VERSION, "the newest section is Cargo.toml's version")
        section = text.split(f"## [{VERSION}]", 1)[1].split("\n## [", 1)[0]
        for category in re.findall(r"^### (.*)$", section, re.M):
            self.assertIn(category, {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"})


class ReleaseScript(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="release-test-"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.log = self.tmp / "calls.log"
        self.env = stub_tools(self.tmp / "bin", self.log)

    def release(self, *args: str, script: Path = SCRIPT, cwd: Path = ROOT) -> subprocess.CompletedProcess:
        return subprocess.run([BASH, str(script), *args], cwd=cwd, env=self.env, capture_output=True, text=True,
                              timeout=120)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def dry_run(self, *args: str) -> tuple[Path, list[list[str]]]:
        out = self.tmp / "out dir"
        result = self.release(VERSION, "--dry-run", "--out", str(out), *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls(), [], "a dry run runs no tool")
        self.assertFalse(out.exists(), "a dry run writes nothing")
        lines = result.stdout.splitlines()
        self.assertTrue(lines and all(line.startswith("+ ") for line in lines), result.stdout)
        return out / f"mdc-connector-{VERSION}", [shlex.split(line[2:]) for line in lines]

    @staticmethod
    def find(commands: list[list[str]], *words: str) -> list[list[str]]:
        return [c for c in commands if all(w in c for w in words)]

    def test_shellcheck(self) -> None:
        if not SHELLCHECK.exists():
            self.skipTest("shellcheck not installed (tests/harness/bootstrap.sh moto)")
        result = subprocess.run([str(SHELLCHECK), str(SCRIPT)], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_a_dry_run_prints_one_arm64_build_and_the_folder_and_runs_nothing(self) -> None:
        folder, commands = self.dry_run()
        [build] = self.find(commands, "lambda", "build")
        self.assertEqual(build[0], self.env["CARGO_LAMBDA"])
        for flag in ("--release", "--arm64", "--locked"):
            self.assertIn(flag, build)
        self.assertEqual(build[build.index("--output-format") + 1], "zip")
        self.assertEqual(build[build.index("--lambda-dir") + 1], str(folder / "functions"))
        packages = [build[i + 1] for i, w in enumerate(build) if w == "--package"]
        self.assertEqual(sorted(packages), sorted(FUNCTIONS.values()))
        self.assertEqual(self.find(commands, "package", "--s3-bucket"), [], "no sam package without --bucket")
        [check] = self.find(commands, "scripts/render_documents.py")
        self.assertEqual(check, ["python3", "scripts/render_documents.py", "--check"])
        self.assertLess(commands.index(check), commands.index(build), "the documents are checked before the build")
        # Copies into the folder: the templates, the scripts of the documents, the module, azure-setup.
        [templates] = self.find(commands, "cfn/member.yaml")
        self.assertEqual(templates[-1], f"{folder}/cfn/")
        self.assertIn("cfn/onboarding.yaml", templates)
        self.assertIn("cfn/forward-organization-events.yaml", templates)
        [module] = self.find(commands, f"{folder}/deploy/terraform/")
        self.assertEqual({Path(a).name for a in module if a.endswith(".tf")},
                         {p.name for p in (ROOT / "deploy" / "terraform").glob("*.tf")})
        self.assertIn("deploy/terraform/version.tf", module)
        self.assertTrue(self.find(commands, "scripts/azure-setup", f"{folder}/scripts/azure-setup"))
        for platform in ("Linux", "Windows"):
            [render] = self.find(commands, ">", f"{folder}/ssm/MdcConnector-ArcOnboard-{platform}.json")
            self.assertIn(f"arc-onboard-{platform.lower()}", render)
        [excerpt] = self.find(commands, ">", f"{folder}/CHANGELOG.md")
        self.assertIn(f"heading=## [{VERSION}]", excerpt)
        self.assertTrue(self.find(commands, ">", f"{folder}/VERSION"))
        [validate] = self.find(commands, "validate", "--lint")
        self.assertIn(f"{folder}/cfn/template.yaml", validate)
        self.assertIn("sha256sum", " ".join(commands[-1]), "the checksums come last")
        self.assertIn("SHA256SUMS", " ".join(commands[-1]))

    def test_the_printed_template_command_points_each_function_at_its_package(self) -> None:
        folder, commands = self.dry_run()
        [sed] = self.find(commands, "sed")
        self.assertEqual(sed[-2:], [">", f"{folder}/cfn/template.yaml"])
        self.assertEqual(sed[-3], "cfn/template.yaml")
        # Applied here to the real template (a text transformation, no build).
        written = self.tmp / "cfn" / "template.yaml"
        written.parent.mkdir()
        with written.open("w") as f:
            subprocess.run(sed[:-2], cwd=ROOT, stdout=f, check=True)
        template, matches = decode(str(written))
        self.assertFalse(matches, matches)
        self.assertNotIn("CodeUri", template["Globals"]["Function"])
        for resource, function in FUNCTIONS.items():
            with self.subTest(function=function):
                self.assertEqual(template["Resources"][resource]["Properties"]["CodeUri"],
                                 f"../functions/{function}/bootstrap.zip")
        original, _ = decode(str(ROOT / "cfn" / "template.yaml"))
        for resource in FUNCTIONS:
            del template["Resources"][resource]["Properties"]["CodeUri"]
        original["Globals"]["Function"].pop("CodeUri")
        self.assertEqual(template, original, "nothing else changes")

    def test_with_a_bucket_sam_packages_the_folder_before_the_checksums(self) -> None:
        folder, commands = self.dry_run("--bucket", "my-releases-us-east-1", "--region", "eu-west-1")
        [package] = self.find(commands, "package", "--s3-bucket")
        self.assertEqual(package[package.index("--s3-bucket") + 1], "my-releases-us-east-1")
        self.assertEqual(package[package.index("--s3-prefix") + 1], f"mdc-connector/{VERSION}")
        self.assertEqual(package[package.index("--region") + 1], "eu-west-1")
        self.assertEqual(package[package.index("--template-file") + 1], f"{folder}/cfn/template.yaml")
        self.assertEqual(package[package.index("--output-template-file") + 1], f"{folder}/packaged.yaml")
        self.assertEqual(commands.index(package), len(commands) - 2)

    def test_refusals_before_any_command(self) -> None:
        for args, message in [
            (["9.9.9"], f"is not Cargo.toml's workspace version ({VERSION})"),
            (["v" + VERSION], "must be a semantic version"),
            ([VERSION, "--bucket", "Not_A_Bucket"], "must be an S3 bucket name"),
            ([VERSION, "--region", "europe"], "must be a Region name"),
        ]:
            with self.subTest(args=args):
                result = self.release(*args, "--dry-run", "--out", str(self.tmp / "out"))
                self.assertEqual(result.returncode, 1, result.stderr)
                self.assertIn(message, result.stderr)
                self.assertEqual(result.stdout, "")
        result = self.release("--dry-run")
        self.assertEqual(result.returncode, 2)
        self.assertIn("usage: scripts/release VERSION", result.stderr)
        self.assertEqual(self.calls(), [])

    # ------------------------------------------------------------ a scratch checkout
    def scratch(self) -> Path:
        repo = self.tmp / "repo"
        for path in RELEASE_INPUTS:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, repo / path)
        git = ["git", "-c", "user.name=release test", "-c", "user.email=release@example.invalid",
               "-c", "commit.gpgsign=false"]
        subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
        subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-q", "-m", "scratch"], cwd=repo, check=True)
        return repo

    def commit_all(self, repo: Path) -> None:
        git = ["git", "-c", "user.name=release test", "-c", "user.email=release@example.invalid",
               "-c", "commit.gpgsign=false"]
        subprocess.run([*git, "commit", "-q", "-a", "-m", "change"], cwd=repo, check=True)

    def release_in(self, repo: Path, *args: str) -> subprocess.CompletedProcess:
        return self.release(VERSION, "--out", str(self.tmp / "dist"), *args, script=repo / "scripts" / "release",
                            cwd=repo)

    def test_a_clean_checkout_passes_the_checks_and_its_first_command_is_the_document_check(self) -> None:
        repo = self.scratch()
        result = self.release_in(repo)
        self.assertNotEqual(result.returncode, 0)  # the stubbed python3 fails
        self.assertEqual(self.calls(), ["python3 scripts/render_documents.py --check"], result.stderr)
        self.assertFalse((self.tmp / "dist").exists())

    def test_a_dirty_tree_is_refused_unless_dry_run(self) -> None:
        repo = self.scratch()
        (repo / "untracked.txt").write_text("x")
        result = self.release_in(repo)
        self.assertEqual(result.returncode, 1)
        self.assertIn("the tree is dirty", result.stderr)
        self.assertIn("untracked.txt", result.stderr)
        self.assertEqual(self.calls(), [])
        result = self.release_in(repo, "--dry-run")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("a release (without --dry-run) refuses it", result.stderr)
        self.assertEqual(self.calls(), [])

    def test_an_existing_folder_is_refused(self) -> None:
        repo = self.scratch()
        (self.tmp / "dist" / f"mdc-connector-{VERSION}").mkdir(parents=True)
        result = self.release_in(repo)
        self.assertEqual(result.returncode, 1)
        self.assertIn("a release is built once", result.stderr)
        self.assertEqual(self.calls(), [])

    def test_a_changelog_or_template_without_the_version_is_refused(self) -> None:
        for path, old, new, message in [
            ("CHANGELOG.md", f"## [{VERSION}]", "## [0.0.0]", f"CHANGELOG.md has no section '## [{VERSION}]"),
            ("cfn/member.yaml", f"(mdc-connector {VERSION})", "(mdc-connector 0.0.0)",
             f"cfn/member.yaml's Description does not end with (mdc-connector {VERSION})"),
            ("cfn/template.yaml", f'Value: "{VERSION}"', 'Value: "0.0.0"', "ConnectorVersion output"),
            ("deploy/terraform/version.tf", f'"{VERSION}"', '"0.0.0"', "connector_version"),
        ]:
            with self.subTest(path=path):
                repo = self.scratch()
                text = (repo / path).read_text()
                self.assertIn(old, text)
                (repo / path).write_text(text.replace(old, new))
                self.commit_all(repo)
                result = self.release_in(repo)
                self.assertEqual(result.returncode, 1, result.stderr)
                self.assertIn(message, result.stderr)
                self.assertEqual(self.calls(), [])
                shutil.rmtree(repo)


if __name__ == "__main__":
    unittest.main()
