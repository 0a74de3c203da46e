#!/usr/bin/env bash
# Builds libvips' vipsthumbnail (third_party/vipsthumbnail/vipsthumbnail.c, from libvips 8.18.4)
# against the npm libvips that scripts/libvips-npm.sh installed in PREFIX, into
# PREFIX/bin/vipsthumbnail: the bench's vipsthumbnail baseline on the same libvips as imgbatch.
#
#   scripts/vipsthumbnail-npm.sh [PREFIX]     default PREFIX: $LIBVIPS_PREFIX or /opt/libvips
#
# Needs: a C compiler (cc), pkg-config.
set -euo pipefail

cd "$(dirname "$0")/.."
PREFIX=${1:-${LIBVIPS_PREFIX:-/opt/libvips}}
die() { echo "vipsthumbnail-npm.sh: $*" >&2; exit 1; }

[[ -f $PREFIX/lib/pkgconfig/vips.pc ]] || die "no $PREFIX/lib/pkgconfig/vips.pc: run scripts/libvips-npm.sh $PREFIX first"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
mkdir -p "$PREFIX/bin"
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -O2 -w -DGETTEXT_PACKAGE='"vips8.18"' -Ithird_party/vipsthumbnail/shim \
  $(pkg-config --cflags vips) third_party/vipsthumbnail/vipsthumbnail.c \
  -o "$PREFIX/bin/vipsthumbnail" $(pkg-config --libs vips) -lm
"$PREFIX/bin/vipsthumbnail" --vips-version
