#!/usr/bin/env bash
# Builds the imgbatch binary (cgo, govips) the same way in the Dockerfile, in CI and on a
# developer machine, against the one pinned libvips that scripts/libvips-npm.sh installs, and
# proves the result links it.
#
#   scripts/build.sh            build (make build runs this)
#   scripts/build.sh --env      print the environment (export lines) that points cgo at the
#                               pinned libvips, for a go build/test/vet of your own:
#                               eval "$(scripts/build.sh --env)"; go test ./vips/
#
# Environment:
#   LIBVIPS_PREFIX   where scripts/libvips-npm.sh installed libvips (default
#                    <repo>/.cache/libvips/<pinned version>; the Dockerfile uses /opt/libvips)
#   OUT              output binary (default bin/imgbatch)
#   PKG              package to build (default ./cmd/imgbatch)
#   VERSION          stamped into main.version (default: git describe, else "dev")
#   EXTRA_TAGS       build tags, space separated
#
# Why CGO_CFLAGS/CGO_LDFLAGS and not only PKG_CONFIG_PATH: Go's build cache keys a cgo
# package on the CGO_* variables but not on PKG_CONFIG_PATH or a .pc file's content, so a
# govips compiled earlier against another libvips would be reused and linked silently.
# The prefix (which names the libvips version) in CGO_CFLAGS and CGO_LDFLAGS makes every
# libvips its own cache entry. After the build, readelf must show NEEDED
# libvips-cpp.so.<pinned> and a RUNPATH with PREFIX/lib, or the build fails
# (internal/buildcheck tests this against a poisoned cache).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)

die() { echo "build.sh: $*" >&2; exit 1; }

LIBVIPS_VERSION=$(scripts/libvips-npm.sh --version)
LIBVIPS_PREFIX=${LIBVIPS_PREFIX:-$repo/.cache/libvips/$LIBVIPS_VERSION}
[[ $LIBVIPS_PREFIX == /* ]] || LIBVIPS_PREFIX=$repo/$LIBVIPS_PREFIX
LIBVIPS_PREFIX=${LIBVIPS_PREFIX%/}
so=libvips-cpp.so.$LIBVIPS_VERSION

# The one definition of the cgo environment (the Makefile exports the same values).
libvips_env() {
  local p=$LIBVIPS_PREFIX
  printf 'export PKG_CONFIG_PATH=%q\n' "$p/lib/pkgconfig"
  printf 'export CGO_CFLAGS=%q\n' "-O2 -g -I$p/include -I$p/include/glib-2.0 -I$p/lib/glib-2.0/include"
  printf 'export CGO_LDFLAGS=%q\n' "-O2 -g -L$p/lib -Wl,-rpath,$p/lib -Wl,--enable-new-dtags"
  printf 'export CGO_ENABLED=1\n'
}

if [[ ${1:-} == --env ]]; then
  libvips_env
  exit 0
fi

OUT=${OUT:-bin/imgbatch}
PKG=${PKG:-./cmd/imgbatch}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

[[ -f $LIBVIPS_PREFIX/lib/pkgconfig/vips.pc && -f $LIBVIPS_PREFIX/lib/$so ]] ||
  die "no libvips $LIBVIPS_VERSION in $LIBVIPS_PREFIX: run scripts/libvips-npm.sh $LIBVIPS_PREFIX first (make does)"
grep -qx "libvips=$LIBVIPS_VERSION .*" "$LIBVIPS_PREFIX/share/doc/sharp-libvips/installed" 2>/dev/null ||
  die "$LIBVIPS_PREFIX is not the pinned libvips $LIBVIPS_VERSION: run scripts/libvips-npm.sh $LIBVIPS_PREFIX"

command -v go >/dev/null || die "go is required"
command -v pkg-config >/dev/null || die "pkg-config is required (govips asks it for vips)"
command -v readelf >/dev/null || die "readelf (binutils) is required to check the binary"

eval "$(libvips_env)"
[[ $(pkg-config --modversion vips) == "$LIBVIPS_VERSION" ]] ||
  die "pkg-config finds vips $(pkg-config --modversion vips 2>&1), want $LIBVIPS_VERSION (PKG_CONFIG_PATH=$PKG_CONFIG_PATH)"

mkdir -p "$(dirname "$OUT")"
echo "building $PKG -> $OUT (libvips $LIBVIPS_VERSION in $LIBVIPS_PREFIX, tags: ${EXTRA_TAGS:-none}, version $VERSION)"
go build -trimpath -tags "${EXTRA_TAGS:-}" -ldflags "-s -w -X main.version=$VERSION" -o "$OUT" "$PKG"

# The binary must link the pinned libvips and find it through its RUNPATH, whatever the
# build cache held.
dyn=$(readelf -d "$OUT")
needed=$(sed -n 's/.*(NEEDED).*\[\(libvips[^]]*\)\].*/\1/p' <<<"$dyn")
runpath=$(sed -n 's/.*(RUNPATH).*\[\(.*\)\].*/\1/p' <<<"$dyn")
if [[ $needed != "$so" ]]; then
  echo "$dyn" >&2
  die "$OUT links libvips '${needed//$'\n'/ }', want exactly $so: another libvips leaked in (stale build cache?)"
fi
case ":$runpath:" in
  *":$LIBVIPS_PREFIX/lib:"*) ;;
  *) echo "$dyn" >&2; die "$OUT has RUNPATH '$runpath', want it to contain $LIBVIPS_PREFIX/lib" ;;
esac
if command -v ldd >/dev/null && ldd "$OUT" | grep -q 'not found'; then
  ldd "$OUT" >&2
  die "$OUT has unresolved shared libraries"
fi
# And ask the binary which libvips it runs (only imgbatch has the subcommand; skip when
# cross-building).
if [[ $PKG == ./cmd/imgbatch ]] && [[ $(go env GOOS)/$(go env GOARCH) == "$(go env GOHOSTOS)/$(go env GOHOSTARCH)" ]]; then
  ran=$("$OUT" version --json | sed -n 's/.*"libvips": *"\([^"]*\)".*/\1/p')
  [[ $ran == "$LIBVIPS_VERSION" ]] || die "$OUT version says it runs libvips '$ran', want $LIBVIPS_VERSION"
fi
echo "built $OUT: NEEDED $so, RUNPATH $runpath"
