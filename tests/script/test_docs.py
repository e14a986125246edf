"""The user documentation holds together (issue #32, "Docs by task").

* Every relative link in README.md, docs/*.md and deploy/terraform/README.md resolves to a file of
  the repository, and every ``#anchor`` to a heading of the page it names, by GitHub's rules
  (lowercase; letters, digits, ``-`` and ``_`` kept, spaces to ``-``, other punctuation dropped; a
  repeated heading gets ``-1``, ``-2``).
* Every ``docs/<page>.md`` (``#<anchor>``) a string literal of the Rust sources (src/, functions/)
  names, in a reason or remedy a report shows, is a page of docs/ with that heading.
* The figures that may appear on more than one page (regions, limits, defaults, build times) say
  the same everywhere, and what the templates and the code hold: FACTS below, each with the
  patterns that find its mentions and the one value they must state. Each fact has one home page;
  a second mention is a link, or, where a sentence needs the figure, a copy this test holds equal.
  A drifted copy of any mention fails (``FactsCatchDrift`` proves it for every fact).

Run with the emulator's virtualenv (cfn-lint decodes the templates' short-form intrinsics).
"""

from __future__ import annotations

import re
import unicodedata
import unittest
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]


def user_docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "terraform" / "README.md"]


# ----------------------------------------------------------------------------------------- links

FENCE = re.compile(r"^ {0,3}(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
INLINE_CODE = re.compile(r"(`+)(?:(?!\n[ \t]*\n).)+?\1", re.DOTALL)
LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def without_fences(text: str) -> str:
    """The text with every fenced code block's lines emptied (line numbers kept)."""
    out, fence = [], None
    for line in text.split("\n"):
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
            out.append("")
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (github-slugger, on the rendered text)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link renders as its text
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"(\*+|(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9]))", "", text)  # emphasis markers
    kept = "".join(c for c in text.lower()
                   if c in " -" or unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in without_fences(path.read_text()).split("\n"):
        heading = HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", path.read_text()))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link and image outside code."""
    text = INLINE_CODE.sub(lambda m: "\n" * m.group(0).count("\n"), without_fences(path.read_text()))
    return [(text.count("\n", 0, m.start()) + 1, m.group(2)) for m in LINK.finditer(text)]


def broken_links(paths: list[Path], root: Path = ROOT) -> list[str]:
    problems, cache = [], {}
    for path in paths:
        for line, target in links(path):
            if SCHEME.match(target) or target.startswith("//"):
                continue
            where = f"{path.relative_to(root)}:{line}: {target}"
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                problems.append(f"{where}: no such file")
                continue
            if not resolved.is_relative_to(root):
                problems.append(f"{where}: outside the repository")
                continue
            if anchor:
                if resolved.is_dir() or resolved.suffix != ".md":
                    problems.append(f"{where}: an anchor into a file that is not Markdown")
                    continue
                if resolved not in cache:
                    cache[resolved] = anchors(resolved)
                if anchor not in cache[resolved]:
                    problems.append(f"{where}: no heading with that anchor in {resolved.relative_to(root)}")
    return problems


RUST_SKIP = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)  # comments (block comments unnested)
RUST_RAW = re.compile(r'(?<![A-Za-z0-9_])b?r(#*)"')
RUST_CHAR = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'")
DOC_REFERENCE = re.compile(r"(?<![\w/.-])docs/([A-Za-z0-9_.-]+\.md)(?:#([\w-]+))?")


def rust_strings(text: str) -> list[tuple[int, str]]:
    """(offset, contents) of every string literal of a Rust source, comments and char literals skipped."""
    out, i = [], 0
    while i < len(text):
        skipped = RUST_SKIP.match(text, i) if text.startswith(("//", "/*"), i) else None
        raw = RUST_RAW.match(text, i) if text[i] in "br" else None
        char = RUST_CHAR.match(text, i) if text[i] == "'" else None
        if skipped:
            i = skipped.end()
        elif raw:
            end = text.find('"' + raw.group(1), raw.end())
            end = len(text) if end < 0 else end
            out.append((i, text[raw.end():end]))
            i = end + 1 + len(raw.group(1))
        elif char:
            i = char.end()
        elif text[i] == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append((i, text[i + 1:j]))
            i = j + 1
        else:
            i += 1
    return out


def rust_sources(root: Path = ROOT) -> list[Path]:
    return sorted([*(root / "src").rglob("*.rs"), *(root / "functions").rglob("*.rs")])


def broken_doc_references(sources: list[Path], root: Path = ROOT) -> list[str]:
    """Every docs/<page>.md#<anchor> in a Rust string literal that names no page or no heading."""
    problems, cache = [], {}
    for source in sources:
        text = source.read_text()
        for offset, literal in rust_strings(text):
            for found in DOC_REFERENCE.finditer(literal):
                page, anchor = root / "docs" / found.group(1), found.group(2)
                where = f"{source.relative_to(root)}:{text.count(chr(10), 0, offset) + 1}: {found.group(0)}"
                if not page.is_file():
                    problems.append(f"{where}: no such page")
                    continue
                if page not in cache:
                    cache[page] = anchors(page)
                if anchor and anchor not in cache[page]:
                    problems.append(f"{where}: no heading with that anchor in docs/{found.group(1)}")
    return problems


class Links(unittest.TestCase):
    def test_every_relative_link_and_anchor_resolves(self) -> None:
        self.assertEqual(broken_links(user_docs()), [])

    def test_every_page_and_anchor_the_code_names_resolves(self) -> None:
        sources = rust_sources()
        self.assertTrue(sources)
        found = [r for s in sources for _, literal in rust_strings(s.read_text()) for r in DOC_REFERENCE.finditer(literal)]
        self.assertTrue(any(r.group(2) for r in found), "no string literal names docs/<page>.md#<anchor> any more")
        self.assertEqual(broken_doc_references(sources), [])

    def test_a_broken_reference_in_the_code_is_found(self) -> None:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp).resolve()
            (root / "docs").mkdir()
            (root / "docs" / "page.md").write_text("# Title\n\n## Part two\n")
            (root / "src").mkdir()
            (root / "src" / "lib.rs").write_text(
                "// docs/page.md#in-a-comment is not a literal\n"
                "/* nor docs/gone.md */\n"
                "const Q: char = '\"'; fn f<'a>(x: &'a str) {}\n"
                'const OK: &str = "see docs/page.md#part-two, docs/page.md and https://example.com/docs/x.md";\n'
                'const NO: &str = "docs/page.md#part-three";\n'
                'const RAW: &str = r#"a "quote", then docs/gone.md#title"#;\n'
                'const ESC: &str = "\\"docs/page.md#title\\" (docs/page.md#nope)";\n')
            problems = broken_doc_references(rust_sources(root), root)
        self.assertEqual(len(problems), 3, problems)
        self.assertIn("src/lib.rs:5: docs/page.md#part-three: no heading", problems[0])
        self.assertIn("src/lib.rs:6: docs/gone.md#title: no such page", problems[1])
        self.assertIn("src/lib.rs:7: docs/page.md#nope: no heading", problems[2])

    def test_the_slug_rules_are_githubs(self) -> None:
        for heading, anchor in [
            ("`force` moves only this connector's agents", "force-moves-only-this-connectors-agents"),
            ("The onboarding credential: choice, grants, threat model",
             "the-onboarding-credential-choice-grants-threat-model"),
            ("4. What stays in AWS", "4-what-stays-in-aws"),
            ("From 0.1.0 to 0.2.0", "from-010-to-020"),
            ("Work-queue records (all three)", "work-queue-records-all-three"),
            ("The member template's `ConnectorAccountId`", "the-member-templates-connectoraccountid"),
            ("snake_case names", "snake_case-names"),
            ("A / B", "a--b"),
        ]:
            with self.subTest(heading=heading):
                self.assertEqual(slug(heading), anchor)

    def test_a_broken_link_or_anchor_is_found(self) -> None:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp).resolve()
            page = root / "page.md"
            page.write_text("# Title\n\n## Part two\n\n[ok](#part-two) [no](#part-three) [gone](missing.md)\n"
                            "`[code](missing.md)` [self](page.md#title) [up](../x.md)\n\n"
                            "```\n[fenced](missing.md)\n```\n")
            problems = broken_links([page], root)
        self.assertEqual(len(problems), 3, problems)
        self.assertIn("#part-three: no heading", problems[0])
        self.assertIn("missing.md: no such file", problems[1])
        self.assertIn("../x.md: no such file", problems[2])


# ----------------------------------------------------------------------------------------- facts

TEMPLATE = decode(str(ROOT / "cfn" / "template.yaml"))[0]


def source(path: str, pattern: str) -> str:
    """The first group of ``pattern`` in a file of the repository (a value the code declares)."""
    found = re.search(pattern, (ROOT / path).read_text())
    if not found:
        raise AssertionError(f"{path} no longer matches {pattern!r}: update FACTS")
    return found.group(1)


def parameter_default(name: str) -> str:
    return str(TEMPLATE["Parameters"][name]["Default"])


def work_queue_concurrency() -> dict[str, int]:
    """Each function's work-queue event source mapping's ScalingConfig MaximumConcurrency."""
    out = {}
    for resource in TEMPLATE["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        name = resource["Properties"]["FunctionName"].removeprefix("mdc-connector-")
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS" and "ScalingConfig" in event["Properties"]:
                out[name] = int(event["Properties"]["ScalingConfig"]["MaximumConcurrency"])
    return out


def stack_set_name_limit() -> str:
    pattern = TEMPLATE["Parameters"]["StackSetName"]["AllowedPattern"]  # a first character, then {0,n}
    return str(int(re.fullmatch(r"\^\[[^\]]+\]\[[^\]]+\]\{0,(\d+)\}\$", pattern).group(1)) + 1)


def organizations_regions() -> list[str]:
    condition = TEMPLATE["Conditions"]["InOrganizationsHomeRegion"]["Fn::Or"]
    return sorted(c["Fn::Equals"][1] for c in condition)


def schedule_days(name: str) -> str:
    return re.fullmatch(r"rate\((\d+) days?\)", parameter_default(name)).group(1)


# Measured build times (minutes, 2 cores). No code holds them: the figure lives here and on the one
# page that states it (README.md for the first build of `scripts/demo`/`scripts/test`, docs/deploy.md
# "Build and package sizes" for the release builds); every other page links there.
FIRST_BUILD_MINUTES = "8"
COLD_RELEASE_BUILD_MINUTES = "16"
WARM_RELEASE_BUILD_MINUTES = "7"
# The oldest SAM CLI that deploys the templates (docs/deploy.md, "SAM CLI version", says why).
SAM_CLI_MINIMUM = "1.99.0"

REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"


@dataclass
class Fact:
    """A figure stated on several pages: every match of every pattern must capture ``value``.

    A pattern's groups are compared with ``value`` (a string, or a tuple for several groups; with
    ``unordered`` as a multiset). ``drift`` is a wrong value the self-test writes into a mention."""
    name: str
    value: Callable[[], str | tuple[str, ...]]
    patterns: list[str]
    unordered: bool = False
    drift: str | None = None
    expected: str | tuple[str, ...] = field(init=False, default="")


FACTS = [
    Fact("StackSetName's limit (the template's AllowedPattern)", stack_set_name_limit,
         [r"(?i)StackSet ?name\b[^|.]{0,160}?at most (\d+)"]),
    Fact("STACKSET_NAME's limit (src/discovery/settings.rs)",
         lambda: source("src/discovery/settings.rs", r"accepted: \"[^\"]*at most (\d+)\""),
         [r"`STACKSET_NAME`[^.]{0,200}?(?:at most|up to) (\d+)"]),
    Fact("work-queue MaximumConcurrency: profile-scan = arc-provisioner, then account-discovery",
         lambda: (str(work_queue_concurrency()["profile-scan"]), str(work_queue_concurrency()["account-discovery"]))
         if work_queue_concurrency()["profile-scan"] == work_queue_concurrency()["arc-provisioner"]
         else ("profile-scan and arc-provisioner differ", ""),
         [r"`MaximumConcurrency`: (\d+) for profile-scan and arc-provisioner, (\d+) for account-discovery"]),
    Fact("the three work queues' MaximumConcurrency", lambda: tuple(str(v) for v in work_queue_concurrency().values()),
         [r"work queues' (\d+) \+ (\d+) \+ (\d+)"], unordered=True),
    Fact("the largest work-queue MaximumConcurrency", lambda: str(max(work_queue_concurrency().values())),
         [r"from (\d+) \(the largest work-queue MaximumConcurrency\)", r"set `ReservedConcurrency` to N \(at least (\d+)\)"]),
    Fact("unreserved concurrency the preflight wants (queues + one per function)",
         lambda: str(sum(work_queue_concurrency().values()) + 3),
         [r"at least (\d+) unreserved"]),
    Fact("StackSetRegions' default", lambda: parameter_default("StackSetRegions"),
         [r"\| `StackSetRegions` \| [^|]* \| `([^`]*)` \|", r"`StackSetRegions` \(default `([^`]+)`\)"],
         drift="eu-west-1"),
    Fact("the opt-out tag's default key (OptOutTag)", lambda: parameter_default("OptOutTag"),
         [r"default key `([^`]+)`", r"\| `OptOutTag` \| [^|]* \| `([^`]*)` \|",
          r"\| `CONNECTOR_OPT_OUT_TAG` \|(?:[^|]*\|){4} `([^`]*)` \|"], drift="opt-out"),
    Fact("what an empty ConnectorRegions means", lambda: "StackSetRegions",
         [r"(?:ConnectorRegions|CONNECTOR_REGIONS)`?:? empty(?: \(the default\))?(?: now)? (?:=|means) `?(\w+(?: \w+)*?)`?(?=[,.;:)])"],
         drift="every enabled region"),
    Fact("Organizations' Regions (the template's InOrganizationsHomeRegion)", lambda: tuple(organizations_regions()),
         [rf"({REGION}), or ({REGION}) / ({REGION}) in those partitions",
          rf"({REGION}); ({REGION}) or ({REGION}) in those partitions",
          rf"({REGION}); ({REGION}) and ({REGION}) in those partitions"],
         unordered=True, drift="us-west-2"),
    Fact("PROFILE_SCAN_DELAY_SECONDS' default (src/discovery/settings.rs)",
         lambda: source("src/discovery/settings.rs", r"DEFAULT_PROFILE_SCAN_DELAY_SECONDS: i32 = (\d+);"),
         [r"`PROFILE_SCAN_DELAY_SECONDS` \((?:default )?(\d+)(?: s)?\)", r"(\d+) s later,? (?:for )?IAM propagation",
          r"\| `ProfileScanHandOffDelay` \| [^|]* \| `(\d+)` \|", r"\| `PROFILE_SCAN_DELAY_SECONDS` \|(?:[^|]*\|){4} `(\d+)` \|"]),
    Fact("ProfileScanHandOffDelay's default is the code's", lambda: parameter_default("ProfileScanHandOffDelay"),
         [r"\| `ProfileScanHandOffDelay` \| [^|]* \| `(\d+)` \|"]),
    Fact("ARC_SWEEP_GRACE_DAYS' default (src/arc/settings.rs)",
         lambda: source("src/arc/settings.rs", r"DEFAULT_SWEEP_GRACE_DAYS: u64 = (\d+);"),
         [r"grace period \((\d+) days\)", r"`ARC_SWEEP_GRACE_DAYS`, (\d+) by default", r"\(default (\d+); since its",
          r"instances that are gone \(after (\d+) days\)", r"\| `ArcSweepGraceDays` \| [^|]* \| `(\d+)` \|",
          r"\| `ARC_SWEEP_GRACE_DAYS` \|(?:[^|]*\|){4} `(\d+)`"]),
    Fact("the AWS identity token's life (src/arc/federation.rs)",
         lambda: source("src/arc/federation.rs", r"ASSERTION_SECONDS: i32 = (\d+);"),
         [r"(\d+) seconds, RS256", r"\((\d+) s, RS256\)", r"\((\d+) s, audience Entra\)"]),
    Fact("IAM propagation retries: delay and count (src/queue.rs)",
         lambda: (source("src/queue.rs", r"PROPAGATION_RETRY_DELAY_SECONDS: i32 = (\d+);"),
                  source("src/queue.rs", r"MAX_PROPAGATION_RETRIES: u32 = (\d+);")),
         [r"retried (\d+) s later, at most (\d+) times", r"goes back on it (\d+) s later \([^)]*\), at most (\d+) times"]),
    Fact("ARC_MAX_DELIVERIES' default (src/arc/settings.rs)",
         lambda: source("src/arc/settings.rs", r"DEFAULT_MAX_DELIVERIES: u32 = (\d+);"),
         [r"ARC_MAX_DELIVERIES`[^.]{0,80}?(\d+) by default", r"\| `ArcMaxDeliveries` \| [^|]* \| `(\d+)` \|",
          r"\| `ARC_MAX_DELIVERIES` \|(?:[^|]*\|){4} `(\d+)` \|"]),
    Fact("how fresh a coverage row must be (src/arc/coverage.rs)",
         lambda: source("src/arc/coverage.rs", r"FRESH_FOR_SECS: u64 = (\d+) \* 3600;"),
         [r"refreshed in the last (\d+) hours", r"less than (\d+) hours old"]),
    Fact("the profile scan's schedule (ProfileScanSchedule)", lambda: schedule_days("ProfileScanSchedule"),
         [r"(?<!last )\bevery (\d+) days", r"\((\d+) days by default\)", r"next (\d+)-day scan", r"instead of waiting (\d+) days"]),
    Fact("one invocation's time (the functions' Timeout)", lambda: str(int(TEMPLATE["Globals"]["Function"]["Timeout"]) // 60),
         [r"within one invocation \((\d+) minutes\)"]),
    Fact("instances per prepare command (src/arc/plan.rs)",
         lambda: source("src/arc/plan.rs", r"MAX_IDS_PER_COMMAND: usize = (\d+);"),
         [r"\((\d+) ids a call\)", r"one command per at most (\d+) instances", r"one `SendCommand` per at most (\d+) instances",
          r"takes at most (\d+) instance ids"]),
    Fact("resources a management-account Terraform apply creates (tests/deploy.rs)",
         lambda: source("tests/deploy.rs", r"assert_eq!\(applied\[\"resources\"\], (\d+),"),
         [r"all (\d+) resources are created", r"management account \((\d+) resources\)"]),
    Fact("the SAM CLI's minimum version", lambda: SAM_CLI_MINIMUM,
         [r"SAM CLI (\d+\.\d+\.\d+) or later", r"must say (\d+\.\d+\.\d+) or later"], drift="1.50.0"),
    Fact("the first build of scripts/demo and scripts/test", lambda: FIRST_BUILD_MINUTES,
         [r"first build takes about (\d+) minutes"]),
    Fact("a release build from a cold target", lambda: COLD_RELEASE_BUILD_MINUTES,
         [r"(\d+) minutes[^.]{0,40}?\bcold\b", r"\bcold\b[^.]{0,40}?(\d+) minutes"]),
    Fact("a release build on a warm target", lambda: WARM_RELEASE_BUILD_MINUTES,
         [r"\bwarm\b[^.]{0,60}?(\d+) minutes"]),
]


def normalized(path: Path) -> str:
    return re.sub(r"\s+", " ", path.read_text())


def mentions(fact: Fact, texts: dict[str, str]) -> list[tuple[str, re.Match]]:
    return [(name, m) for name, text in texts.items() for pattern in fact.patterns for m in re.finditer(pattern, text)]


def disagreements(fact: Fact, texts: dict[str, str]) -> list[str]:
    wanted = fact.value()
    wanted = wanted if isinstance(wanted, tuple) else (wanted,)
    out = []
    for name, match in mentions(fact, texts):
        said = match.groups()
        same = sorted(said) == sorted(wanted) if fact.unordered else said == wanted
        if not same:
            out.append(f"{name}: {match.group(0)!r} says {', '.join(said)}, not {', '.join(wanted)}")
    return out


def doc_texts() -> dict[str, str]:
    return {str(path.relative_to(ROOT)): normalized(path) for path in user_docs()}


class Facts(unittest.TestCase):
    def test_each_fact_is_stated_the_same_everywhere(self) -> None:
        texts = doc_texts()
        for fact in FACTS:
            with self.subTest(fact=fact.name):
                self.assertTrue(mentions(fact, texts), f"no page states {fact.name} any more: update FACTS")
                self.assertEqual(disagreements(fact, texts), [])


class FactsCatchDrift(unittest.TestCase):
    def test_a_drifted_copy_of_any_mention_fails(self) -> None:
        texts = doc_texts()
        for fact in FACTS:
            for name, match in mentions(fact, texts):
                with self.subTest(fact=fact.name, page=name, mention=match.group(0)[:80]):
                    said = match.group(1)
                    wrong = fact.drift or (str(int(said) + 1) if said.isdigit() else said + "x")
                    start, end = match.span(1)
                    drifted = dict(texts)
                    drifted[name] = texts[name][:start] + wrong + texts[name][end:]
                    self.assertTrue(disagreements(fact, drifted), f"{name}: {wrong!r} for {said!r} goes unnoticed")


if __name__ == "__main__":
    unittest.main()
