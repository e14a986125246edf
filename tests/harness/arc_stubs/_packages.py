"""Shared by the package-tool stubs (gpg, apt-get, dnf, yum, zypper, rpm).

Keys: the stub curl "downloads" a key file holding ``FPR:<fingerprint>`` (Microsoft's real one, or
another when ARC_STUB_BAD_KEY names the file); the stub gpg reports that fingerprint. Installing
``azcmagent`` copies the stub agent onto PATH, unless ARC_STUB_INSTALL_FAIL is set.
"""

import os
import shutil
import sys

PINNED = {
    "microsoft.asc": "BC528686B50D79E339D3721CEB3E94ADBE1229CF",
    "microsoft-2025.asc": "AA86F75E427A19DD33346403EE4D7792F748182B",
}


def key_text(name: str) -> str:
    """The key file: its primary key (``FPR:``), a subkey (``SUBFPR:``, as Microsoft's keys have),
    and with ARC_STUB_EXTRA_KEY naming the file, a second primary key smuggled in."""
    bad = os.environ.get("ARC_STUB_BAD_KEY") == name
    text = f"FPR:{'0' * 40 if bad else PINNED.get(name, '1' * 40)}\nSUBFPR:{'3' * 40}\n"
    if os.environ.get("ARC_STUB_EXTRA_KEY") == name:
        text += f"FPR:{'2' * 40}\n"
    return text


def install_agent() -> int:
    if os.environ.get("ARC_STUB_INSTALL_FAIL"):
        print("E: Unable to locate package azcmagent", file=sys.stderr)
        return 100
    target = os.path.join(os.environ["ARC_STUB_ROOT"], "bin", "azcmagent")
    shutil.copy(os.path.join(os.environ["ARC_STUB_DIR"], "fake-azcmagent"), target)
    os.chmod(target, 0o755)
    return 0
