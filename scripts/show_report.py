"""Prints a run report (JSON on stdin or in a file) as a table a person reads at a glance."""

from __future__ import annotations

import argparse
import json
import sys

COLOURS = {"done": "32", "planned": "36", "skipped": "90", "failed": "31"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("report", nargs="?", help="report file (default: stdin)")
    p.add_argument("--title", default="")
    p.add_argument("--wide", action="store_true", help="do not shorten reasons")
    p.add_argument("--all", action="store_true", help="list skipped items too")
    a = p.parse_args()
    report = json.load(open(a.report) if a.report else sys.stdin)
    colour = sys.stdout.isatty()
    s = report["summary"]
    head = f"{a.title or report['job']}  (dry run)" if report["dryRun"] else (a.title or report["job"])
    print(f"\n== {head}")
    print(f"   {s['workUnits']} work units ({s['failedWorkUnits']} failed) | {s['items']} items: "
          f"{s['done']} done, {s['planned']} planned, {s['skipped']} skipped, {s['failed']} failed\n")
    units: dict[tuple[str, str], dict[str, int]] = {}
    for i in report["items"]:
        counts = units.setdefault((i["accountId"], i["region"]), {k: 0 for k in COLOURS})
        counts[i["status"]] = counts.get(i["status"], 0) + 1
    print("   ACCOUNT       REGION           done  planned  skipped  failed")
    for (account, region), c in sorted(units.items()):
        print(f"   {account:<13} {region:<15} {c['done']:>5} {c['planned']:>8} {c['skipped']:>8} {c['failed']:>7}")
    print()
    outcomes: dict[str, int] = {}
    for i in report["items"]:
        if i.get("outcome"):
            outcomes[i["outcome"]] = outcomes.get(i["outcome"], 0) + 1
    if outcomes:
        print("   outcomes: " + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) + "\n")
    rows = [("ACCOUNT", "REGION", "RESOURCE", "ACTION", "STATUS", "REASON")]
    shown = [i for i in report["items"] if a.all or i["status"] != "skipped"]
    if not shown:
        print("   nothing changed, planned or failed (--all lists every item)")
        return
    for i in shown:
        reason = i["reason"]
        if not a.wide and len(reason) > 100:
            reason = reason[:97] + "..."
        resource = i["resourceId"]
        if resource.startswith("arn:"):
            resource = resource.split(":", 5)[-1]
        status = f"{i['status']}/{i['outcome']}" if i.get("outcome") else i["status"]
        rows.append((i["accountId"], i["region"], resource, i["action"], status, reason))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    for n, r in enumerate(rows):
        cells = [r[c].ljust(widths[c]) for c in range(5)]
        if colour and n > 0:
            cells[4] = f"\033[{COLOURS.get(r[4].split('/')[0], '0')}m{cells[4]}\033[0m"
        print("   " + "  ".join(cells + [r[5]]))


if __name__ == "__main__":
    main()
