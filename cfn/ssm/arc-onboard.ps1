# Connects this Windows instance to Azure Arc. Run by the connector's SSM Command document
# (MdcConnector-ArcOnboard-Windows). Every document parameter has interpolationType ENV_VAR: SSM
# Agent 3.3.2746.0 and later hands it over as the environment variable SSM_<name>, never as code.
# Older agents only substitute the {{ name }} placeholders into this text: each one sits alone
# inside a single-quoted here-string, so its value is data too (allowedPattern excludes newlines).
# Every value is then checked against that pattern.
#
# Sealed onboarding: the onboarding credential never exists in plain text outside this instance,
# and no AWS credentials (nor AWS Tools for PowerShell) are needed here. The document runs twice
# (phase):
#  - prepare: every check below and, when the instance needs a credential, a fresh RSA 2048 key pair
#    made here (System.Security.Cryptography.RSACng). Its private key is kept for the connect run in
#    %ProgramData%\mdc-connector\keys\<key id>.key: a directory only SYSTEM and Administrators can
#    open, the key itself protected with DPAPI for SYSTEM (ProtectedData, CurrentUser scope of the
#    SYSTEM account this runs as), removed after one use or 60 minutes. Only the public key (its
#    modulus) goes out, in the result line. Nothing is installed or changed.
#  - connect: the connector sends the credential sealed to that public key (sealedCredential,
#    mdcseal1.<key id>.<wrapped>.<body>: RSA-OAEP-SHA256 wraps a one-time passphrase and the
#    credential's SHA-256; the body is AES-256-CBC as `openssl enc -aes-256-cbc -md sha256 -pass`
#    writes it). Only this instance's private key opens it, and the key file is deleted as it is
#    read. The credential then exists only in this process's memory and in a file only SYSTEM and
#    Administrators can read: credentialType says what it is, a Microsoft Entra access token of the
#    run (default) or the service principal's secret (opt-in). It is handed to azcmagent in that
#    file, written with .NET (no cmdlet parameter carries it, so module logging cannot record it),
#    deleted on every exit path (a finally block), as is the key file.
#
# Native commands run under a local 'Continue' error preference: in Windows PowerShell 5.1 a
# native command's redirected stderr is an error record, which 'Stop' would turn into a
# terminating error before the work directory is removed and the result line printed.
#
# Last line of output, always: MDC_ARC_RESULT {"status":"...","reason":"...",...}
# status: connected | already-connected | connected-elsewhere | key-ready (prepare) | failed
# resourceId, vmId: the Arc machine the agent is connected as (connected, already-connected);
# arc-provisioner records them only from its own commands, once Resource Manager agrees.
# publicKey: the RSA modulus (lowercase hex) of the key made in prepare, else empty.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3

$TenantId = if ($null -ne $env:SSM_tenantId) { $env:SSM_tenantId } else { @'
{{ tenantId }}
'@ }
$SubscriptionId = if ($null -ne $env:SSM_subscriptionId) { $env:SSM_subscriptionId } else { @'
{{ subscriptionId }}
'@ }
$ResourceGroup = if ($null -ne $env:SSM_resourceGroup) { $env:SSM_resourceGroup } else { @'
{{ resourceGroup }}
'@ }
$Location = if ($null -ne $env:SSM_location) { $env:SSM_location } else { @'
{{ location }}
'@ }
$Cloud = if ($null -ne $env:SSM_cloud) { $env:SSM_cloud } else { @'
{{ cloud }}
'@ }
$ConnectorId = if ($null -ne $env:SSM_connectorId) { $env:SSM_connectorId } else { @'
{{ connectorId }}
'@ }
$AccountId = if ($null -ne $env:SSM_accountId) { $env:SSM_accountId } else { @'
{{ accountId }}
'@ }
$ServicePrincipalId = if ($null -ne $env:SSM_servicePrincipalId) { $env:SSM_servicePrincipalId } else { @'
{{ servicePrincipalId }}
'@ }
$Phase = if ($null -ne $env:SSM_phase) { $env:SSM_phase } else { @'
{{ phase }}
'@ }
$SealedCredential = if ($null -ne $env:SSM_sealedCredential) { $env:SSM_sealedCredential } else { @'
{{ sealedCredential }}
'@ }
$CredentialType = if ($null -ne $env:SSM_credentialType) { $env:SSM_credentialType } else { @'
{{ credentialType }}
'@ }
$ProxyUrl = if ($null -ne $env:SSM_proxyUrl) { $env:SSM_proxyUrl } else { @'
{{ proxyUrl }}
'@ }
$PrivateLinkScope = if ($null -ne $env:SSM_privateLinkScope) { $env:SSM_privateLinkScope } else { @'
{{ privateLinkScope }}
'@ }
$CorrelationId = if ($null -ne $env:SSM_correlationId) { $env:SSM_correlationId } else { @'
{{ correlationId }}
'@ }
$Force = if ($null -ne $env:SSM_force) { $env:SSM_force } else { @'
{{ force }}
'@ }

# The agent's output, in a directory only SYSTEM and Administrators can read or write.
$LogDir = Join-Path $env:ProgramData 'mdc-connector'
$LogFile = Join-Path $LogDir 'arc-onboard.log'
$InstallerUrl = 'https://aka.ms/AzureConnectedMachineAgent'
# Whom the installer must be signed by, exactly, and the Microsoft roots its chain must end in
# (Microsoft Root Certificate Authority 2010 and 2011, SHA-1 thumbprints).
$MicrosoftSigner = 'CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US'
$MicrosoftRoots = @('3B1EFD3A66EA28B16697394703A72CA340A05BD5', '8F43288AD272F3103B6FB1428485EA3014C0BCFE')
$Agent = Join-Path $env:ProgramFiles 'AzureConnectedMachineAgent\azcmagent.exe'
$WorkDir = Join-Path $env:TEMP ('mdc-arc-' + [guid]::NewGuid().ToString('N'))
$WorkDirReady = $false
$InstanceId = ''
# The sealing keys (prepare makes one, connect uses it once): SYSTEM and Administrators only.
$KeyDir = Join-Path $LogDir 'keys'
# connect: the key sealedCredential names (set once the parameters are checked).
$SealedKeyId = ''
$KeyFile = ''

# Removes what this run leaves: the work directory and, in connect, the sealing key (one use,
# whatever happens; a failed run asks for a new one in another prepare).
# The work directory only once Protect-Directory has made it ours ($WorkDirReady): one refused
# (unsafe-directory) is someone else's, and Windows PowerShell's recursive Remove-Item would follow
# a link in it and delete what the link points to.
function Remove-WorkDir {
    if ($WorkDirReady -and (Test-Path -LiteralPath $WorkDir)) { Remove-Item -LiteralPath $WorkDir -Recurse -Force -ErrorAction SilentlyContinue }
    if ($KeyFile -and (Test-Path -LiteralPath $KeyFile)) { Remove-Item -LiteralPath $KeyFile -Force -ErrorAction SilentlyContinue }
}

# The Arc machine the agent is connected as (connected, already-connected), for the result line.
$script:ArcResourceId = ''
$script:ArcVmId = ''

function Write-Result([string]$Status, [string]$Reason, [string]$Detail = '', [string]$PublicKey = '') {
    Remove-WorkDir
    $line = [ordered]@{ status = $Status; reason = $Reason; detail = $Detail; instanceId = $InstanceId; correlationId = $CorrelationId; publicKey = $PublicKey; resourceId = [string]$script:ArcResourceId; vmId = [string]$script:ArcVmId }
    Write-Output ('MDC_ARC_RESULT ' + ($line | ConvertTo-Json -Compress))
    if ($Status -eq 'failed') { exit 1 } else { exit 0 }
}

# Runs azcmagent with its output appended to the log; returns its exit code.
function Invoke-Agent([string[]]$Arguments) {
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try { & $Agent @Arguments *>> $LogFile } finally { $ErrorActionPreference = $previous }
    return $LASTEXITCODE
}

# Lowercase hex of bytes (System.BitConverter).
function ConvertTo-Hex([byte[]]$Bytes) {
    return [System.BitConverter]::ToString($Bytes).Replace('-', '').ToLowerInvariant()
}

# SHA-256, lowercase hex. System.Security.Cryptography.SHA256CryptoServiceProvider: FIPS-validated,
# so it works where the FIPS policy is on (SHA256Managed, SHA256.Create()'s default, then throws).
function Get-Sha256Hex([byte[]]$Bytes) {
    $sha = New-Object System.Security.Cryptography.SHA256CryptoServiceProvider
    try { return ConvertTo-Hex ($sha.ComputeHash($Bytes)) } finally { $sha.Dispose() }
}

# The key id of an RSA public key: the first 16 hex digits of the SHA-256 of its modulus in
# lowercase hex (ASCII), as the connector and the Linux script compute it.
function Get-KeyId([string]$ModulusHex) {
    return (Get-Sha256Hex ([System.Text.Encoding]::ASCII.GetBytes($ModulusHex))).Substring(0, 16)
}

# prepare: a fresh key pair, the private key kept for connect, the public key reported; the run
# ends here (nothing installed or changed).
# System.Security.Cryptography.RSACng (System.Core, .NET Framework 4.6 and later): a CNG key made
# in this process; from .NET Framework 4.6.2 the key it generates carries the AllowPlaintextExport
# policy, so RSA.ToXmlString($true) (ExportParameters) can write it out.
# System.Security.Cryptography.ProtectedData (System.Security): DPAPI; CurrentUser scope here is
# the SYSTEM account's, so only a process running as SYSTEM on this machine can unprotect it.
function New-SealingKey {
    $stage = 'RSACng (.NET Framework 4.6 or later)'
    $rsa = $null
    $keyXml = $null
    $keyId = ''
    $modulus = ''
    try {
        $rsa = New-Object System.Security.Cryptography.RSACng(2048)
        $stage = 'modulus'
        $public = $rsa.ExportParameters($false)
        # Modulus: big-endian, exactly the key size in bytes; the public exponent must be 65537.
        if ($public.Modulus.Length -ne 256 -or [System.BitConverter]::ToString($public.Exponent) -cne '01-00-01') { throw 'modulus' }
        $modulus = ConvertTo-Hex $public.Modulus
        if (-not ($modulus -cmatch '\A[0-9a-f]{512}\z')) { throw 'modulus' }
        $keyId = Get-KeyId $modulus
        $stage = 'private key export (.NET Framework 4.6.2 or later)'
        $keyXml = [System.Text.Encoding]::ASCII.GetBytes($rsa.ToXmlString($true))
        $stage = 'store'
        Add-Type -AssemblyName System.Security
        $protected = [System.Security.Cryptography.ProtectedData]::Protect($keyXml, $null, [System.Security.Cryptography.DataProtectionScope]::CurrentUser)
        # The file takes the keys directory's ACL (SYSTEM and Administrators, inherited).
        [System.IO.File]::WriteAllBytes((Join-Path $KeyDir ($keyId + '.key')), $protected)
    } catch {
        Write-Result 'failed' 'sealing-key-failed' $stage
    } finally {
        if ($null -ne $keyXml) { [Array]::Clear($keyXml, 0, $keyXml.Length) }
        if ($null -ne $rsa) { $rsa.Dispose() }
    }
    Write-Result 'key-ready' 'key-ready' $keyId $modulus
}

# connect: sealedCredential opened with this instance's key (deleted as it is read). Returns the
# credential; any failure is the result credential-unsealable with nothing but the key id.
# - the key: ProtectedData.Unprotect, then RSA.FromXmlString into a System.Security.Cryptography.RSACng;
# - wrapped: RSACng.Decrypt with System.Security.Cryptography.RSAEncryptionPadding OaepSHA256 gives
#   160 ASCII hex digits: the passphrase (64), the credential's SHA-256 (64) and the binding (32):
#   the first 32 hex digits of the SHA-256 of "name=value`n" for this command's parameters in the
#   connector's order, then "instance=<id>`n" (src/arc/seal.rs): a value replayed with other
#   parameters, or to another instance, opens nothing;
# - body: 'Salted__', an 8-byte salt, then AES-256-CBC (PKCS#7) ciphertext whose key and IV come
#   from OpenSSL's EVP_BytesToKey with SHA-256 and one iteration, as `openssl enc -aes-256-cbc -md
#   sha256 -pass` derives them: D1 = SHA-256(pass || salt), D2 = SHA-256(D1 || pass || salt),
#   key = D1, IV = the first 16 bytes of D2 (pass: the 64 ASCII bytes of the passphrase);
#   System.Security.Cryptography.AesCryptoServiceProvider decrypts it;
# - the plaintext's SHA-256 must equal the sealed one (the body has no MAC of its own).
# Byte arrays holding secrets are zeroed after use (strings cannot be).
# The binding of this command: its parameters (every one checked against its pattern: no newline)
# and the instance, as the connector computes it.
function Get-Binding {
    $values = [ordered]@{ tenantId = $TenantId; subscriptionId = $SubscriptionId; resourceGroup = $ResourceGroup
        location = $Location; cloud = $Cloud; connectorId = $ConnectorId; accountId = $AccountId
        servicePrincipalId = $ServicePrincipalId; credentialType = $CredentialType; proxyUrl = $ProxyUrl
        privateLinkScope = $PrivateLinkScope; correlationId = $CorrelationId; force = $Force; instance = $InstanceId }
    $text = ''
    foreach ($name in $values.Keys) { $text += $name + '=' + $values[$name] + "`n" }
    return (Get-Sha256Hex ([System.Text.Encoding]::ASCII.GetBytes($text))).Substring(0, 32)
}

function Open-SealedCredential {
    if (-not (Test-Path -LiteralPath $KeyFile -PathType Leaf)) { Write-Result 'failed' 'sealing-key-missing' $SealedKeyId }
    $parts = $SealedCredential.Split('.')
    $opened = $null
    $keyXml = $null; $rsa = $null; $unwrapped = $null; $material = $null; $d1 = $null; $d2 = $null
    $iv = $null; $sha = $null; $aes = $null; $decryptor = $null; $plain = $null
    try {
        $protected = [System.IO.File]::ReadAllBytes($KeyFile)
        # One use: the key goes before anything is opened with it.
        [System.IO.File]::Delete($KeyFile)
        Add-Type -AssemblyName System.Security
        $keyXml = [System.Security.Cryptography.ProtectedData]::Unprotect($protected, $null, [System.Security.Cryptography.DataProtectionScope]::CurrentUser)
        $rsa = New-Object System.Security.Cryptography.RSACng
        $rsa.FromXmlString([System.Text.Encoding]::ASCII.GetString($keyXml))
        # The key file holds the key its name says.
        if ((Get-KeyId (ConvertTo-Hex ($rsa.ExportParameters($false).Modulus))) -cne $SealedKeyId) { throw 'key' }
        $unwrapped = $rsa.Decrypt([System.Convert]::FromBase64String($parts[2]), [System.Security.Cryptography.RSAEncryptionPadding]::OaepSHA256)
        if ($unwrapped.Length -ne 160 -or -not ([System.Text.Encoding]::ASCII.GetString($unwrapped) -cmatch '\A[0-9a-f]{160}\z')) { throw 'wrapped key' }
        $digest = [System.Text.Encoding]::ASCII.GetString($unwrapped, 64, 64)
        if ((Get-Binding) -cne [System.Text.Encoding]::ASCII.GetString($unwrapped, 128, 32)) { throw 'binding' }
        $body = [System.Convert]::FromBase64String($parts[3])
        if ($body.Length -lt 32 -or ($body.Length % 16) -ne 0 -or [System.Text.Encoding]::ASCII.GetString($body, 0, 8) -cne 'Salted__') { throw 'body' }
        # EVP_BytesToKey in one buffer: [D1 (32)][pass (64)][salt (8)].
        $material = New-Object byte[] 104
        [Array]::Copy($unwrapped, 0, $material, 32, 64)
        [Array]::Copy($body, 8, $material, 96, 8)
        $sha = New-Object System.Security.Cryptography.SHA256CryptoServiceProvider
        $d1 = $sha.ComputeHash($material, 32, 72)
        [Array]::Copy($d1, 0, $material, 0, 32)
        $d2 = $sha.ComputeHash($material)
        $iv = New-Object byte[] 16
        [Array]::Copy($d2, 0, $iv, 0, 16)
        $aes = New-Object System.Security.Cryptography.AesCryptoServiceProvider
        $aes.Mode = [System.Security.Cryptography.CipherMode]::CBC
        $aes.Padding = [System.Security.Cryptography.PaddingMode]::PKCS7
        $aes.KeySize = 256
        $aes.Key = $d1
        $aes.IV = $iv
        $decryptor = $aes.CreateDecryptor()
        $plain = $decryptor.TransformFinalBlock($body, 16, $body.Length - 16)
        if ((Get-Sha256Hex $plain) -cne $digest) { throw 'digest' }
        $opened = [System.Text.Encoding]::ASCII.GetString($plain)
    } catch {
        $opened = $null
    } finally {
        foreach ($secret in @($keyXml, $unwrapped, $material, $d1, $d2, $iv, $plain)) {
            if ($null -ne $secret) { [Array]::Clear($secret, 0, $secret.Length) }
        }
        if ($null -ne $decryptor) { $decryptor.Dispose() }
        if ($null -ne $aes) { $aes.Dispose() }
        if ($null -ne $sha) { $sha.Dispose() }
        if ($null -ne $rsa) { $rsa.Dispose() }
        if (Test-Path -LiteralPath $KeyFile) { Remove-Item -LiteralPath $KeyFile -Force -ErrorAction SilentlyContinue }
    }
    if ($null -eq $opened) { Write-Result 'failed' 'credential-unsealable' $SealedKeyId }
    return $opened
}

# The credential, when first needed and before anything is changed (prepare ends here with the
# public key), into connect.json (and kept for the Resource Manager check). A token is base64url
# segments joined by dots; a secret, Entra's secret alphabet.
$credential = ''
$config = Join-Path $WorkDir 'connect.json'
function Read-Credential {
    if (Test-Path -LiteralPath $config) { return }
    if ($Phase -ceq 'prepare') { New-SealingKey }
    $script:credential = [string](Open-SealedCredential)
    $pattern = if ($CredentialType -eq 'access-token') { '\A[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\z' } else { '\A[A-Za-z0-9._~-]{1,256}\z' }
    if ($script:credential.Length -gt 12288 -or -not ($script:credential -cmatch $pattern)) { $script:credential = ''; Write-Result 'failed' 'credential-unsealable' "not a $CredentialType" }
    # The value matched the pattern above: it needs no JSON escaping.
    [System.IO.File]::WriteAllText($config, '{"' + $CredentialType + '": "' + $script:credential + '"}', (New-Object System.Text.UTF8Encoding($false)))
}

# First step: the instance's prerequisites (docs/arc-provisioner.md#instance-prerequisites), once
# the parameters are checked. A missing one ends the run with the stable reason
# prerequisite-missing:<name>, its detail saying how to fix it, before anything is downloaded,
# written or changed: this step only reads (and, before an install, sends one HEAD request per
# endpoint, keeping nothing). The script needs no AWS Tools for PowerShell and no AWS credentials:
# its parameters arrive in the command, the credential sealed.
# Whether an HTTPS endpoint answers (any HTTP status: only the way there is checked), through the
# proxy when one is set, within 20 s (System.Net.HttpWebRequest, no body read).
function Test-Reachable([string]$Url) {
    try {
        $request = [System.Net.HttpWebRequest]::Create($Url)
        $request.Method = 'HEAD'
        $request.Timeout = 20000
        if ($ProxyUrl) { $request.Proxy = New-Object System.Net.WebProxy($ProxyUrl) }
        $request.GetResponse().Close()
        return $true
    } catch {
        # An HTTP error status is an answer; a method's exception arrives wrapped.
        $e = $_.Exception
        while ($null -ne $e -and -not ($e -is [System.Net.WebException])) { $e = $e.InnerException }
        return ($null -ne $e -and $null -ne $e.Response)
    }
}

function Test-Prerequisites {
    # SYSTEM, as SSM Run Command runs the document: the one-time key is DPAPI-protected for SYSTEM
    # and the directories are created owned by SYSTEM (Microsoft asks at least for administrator
    # permissions, "on Windows as a member of the Local Administrators group": Connect hybrid
    # machines to Azure at scale).
    if ([System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value -ne 'S-1-5-18') { Write-Result 'failed' 'prerequisite-missing:system-account' 'run it as SYSTEM (S-1-5-18), as SSM Run Command does' }
    # Windows PowerShell 5.1, the version this script is written for (Microsoft, Connected Machine
    # agent prerequisites: "Microsoft recommends running the latest version, Windows Management
    # Framework 5.1").
    if ($PSVersionTable.PSVersion -lt [Version]'5.1') { Write-Result 'failed' 'prerequisite-missing:powershell' ('Windows PowerShell {0} found: install Windows Management Framework 5.1' -f $PSVersionTable.PSVersion) }
    # .NET Framework 4.6.2 or later (RSACng, and the export of the key it generates): "check for a
    # Release REG_DWORD value that's greater than or equal to" 394802 (Microsoft, "Determine which
    # .NET Framework versions are installed").
    $net = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full' -ErrorAction SilentlyContinue
    $release = 0
    if ($net -and $net.PSObject.Properties['Release']) { $release = [int]$net.Release }
    if ($release -lt 394802) { Write-Result 'failed' 'prerequisite-missing:dotnet-framework' 'install .NET Framework 4.6.2 or later: the one-time key is made with RSACng' }
    # TLS 1.2, asked for explicitly (Windows PowerShell 5.1 may default to TLS 1.0: Microsoft's
    # endpoints need 1.2) and not turned off for clients in SCHANNEL (Microsoft, network
    # requirements: "Windows Server 2012 R2 and later | Supported and enabled by default. | Confirm
    # that you're still using the default settings").
    $schannel = Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Client' -ErrorAction SilentlyContinue
    $tls12 = -not ($schannel -and $schannel.PSObject.Properties['Enabled'] -and [int]$schannel.Enabled -eq 0)
    try { [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12 } catch { $tls12 = $false }
    if (-not $tls12) { Write-Result 'failed' 'prerequisite-missing:tls12' 'enable TLS 1.2 for clients (SCHANNEL\Protocols\TLS 1.2\Client: Enabled 1, DisabledByDefault 0)' }
    # Only before an install (an installed agent needs neither the installer nor msiexec).
    if (-not (Test-Path -LiteralPath $Agent)) {
        # The current agent's Windows: Server 2012 (6.2) or later; "Windows Server 2008 R2 SP1" has
        # limited support, its last agent 1.39 (Microsoft, Connected Machine agent prerequisites).
        if ([Environment]::OSVersion.Version -lt [Version]'6.2') { Write-Result 'failed' 'prerequisite-missing:supported-os' ('Windows {0}: the current agent needs Windows Server 2012 or later; install an agent version for it yourself, then reprovision' -f [Environment]::OSVersion.Version) }
        if (-not (Get-Command msiexec.exe -CommandType Application -ErrorAction SilentlyContinue)) { Write-Result 'failed' 'prerequisite-missing:msiexec' 'msiexec.exe (Windows Installer) not found: the agent MSI is installed with it' }
        # Outbound HTTPS (Microsoft, network requirements: the agent "communicates outbound securely
        # to Azure Arc over TCP port 443"): the installer (aka.ms, redirecting to
        # download.microsoft.com, "Used to download the Windows installation package"), Microsoft
        # Entra ID ("Always") and Resource Manager ("to create or delete the Arc server resource"),
        # each the first request of its kind this run would make. Not probed: the agent's other
        # endpoints (*.his.arc.azure.com, ...), whose names depend on the region and the private link
        # scope; azcmagent connect checks them itself.
        foreach ($url in @($InstallerUrl, ($SignIn + '/'), ($ResourceManager + '/'))) {
            if (-not (Test-Reachable $url)) { Write-Result 'failed' 'prerequisite-missing:outbound-https' ('{0} is not reachable over HTTPS{1}: allow outbound HTTPS (TCP 443) to it, directly or through the connector''s proxy (ARC_PROXY_URL)' -f $url, $(if ($ProxyUrl) { ' through ' + $ProxyUrl } else { '' })) }
        }
    }
}

try {

$Guid = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
# sealedCredential: the document's allowedPattern without its empty alternative in connect (groups:
# key id, wrapped key, body); empty in prepare.
$SealedPattern = '^mdcseal1\.([0-9a-f]{16})\.([A-Za-z0-9+/]{342}==)\.([A-Za-z0-9+/]{43,16383}={0,2})$'
$SealedCheck = if ($Phase -ceq 'connect') { $SealedPattern } else { '^$' }
$Checks = @(
    @('correlationId', $CorrelationId, $Guid),
    @('tenantId', $TenantId, $Guid),
    @('subscriptionId', $SubscriptionId, $Guid),
    @('servicePrincipalId', $ServicePrincipalId, $Guid),
    @('resourceGroup', $ResourceGroup, '^[A-Za-z0-9._()-]{1,90}$'),
    @('location', $Location, '^[a-z0-9]{1,40}$'),
    @('cloud', $Cloud, '^(AzureCloud|AzureUSGovernment|AzureChinaCloud)$'),
    @('connectorId', $ConnectorId, '^[A-Za-z0-9][A-Za-z0-9._-]{0,89}$'),
    @('accountId', $AccountId, '^[0-9]{12}$'),
    @('phase', $Phase, '^(prepare|connect)$'),
    @('sealedCredential', $SealedCredential, $SealedCheck),
    @('credentialType', $CredentialType, '^(access-token|service-principal-secret)$'),
    @('proxyUrl', $ProxyUrl, '^(https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?/?)?$'),
    @('privateLinkScope', $PrivateLinkScope, '^(/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[A-Za-z0-9._()-]{1,90}/providers/Microsoft\.HybridCompute/privateLinkScopes/[A-Za-z0-9._-]{1,64})?$'),
    @('force', $Force, '^(true|false)$')
)
foreach ($check in $Checks) {
    # -cmatch with \A...\z: no case folding, and no match across a newline.
    $pattern = '\A' + $check[2].TrimStart('^').TrimEnd('$') + '\z'
    if (-not ($check[1] -cmatch $pattern)) {
        $CorrelationId = ''
        Write-Result 'failed' 'invalid-parameter' $check[0]
    }
}

# The cloud's Resource Manager and Microsoft Entra sign-in endpoints (Microsoft, "Connected Machine
# agent network requirements", URLs: management.azure.com, login.microsoftonline.com;
# management.usgovcloudapi.net, login.microsoftonline.us; management.chinacloudapi.cn,
# login.chinacloudapi.cn).
$ResourceManager = switch ($Cloud) { 'AzureUSGovernment' { 'https://management.usgovcloudapi.net' } 'AzureChinaCloud' { 'https://management.chinacloudapi.cn' } default { 'https://management.azure.com' } }
$SignIn = switch ($Cloud) { 'AzureUSGovernment' { 'https://login.microsoftonline.us' } 'AzureChinaCloud' { 'https://login.chinacloudapi.cn' } default { 'https://login.microsoftonline.com' } }
Test-Prerequisites

if ($Phase -ceq 'connect') {
    $SealedKeyId = $SealedCredential.Split('.')[1]
    $KeyFile = Join-Path $KeyDir ($SealedKeyId + '.key')
}

$InstanceId = [string]$env:AWS_SSM_INSTANCE_ID
if (-not $InstanceId) {
    try {
        $token = Invoke-RestMethod -Method Put -Uri 'http://169.254.169.254/latest/api/token' -Headers @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '60' } -TimeoutSec 5
        $InstanceId = Invoke-RestMethod -Uri 'http://169.254.169.254/latest/meta-data/instance-id' -Headers @{ 'X-aws-ec2-metadata-token' = $token } -TimeoutSec 5
    } catch { $InstanceId = '' }
}
if (-not ($InstanceId -cmatch '\Ai-[0-9a-f]{8,17}\z')) { $InstanceId = ''; Write-Result 'failed' 'instance-id-unknown' }

# SYSTEM (S-1-5-18) and Administrators (S-1-5-32-544) only, by SID (the names are localized),
# nothing inherited, owned by SYSTEM: the work directory holds the credential file, the log the
# agent's output, the keys directory the sealing keys. %ProgramData% lets any user create a folder,
# and its creator owns it (an owner may always rewrite the DACL): a directory someone else made
# first would stay theirs whatever ACL this script then set.
function Protect-Directory([string]$Path) {
    $system = New-Object System.Security.Principal.SecurityIdentifier('S-1-5-18')
    $acl = New-Object System.Security.AccessControl.DirectorySecurity
    $acl.SetOwner($system)
    $acl.SetAccessRuleProtection($true, $false)
    foreach ($sid in @('S-1-5-18', 'S-1-5-32-544')) {
        $who = New-Object System.Security.Principal.SecurityIdentifier($sid)
        $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($who, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow')))
    }
    # A new directory is created with that owner and DACL in the same call (.NET Framework's
    # Directory.CreateDirectory(String, DirectorySecurity)): it never exists with an inherited ACL.
    if (-not (Test-Path -LiteralPath $Path)) {
        $null = [System.IO.Directory]::CreateDirectory($Path, $acl)
    }
    # Then, whoever made it (this run, someone before, or someone between the test and the call:
    # CreateDirectory returns an existing directory as it is, applying nothing): a link to elsewhere,
    # or a directory owned by anyone but SYSTEM or Administrators, is refused before anything is
    # changed (SYSTEM would rewrite the ACL of whatever a junction points to).
    $existing = Get-Item -LiteralPath $Path -Force
    $existingOwner = (Get-Acl -LiteralPath $Path).GetOwner([System.Security.Principal.SecurityIdentifier]).Value
    if (($existing.Attributes -band [System.IO.FileAttributes]::ReparsePoint) -or @('S-1-5-18', 'S-1-5-32-544') -notcontains $existingOwner) {
        Write-Result 'failed' 'unsafe-directory' $Path
    }
    # Ours: owner SYSTEM and the protected DACL, again (an administrator's earlier directory may
    # carry a broader ACL).
    Set-Acl -LiteralPath $Path -AclObject $acl
}
Protect-Directory $WorkDir
$WorkDirReady = $true
Protect-Directory $LogDir
Protect-Directory $KeyDir
# The keys directory and its parent: no link to elsewhere, and owned by SYSTEM or Administrators
# (a directory someone else created first stays theirs to re-open whatever its ACL says).
foreach ($directory in @($LogDir, $KeyDir)) {
    $item = Get-Item -LiteralPath $directory -Force
    $directoryOwner = (Get-Acl -LiteralPath $directory).GetOwner([System.Security.Principal.SecurityIdentifier]).Value
    if (($item.Attributes -band [System.IO.FileAttributes]::ReparsePoint) -or @('S-1-5-18', 'S-1-5-32-544') -notcontains $directoryOwner) {
        Write-Result 'failed' 'sealing-key-failed' $directory
    }
}
# A key connect never used (its run ended first) goes after an hour.
$expired = [DateTime]::UtcNow.AddMinutes(-60)
Get-ChildItem -LiteralPath $KeyDir -Filter '*.key' -File -Force | Where-Object { $_.LastWriteTimeUtc -lt $expired } | Remove-Item -Force -ErrorAction SilentlyContinue

# The Arc machine this instance connects as.
$TargetMachineId = '/subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.HybridCompute/machines/{2}' -f $SubscriptionId, $ResourceGroup, $InstanceId

# `azcmagent show -j`, read under a local 'Continue' preference; $null when it says nothing.
function Get-AgentState {
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try { return (& $Agent show -j 2>>$LogFile | Out-String) | ConvertFrom-Json } catch { return $null } finally { $ErrorActionPreference = $previous }
}

# The agent's Arc machine and vmId, from `azcmagent show -j` (only a GUID is taken as vmId).
function Set-AgentIdentity($Shown) {
    $script:ArcResourceId = $TargetMachineId
    $vm = if ($Shown -and $Shown.PSObject.Properties['vmId']) { [string]$Shown.vmId } else { '' }
    $script:ArcVmId = if ($vm -cmatch '\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\z') { $vm.ToLowerInvariant() } else { '' }
}

# The HTTP status of a Resource Manager read of one machine, with the run's access token (.NET,
# not a cmdlet parameter); 0 when there is no answer.
function Get-ArmStatus([string]$Id) {
    try {
        $request = [System.Net.HttpWebRequest]::Create($ResourceManager + $Id + '?api-version=2024-07-10')
        if ($ProxyUrl) { $request.Proxy = New-Object System.Net.WebProxy($ProxyUrl) }
        $request.Headers.Add('Authorization', 'Bearer ' + $script:credential)
        $request.Timeout = 30000
        $response = $request.GetResponse()
        $status = [int]$response.StatusCode
        $response.Close()
        return $status
    } catch [System.Net.WebException] {
        if ($_.Exception.Response) { return [int]$_.Exception.Response.StatusCode }
        return 0
    }
}

$installed = Test-Path $Agent
if ($installed) {
    $shown = Get-AgentState
    if ($shown -and $shown.status -eq 'Connected') {
        $where = ('{0}/{1}' -f $shown.subscriptionId, $shown.resourceGroup) -replace '[^A-Za-z0-9._()/-]', ''
        # The target is this connector's machine for this instance: same subscription and group, and
        # the instance id as name (an agent connected there under another name is someone else's).
        if ($shown.subscriptionId -eq $SubscriptionId -and $shown.resourceGroup -eq $ResourceGroup -and [string]$shown.resourceName -eq $InstanceId) {
            Set-AgentIdentity $shown
            # Forced (a re-provision, or Azure shows no machine for this instance): the agent's
            # belief is checked against Resource Manager; a machine deleted in Azure is cleared
            # locally ("if the corresponding resource in Azure has already been deleted"), then
            # connected again.
            if ($Force -ne 'true' -or $CredentialType -ne 'access-token') { Write-Result 'already-connected' 'connected' "$SubscriptionId/$ResourceGroup" }
            Read-Credential
            $status = Get-ArmStatus $TargetMachineId
            if ($status -eq 200) { Write-Result 'already-connected' 'connected' "$SubscriptionId/$ResourceGroup" }
            if ($status -ne 404) { Write-Result 'failed' 'arc-unreadable' $TargetMachineId }
            if ((Invoke-Agent @('disconnect', '--force-local-only')) -ne 0) { Write-Result 'failed' 'disconnect-failed' "$SubscriptionId/$ResourceGroup" }
            $script:ArcResourceId = ''
            $script:ArcVmId = ''
        } else {
        if ($Force -ne 'true') { Write-Result 'connected-elsewhere' 'connected-elsewhere' $where }
        # A forced move takes only an agent this connector onboarded: its Arc resource, read from
        # Azure Resource Manager with the run's token (.NET, not a cmdlet parameter), carries
        # MDFCSecurityConnector=<this connector>.
        if ($CredentialType -ne 'access-token') { Write-Result 'connected-elsewhere' 'connected-elsewhere' "${where}: its connector tag cannot be checked without an access token" }
        Read-Credential
        $machineId = '/subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.HybridCompute/machines/{2}' -f $shown.subscriptionId, $shown.resourceGroup, $shown.resourceName
        if (-not ($machineId -cmatch '\A/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[A-Za-z0-9._()-]{1,90}/providers/Microsoft\.HybridCompute/machines/[A-Za-z0-9._-]{1,64}\z')) {
            Write-Result 'connected-elsewhere' 'connected-elsewhere' "${where}: the agent does not name its Arc resource"
        }
        $owner = ''
        try {
            $client = New-Object System.Net.WebClient
            if ($ProxyUrl) { $client.Proxy = New-Object System.Net.WebProxy($ProxyUrl) }
            $client.Headers.Add('Authorization', 'Bearer ' + $credential)
            $machine = $client.DownloadString($ResourceManager + $machineId + '?api-version=2024-07-10') | ConvertFrom-Json
            if ($machine.tags -and $machine.tags.PSObject.Properties['MDFCSecurityConnector']) { $owner = [string]$machine.tags.MDFCSecurityConnector }
        } catch { $owner = '' }
        if ($owner -cne $ConnectorId) { Write-Result 'connected-elsewhere' 'connected-elsewhere' "${where}: its Arc resource is not tagged MDFCSecurityConnector=$ConnectorId" }
        if ((Invoke-Agent @('disconnect', '--force-local-only')) -ne 0) { Write-Result 'failed' 'disconnect-failed' $where }
        }
    } elseif ($shown -and [string]$shown.resourceName -eq $InstanceId -and ($shown.status -eq 'Disconnected' -or $shown.status -eq 'Expired') -and $shown.subscriptionId -eq $SubscriptionId -and $shown.resourceGroup -eq $ResourceGroup) {
        # This connector's agent stopped reporting ("An expired machine can't be managed through
        # Azure Arc until a server administrator disconnects and then reconnects it"). A connect
        # under the same name fails while the Azure resource exists (AZCM0044 "A resource with the
        # same name already exists") and the onboarding role cannot delete it: the sweep's
        # application does first. Checked before the local configuration goes; prepare stops
        # before that, at the credential.
        Read-Credential
        if ($CredentialType -eq 'access-token') {
            $status = Get-ArmStatus $TargetMachineId
            if ($status -eq 200) { Write-Result 'failed' 'arc-resource-exists' $TargetMachineId }
            if ($status -ne 404) { Write-Result 'failed' 'arc-unreadable' $TargetMachineId }
        } elseif ($Force -ne 'true') {
            # Without a token Azure cannot be asked: only when the connector found no machine of
            # this name (it sends force then) is the local configuration cleared.
            Write-Result 'failed' 'arc-resource-exists' $TargetMachineId
        }
        if ((Invoke-Agent @('disconnect', '--force-local-only')) -ne 0) { Write-Result 'failed' 'disconnect-failed' ([string]$shown.status) }
    }
}

# Past this point the agent is installed, configured and connected: the credential must be there.
Read-Credential

if (-not $installed) {
    $msi = Join-Path $WorkDir 'AzureConnectedMachineAgent.msi'
    try {
        $download = @{ Uri = $InstallerUrl; OutFile = $msi; UseBasicParsing = $true }
        if ($ProxyUrl) { $download.Proxy = $ProxyUrl }
        Invoke-WebRequest @download
    } catch { Write-Result 'failed' 'download-failed' $InstallerUrl }
    # Nothing unverified is run: a valid Authenticode signature by exactly Microsoft Corporation,
    # whose chain ends in one of Microsoft's roots (not any root a machine happens to trust).
    $signature = Get-AuthenticodeSignature -FilePath $msi
    $signer = $signature.SignerCertificate
    $root = ''
    if ($signer) {
        $chain = New-Object System.Security.Cryptography.X509Certificates.X509Chain
        # Only the chain's shape is read here: Get-AuthenticodeSignature already checked validity
        # and revocation, and a second online check could hang behind a proxy the system lacks.
        $chain.ChainPolicy.RevocationMode = [System.Security.Cryptography.X509Certificates.X509RevocationMode]::NoCheck
        $null = $chain.Build($signer)
        if ($chain.ChainElements.Count -gt 0) { $root = [string]$chain.ChainElements[$chain.ChainElements.Count - 1].Certificate.Thumbprint }
    }
    if ($signature.Status -ne 'Valid' -or -not $signer -or $signer.Subject -cne $MicrosoftSigner -or $MicrosoftRoots -notcontains $root) {
        Write-Result 'failed' 'installer-signature-invalid' ([string]$signature.Status)
    }
    $install = Start-Process msiexec.exe -Wait -PassThru -ArgumentList @('/i', "`"$msi`"", '/qn', '/l*v', "`"$LogFile`"")
    if ($install.ExitCode -ne 0 -or -not (Test-Path $Agent)) { Write-Result 'failed' 'install-failed' "see $LogFile" }
}

if ($ProxyUrl) {
    if ((Invoke-Agent @('config', 'set', 'proxy.url', $ProxyUrl)) -ne 0) { Write-Result 'failed' 'proxy-config-failed' }
}

$connect = @(
    'connect',
    '--config', $config,
    '--tenant-id', $TenantId,
    '--subscription-id', $SubscriptionId,
    '--resource-group', $ResourceGroup,
    '--location', $Location,
    '--cloud', $Cloud,
    '--resource-name', $InstanceId,
    '--tags', "AccountId=$AccountId,Cloud=AWS,InstanceId=$InstanceId,MDFCSecurityConnector=$ConnectorId",
    '--correlation-id', $CorrelationId
)
if ($CredentialType -eq 'service-principal-secret') { $connect += @('--service-principal-id', $ServicePrincipalId) }
if ($PrivateLinkScope) { $connect += @('--private-link-scope', $PrivateLinkScope) }
$connected = (Invoke-Agent $connect) -eq 0
Remove-Item -LiteralPath $config -Force
if (-not $connected) { Write-Result 'failed' 'connect-failed' "see $LogFile" }
Set-AgentIdentity (Get-AgentState)
Write-Result 'connected' 'connected' "$SubscriptionId/$ResourceGroup"
} catch {
    # Always a result line, whatever failed.
    $unexpected = ($_.Exception.GetType().Name) -replace '[^A-Za-z0-9.]', ''
    Write-Result 'failed' 'unexpected-error' $unexpected
} finally {
    $credential = ''
    Remove-WorkDir
}
