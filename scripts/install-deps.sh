#!/usr/bin/env bash
# Installs the system packages imgbatch needs on Debian 12, only those missing:
# libvips (build and run), pkg-config, the aws CLI (cross-checks in tests).
# Used by `make demo`, `make test` and .ci/run. With "test", also what only the
# tests need: chromium (headless rendering check of the HTML run report).
set -euo pipefail
pkgs=(libvips-dev libvips-tools pkg-config awscli)
[ "${1:-}" = test ] && pkgs+=(chromium)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
command -v gcc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
