"""Shared by the stubs: append one call (arguments and environment) to the sandbox's call log.

Also a command line, for the shell stubs: ``python3 _record.py <command> <args...>``.
"""

import json
import os
import sys


def record(command: str, args: list[str] | None = None) -> None:
    root = os.environ["ARC_STUB_ROOT"]
    with open(os.path.join(root, "calls.jsonl"), "a", encoding="utf-8") as log:
        # The environment too: tests prove no credential reaches a child process's environment.
        row = {"cmd": command, "args": sys.argv[1:] if args is None else args, "env": dict(os.environ)}
        log.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    record(sys.argv[1], sys.argv[2:])
