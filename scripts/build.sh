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
#   GOARCH           target architecture, amd64 or arm64 (default: this machine's). Another
#                    architecture is a cross build (scripts/build.sh --env prints it too):
#                    CC (default aarch64-linux-gnu-gcc / x86_64-linux-gnu-gcc, Debian's
#                    gcc-<triplet>), the libvips of that architecture (LIBVIPS_PREFIX default
#                    <repo>/.cache/libvips/<version>-linux-arm64, installed by
#                    LIBVIPS_ARCH=linux-arm64 scripts/libvips-npm.sh PREFIX), and the binary is
#                    started under qemu-user (qemu-aarch64-static, with CROSS_SYSROOT, default
#                    /usr/<triplet>, as its -L) to ask it which libvips it runs; without qemu that
#                    last check is skipped with a note. make build-arm64 does all of it.
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

# The target: this machine's architecture, or a cross build (GOARCH=arm64 on x86_64).
goarch_of() {
  case "$1" in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "unsupported architecture $1 (amd64 or arm64)" ;;
  esac
}
host_arch=$(goarch_of "$(uname -m)")
target_arch=$(goarch_of "${GOARCH:-$host_arch}")
case $target_arch in
  amd64) npm_arch=linux-x64 triplet=x86_64-linux-gnu machine='X86-64' qemu=qemu-x86_64-static ;;
  arm64) npm_arch=linux-arm64 triplet=aarch64-linux-gnu machine='AArch64' qemu=qemu-aarch64-static ;;
esac
cross=false
default_prefix=$repo/.cache/libvips/$LIBVIPS_VERSION
if [[ $target_arch != "$host_arch" ]]; then
  cross=true
  default_prefix=$repo/.cache/libvips/$LIBVIPS_VERSION-$npm_arch
  CC=${CC:-$triplet-gcc}
  CROSS_SYSROOT=${CROSS_SYSROOT:-/usr/$triplet}
fi
LIBVIPS_PREFIX=${LIBVIPS_PREFIX:-$default_prefix}
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
  if $cross; then
    # Only the target's .pc files: nothing of the host's pkg-config leaks into the link.
    printf 'export PKG_CONFIG_LIBDIR=%q\n' "$p/lib/pkgconfig"
    printf 'export GOOS=linux GOARCH=%q CC=%q\n' "$target_arch" "$CC"
  fi
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
stamp=$LIBVIPS_PREFIX/share/doc/sharp-libvips/installed
grep -qx "libvips=$LIBVIPS_VERSION .*" "$stamp" 2>/dev/null ||
  die "$LIBVIPS_PREFIX is not the pinned libvips $LIBVIPS_VERSION: run scripts/libvips-npm.sh $LIBVIPS_PREFIX"
grep -q "^lib=@img/sharp-libvips-$npm_arch@" "$stamp" ||
  die "$LIBVIPS_PREFIX holds libvips for another architecture ($(sed -n 's/^lib=@img\/sharp-libvips-\([^@]*\)@.*/\1/p' "$stamp"), want $npm_arch): run LIBVIPS_ARCH=$npm_arch scripts/libvips-npm.sh PREFIX"

command -v go >/dev/null || die "go is required"
command -v pkg-config >/dev/null || die "pkg-config is required (govips asks it for vips)"
command -v readelf >/dev/null || die "readelf (binutils) is required to check the binary"
if $cross; then
  command -v "$CC" >/dev/null ||
    die "cross-building for $target_arch needs the C compiler $CC (Debian: apt-get install gcc-$triplet libc6-dev-$target_arch-cross; scripts/install-deps.sh arm64)"
  # A CC=gcc left in the environment would compile cgo for the host and fail at the link.
  cc_target=$("$CC" -dumpmachine 2>/dev/null || true)
  [[ $cc_target == "${triplet%%-*}"-* ]] ||
    die "CC=$CC compiles for '$cc_target', not $triplet: unset CC or set CC=$triplet-gcc"
fi

eval "$(libvips_env)"
[[ $(pkg-config --modversion vips) == "$LIBVIPS_VERSION" ]] ||
  die "pkg-config finds vips $(pkg-config --modversion vips 2>&1), want $LIBVIPS_VERSION (PKG_CONFIG_PATH=$PKG_CONFIG_PATH)"

mkdir -p "$(dirname "$OUT")"
echo "building $PKG -> $OUT for linux/$target_arch (libvips $LIBVIPS_VERSION in $LIBVIPS_PREFIX, tags: ${EXTRA_TAGS:-none}, version $VERSION)"
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
machine_of=$(readelf -h "$OUT" | sed -n 's/^ *Machine: *//p')
[[ $machine_of == *"$machine"* ]] || die "$OUT is built for '$machine_of', want $machine (linux/$target_arch)"
if ! $cross && command -v ldd >/dev/null && ldd "$OUT" | grep -q 'not found'; then
  ldd "$OUT" >&2
  die "$OUT has unresolved shared libraries"
fi
# And ask the binary which libvips it runs (only imgbatch has the subcommand). A cross-built
# one runs under qemu-user when it is installed: run explicitly (no binfmt_misc needed, as in
# a container), the target's glibc and libstdc++ from Debian's cross packages in CROSS_SYSROOT.
run=("$OUT")
if $cross; then
  run=()
  # qemu-user-static's, or qemu-user's (dynamically linked, the same emulator).
  command -v "$qemu" >/dev/null || qemu=${qemu%-static}
  if command -v "$qemu" >/dev/null && [[ -d $CROSS_SYSROOT/lib ]]; then
    run=("$qemu" -L "$CROSS_SYSROOT" "$OUT")
  else
    echo "build.sh: $OUT not started: no $qemu or no $CROSS_SYSROOT/lib (scripts/install-deps.sh arm64 installs them)" >&2
  fi
fi
if [[ $PKG == ./cmd/imgbatch ]] && ((${#run[@]})); then
  ran=$("${run[@]}" version --json | sed -n 's/.*"libvips": *"\([^"]*\)".*/\1/p')
  [[ $ran == "$LIBVIPS_VERSION" ]] || die "$OUT version says it runs libvips '$ran', want $LIBVIPS_VERSION"
fi
echo "built $OUT for linux/$target_arch: NEEDED $so, RUNPATH $runpath"
