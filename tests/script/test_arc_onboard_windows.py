"""The Windows onboarding script (cfn/ssm/arc-onboard.ps1): sealed onboarding, checked structurally.

Windows PowerShell cannot be installed here, so the script's text is checked: it reads ``phase``
and ``sealedCredential`` like every other parameter; prepare makes an RSA key with .NET
(RSACng), keeps the private key DPAPI-protected for SYSTEM and reports only the public key;
connect opens the sealed credential (RSA-OAEP-SHA256, then AES-256-CBC with OpenSSL's
EVP_BytesToKey), deleting the key as it reads it; AWS Tools for PowerShell are gone; the first step
checks each instance prerequisite with its own reason; the result line carries ``publicKey``. The key derivation the script documents and implements is checked
against the ``openssl`` CLI (the format the connector seals with), and a sample sealed with the
CLI is opened step by step as the script opens it.

Run: ``python3 -m unittest tests/script/test_arc_onboard_windows.py`` (stdlib only).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "cfn" / "ssm" / "arc-onboard.ps1").read_text()
LINES = TEXT.splitlines()
# The script without its comment lines (what the SSM document carries).
CODE = "\n".join(line for line in LINES if not line.lstrip().startswith("#"))
COMMENTS = "\n".join(line for line in LINES if line.lstrip().startswith("#"))
PARAMETERS = json.loads((ROOT / "cfn" / "ssm" / "parameters.json").read_text())
OPENSSL = shutil.which("openssl")


def function_body(name: str) -> str:
    """The text of a top-level function: from its `function` line to the next line that is `}`."""
    start = CODE.index(f"function {name}")
    end = CODE.index("\n}\n", start)
    return CODE[start:end]


def script_sealed_pattern() -> str:
    match = re.search(r"^\$SealedPattern = '([^']*)'$", CODE, re.M)
    assert match, "the script names its sealedCredential pattern in $SealedPattern"
    return match.group(1)


def as_powershell_matches(pattern: str, value: str) -> bool:
    """The script's check: '\\A' + pattern.TrimStart('^').TrimEnd('$') + '\\z' with -cmatch."""
    return re.fullmatch(pattern.lstrip("^").rstrip("$"), value) is not None


class Parameters(unittest.TestCase):
    def test_phase_and_sealed_credential_are_read_like_every_parameter(self) -> None:
        for name, variable in (("phase", "Phase"), ("sealedCredential", "SealedCredential")):
            line = f"${variable} = if ($null -ne $env:SSM_{name}) {{ $env:SSM_{name} }} else {{ @'"
            i = LINES.index(line)
            self.assertEqual(LINES[i + 1], f"{{{{ {name} }}}}")
            self.assertEqual(LINES[i + 2], "'@ }")

    def test_every_document_parameter_and_no_other_is_read(self) -> None:
        read = set(re.findall(r"\$env:SSM_(\w+)\) \{", CODE))
        self.assertEqual(read, set(PARAMETERS))

    def test_phase_is_checked_against_the_document(self) -> None:
        self.assertEqual(PARAMETERS["phase"]["allowedValues"], ["prepare", "connect"])
        self.assertIn("@('phase', $Phase, '^(prepare|connect)$'),", CODE)
        # Checked before sealedCredential, whose pattern depends on it.
        self.assertLess(CODE.index("@('phase', $Phase"), CODE.index("@('sealedCredential', $SealedCredential"))

    def test_sealed_credential_pattern_is_the_documents(self) -> None:
        allowed = PARAMETERS["sealedCredential"]["allowedPattern"]
        match = re.fullmatch(r"\^\((.*)\)\?\$", allowed)
        self.assertIsNotNone(match, allowed)
        ours = script_sealed_pattern()
        # The script's pattern has groups (key id, wrapped key, body); nothing else differs.
        self.assertEqual(ours.replace("(", "").replace(")", ""), "^" + match.group(1) + "$")
        self.assertEqual(re.compile(ours).groups, 3)
        # connect: that pattern; prepare: nothing at all.
        self.assertIn("$SealedCheck = if ($Phase -ceq 'connect') { $SealedPattern } else { '^$' }", CODE)
        self.assertIn("@('sealedCredential', $SealedCredential, $SealedCheck),", CODE)

    def test_key_file_is_named_by_the_checked_key_id(self) -> None:
        checked = CODE.index("foreach ($check in $Checks)")
        named = CODE.index("$KeyFile = Join-Path $KeyDir ($SealedKeyId + '.key')")
        self.assertLess(checked, named)
        self.assertIn("$SealedKeyId = $SealedCredential.Split('.')[1]", CODE)

    def test_no_aws_tools_and_no_credential_parameter(self) -> None:
        for gone in ("Get-SSMParameter", "Read-SSMParameter", "credentialParameter", "CredentialParameter",
                     "AWSPowerShell", "AWS.Tools", "Import-Module"):
            self.assertNotIn(gone, TEXT)
        # The region was only needed for the parameter read.
        self.assertNotIn("AWS_SSM_REGION_NAME", CODE)


class Prepare(unittest.TestCase):
    def test_makes_an_rsa_2048_key_with_exponent_65537(self) -> None:
        body = function_body("New-SealingKey")
        self.assertIn("New-Object System.Security.Cryptography.RSACng(2048)", body)
        self.assertIn("$public = $rsa.ExportParameters($false)", body)
        self.assertIn("$public.Modulus.Length -ne 256", body)
        self.assertIn("[System.BitConverter]::ToString($public.Exponent) -cne '01-00-01'", body)
        self.assertIn("'\\A[0-9a-f]{512}\\z'", body)

    def test_key_id_is_the_sha256_of_the_modulus_hex(self) -> None:
        self.assertIn("[System.BitConverter]::ToString($Bytes).Replace('-', '').ToLowerInvariant()", function_body("ConvertTo-Hex"))
        self.assertIn("New-Object System.Security.Cryptography.SHA256CryptoServiceProvider", function_body("Get-Sha256Hex"))
        self.assertIn("(Get-Sha256Hex ([System.Text.Encoding]::ASCII.GetBytes($ModulusHex))).Substring(0, 16)",
                      function_body("Get-KeyId"))
        self.assertIn("$keyId = Get-KeyId $modulus", function_body("New-SealingKey"))

    def test_private_key_is_dpapi_protected_for_system_in_the_keys_directory(self) -> None:
        body = function_body("New-SealingKey")
        self.assertIn("$rsa.ToXmlString($true)", body)
        self.assertIn("Add-Type -AssemblyName System.Security", body)
        self.assertIn("[System.Security.Cryptography.ProtectedData]::Protect($keyXml, $null, "
                      "[System.Security.Cryptography.DataProtectionScope]::CurrentUser)", body)
        self.assertIn("[System.IO.File]::WriteAllBytes((Join-Path $KeyDir ($keyId + '.key')), $protected)", body)
        self.assertNotIn("LocalMachine", CODE)
        # The private key's bytes are zeroed and the key object disposed on every path.
        self.assertRegex(body, r"finally \{\n\s*if \(\$null -ne \$keyXml\) \{ \[Array\]::Clear\(\$keyXml, 0, \$keyXml.Length\) \}")
        self.assertIn("$rsa.Dispose()", body)

    def test_keys_directory_is_protected_checked_and_swept(self) -> None:
        self.assertIn("$KeyDir = Join-Path $LogDir 'keys'", CODE)
        self.assertIn("Protect-Directory $WorkDir\n$WorkDirReady = $true\nProtect-Directory $LogDir\nProtect-Directory $KeyDir\n", CODE)
        # Not a link elsewhere, owned by SYSTEM or Administrators.
        self.assertIn("foreach ($directory in @($LogDir, $KeyDir))", CODE)
        self.assertIn("[System.IO.FileAttributes]::ReparsePoint", CODE)
        self.assertIn("@('S-1-5-18', 'S-1-5-32-544') -notcontains $directoryOwner", CODE)
        # Keys older than an hour go, before the agent is looked at.
        sweep = CODE.index("Get-ChildItem -LiteralPath $KeyDir -Filter '*.key'")
        self.assertIn("$expired = [DateTime]::UtcNow.AddMinutes(-60)", CODE)
        self.assertLess(sweep, CODE.index("(& $Agent show"))

    def test_reports_key_ready_with_the_public_key_and_ends(self) -> None:
        body = function_body("New-SealingKey")
        self.assertTrue(body.rstrip().endswith("Write-Result 'key-ready' 'key-ready' $keyId $modulus"), body[-200:])
        self.assertIn("Write-Result 'failed' 'sealing-key-failed' $stage", body)
        # Only Read-Credential makes a key, and only in prepare.
        self.assertEqual(CODE.count("New-SealingKey"), 2, "the function and one call")
        self.assertIn("if ($Phase -ceq 'prepare') { New-SealingKey }", function_body("Read-Credential"))

    def test_credential_comes_before_anything_is_changed(self) -> None:
        # Each disconnect is preceded, within its branch, by Read-Credential (prepare stops there).
        for match in re.finditer(r"Invoke-Agent @\('disconnect', '--force-local-only'\)", CODE):
            before = CODE[: match.start()]
            last_read = before.rindex("Read-Credential")
            last_branch = max(before.rindex("if ($shown -and $shown.status -eq 'Connected')"),
                              before.rindex("} elseif ($shown") if "} elseif ($shown" in before else -1)
            self.assertGreater(last_read, last_branch, CODE[match.start() - 300: match.end()])
        # And before the installer is fetched or run, or the agent configured.
        main_read = CODE.index("\nRead-Credential\n")
        for change in ("Invoke-WebRequest @download", "Start-Process msiexec.exe", "'config', 'set', 'proxy.url'",
                       "$connected = (Invoke-Agent $connect)"):
            self.assertLess(main_read, CODE.index(change), change)


class Directories(unittest.TestCase):
    """Review F9: %ProgramData% lets any user create a folder, and its creator owns it (and may
    always rewrite its ACL). The script creates its directories owned by SYSTEM with a protected
    ACL in one call, and refuses one someone else made first, or a link, before changing it."""

    def test_a_new_directory_is_created_with_its_owner_and_protected_acl_at_once(self) -> None:
        body = function_body("Protect-Directory")
        steps = [
            "$system = New-Object System.Security.Principal.SecurityIdentifier('S-1-5-18')",
            "$acl = New-Object System.Security.AccessControl.DirectorySecurity",
            "$acl.SetOwner($system)",
            "$acl.SetAccessRuleProtection($true, $false)",
            "foreach ($sid in @('S-1-5-18', 'S-1-5-32-544'))",
            "'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow'",
            "if (-not (Test-Path -LiteralPath $Path)) {",
            "$null = [System.IO.Directory]::CreateDirectory($Path, $acl)",
        ]
        positions = [body.index(step) for step in steps]
        self.assertEqual(positions, sorted(positions))
        # Never created first and protected afterwards (New-Item reuses an existing directory and
        # creates a new one with the inherited ACL).
        self.assertNotIn("New-Item", body)
        self.assertNotIn("-Path $Path", body.replace("-LiteralPath $Path", ""))

    def test_another_owner_or_a_link_is_refused_before_anything_is_changed(self) -> None:
        body = function_body("Protect-Directory")
        created = body.index("[System.IO.Directory]::CreateDirectory($Path, $acl)")
        checked = body.index("$existingOwner = (Get-Acl -LiteralPath $Path).GetOwner([System.Security.Principal.SecurityIdentifier]).Value")
        refused = body.index("Write-Result 'failed' 'unsafe-directory' $Path")
        changed = body.index("Set-Acl -LiteralPath $Path -AclObject $acl")
        # After the creation too: CreateDirectory returns a directory someone made in between as it is.
        self.assertLess(created, checked)
        self.assertLess(checked, refused)
        self.assertLess(refused, changed)
        self.assertEqual(body.count("Set-Acl"), 1)
        self.assertIn("($existing.Attributes -band [System.IO.FileAttributes]::ReparsePoint) -or "
                      "@('S-1-5-18', 'S-1-5-32-544') -notcontains $existingOwner", body)
        # The refusal is a reason arc-provisioner names, with what to do.
        outcome = (ROOT / "src" / "arc" / "outcome.rs").read_text()
        self.assertIn('"unsafe-directory" =>', outcome)

    def test_every_directory_goes_through_it_and_none_is_made_otherwise(self) -> None:
        calls = [m.group(1) for m in re.finditer(r"^Protect-Directory (\$\w+)$", CODE, re.M)]
        self.assertEqual(calls, ["$WorkDir", "$LogDir", "$KeyDir"])
        self.assertNotIn("New-Item", CODE)
        self.assertEqual(CODE.count("CreateDirectory("), 1)

    def test_a_refused_work_directory_is_never_emptied(self) -> None:
        # Windows PowerShell's recursive Remove-Item follows links: only a directory this run made
        # its own is removed.
        body = function_body("Remove-WorkDir")
        self.assertIn("if ($WorkDirReady -and (Test-Path -LiteralPath $WorkDir)) { Remove-Item -LiteralPath $WorkDir -Recurse", body)
        self.assertIn("$WorkDirReady = $false\n", CODE)
        self.assertLess(CODE.index("$WorkDirReady = $false\n"), CODE.index("function Write-Result"))
        self.assertEqual(CODE.count("$WorkDirReady = $true"), 1)


class Connect(unittest.TestCase):
    def test_missing_key_is_named(self) -> None:
        body = function_body("Open-SealedCredential")
        self.assertTrue(body.splitlines()[1].strip().startswith("if (-not (Test-Path -LiteralPath $KeyFile -PathType Leaf))"))
        self.assertIn("Write-Result 'failed' 'sealing-key-missing' $SealedKeyId", body)

    def test_key_is_read_once_and_deleted_before_use(self) -> None:
        body = function_body("Open-SealedCredential")
        read = body.index("[System.IO.File]::ReadAllBytes($KeyFile)")
        deleted = body.index("[System.IO.File]::Delete($KeyFile)")
        unprotected = body.index("ProtectedData]::Unprotect(")
        self.assertLess(read, deleted)
        self.assertLess(deleted, unprotected)
        # Also on every exit: the function's finally, and Remove-WorkDir (Write-Result, the script's finally).
        self.assertRegex(body, r"finally \{(.*\n)*\s*if \(Test-Path -LiteralPath \$KeyFile\) \{ Remove-Item -LiteralPath \$KeyFile")
        self.assertIn("if ($KeyFile -and (Test-Path -LiteralPath $KeyFile)) { Remove-Item -LiteralPath $KeyFile",
                      function_body("Remove-WorkDir"))
        self.assertIn("Remove-WorkDir", function_body("Write-Result"))

    def test_opens_with_the_documented_dotnet_types(self) -> None:
        body = function_body("Open-SealedCredential")
        for expected in (
            "[System.Security.Cryptography.ProtectedData]::Unprotect($protected, $null, [System.Security.Cryptography.DataProtectionScope]::CurrentUser)",
            "$rsa = New-Object System.Security.Cryptography.RSACng\n",
            "$rsa.FromXmlString([System.Text.Encoding]::ASCII.GetString($keyXml))",
            "$rsa.Decrypt([System.Convert]::FromBase64String($parts[2]), [System.Security.Cryptography.RSAEncryptionPadding]::OaepSHA256)",
            "'\\A[0-9a-f]{160}\\z'",
            "if ((Get-Binding) -cne [System.Text.Encoding]::ASCII.GetString($unwrapped, 128, 32)) { throw 'binding' }",
            "$body = [System.Convert]::FromBase64String($parts[3])",
            "[System.Text.Encoding]::ASCII.GetString($body, 0, 8) -cne 'Salted__'",
            "New-Object System.Security.Cryptography.AesCryptoServiceProvider",
            "$aes.Mode = [System.Security.Cryptography.CipherMode]::CBC",
            "$aes.Padding = [System.Security.Cryptography.PaddingMode]::PKCS7",
            "$aes.KeySize = 256",
            "$plain = $decryptor.TransformFinalBlock($body, 16, $body.Length - 16)",
            "if ((Get-Sha256Hex $plain) -cne $digest) { throw 'digest' }",
        ):
            self.assertIn(expected, body)
        # The key file must hold the key it is named for.
        self.assertIn("(Get-KeyId (ConvertTo-Hex ($rsa.ExportParameters($false).Modulus))) -cne $SealedKeyId", body)

    def test_evp_bytes_to_key_as_documented(self) -> None:
        body = function_body("Open-SealedCredential")
        # [D1 (32)][pass (64)][salt (8)]: D1 = SHA-256(pass || salt); D2 = SHA-256(D1 || pass || salt).
        steps = [
            "$material = New-Object byte[] 104",
            "[Array]::Copy($unwrapped, 0, $material, 32, 64)",
            "[Array]::Copy($body, 8, $material, 96, 8)",
            "$d1 = $sha.ComputeHash($material, 32, 72)",
            "[Array]::Copy($d1, 0, $material, 0, 32)",
            "$d2 = $sha.ComputeHash($material)",
            "[Array]::Copy($d2, 0, $iv, 0, 16)",
            "$aes.Key = $d1",
            "$aes.IV = $iv",
        ]
        positions = [body.index(step) for step in steps]
        self.assertEqual(positions, sorted(positions))
        self.assertIn("$digest = [System.Text.Encoding]::ASCII.GetString($unwrapped, 64, 64)", body)

    def test_any_failure_is_unsealable_with_only_the_key_id(self) -> None:
        body = function_body("Open-SealedCredential")
        self.assertIn("} catch {\n        $opened = $null\n    }", body)
        self.assertIn("if ($null -eq $opened) { Write-Result 'failed' 'credential-unsealable' $SealedKeyId }", body)
        # Secrets' byte arrays are zeroed, the crypto objects disposed.
        self.assertIn("foreach ($secret in @($keyXml, $unwrapped, $material, $d1, $d2, $iv, $plain))", body)
        self.assertIn("[Array]::Clear($secret, 0, $secret.Length)", body)
        for disposed in ("$decryptor", "$aes", "$sha", "$rsa"):
            self.assertIn(f"if ($null -ne {disposed}) {{ {disposed}.Dispose() }}", body)

    def test_opened_credential_is_checked_and_written_as_before(self) -> None:
        body = function_body("Read-Credential")
        self.assertIn("$script:credential = [string](Open-SealedCredential)", body)
        self.assertIn("'\\A[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\z'", body)
        self.assertIn("'\\A[A-Za-z0-9._~-]{1,256}\\z'", body)
        self.assertIn("Write-Result 'failed' 'credential-unsealable' \"not a $CredentialType\"", body)
        self.assertIn("[System.IO.File]::WriteAllText($config, ", body)
        # The credential never reaches the output.
        for line in CODE.splitlines():
            if re.search(r"Write-(Output|Host|Verbose|Information)|Write-Result", line):
                self.assertNotIn("$credential", line)
                self.assertNotIn("$opened", line.replace("if ($null -eq $opened)", ""))


class ResultLine(unittest.TestCase):
    def test_public_key_is_the_last_field_always(self) -> None:
        body = function_body("Write-Result")
        self.assertIn("function Write-Result([string]$Status, [string]$Reason, [string]$Detail = '', [string]$PublicKey = '')", body)
        line = re.search(r"\$line = \[ordered\]@\{(.*)\}", body)
        self.assertIsNotNone(line)
        keys = re.findall(r"(\w+) = \$", line.group(1))
        self.assertEqual(keys, ["status", "reason", "detail", "instanceId", "correlationId", "publicKey"])
        self.assertIn("publicKey = $PublicKey", body)
        self.assertIn("# status: connected | already-connected | connected-elsewhere | key-ready (prepare) | failed", COMMENTS)


class Compatibility(unittest.TestCase):
    def test_windows_powershell_5_1_syntax_only(self) -> None:
        self.assertNotIn("::new(", CODE)
        self.assertNotIn("??", CODE)
        self.assertNotIn("?.", CODE.replace("'", " "))  # no null-conditional member access
        self.assertNotRegex(CODE, r"\s\?\s[^\n]*\s:\s", "no ternary operator")
        self.assertNotRegex(CODE, r"\)\s*(&&|\|\|)\s*", "no pipeline chain operators")

    def test_comments_cite_the_dotnet_types_and_the_two_phases(self) -> None:
        for cited in ("System.Security.Cryptography.RSACng", "System.Security.Cryptography.ProtectedData",
                      "System.Security.Cryptography.RSAEncryptionPadding OaepSHA256",
                      "System.Security.Cryptography.AesCryptoServiceProvider",
                      "System.Security.Cryptography.SHA256CryptoServiceProvider", "EVP_BytesToKey",
                      "prepare:", "connect:", "publicKey:"):
            self.assertIn(cited, COMMENTS)


class Prerequisites(unittest.TestCase):
    """Issue #32 item 4, checked in the text (no PowerShell here): Test-Prerequisites, the script's
    first step, checks each prerequisite the script relies on (docs/arc-provisioner.md#instance-prerequisites),
    each failing with its own stable reason ``prerequisite-missing:<name>`` and a detail saying how
    to fix it, before anything is downloaded, written or changed."""

    # Each reason and the condition that raises it, on one line: if (<condition>) { Write-Result ... }.
    CHECKS = {
        "system-account": "[System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value -ne 'S-1-5-18'",
        "powershell": "$PSVersionTable.PSVersion -lt [Version]'5.1'",
        "dotnet-framework": "$release -lt 394802",
        "tls12": "-not $tls12",
        "supported-os": "[Environment]::OSVersion.Version -lt [Version]'6.2'",
        "msiexec": "-not (Get-Command msiexec.exe -CommandType Application -ErrorAction SilentlyContinue)",
        "outbound-https": "-not (Test-Reachable $url)",
    }
    # Only needed to install the agent.
    BEFORE_AN_INSTALL = ("supported-os", "msiexec", "outbound-https")

    def line(self, name: str) -> str:
        body = function_body("Test-Prerequisites")
        lines = [l.strip() for l in body.splitlines() if f"'prerequisite-missing:{name}'" in l]
        self.assertEqual(len(lines), 1, name)
        return lines[0]

    def test_each_prerequisite_has_its_check_reason_and_fix(self) -> None:
        for name, condition in self.CHECKS.items():
            line = self.line(name)
            self.assertTrue(line.startswith(f"if ({condition}) {{ Write-Result 'failed' 'prerequisite-missing:{name}' "),
                            line)
            # Then the detail: what to do.
            self.assertRegex(line, rf"'prerequisite-missing:{name}' \(?'[^']{{12,}}")
        self.assertEqual(set(re.findall(r"'prerequisite-missing:([a-z0-9-]+)'", CODE)), set(self.CHECKS))

    def test_what_each_check_reads(self) -> None:
        body = function_body("Test-Prerequisites")
        # .NET Framework 4.6.2: the Release value of the v4\Full key, 0 when absent (strict mode).
        self.assertIn("Get-ItemProperty -LiteralPath 'HKLM:\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full'", body)
        self.assertIn("if ($net -and $net.PSObject.Properties['Release']) { $release = [int]$net.Release }", body)
        # TLS 1.2: not turned off for clients, and asked for (a failure to ask is a missing TLS 1.2).
        self.assertIn("SCHANNEL\\Protocols\\TLS 1.2\\Client' -ErrorAction SilentlyContinue", body)
        self.assertIn("$tls12 = -not ($schannel -and $schannel.PSObject.Properties['Enabled'] -and "
                      "[int]$schannel.Enabled -eq 0)", body)
        self.assertRegex(body, r"try \{ \[Net\.ServicePointManager\]::SecurityProtocol = \[Net\.ServicePointManager\]"
                               r"::SecurityProtocol -bor \[Net\.SecurityProtocolType\]::Tls12 \} catch \{ \$tls12 = \$false \}")
        self.assertLess(body.index("[Net.SecurityProtocolType]::Tls12"), body.index("Test-Reachable $url"))
        # Before an install only: the operating system, msiexec and the way to Microsoft and Azure.
        install = body.index("if (-not (Test-Path -LiteralPath $Agent)) {")
        for name in self.CHECKS:
            where = body.index(f"'prerequisite-missing:{name}'")
            self.assertEqual(where > install, name in self.BEFORE_AN_INSTALL, name)
        self.assertIn("foreach ($url in @($InstallerUrl, ($SignIn + '/'), ($ResourceManager + '/')))", body)
        for host in ("login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn"):
            self.assertIn(f"'https://{host}'", CODE[CODE.index("$SignIn = switch ($Cloud)"):])

    def test_reachability_is_a_head_request_where_any_answer_counts(self) -> None:
        body = function_body("Test-Reachable")
        for expected in ("$request.Method = 'HEAD'", "$request.Timeout = 20000",
                         "if ($ProxyUrl) { $request.Proxy = New-Object System.Net.WebProxy($ProxyUrl) }",
                         "$request.GetResponse().Close()",
                         # An HTTP error is an answer; the WebException may arrive wrapped.
                         "while ($null -ne $e -and -not ($e -is [System.Net.WebException])) { $e = $e.InnerException }",
                         "return ($null -ne $e -and $null -ne $e.Response)"):
            self.assertIn(expected, body)
        self.assertNotIn("GetResponseStream", body)

    def test_it_runs_first_and_only_reads(self) -> None:
        call = CODE.index("\nTest-Prerequisites\n")
        self.assertEqual(CODE.count("\nTest-Prerequisites\n"), 1)
        # Once the parameters are checked (their values are safe to use), before anything else.
        self.assertLess(CODE.index("foreach ($check in $Checks)"), call)
        for later in ("$KeyFile = Join-Path $KeyDir", "$InstanceId = [string]$env:AWS_SSM_INSTANCE_ID",
                      "Protect-Directory $WorkDir\n", "(& $Agent show", "\nRead-Credential\n",
                      "Invoke-WebRequest @download", "Start-Process msiexec.exe"):
            self.assertLess(call, CODE.index(later), later)
        for defined in ("$ResourceManager = switch ($Cloud)", "$SignIn = switch ($Cloud)"):
            self.assertLess(CODE.index(defined), call, defined)
        for name in ("Test-Prerequisites", "Test-Reachable"):
            body = function_body(name)
            for change in ("Invoke-WebRequest", "Start-Process", "CreateDirectory", "Set-Acl", "New-Item",
                           "Set-Item", "Remove-Item", "Out-File", "WriteAll", "$LogFile", "& $Agent",
                           "Invoke-Agent", "Protect-Directory", "Read-Credential", "New-SealingKey"):
                self.assertNotIn(change, body, f"{name}: {change}")

    def test_every_reason_is_documented_with_its_fix(self) -> None:
        doc = (ROOT / "docs" / "arc-provisioner.md").read_text()
        section = doc[doc.index("## Instance prerequisites"):]
        section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
        table = section[section.index("### Windows"):]
        table = table[:table.index("\n### ", 1)] if "\n### " in table[1:] else table
        self.assertEqual(set(re.findall(r"`prerequisite-missing:([a-z0-9-]+)`", table)), set(self.CHECKS))


def evp_bytes_to_key(password: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """OpenSSL EVP_BytesToKey(AES-256-CBC, SHA-256, count 1), as the script documents it."""
    d1 = hashlib.sha256(password + salt).digest()
    d2 = hashlib.sha256(d1 + password + salt).digest()
    return d1, d2[:16]


def openssl(*args: str, data: bytes | None = None) -> bytes:
    process = subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)
    if process.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)}: {process.stderr.decode(errors='replace')}")
    return process.stdout


@unittest.skipUnless(OPENSSL, "openssl is not installed")
class SealedFormat(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def pass_file(self, passphrase: str) -> str:
        # As the Linux script writes it (one line); `-pass file:` reads the first line without its newline.
        path = self.dir / "pass"
        path.write_text(passphrase + "\n")
        return f"file:{path}"

    def test_documented_derivation_is_what_openssl_enc_uses(self) -> None:
        for _ in range(3):
            passphrase = os.urandom(32).hex()
            salt = os.urandom(8)
            printed = openssl("enc", "-aes-256-cbc", "-md", "sha256", "-P", "-S", salt.hex(),
                              "-pass", self.pass_file(passphrase)).decode()
            fields = dict(re.findall(r"^(\w+)\s*=\s*([0-9A-F]+)\s*$", printed, re.M))
            key, iv = evp_bytes_to_key(passphrase.encode("ascii"), salt)
            self.assertEqual(fields["salt"], salt.hex().upper())
            self.assertEqual(fields["key"], key.hex().upper())
            self.assertEqual(fields["iv"], iv.hex().upper())

    def test_a_sample_sealed_with_openssl_opens_as_the_script_opens_it(self) -> None:
        # The instance's key pair (prepare): modulus in lowercase hex, 512 digits; key id from it.
        private = self.dir / "key.pem"
        public = self.dir / "public.pem"
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(private))
        openssl("pkey", "-in", str(private), "-pubout", "-out", str(public))
        modulus = openssl("rsa", "-in", str(private), "-noout", "-modulus").decode().strip()
        modulus = modulus.removeprefix("Modulus=").lower()
        self.assertRegex(modulus, r"\A[0-9a-f]{512}\Z")
        key_id = hashlib.sha256(modulus.encode("ascii")).hexdigest()[:16]
        text = openssl("rsa", "-in", str(private), "-noout", "-text").decode()
        self.assertIn("publicExponent: 65537 (0x10001)", text)

        # The connector's side: a one-time passphrase and the credential's digest wrapped with
        # RSA-OAEP-SHA256; the credential itself in `openssl enc -aes-256-cbc -md sha256` format.
        credential = ".".join(base64.urlsafe_b64encode(os.urandom(n)).decode().rstrip("=") for n in (30, 600, 256))
        passphrase = os.urandom(32).hex()
        digest = hashlib.sha256(credential.encode("ascii")).hexdigest()
        wrapped = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(public),
                          "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                          "-pkeyopt", "rsa_mgf1_md:sha256", data=(passphrase + digest + "0" * 32).encode("ascii"))
        body = openssl("enc", "-aes-256-cbc", "-md", "sha256", "-salt", "-pass", self.pass_file(passphrase),
                       data=credential.encode("ascii"))
        sealed = ".".join(["mdcseal1", key_id, base64.b64encode(wrapped).decode(), base64.b64encode(body).decode()])

        # The document and the script both accept it; the script's groups are its parts.
        self.assertTrue(as_powershell_matches(PARAMETERS["sealedCredential"]["allowedPattern"], sealed))
        self.assertTrue(as_powershell_matches(script_sealed_pattern(), sealed))
        self.assertFalse(as_powershell_matches(script_sealed_pattern(), ""))
        groups = re.fullmatch(script_sealed_pattern().lstrip("^").rstrip("$"), sealed).groups()
        self.assertEqual(groups[0], key_id)
        self.assertEqual(sealed.split(".")[1:], list(groups))

        # The script's steps: unwrap (RSACng.Decrypt, OaepSHA256; here the CLI with the same key).
        unwrapped = openssl("pkeyutl", "-decrypt", "-inkey", str(private), "-pkeyopt", "rsa_padding_mode:oaep",
                            "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256",
                            data=base64.b64decode(groups[1]))
        self.assertEqual(len(unwrapped), 160)
        self.assertRegex(unwrapped.decode("ascii"), r"\A[0-9a-f]{160}\Z")
        raw = base64.b64decode(groups[2])
        self.assertEqual(raw[:8], b"Salted__")
        self.assertTrue(len(raw) >= 32 and len(raw) % 16 == 0)
        # EVP_BytesToKey in the script's one buffer: [D1][pass][salt].
        material = bytearray(104)
        material[32:96] = unwrapped[:64]
        material[96:104] = raw[8:16]
        d1 = hashlib.sha256(bytes(material[32:104])).digest()
        material[0:32] = d1
        d2 = hashlib.sha256(bytes(material)).digest()
        self.assertEqual((d1, d2[:16]), evp_bytes_to_key(unwrapped[:64], raw[8:16]))
        # AES-256-CBC, PKCS#7, over the bytes after the 16-byte header (AesCryptoServiceProvider).
        plain = openssl("enc", "-d", "-aes-256-cbc", "-K", d1.hex(), "-iv", d2[:16].hex(), data=raw[16:])
        self.assertEqual(hashlib.sha256(plain).hexdigest(), unwrapped[64:128].decode("ascii"))
        self.assertEqual(plain.decode("ascii"), credential)
        self.assertRegex(plain.decode("ascii"), r"\A[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\Z")

        # A body changed in transit does not open to the sealed digest.
        tampered = bytearray(raw)
        tampered[20] ^= 0x01
        process = subprocess.run(["openssl", "enc", "-d", "-aes-256-cbc", "-K", d1.hex(), "-iv", d2[:16].hex()],
                                 input=bytes(tampered[16:]), capture_output=True, check=False)
        self.assertTrue(process.returncode != 0
                        or hashlib.sha256(process.stdout).hexdigest() != unwrapped[64:128].decode("ascii"))


if __name__ == "__main__":
    unittest.main()


class Binding(unittest.TestCase):
    def test_the_binding_is_the_connectors(self) -> None:
        # Get-Binding: every bound parameter in the connector's order (src/arc/seal.rs,
        # BOUND_PARAMETERS), then the instance, each "name=value" and a newline.
        body = function_body("Get-Binding")
        seal_rs = (ROOT / "src" / "arc" / "seal.rs").read_text()
        order = re.search(r"BOUND_PARAMETERS: \[&str; 13\] = \[(.*?)\];", seal_rs, re.S).group(1)
        names = re.findall(r'"([A-Za-z]+)"', order) + ["instance"]
        found = re.findall(r"([A-Za-z]+) = \$[A-Za-z]+", body)
        self.assertEqual(found, names)
        self.assertIn("$text += $name + '=' + $values[$name] + \"`n\"", body)
        self.assertIn(".Substring(0, 32)", body)
