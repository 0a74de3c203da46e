#!/usr/bin/env bash
# Builds imgbatch's small `vips` / `vipsheader` commands (scripts/vips-cli/vips-cli.c) against
# the pinned npm libvips that scripts/libvips-npm.sh installed in PREFIX, into PREFIX/bin: the
# bench's dataset preparation and `vips resize` baseline and the chaos suite's
# VIPS_BLOCK_UNTRUSTED check run on the same libvips as imgbatch, without Debian's
# libvips-tools. Fast (nothing to do) when PREFIX/bin/vips is newer than the source.
#
#   scripts/vips-cli.sh [PREFIX]     default PREFIX: $LIBVIPS_PREFIX or /opt/libvips
#
# Needs: a C compiler (cc), pkg-config.
set -euo pipefail

cd "$(dirname "$0")/.."
PREFIX=${1:-${LIBVIPS_PREFIX:-/opt/libvips}}
die() { echo "vips-cli.sh: $*" >&2; exit 1; }

src=scripts/vips-cli/vips-cli.c
[[ -f $PREFIX/lib/pkgconfig/vips.pc ]] || die "no $PREFIX/lib/pkgconfig/vips.pc: run scripts/libvips-npm.sh $PREFIX first"
if [[ -x $PREFIX/bin/vips && $PREFIX/bin/vips -nt $src && $PREFIX/bin/vips -nt $PREFIX/lib/pkgconfig/vips.pc ]]; then
  exit 0
fi
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
mkdir -p "$PREFIX/bin"
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -O2 -Wall $(pkg-config --cflags vips) "$src" -o "$PREFIX/bin/vips.tmp" $(pkg-config --libs vips)
mv "$PREFIX/bin/vips.tmp" "$PREFIX/bin/vips"
ln -sf vips "$PREFIX/bin/vipsheader"
echo "built $PREFIX/bin/vips and vipsheader: $("$PREFIX/bin/vips" --version)"
