#!/usr/bin/env bash
# Installs the system packages imgbatch needs on Debian 12, only those missing. libvips is
# NOT among them: the one pinned libvips comes from npm (scripts/libvips-npm.sh, run by
# `make libvips`), so Debian's libvips-dev / libvips-tools are not needed and not installed.
#   build:   pkg-config (govips asks it for vips), gcc (cgo), binutils (readelf in
#            scripts/build.sh), nodejs + npm only if node/npm are missing (npm fetches libvips)
#   run:     libheif1 libde265-0 (Debian's libheif with the HEVC decoder, for the HEIC helper)
#   tests:   awscli (cross-checks); with "test" also chromium (headless check of the HTML run
#            report), libheif-examples (heif-enc / heif-dec for HEIC test images) and debootstrap
#            (the runtime image built without an engine: scripts/image-local.sh, image/)
#   arm64:   with "arm64" or "test": the cross build for linux/arm64 (Graviton) and its check
#            under emulation: gcc-aarch64-linux-gnu + libc6-dev-arm64-cross (cgo's C compiler
#            and the arm64 glibc; libstdc++6-arm64-cross, which libvips needs, comes with
#            them), qemu-user-static (run explicitly, `qemu-aarch64-static -L
#            /usr/aarch64-linux-gnu`: no binfmt_misc or binfmt-support needed, as in a
#            container). ~20 s of apt here; ~106 MB of packages, 63 MB of it qemu-user-static.
# Used by `make deps`, `make test`, `make build-arm64` and .ci/run.
set -euo pipefail
pkgs=(pkg-config binutils awscli libheif1 libde265-0)
arm64=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libstdc++6-arm64-cross qemu-user-static)
[ "${1:-}" = test ] && pkgs+=(chromium libheif-examples debootstrap "${arm64[@]}")
[ "${1:-}" = arm64 ] && pkgs+=("${arm64[@]}")
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
command -v gcc >/dev/null || need+=(gcc)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
