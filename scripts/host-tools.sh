#!/usr/bin/env bash
# Install the Debian packages the tests, the linters and the local cluster use, when missing.
# As root this runs apt-get; otherwise it names the command to run and fails.
set -euo pipefail
declare -A wanted=([prometheus]=prometheus [wrk]=wrk [nft]=nftables [ip]=iproute2
  [unshare]=util-linux [setpriv]=util-linux [nsenter]=util-linux [curl]=curl
  [shellcheck]=shellcheck [git]=git [chromium]=chromium)
missing=()
for tool in "${!wanted[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${wanted[$tool]}")
done
((${#missing[@]})) || exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [[ $(id -u) -ne 0 ]]; then
  echo "missing tools: run  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
