# Connects this Windows instance to Azure Arc. Run by the connector's SSM Command document
# (MdcConnector-ArcOnboard-Windows). Every document parameter has interpolationType ENV_VAR: SSM
# Agent 3.3.2746.0 and later hands it over as the environment variable SSM_<name>, never as code.
# Older agents only substitute the {{ name }} placeholders into this text: each one sits alone
# inside a single-quoted here-string, so its value is data too (allowedPattern excludes newlines).
# Every value is then checked against that pattern.
#
# The onboarding credential is never a parameter: it is read on the host from the SecureString
# parameter named by credentialParameter (an access token of the run, or with credentialType
# service-principal-secret the service principal's secret) and handed to azcmagent in a file only SYSTEM and
# Administrators can read, written with .NET (no cmdlet parameter carries it, so module logging
# cannot record it), deleted on every exit path (a finally block).
#
# Native commands run under a local 'Continue' error preference: in Windows PowerShell 5.1 a
# native command's redirected stderr is an error record, which 'Stop' would turn into a
# terminating error before the work directory is removed and the result line printed.
#
# Last line of output, always: MDC_ARC_RESULT {"status":"...","reason":"...",...}
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
$CredentialParameter = if ($null -ne $env:SSM_credentialParameter) { $env:SSM_credentialParameter } else { @'
{{ credentialParameter }}
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
$InstanceId = ''

function Remove-WorkDir {
    if (Test-Path -LiteralPath $WorkDir) { Remove-Item -LiteralPath $WorkDir -Recurse -Force -ErrorAction SilentlyContinue }
}

function Write-Result([string]$Status, [string]$Reason, [string]$Detail = '') {
    Remove-WorkDir
    $line = [ordered]@{ status = $Status; reason = $Reason; detail = $Detail; instanceId = $InstanceId; correlationId = $CorrelationId }
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

# The credential, read when first needed and before anything is changed, into connect.json (and
# kept for the Resource Manager check). A token is base64url segments joined by dots.
$credential = ''
$config = Join-Path $WorkDir 'connect.json'
function Read-Credential {
    if (Test-Path -LiteralPath $config) { return }
    try {
        $parameter = @{ Name = $CredentialParameter; WithDecryption = $true }
        if ($Region) { $parameter.Region = $Region }
        $script:credential = [string](Get-SSMParameter @parameter).Value
    } catch { $script:credential = '' }
    $pattern = if ($CredentialType -eq 'access-token') { '\A[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\z' } else { '\A[A-Za-z0-9._~-]{1,256}\z' }
    if ($script:credential.Length -gt 8192 -or -not ($script:credential -cmatch $pattern)) { $script:credential = ''; Write-Result 'failed' 'credential-unavailable' $CredentialParameter }
    # The value matched the pattern above: it needs no JSON escaping.
    [System.IO.File]::WriteAllText($config, '{"' + $CredentialType + '": "' + $script:credential + '"}', (New-Object System.Text.UTF8Encoding($false)))
}

try {

$Guid = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
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
    @('credentialParameter', $CredentialParameter, '^/?[A-Za-z0-9_.-]{1,128}(/[A-Za-z0-9_.-]{1,128}){0,14}$'),
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

$InstanceId = [string]$env:AWS_SSM_INSTANCE_ID
$Region = [string]$env:AWS_SSM_REGION_NAME
if (-not $InstanceId) {
    try {
        $token = Invoke-RestMethod -Method Put -Uri 'http://169.254.169.254/latest/api/token' -Headers @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '60' } -TimeoutSec 5
        $InstanceId = Invoke-RestMethod -Uri 'http://169.254.169.254/latest/meta-data/instance-id' -Headers @{ 'X-aws-ec2-metadata-token' = $token } -TimeoutSec 5
    } catch { $InstanceId = '' }
}
if (-not ($InstanceId -cmatch '\Ai-[0-9a-f]{8,17}\z')) { $InstanceId = ''; Write-Result 'failed' 'instance-id-unknown' }
if (-not ($Region -cmatch '\A[a-z]{2}(-[a-z]+)+-[0-9]\z')) { $Region = '' }

# SYSTEM (S-1-5-18) and Administrators (S-1-5-32-544) only, by SID (the names are localized),
# nothing inherited: the work directory holds the credential file, the log the agent's output.
function Protect-Directory([string]$Path) {
    New-Item -ItemType Directory -Path $Path -Force | Out-Null
    $acl = New-Object System.Security.AccessControl.DirectorySecurity
    $acl.SetAccessRuleProtection($true, $false)
    foreach ($sid in @('S-1-5-18', 'S-1-5-32-544')) {
        $who = New-Object System.Security.Principal.SecurityIdentifier($sid)
        $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($who, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow')))
    }
    Set-Acl -Path $Path -AclObject $acl
}
Protect-Directory $WorkDir
Protect-Directory $LogDir

$ResourceManager = switch ($Cloud) { 'AzureUSGovernment' { 'https://management.usgovcloudapi.net' } 'AzureChinaCloud' { 'https://management.chinacloudapi.cn' } default { 'https://management.azure.com' } }
# Windows PowerShell 5.1 may default to TLS 1.0: Microsoft's endpoints need 1.2.
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

$installed = Test-Path $Agent
if ($installed) {
    $shown = $null
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try { $shown = (& $Agent show -j 2>>$LogFile | Out-String) | ConvertFrom-Json } catch { $shown = $null } finally { $ErrorActionPreference = $previous }
    if ($shown -and $shown.status -eq 'Connected') {
        $where = ('{0}/{1}' -f $shown.subscriptionId, $shown.resourceGroup) -replace '[^A-Za-z0-9._()/-]', ''
        if ($shown.subscriptionId -eq $SubscriptionId -and $shown.resourceGroup -eq $ResourceGroup) {
            Write-Result 'already-connected' 'connected' "$SubscriptionId/$ResourceGroup"
        }
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
    } elseif ($shown -and $shown.resourceName -and ($shown.status -eq 'Disconnected' -or $shown.status -eq 'Expired') -and $shown.subscriptionId -eq $SubscriptionId -and $shown.resourceGroup -eq $ResourceGroup) {
        # This connector's agent stopped reporting (Expired after 45 days offline): it connects
        # again only from a clean local state, so the local configuration goes first.
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
Write-Result 'connected' 'connected' "$SubscriptionId/$ResourceGroup"
} catch {
    # Always a result line, whatever failed.
    $unexpected = ($_.Exception.GetType().Name) -replace '[^A-Za-z0-9.]', ''
    Write-Result 'failed' 'unexpected-error' $unexpected
} finally {
    $credential = ''
    Remove-WorkDir
}
