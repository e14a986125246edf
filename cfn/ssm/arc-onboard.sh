#!/bin/bash
# Connects this instance to Azure Arc. Run by the connector's SSM Command document
# (MdcConnector-ArcOnboard-Linux). Every document parameter has interpolationType ENV_VAR: SSM
# Agent 3.3.2746.0 and later hands it over as the environment variable SSM_<name>, never as code.
# Older agents only substitute the {{ name }} placeholders into this text: each one sits alone
# inside a quoted heredoc, so its value is data too (the document's allowedPattern excludes
# newlines, so a value cannot end the heredoc). Every value is then checked against that pattern.
#
# The onboarding credential never exists in plain text outside this instance. The document runs
# twice (phase). prepare: every check below, and when the instance needs a credential, a fresh RSA
# 2048 key pair made here, its private key kept in a root-only directory on the memory-backed
# filesystem (/dev/shm: never on disk, gone at reboot, removed after one use or 60 minutes), and
# only the public key reported in the result line; nothing is installed or changed. connect: the
# connector sends the credential sealed to that public key (sealedCredential: RSA-OAEP-SHA256 wraps
# a one-time passphrase and the credential's SHA-256; AES-256-CBC carries the credential, as
# `openssl enc -md sha256` reads it), which only this instance's private key opens. The opened
# credential is held in a variable and handed to azcmagent in a file only root can read, in the
# run's memory-backed work directory removed on every exit the shell sees (normal, error,
# SIGTERM/INT/HUP). No AWS credentials are needed on the instance. credentialType says what it is:
# a Microsoft Entra access token the connector obtained for this run (default; `azcmagent connect
# --access-token`, given as "access-token" in the --config file) or the service principal's
# secret (opt-in).
#
# Last line of output, always: MDC_ARC_RESULT {"status":"...","reason":"...",...}
# status: connected | already-connected | connected-elsewhere | key-ready (prepare) | failed
# publicKey: the RSA modulus (lowercase hex) of the key made in prepare, else empty.
# resourceId, vmId: the Arc machine the agent is connected to (connected, already-connected), as
# the agent reports it; arc-provisioner records them only from its own commands, and only when
# Resource Manager shows a Connected machine of that name with that vmId.
# Empty arrays are expanded as ${a[@]+"${a[@]}"}: bash before 4.4 (Amazon Linux 2, RHEL 7) treats
# "${a[@]}" of an empty array as unbound under set -u.
set -u
umask 077
export LC_ALL=C

value() { local v; IFS= read -r -d '' v || true; printf '%s' "${v%$'\n'}"; }

if [ -n "${SSM_tenantId+set}" ]; then tenant_id=$SSM_tenantId; else tenant_id=$(value <<'MDC_ARC_VALUE'
{{ tenantId }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_subscriptionId+set}" ]; then subscription_id=$SSM_subscriptionId; else subscription_id=$(value <<'MDC_ARC_VALUE'
{{ subscriptionId }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_resourceGroup+set}" ]; then resource_group=$SSM_resourceGroup; else resource_group=$(value <<'MDC_ARC_VALUE'
{{ resourceGroup }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_location+set}" ]; then location=$SSM_location; else location=$(value <<'MDC_ARC_VALUE'
{{ location }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_cloud+set}" ]; then cloud=$SSM_cloud; else cloud=$(value <<'MDC_ARC_VALUE'
{{ cloud }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_connectorId+set}" ]; then connector_id=$SSM_connectorId; else connector_id=$(value <<'MDC_ARC_VALUE'
{{ connectorId }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_accountId+set}" ]; then account_id=$SSM_accountId; else account_id=$(value <<'MDC_ARC_VALUE'
{{ accountId }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_servicePrincipalId+set}" ]; then service_principal_id=$SSM_servicePrincipalId; else service_principal_id=$(value <<'MDC_ARC_VALUE'
{{ servicePrincipalId }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_phase+set}" ]; then phase=$SSM_phase; else phase=$(value <<'MDC_ARC_VALUE'
{{ phase }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_sealedCredential+set}" ]; then sealed_credential=$SSM_sealedCredential; else sealed_credential=$(value <<'MDC_ARC_VALUE'
{{ sealedCredential }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_credentialType+set}" ]; then credential_type=$SSM_credentialType; else credential_type=$(value <<'MDC_ARC_VALUE'
{{ credentialType }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_proxyUrl+set}" ]; then proxy_url=$SSM_proxyUrl; else proxy_url=$(value <<'MDC_ARC_VALUE'
{{ proxyUrl }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_privateLinkScope+set}" ]; then private_link_scope=$SSM_privateLinkScope; else private_link_scope=$(value <<'MDC_ARC_VALUE'
{{ privateLinkScope }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_correlationId+set}" ]; then correlation_id=$SSM_correlationId; else correlation_id=$(value <<'MDC_ARC_VALUE'
{{ correlationId }}
MDC_ARC_VALUE
); fi
if [ -n "${SSM_force+set}" ]; then force=$SSM_force; else force=$(value <<'MDC_ARC_VALUE'
{{ force }}
MDC_ARC_VALUE
); fi

log_file=${MDC_ARC_LOG:-/var/log/mdc-connector-arc.log}
# Where the distribution is described, and the root under which the package manager's files go
# and systemd's run directory is looked for (tests point both into a sandbox).
os_release=${MDC_ARC_OS_RELEASE:-/etc/os-release}
sysroot=${MDC_ARC_SYSROOT:-}
# The user id the script must run as: root (tests run it as themselves).
root_uid=${MDC_ARC_ROOT_UID:-0}
# The memory-backed filesystem the credential's files must live on (tests point it elsewhere).
memory_root=${MDC_ARC_MEMORY_ROOT:-/dev/shm}
work_root=$memory_root
if ! [ -d "$work_root" ] || ! [ -w "$work_root" ]; then work_root=${TMPDIR:-/tmp}; fi
work_dir=$(mktemp -d "$work_root/mdc-arc.XXXXXXXX") || exit 1
trap 'rm -rf "$work_dir"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# Prints the result line and exits. Every value printed has passed a pattern without quotes or
# backslashes, so the line is valid JSON.
result() {
  local status=$1 reason=$2 detail=${3:-} public_key=${4:-}
  printf 'MDC_ARC_RESULT {"status":"%s","reason":"%s","detail":"%s","instanceId":"%s","correlationId":"%s","publicKey":"%s","resourceId":"%s","vmId":"%s"}\n' \
    "$status" "$reason" "$detail" "${instance_id:-}" "$correlation_id" "$public_key" "${arc_resource_id:-}" "${arc_vm_id:-}"
  if [ "$status" = failed ]; then exit 1; fi
  exit 0
}

guid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
check() {
  local name=$1 val=$2 pattern=$3
  if ! [[ $val =~ $pattern ]]; then
    correlation_id=''
    result failed invalid-parameter "$name"
  fi
}
check correlationId "$correlation_id" "$guid"
check tenantId "$tenant_id" "$guid"
check subscriptionId "$subscription_id" "$guid"
check servicePrincipalId "$service_principal_id" "$guid"
check resourceGroup "$resource_group" '^[A-Za-z0-9._()-]{1,90}$'
check location "$location" '^[a-z0-9]{1,40}$'
check cloud "$cloud" '^(AzureCloud|AzureUSGovernment|AzureChinaCloud)$'
check connectorId "$connector_id" '^[A-Za-z0-9][A-Za-z0-9._-]{0,89}$'
check accountId "$account_id" '^[0-9]{12}$'
check phase "$phase" '^(prepare|connect)$'
# The document's allowedPattern bounds the body to 16,385 characters; bash's regex engine is slow
# with large counted repetitions, so the length is checked on its own.
sealed_pattern='^mdcseal1\.([0-9a-f]{16})\.([A-Za-z0-9+/]+==)\.([A-Za-z0-9+/]+={0,2})$'
if [ "$phase" = connect ]; then
  if [ "${#sealed_credential}" -gt 16756 ]; then check sealedCredential "" x; fi
  check sealedCredential "$sealed_credential" "$sealed_pattern"
else
  check sealedCredential "$sealed_credential" '^$'
fi
check credentialType "$credential_type" '^(access-token|service-principal-secret)$'
check proxyUrl "$proxy_url" '^(https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?/?)?$'
check privateLinkScope "$private_link_scope" '^(/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[A-Za-z0-9._()-]{1,90}/providers/Microsoft\.HybridCompute/privateLinkScopes/[A-Za-z0-9._-]{1,64})?$'
check force "$force" '^(true|false)$'

# The cloud's Resource Manager and Microsoft Entra sign-in endpoints (Microsoft, "Connected Machine
# agent network requirements", URLs: management.azure.com, login.microsoftonline.com;
# management.usgovcloudapi.net, login.microsoftonline.us; management.chinacloudapi.cn,
# login.chinacloudapi.cn).
case "$cloud" in
  AzureUSGovernment) resource_manager=https://management.usgovcloudapi.net sign_in=https://login.microsoftonline.us ;;
  AzureChinaCloud) resource_manager=https://management.chinacloudapi.cn sign_in=https://login.chinacloudapi.cn ;;
  *) resource_manager=https://management.azure.com sign_in=https://login.microsoftonline.com ;;
esac

# First step: the instance's prerequisites (docs/arc-provisioner.md#instance-prerequisites). A
# missing one ends the run with the stable reason prerequisite-missing:<name>, its detail saying
# how to fix it, before anything is downloaded, written or changed: this step only reads (and,
# before an install, sends one HEAD request per endpoint, keeping nothing). Microsoft's own list for
# the agent (Connected Machine agent prerequisites, "Software requirements"): "Linux operating
# systems: systemd, wget (to download the installation script), openssl, gnupg (Debian-based
# systems, only)". This script downloads no installation script (no wget: curl fetches
# Microsoft's signing keys, the package manager the agent) and checks the keys with gpg on every
# distribution. It needs neither the AWS CLI nor AWS credentials: its parameters arrive in the
# command, the credential sealed.
have() { command -v "$1" >/dev/null 2>&1; }
missing() { result failed "prerequisite-missing:$1" "$2"; }
# Whether an HTTPS endpoint answers (any HTTP status: only the way there is checked), through the
# proxy when one is set: 10 s to connect, 20 s in all.
reachable() {
  local args=(-sS -I -o /dev/null --proto '=https' --tlsv1.2 --connect-timeout 10 -m 20 -w '%{http_code}')
  if [ -n "$proxy_url" ]; then args+=(--proxy "$proxy_url"); fi
  local code
  code=$(curl "${args[@]}" "$1" 2>/dev/null) || true
  [ -n "$code" ] && [ "$code" != 000 ]
}
# Root: the repository's files, the package and azcmagent connect need it ("Administrator
# permissions are required to install the Connected Machine agent on the machines; on Linux by
# using the root account": Microsoft, Connect hybrid machines to Azure at scale). SSM Run Command
# runs the document as root.
if [ "$(id -u)" != "$root_uid" ]; then
  missing root "run it as root, as SSM Run Command does"
fi
if ! have curl; then
  missing curl "install curl: Microsoft's signing keys are downloaded and Azure Resource Manager is read with it"
fi
# The credential is sealed and opened with OpenSSL.
if ! have openssl; then
  missing openssl "install openssl: the onboarding credential is sealed to a key made on this instance"
fi
# Only into memory: a killed script must not leave a key or the credential on disk (no fallback).
case "$work_dir" in
  "$memory_root"/*) ;;
  *) missing memory-filesystem "$memory_root is not a writable directory: the one-time key and the credential are only ever written to this memory-backed filesystem (a tmpfs, by default)" ;;
esac
# The agent runs as systemd services. sd_booted(3): "Internally, this function checks whether the
# directory /run/systemd/system/ exists."
if ! [ -d "$sysroot/run/systemd/system" ]; then
  missing systemd "this instance did not boot with systemd, which runs the agent's services: use a distribution that does"
fi
# Only before an install (an installed agent needs neither Microsoft's repository nor gpg): the
# distribution, its package manager, gpg, and the way to Microsoft and Azure.
manager='' repo='' os_codename=''
if ! have azcmagent; then
  os_field() { sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$os_release" 2>/dev/null | head -n 1; }
  os_id=$(os_field ID)
  os_version=$(os_field VERSION_ID)
  os_codename=$(os_field VERSION_CODENAME)
  [[ $os_id =~ ^[a-z0-9._-]{1,32}$ ]] || os_id=''
  [[ $os_version =~ ^[0-9]{1,4}(\.[0-9]{1,4})?$ ]] || os_version=''
  [[ $os_codename =~ ^[a-z]{1,32}$ ]] || os_codename=''
  major=${os_version%%.*}
  case "$os_id" in
    ubuntu) manager=apt repo="ubuntu/$os_version" ;;
    debian) manager=apt repo="debian/$major" ;;
    rhel | centos | rocky | almalinux | ol) manager=rpm repo="rhel/$major" ;;
    amzn) manager=rpm repo="amazonlinux/$major" ;;
    sles | sles_sap) manager=zypper repo="sles/$major" ;;
    *) manager='' repo='' ;;
  esac
  if [ -z "$manager" ] || [ -z "$major" ] || { [ "$manager" = apt ] && [ -z "$os_codename" ]; }; then
    missing supported-os "${os_id:-unknown} ${os_version:-unknown} has no Microsoft package repository the script knows: install the Azure Connected Machine agent yourself, then reprovision"
  fi
  case "$manager" in
    apt) have apt-get || missing package-manager "apt-get not found: the agent package is installed with it" ;;
    rpm) { have rpm && { have dnf || have yum; }; } || missing package-manager "rpm with dnf or yum not found: the agent package is installed with them" ;;
    *) { have rpm && have zypper; } || missing package-manager "rpm with zypper not found: the agent package is installed with them" ;;
  esac
  if ! have gpg; then
    missing gnupg "install gnupg: Microsoft's package signing keys are verified with it"
  fi
  # Outbound HTTPS (Microsoft, network requirements: the agent "communicates outbound securely to
  # Azure Arc over TCP port 443"): Microsoft's repository ("Used to download the Linux installation
  # package"), Microsoft Entra ID ("Always") and Resource Manager ("to create or delete the Arc
  # server resource"), each the first request of its kind this run would make. Not probed: the
  # agent's other endpoints (*.his.arc.azure.com, *.guestconfiguration.azure.com, ...), whose names
  # depend on the region and the private link scope; azcmagent connect checks them itself.
  for url in https://packages.microsoft.com/keys/microsoft.asc "$sign_in/" "$resource_manager/"; do
    if ! reachable "$url"; then
      missing outbound-https "$url is not reachable over HTTPS${proxy_url:+ through $proxy_url}: allow outbound HTTPS (TCP 443) to it, directly or through the connector's proxy (ARC_PROXY_URL)"
    fi
  done
fi

# The instance this runs on: the SSM agent says so; instance metadata (IMDSv2) otherwise.
instance_id=${AWS_SSM_INSTANCE_ID:-}
region=${AWS_SSM_REGION_NAME:-}
if [ -z "$instance_id" ]; then
  token=$(curl -fsS -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token 2>/dev/null) || token=''
  instance_id=$(curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id 2>/dev/null) || instance_id=''
fi
if ! [[ $instance_id =~ ^i-[0-9a-f]{8,17}$ ]]; then
  instance_id=''
  result failed instance-id-unknown
fi
if [ -n "$region" ] && ! [[ $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]]; then
  region=''
fi

# The sealing key pairs (prepare makes one, connect uses it once) live only in memory, root only.
key_dir=$memory_root/mdc-connector-keys
# Checked before anything is changed in it: a link or someone else's directory is refused.
if [ -L "$key_dir" ] || ! mkdir -p "$key_dir" 2>>"$log_file" || [ -L "$key_dir" ] ||
  [ "$(stat -c %u "$key_dir" 2>/dev/null)" != "$(id -u)" ] || ! chmod 700 "$key_dir"; then
  result failed no-memory-filesystem "$key_dir"
fi
# A key connect never used (its run ended first) goes after an hour.
find "$key_dir" -maxdepth 1 -type f -name '*.pem' -mmin +60 -delete 2>>"$log_file" || true
key_file=''
sealed_key_id=''
if [ "$phase" = connect ]; then
  [[ $sealed_credential =~ $sealed_pattern ]]
  sealed_key_id=${BASH_REMATCH[1]}
  key_file=$key_dir/$sealed_key_id.pem
  # One use: the key goes when this run ends, whatever happens.
  trap 'rm -rf "$work_dir"; rm -f "$key_file"' EXIT
fi

# prepare: a fresh key pair, the private key kept for connect, the public key reported; the run
# ends here (nothing installed or changed).
make_sealing_key() {
  local modulus key_id
  if ! openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work_dir/key.pem" >>"$log_file" 2>&1; then
    result failed sealing-key-failed "openssl genpkey"
  fi
  modulus=$(openssl rsa -in "$work_dir/key.pem" -noout -modulus 2>>"$log_file") || modulus=''
  modulus=${modulus#Modulus=}
  modulus=${modulus,,}
  if ! [[ $modulus =~ ^[0-9a-f]{512}$ ]]; then
    result failed sealing-key-failed "modulus"
  fi
  key_id=$(printf '%s' "$modulus" | openssl dgst -sha256 -r | cut -c1-16)
  mv -f "$work_dir/key.pem" "$key_dir/$key_id.pem" || result failed sealing-key-failed "store"
  result key-ready key-ready "$key_id" "$modulus"
}

# connect: the credential, opened with this instance's key, when first needed and before anything
# is changed. A token is base64url segments joined by dots; a secret, Entra's secret alphabet.
credential_read=false
read_credential() {
  if [ "$credential_read" = true ]; then return 0; fi
  credential_read=true
  if [ "$phase" = prepare ]; then make_sealing_key; fi
  local credential credential_pattern credential_key wrapped_key body unwrapped digest bound binding
  # Claimed before use (one rename): a second connect with the same value finds no key.
  if ! mv "$key_file" "$work_dir/key.pem" 2>/dev/null; then
    result failed sealing-key-missing "$sealed_key_id"
  fi
  IFS=. read -r _ _ wrapped_key body <<<"$sealed_credential"
  # Everything secret goes through files in the memory-backed work directory or standard input,
  # never through a command line (readable by every local user in /proc).
  printf '%s' "$wrapped_key" | openssl base64 -d -A >"$work_dir/wrapped" 2>>"$log_file"
  printf '%s' "$body" | openssl base64 -d -A >"$work_dir/body" 2>>"$log_file"
  if ! openssl pkeyutl -decrypt -inkey "$work_dir/key.pem" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
    -pkeyopt rsa_mgf1_md:sha256 -in "$work_dir/wrapped" -out "$work_dir/unwrapped" >>"$log_file" 2>&1; then
    result failed credential-unsealable "key $sealed_key_id"
  fi
  rm -f "$work_dir/key.pem"
  unwrapped=$(cat "$work_dir/unwrapped")
  if ! [[ $unwrapped =~ ^[0-9a-f]{160}$ ]]; then
    result failed credential-unsealable "wrapped key"
  fi
  printf '%s\n' "${unwrapped:0:64}" >"$work_dir/pass"
  digest=${unwrapped:64:64}
  bound=${unwrapped:128:32}
  unwrapped=''
  # The credential was sealed for this command's parameters and this instance (src/arc/seal.rs,
  # binding): a sealed value replayed with other parameters, or to another instance, opens nothing.
  binding=$(printf 'tenantId=%s\nsubscriptionId=%s\nresourceGroup=%s\nlocation=%s\ncloud=%s\nconnectorId=%s\naccountId=%s\nservicePrincipalId=%s\ncredentialType=%s\nproxyUrl=%s\nprivateLinkScope=%s\ncorrelationId=%s\nforce=%s\ninstance=%s\n' \
    "$tenant_id" "$subscription_id" "$resource_group" "$location" "$cloud" "$connector_id" "$account_id" \
    "$service_principal_id" "$credential_type" "$proxy_url" "$private_link_scope" "$correlation_id" "$force" \
    "$instance_id" | openssl dgst -sha256 -r | cut -c1-32)
  if [ "$binding" != "$bound" ]; then
    result failed credential-unsealable "binding"
  fi
  if ! openssl enc -d -aes-256-cbc -md sha256 -pass "file:$work_dir/pass" -in "$work_dir/body" \
    -out "$work_dir/credential" 2>>"$log_file"; then
    result failed credential-unsealable "body"
  fi
  # The body carries no MAC of its own: the credential's SHA-256 sealed beside the passphrase is
  # what proves it arrived as it was sealed.
  if [ "$(openssl dgst -sha256 -r "$work_dir/credential" | cut -c1-64)" != "$digest" ]; then
    result failed credential-unsealable "digest"
  fi
  credential=$(cat "$work_dir/credential")
  rm -f "$work_dir/pass" "$work_dir/credential" "$work_dir/unwrapped" "$work_dir/wrapped" "$work_dir/body"
  if [ "$credential_type" = access-token ]; then
    credential_pattern='^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$'
    credential_key=access-token
  else
    credential_pattern='^[A-Za-z0-9._~-]{1,256}$'
    credential_key=service-principal-secret
  fi
  if [ "${#credential}" -gt 12288 ] || ! [[ $credential =~ $credential_pattern ]]; then
    credential=''
    result failed credential-unsealable "not a $credential_type"
  fi
  # Written by printf, a shell builtin: the value never appears in a process's arguments.
  printf '{"%s": "%s"}\n' "$credential_key" "$credential" >"$work_dir/connect.json"
  if [ "$credential_type" = access-token ]; then
    printf 'Authorization: Bearer %s\n' "$credential" >"$work_dir/arm.headers"
  fi
}

# Only reads JSON written by azcmagent: the first "key": "value" pair with this key.
json_field() {
  sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" | head -n 1
}

# The Arc machine this instance connects as.
target_machine_id="/subscriptions/$subscription_id/resourceGroups/$resource_group/providers/Microsoft.HybridCompute/machines/$instance_id"
arc_resource_id=''
arc_vm_id=''

# The agent's Arc machine and vmId, from `azcmagent show -j` (only a GUID is taken as vmId).
agent_identity() {
  local vm_id
  vm_id=$(printf '%s' "$1" | json_field vmId)
  arc_resource_id=$target_machine_id
  if [[ $vm_id =~ $guid ]]; then arc_vm_id=${vm_id,,}; else arc_vm_id=''; fi
}

# The HTTP status of a Resource Manager read of one machine, with the run's access token.
arm_get() {
  local args=(-sS --proto '=https' --tlsv1.2 -m 30 -H "@$work_dir/arm.headers" -o "$work_dir/machine.json" -w '%{http_code}')
  if [ -n "$proxy_url" ]; then args+=(--proxy "$proxy_url"); fi
  local code
  code=$(curl "${args[@]}" "$resource_manager$1?api-version=2024-07-10" 2>>"$log_file") || true
  printf '%s' "${code:-000}"
}

installed=false
if command -v azcmagent >/dev/null 2>&1; then
  installed=true
  shown=$(azcmagent show -j 2>>"$log_file") || shown=''
  agent_status=$(printf '%s' "$shown" | json_field status)
  agent_subscription=$(printf '%s' "$shown" | json_field subscriptionId)
  agent_group=$(printf '%s' "$shown" | json_field resourceGroup)
  agent_name=$(printf '%s' "$shown" | json_field resourceName)
  if [ "$agent_status" = Connected ]; then
    same_subscription=${agent_subscription,,}
    wanted_subscription=${subscription_id,,}
    same_group=${agent_group,,}
    wanted_group=${resource_group,,}
    # The target is this connector's machine for this instance: same subscription and group, and
    # the instance id as name (an agent connected there under another name is someone else's).
    if [ "$same_subscription" = "$wanted_subscription" ] && [ "$same_group" = "$wanted_group" ] &&
      [ "${agent_name,,}" = "${instance_id,,}" ]; then
      agent_identity "$shown"
      # Forced (a re-provision, or Azure shows no machine for this instance): the agent's belief is
      # checked against Resource Manager. A machine deleted in Azure leaves the agent "Connected"
      # locally; Microsoft's remedy is `azcmagent disconnect --force-local-only` ("if the
      # corresponding resource in Azure has already been deleted"), then connect.
      if [ "$force" != true ] || [ "$credential_type" != access-token ]; then
        result already-connected connected "$subscription_id/$resource_group"
      fi
      read_credential
      case "$(arm_get "$target_machine_id")" in
        200) result already-connected connected "$subscription_id/$resource_group" ;;
        404)
          if ! azcmagent disconnect --force-local-only >>"$log_file" 2>&1; then
            result failed disconnect-failed "$subscription_id/$resource_group"
          fi
          arc_resource_id='' arc_vm_id='' ;;
        *) result failed arc-unreadable "$target_machine_id" ;;
      esac
    else
      where=$(printf '%s/%s' "$agent_subscription" "$agent_group" | tr -cd 'A-Za-z0-9._()/-')
      if [ "$same_subscription" = "$wanted_subscription" ] && [ "$same_group" = "$wanted_group" ]; then
        where="$where (as $(printf '%s' "$agent_name" | tr -cd 'A-Za-z0-9._-'))"
      fi
      if [ "$force" != true ]; then
        result connected-elsewhere connected-elsewhere "$where"
      fi
      # A forced move takes only an agent this connector onboarded: its Arc resource, read from
      # Azure Resource Manager with the run's token, carries MDFCSecurityConnector=<this connector>.
      if [ "$credential_type" != access-token ]; then
        result connected-elsewhere connected-elsewhere "$where: its connector tag cannot be checked without an access token"
      fi
      read_credential
      machine_id=$(printf '/subscriptions/%s/resourceGroups/%s/providers/Microsoft.HybridCompute/machines/%s' \
        "$agent_subscription" "$agent_group" "$agent_name")
      if ! [[ $machine_id =~ ^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[A-Za-z0-9._()-]{1,90}/providers/Microsoft\.HybridCompute/machines/[A-Za-z0-9._-]{1,64}$ ]]; then
        result connected-elsewhere connected-elsewhere "$where: the agent does not name its Arc resource"
      fi
      arm_args=(-fsS --proto '=https' --tlsv1.2 -m 30 -H "@$work_dir/arm.headers")
      if [ -n "$proxy_url" ]; then arm_args+=(--proxy "$proxy_url"); fi
      machine=$(curl "${arm_args[@]}" "$resource_manager$machine_id?api-version=2024-07-10" 2>>"$log_file") || machine=''
      owner=$(printf '%s' "$machine" | tr -d '\n' | json_field MDFCSecurityConnector)
      if [ "$owner" != "$connector_id" ]; then
        result connected-elsewhere connected-elsewhere "$where: its Arc resource is not tagged MDFCSecurityConnector=$connector_id"
      fi
      if ! azcmagent disconnect --force-local-only >>"$log_file" 2>&1; then
        result failed disconnect-failed "$where"
      fi
    fi
  elif [ "${agent_name,,}" = "${instance_id,,}" ] && { [ "$agent_status" = Disconnected ] || [ "$agent_status" = Expired ]; } \
      && [ "${agent_subscription,,}" = "${subscription_id,,}" ] && [ "${agent_group,,}" = "${resource_group,,}" ]; then
    # This connector's agent stopped reporting ("An expired machine can't be managed through Azure
    # Arc until a server administrator disconnects and then reconnects it"). A connect under the
    # same name fails while the Azure resource exists (AZCM0044 "A resource with the same name
    # already exists": "delete the existing Azure Arc-enabled server in Azure and try again"), and
    # the onboarding role cannot delete it: the sweep's application does first. Checked before the
    # local configuration goes, so a refused repair leaves the agent as it was; prepare stops
    # before that, at the credential.
    read_credential
    if [ "$credential_type" = access-token ]; then
      case "$(arm_get "$target_machine_id")" in
        404) ;;
        200) result failed arc-resource-exists "$target_machine_id" ;;
        *) result failed arc-unreadable "$target_machine_id" ;;
      esac
    elif [ "$force" != true ]; then
      # Without a token Azure cannot be asked: only when the connector found no machine of this
      # name (it sends force then, as after the sweep deleted it) is the local configuration cleared.
      result failed arc-resource-exists "$target_machine_id"
    fi
    if ! azcmagent disconnect --force-local-only >>"$log_file" 2>&1; then
      result failed disconnect-failed "$agent_status"
    fi
  fi
fi

# Past this point the agent is installed, configured and connected: the credential must be there.
read_credential

# The agent comes from Microsoft's package repository (packages.microsoft.com), never from a script:
# the repository is trusted only with Microsoft's signing keys, each file checked to hold exactly
# its pinned key first, and the package manager verifies the package's signature with them (the
# distribution's repository and package manager: found in the first step).
if [ "$installed" = false ]; then
  download_args=(-fsSL --proto '=https' --tlsv1.2)
  # Downloads go through the configured proxy too.
  if [ -n "$proxy_url" ]; then download_args+=(--proxy "$proxy_url"); fi
  keys=()
  for key in microsoft.asc=BC528686B50D79E339D3721CEB3E94ADBE1229CF \
    microsoft-2025.asc=AA86F75E427A19DD33346403EE4D7792F748182B; do
    name=${key%%=*}
    if ! curl "${download_args[@]}" -o "$work_dir/$name" "https://packages.microsoft.com/keys/$name" >>"$log_file" 2>&1; then
      result failed download-failed "https://packages.microsoft.com/keys/$name"
    fi
    # Every primary key in the file (the fpr line after each pub line; a sub line's belongs to a
    # subkey of the key before it): exactly the pinned one, or nothing from it is trusted.
    fingerprint=$(gpg --batch --with-colons --show-keys "$work_dir/$name" 2>>"$log_file" |
      awk -F: '$1 == "pub" { primary = 1; next } $1 == "sub" { primary = 0; next }
               $1 == "fpr" && primary { printf "%s%s", sep, $10; sep = " "; primary = 0 }')
    if [ "$fingerprint" != "${key#*=}" ]; then
      result failed installer-unverified "$name has fingerprint ${fingerprint:-unreadable}, not exactly ${key#*=}"
    fi
    keys+=("$work_dir/$name")
  done
  base=https://packages.microsoft.com/$repo/prod
  proxy_env=()
  if [ -n "$proxy_url" ]; then proxy_env=("https_proxy=$proxy_url" "http_proxy=$proxy_url"); fi
  case "$manager" in
    apt)
      keyring=$sysroot/usr/share/keyrings/mdc-connector-microsoft.gpg
      list=$sysroot/etc/apt/sources.list.d/mdc-connector-microsoft-prod.list
      mkdir -p "${keyring%/*}" "${list%/*}"
      cat "${keys[@]}" | gpg --batch --yes --dearmor -o "$keyring" >>"$log_file" 2>&1 || result failed install-failed keyring
      chmod 644 "$keyring"
      printf 'deb [signed-by=%s] %s %s main\n' "${keyring#"$sysroot"}" "$base" "$os_codename" >"$list"
      # Only this repository is refreshed; the package manager checks the package's signature.
      if ! env ${proxy_env[@]+"${proxy_env[@]}"} DEBIAN_FRONTEND=noninteractive apt-get update \
        -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >>"$log_file" 2>&1 ||
        ! env ${proxy_env[@]+"${proxy_env[@]}"} DEBIAN_FRONTEND=noninteractive apt-get install -y azcmagent >>"$log_file" 2>&1; then
        result failed install-failed "see $log_file"
      fi
      ;;
    *)
      key_dir=$sysroot/etc/pki/rpm-gpg
      mkdir -p "$key_dir"
      cat "${keys[@]}" >"$key_dir/mdc-connector-microsoft.asc"
      if ! rpm --import "$key_dir/mdc-connector-microsoft.asc" >>"$log_file" 2>&1; then
        result failed install-failed "rpm --import"
      fi
      if [ "$manager" = zypper ]; then
        zypper --non-interactive removerepo mdc-connector-microsoft-prod >>"$log_file" 2>&1 || true
        if ! zypper --non-interactive addrepo --gpgcheck "$base/" mdc-connector-microsoft-prod >>"$log_file" 2>&1 ||
          ! env ${proxy_env[@]+"${proxy_env[@]}"} zypper --non-interactive install -y azcmagent >>"$log_file" 2>&1; then
          result failed install-failed "see $log_file"
        fi
      else
        mkdir -p "$sysroot/etc/yum.repos.d"
        # includepkgs: the repository serves this connector the agent package only, never a
        # replacement for any other package of the machine.
        printf '[mdc-connector-microsoft-prod]\nname=Microsoft (mdc-connector)\nbaseurl=%s/\nenabled=1\ngpgcheck=1\ngpgkey=file://%s\nsslverify=1\nincludepkgs=azcmagent\n' \
          "$base" "/etc/pki/rpm-gpg/mdc-connector-microsoft.asc" >"$sysroot/etc/yum.repos.d/mdc-connector-microsoft-prod.repo"
        installer=yum
        if command -v dnf >/dev/null 2>&1; then installer=dnf; fi
        if ! env ${proxy_env[@]+"${proxy_env[@]}"} "$installer" -y install azcmagent >>"$log_file" 2>&1; then
          result failed install-failed "see $log_file"
        fi
      fi
      ;;
  esac
  if ! command -v azcmagent >/dev/null 2>&1; then
    result failed install-failed "azcmagent not found after install"
  fi
fi

if [ -n "$proxy_url" ]; then
  if ! azcmagent config set proxy.url "$proxy_url" >>"$log_file" 2>&1; then
    result failed proxy-config-failed
  fi
fi

connect_args=(
  connect
  --config "$work_dir/connect.json"
  --tenant-id "$tenant_id"
  --subscription-id "$subscription_id"
  --resource-group "$resource_group"
  --location "$location"
  --cloud "$cloud"
  --resource-name "$instance_id"
  --tags "AccountId=$account_id,Cloud=AWS,InstanceId=$instance_id,MDFCSecurityConnector=$connector_id"
  --correlation-id "$correlation_id"
)
if [ "$credential_type" = service-principal-secret ]; then
  connect_args+=(--service-principal-id "$service_principal_id")
fi
if [ -n "$private_link_scope" ]; then connect_args+=(--private-link-scope "$private_link_scope"); fi
if ! azcmagent "${connect_args[@]}" >>"$log_file" 2>&1; then
  rm -f "$work_dir/connect.json"
  result failed connect-failed "see $log_file"
fi
rm -f "$work_dir/connect.json"
agent_identity "$(azcmagent show -j 2>>"$log_file")"
result connected connected "$subscription_id/$resource_group"
