#!/usr/bin/env bash
# Installs THE libvips imgbatch builds, tests, benchmarks and ships with: the self-contained
# build that sharp publishes on npm (@img/sharp-libvips-<arch>, one .so that needs only glibc
# and libstdc++) plus headers from @img/sharp-libvips-dev, into PREFIX, and writes
# PREFIX/lib/pkgconfig/vips.pc. The Makefile (target libvips), CI (.ci/run -> make test) and the
# Dockerfile all run this script; scripts/build.sh links against its result.
#
#   scripts/libvips-npm.sh [PREFIX]     install (default PREFIX: $LIBVIPS_PREFIX or /opt/libvips)
#   scripts/libvips-npm.sh --version    print the pinned libvips version (8.18.8) and exit
#
# Versions are pinned here and nowhere else (the Makefile asks --version; the Dockerfile's ARGs
# must equal these defaults: cloudformation/dockerfile_test.go checks it):
#   SHARP_LIBVIPS_VERSION      @img/sharp-libvips-<arch> (the library)             1.3.5
#   SHARP_LIBVIPS_DEV_VERSION  @img/sharp-libvips-dev (headers)                    1.3.4
#   LIBVIPS_VERSION            libvips inside the library package; checked         8.18.8
#   LIBVIPS_HEADERS_VERSION    libvips of the headers (include/vips/version.h)     8.18.7
# npm has no sharp-libvips-dev 1.3.5, so the headers are one libvips patch release older than
# the library: same major.minor = same ABI (checked below). lib/glib-2.0/include/glibconfig.h
# comes from the library package: it is per architecture (x86-64's defines G_VA_COPY_AS_ARRAY,
# aarch64's does not), so LIBVIPS_ARCH=linux-arm64 gets the arm64 one. `imgbatch version` prints both (runtime and header).
#
# Environment:
#   LIBVIPS_ARCH      linux-x64 | linux-arm64 (default: from uname -m)
#   LIBVIPS_TARBALLS  directory holding the two .tgz files already (offline / CI cache);
#                     otherwise they are fetched with `npm pack`
#
# Idempotent: when PREFIX already holds exactly this pinned set (its stamp file
# PREFIX/share/doc/sharp-libvips/installed), it prints so and exits at once. Otherwise it
# installs into a staging directory next to PREFIX and swaps it in, under a lock.
#
# Result:
#   PREFIX/include/...                          headers (vips, glib-2.0, ...)
#   PREFIX/lib/libvips-cpp.so.<LIBVIPS_VERSION> the library (SONAME libvips-cpp.so.<version>)
#   PREFIX/lib/glib-2.0/include/glibconfig.h
#   PREFIX/lib/pkgconfig/vips.pc                Libs carry -Wl,-rpath,PREFIX/lib
#   PREFIX/share/doc/sharp-libvips/             versions.json, package.json, README.md, installed
#
# Needs: npm (unless LIBVIPS_TARBALLS), node, tar, gzip.
# The library has no ImageMagick loader; govips refers to vips_magickload_buffer, which
# vips/magick_shim.go defines (a refusal).
set -euo pipefail

SHARP_LIBVIPS_VERSION=${SHARP_LIBVIPS_VERSION:-1.3.5}
SHARP_LIBVIPS_DEV_VERSION=${SHARP_LIBVIPS_DEV_VERSION:-1.3.4}
LIBVIPS_VERSION=${LIBVIPS_VERSION:-8.18.8}
LIBVIPS_HEADERS_VERSION=${LIBVIPS_HEADERS_VERSION:-8.18.7}

if [[ ${1:-} == --version ]]; then
  echo "$LIBVIPS_VERSION"
  exit 0
fi

PREFIX=${1:-${LIBVIPS_PREFIX:-/opt/libvips}}

die() { echo "libvips-npm.sh: $*" >&2; exit 1; }

[[ $PREFIX == /* ]] || die "PREFIX must be an absolute path (it is written into vips.pc and the binary's RUNPATH): $PREFIX"
PREFIX=${PREFIX%/}

if [[ -z ${LIBVIPS_ARCH:-} ]]; then
  case "$(uname -m)" in
    x86_64 | amd64) LIBVIPS_ARCH=linux-x64 ;;
    aarch64 | arm64) LIBVIPS_ARCH=linux-arm64 ;;
    *) die "unsupported machine $(uname -m)" ;;
  esac
fi

# npm "dist.integrity" of the tarballs, pinned: a registry-side change fails the build.
integrity_of() {
  case "$1" in
    sharp-libvips-dev@1.3.4) echo "sha512-s1VIq6p83pWGi1hk7VLdfRiI6DUolGYqbpCNu4zdEIbKjlbdR9zHFpIiY6wQtnbn5jSfu9+E/PSC26tkONer2Q==" ;;
    sharp-libvips-linux-x64@1.3.5) echo "sha512-3VGDsRGFGVidz6AIeLWYxNlo6yZizVkEr0O3dgex6rsNHtCm6jgIj6bseSfOamn8Nq/Hcw6JZ9TxTT5ASjy+Sg==" ;;
    sharp-libvips-linux-arm64@1.3.5) echo "sha512-uobFASVW42cKPBb+Vzk/ISzq9POzJ2BurZFvZqamTctzBxcAHc8mOBg3m+kxywHoDaOFziZeTg6uCcMv3s3vkA==" ;;
    # The previous pin, kept so SHARP_LIBVIPS_VERSION=1.3.4 LIBVIPS_VERSION=8.18.7 still installs.
    sharp-libvips-linux-x64@1.3.4) echo "sha512-GJ//SSXbnwSDes02umB3nDJLFcQzw8a18V8fyhqr6tV515tOEMdImjjxj1AoafMRz56F3PHgftnj1QEKSU1zkw==" ;;
    sharp-libvips-linux-arm64@1.3.4) echo "sha512-Y3dgX/6lE2QhQb+Gxy0WZxfg9MEm/JBjamZpS2IklP7xIQoKN4hzAm7KcMVGtaVDt3neE9OKBC7vAfonA/Lr1A==" ;;
    *) die "no pinned integrity for @img/$1: add it to integrity_of (npm view @img/$1 dist.integrity)" ;;
  esac
}

dev_pkg=sharp-libvips-dev@$SHARP_LIBVIPS_DEV_VERSION
lib_pkg=sharp-libvips-$LIBVIPS_ARCH@$SHARP_LIBVIPS_VERSION
so=libvips-cpp.so.$LIBVIPS_VERSION
stamp_rel=share/doc/sharp-libvips/installed
lib_integrity=$(integrity_of "$lib_pkg")
dev_integrity=$(integrity_of "$dev_pkg")
want_stamp="lib=@img/$lib_pkg $lib_integrity
dev=@img/$dev_pkg $dev_integrity
libvips=$LIBVIPS_VERSION headers=$LIBVIPS_HEADERS_VERSION
prefix=$PREFIX"

installed() {
  [[ -f $PREFIX/$stamp_rel && -f $PREFIX/lib/$so && -f $PREFIX/lib/pkgconfig/vips.pc &&
    -f $PREFIX/include/vips/vips.h && $(<"$PREFIX/$stamp_rel") == "$want_stamp" ]]
}

if installed; then
  echo "libvips $LIBVIPS_VERSION already installed in $PREFIX"
  exit 0
fi

command -v node >/dev/null || die "node is required (it comes with npm)"
command -v tar >/dev/null || die "tar is required"

mkdir -p "$(dirname "$PREFIX")"
# One installer at a time for this PREFIX.
exec 9>"$PREFIX.lock"
if command -v flock >/dev/null; then flock 9; fi
if installed; then
  echo "libvips $LIBVIPS_VERSION already installed in $PREFIX"
  exit 0
fi

work=$(mktemp -d)
stage="$PREFIX.new.$$"
trap 'rm -rf "$work" "$stage"' EXIT

for pkg in "$dev_pkg" "$lib_pkg"; do
  name=${pkg%@*} ver=${pkg##*@}
  tgz="img-$name-$ver.tgz"
  if [[ -n ${LIBVIPS_TARBALLS:-} ]]; then
    [[ -f $LIBVIPS_TARBALLS/$tgz ]] || die "$LIBVIPS_TARBALLS/$tgz not found"
    cp "$LIBVIPS_TARBALLS/$tgz" "$work/$tgz"
  else
    command -v npm >/dev/null || die "npm is required (or set LIBVIPS_TARBALLS)"
    (cd "$work" && npm pack --silent --ignore-scripts "@img/$pkg" >/dev/null)
    [[ -f $work/$tgz ]] || die "npm pack did not produce $tgz"
  fi
  want=$lib_integrity
  [[ $pkg == "$dev_pkg" ]] && want=$dev_integrity
  got="sha512-$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$work/$tgz")"
  [[ $got == "$want" ]] || die "$tgz integrity $got, want $want"
  mkdir -p "$work/$name"
  tar -xzf "$work/$tgz" -C "$work/$name" --no-same-owner
done

dev=$work/sharp-libvips-dev/package
lib=$work/sharp-libvips-$LIBVIPS_ARCH/package
[[ -f $lib/lib/$so ]] || die "$lib_pkg has no lib/$so: $(ls "$lib/lib")"
vips_version=$(node -p 'require(process.argv[1]).vips' "$lib/versions.json")
[[ $vips_version == "$LIBVIPS_VERSION" ]] || die "$lib_pkg has libvips $vips_version, expected $LIBVIPS_VERSION (set LIBVIPS_VERSION)"
hdr_version=$(sed -n 's/^#define VIPS_VERSION "\(.*\)"$/\1/p' "$dev/include/vips/version.h")
[[ $hdr_version == "$LIBVIPS_HEADERS_VERSION" ]] || die "$dev_pkg has libvips $hdr_version headers, expected $LIBVIPS_HEADERS_VERSION (set LIBVIPS_HEADERS_VERSION)"
# Headers from another patch release are fine (same ABI); from another minor release are not.
[[ ${hdr_version%.*} == "${vips_version%.*}" ]] || die "headers $hdr_version and library $vips_version differ in major.minor: not the same ABI"

# The bundle must keep its codecs to itself: an exported jpeg_*/heif_*/png_*/TIFF*/de265_*
# symbol would clash with a system codec library in the same process.
if command -v nm >/dev/null; then
  leaked=$(nm -D --defined-only "$lib/lib/$so" | awk '{print $3}' | grep -E '^(jpeg_|jpeg[0-9]|heif_|png_|TIFF|de265_|WebP)' | head -5 || true)
  [[ -z $leaked ]] || die "$so exports codec symbols (e.g. $(echo "$leaked" | tr '\n' ' ')): they would clash with system codec libraries"
fi

mkdir -p "$stage/lib/pkgconfig" "$stage/lib/glib-2.0/include" "$stage/share/doc/sharp-libvips"
cp -R "$dev/include" "$stage/include"
cp "$lib/lib/$so" "$stage/lib/$so"
chmod 0644 "$stage/lib/$so"
cp "$lib/lib/glib-2.0/include/glibconfig.h" "$stage/lib/glib-2.0/include/"
cp "$lib/versions.json" "$lib/package.json" "$lib/README.md" "$stage/share/doc/sharp-libvips/"

cat >"$stage/lib/pkgconfig/vips.pc" <<EOF
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: vips
Description: libvips $vips_version from npm @img/$lib_pkg, headers $hdr_version from @img/$dev_pkg (self-contained, LGPL-3.0-or-later bundle)
Version: $vips_version
Cflags: -I\${includedir} -I\${includedir}/glib-2.0 -I\${libdir}/glib-2.0/include
Libs: -L\${libdir} -l:$so -Wl,-rpath,\${libdir}
EOF
printf '%s\n' "$want_stamp" >"$stage/$stamp_rel"

# Swap the complete staging directory in (an old PREFIX, e.g. with a vipsthumbnail built on
# another libvips, goes as a whole).
if [[ -e $PREFIX ]]; then
  mv "$PREFIX" "$PREFIX.old.$$"
  mv "$stage" "$PREFIX"
  rm -rf "$PREFIX.old.$$"
else
  mv "$stage" "$PREFIX"
fi

echo "libvips $vips_version (headers $hdr_version) installed in $PREFIX (lib/$so); PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig"
