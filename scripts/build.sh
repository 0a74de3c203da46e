#!/usr/bin/env bash
# Builds the imgbatch binary (cgo, govips) the same way in the Dockerfile, in CI and on
# a developer machine.
#
#   scripts/build.sh
#
# Environment:
#   LIBVIPS          npm (default): link the libvips that scripts/libvips-npm.sh put in
#                    LIBVIPS_PREFIX, with -tags libvips_npm (which adds the
#                    vips_magickload_buffer stand-in the npm build lacks);
#                    system: link the distribution's libvips-dev through pkg-config.
#   LIBVIPS_PREFIX   where scripts/libvips-npm.sh installed libvips (default /opt/libvips)
#   OUT              output binary (default bin/imgbatch)
#   PKG              package to build (default ./cmd/imgbatch)
#   VERSION          stamped into main.version (default: git describe, else "dev")
#   EXTRA_TAGS       more build tags, space separated
set -euo pipefail

cd "$(dirname "$0")/.."

LIBVIPS=${LIBVIPS:-npm}
LIBVIPS_PREFIX=${LIBVIPS_PREFIX:-/opt/libvips}
OUT=${OUT:-bin/imgbatch}
PKG=${PKG:-./cmd/imgbatch}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

die() { echo "build.sh: $*" >&2; exit 1; }

tags=${EXTRA_TAGS:-}
case "$LIBVIPS" in
  npm)
    [[ -f $LIBVIPS_PREFIX/lib/pkgconfig/vips.pc ]] ||
      die "no $LIBVIPS_PREFIX/lib/pkgconfig/vips.pc: run scripts/libvips-npm.sh $LIBVIPS_PREFIX first"
    export PKG_CONFIG_PATH="$LIBVIPS_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    tags="libvips_npm${tags:+ $tags}"
    ;;
  system) ;;
  *) die "LIBVIPS must be npm or system, not $LIBVIPS" ;;
esac

command -v go >/dev/null || die "go is required"
command -v pkg-config >/dev/null || die "pkg-config is required"
pkg-config --exists vips || die "pkg-config cannot find vips (PKG_CONFIG_PATH=${PKG_CONFIG_PATH:-})"

export CGO_ENABLED=1
mkdir -p "$(dirname "$OUT")"
echo "building $PKG -> $OUT (libvips $(pkg-config --modversion vips), tags: ${tags:-none}, version $VERSION)"
go build -trimpath -tags "$tags" -ldflags "-s -w -X main.version=$VERSION" -o "$OUT" "$PKG"

# The binary must find libvips at run time (rpath from vips.pc, or the linker cache).
if command -v ldd >/dev/null; then
  if ldd "$OUT" | grep -q 'not found'; then
    ldd "$OUT" >&2
    die "$OUT has unresolved shared libraries"
  fi
fi
echo "built $OUT"
