#!/usr/bin/env bash
# Installs a current libvips (the self-contained build that sharp ships on npm) into
# PREFIX and writes PREFIX/lib/pkgconfig/vips.pc, so that govips (#cgo pkg-config: vips)
# compiles and links against it. Used by the Dockerfile and by CI alike.
#
#   scripts/libvips-npm.sh [PREFIX]          default PREFIX: $LIBVIPS_PREFIX or /opt/libvips
#
# Environment:
#   SHARP_LIBVIPS_VERSION  npm version of @img/sharp-libvips-* (default 1.3.4)
#   LIBVIPS_VERSION        expected libvips version inside it (default 8.18.7); checked
#   LIBVIPS_ARCH           linux-x64 | linux-arm64 (default: from uname -m)
#   LIBVIPS_TARBALLS       directory holding the two .tgz files already (offline / CI
#                          cache); otherwise they are fetched with `npm pack`
#
# Result:
#   PREFIX/include/...                          headers (vips, glib-2.0, ...)
#   PREFIX/lib/libvips-cpp.so.<LIBVIPS_VERSION> the library (needs only glibc + libstdc++)
#   PREFIX/lib/glib-2.0/include/glibconfig.h
#   PREFIX/lib/pkgconfig/vips.pc
#   PREFIX/share/doc/sharp-libvips/             versions.json, package.json, README.md
#
# Needs: npm (unless LIBVIPS_TARBALLS), node, tar, gzip.
# The binary must also define vips_magickload_buffer (sharp's build has no ImageMagick
# loader; govips refers to it): build with -tags libvips_npm (scripts/build.sh does).
set -euo pipefail

PREFIX=${1:-${LIBVIPS_PREFIX:-/opt/libvips}}
SHARP_LIBVIPS_VERSION=${SHARP_LIBVIPS_VERSION:-1.3.4}
LIBVIPS_VERSION=${LIBVIPS_VERSION:-8.18.7}

die() { echo "libvips-npm.sh: $*" >&2; exit 1; }

if [[ -z ${LIBVIPS_ARCH:-} ]]; then
  case "$(uname -m)" in
    x86_64 | amd64) LIBVIPS_ARCH=linux-x64 ;;
    aarch64 | arm64) LIBVIPS_ARCH=linux-arm64 ;;
    *) die "unsupported machine $(uname -m)" ;;
  esac
fi

# npm "dist.integrity" of the tarballs, pinned: a registry-side change fails the build.
integrity_of() {
  case "$1@$SHARP_LIBVIPS_VERSION" in
    sharp-libvips-dev@1.3.4) echo "sha512-s1VIq6p83pWGi1hk7VLdfRiI6DUolGYqbpCNu4zdEIbKjlbdR9zHFpIiY6wQtnbn5jSfu9+E/PSC26tkONer2Q==" ;;
    sharp-libvips-linux-x64@1.3.4) echo "sha512-GJ//SSXbnwSDes02umB3nDJLFcQzw8a18V8fyhqr6tV515tOEMdImjjxj1AoafMRz56F3PHgftnj1QEKSU1zkw==" ;;
    sharp-libvips-linux-arm64@1.3.4) echo "sha512-Y3dgX/6lE2QhQb+Gxy0WZxfg9MEm/JBjamZpS2IklP7xIQoKN4hzAm7KcMVGtaVDt3neE9OKBC7vAfonA/Lr1A==" ;;
    *) die "no pinned integrity for @img/$1@$SHARP_LIBVIPS_VERSION: add it to integrity_of (npm view @img/$1@$SHARP_LIBVIPS_VERSION dist.integrity)" ;;
  esac
}

command -v node >/dev/null || die "node is required (it comes with npm)"
command -v tar >/dev/null || die "tar is required"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dev_pkg=sharp-libvips-dev
lib_pkg=sharp-libvips-$LIBVIPS_ARCH
for pkg in "$dev_pkg" "$lib_pkg"; do
  tgz="img-$pkg-$SHARP_LIBVIPS_VERSION.tgz"
  if [[ -n ${LIBVIPS_TARBALLS:-} ]]; then
    [[ -f $LIBVIPS_TARBALLS/$tgz ]] || die "$LIBVIPS_TARBALLS/$tgz not found"
    cp "$LIBVIPS_TARBALLS/$tgz" "$work/$tgz"
  else
    command -v npm >/dev/null || die "npm is required (or set LIBVIPS_TARBALLS)"
    (cd "$work" && npm pack --silent --ignore-scripts "@img/$pkg@$SHARP_LIBVIPS_VERSION" >/dev/null)
    [[ -f $work/$tgz ]] || die "npm pack did not produce $tgz"
  fi
  want=$(integrity_of "$pkg")
  got="sha512-$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$work/$tgz")"
  [[ $got == "$want" ]] || die "$tgz integrity $got, want $want"
  mkdir -p "$work/$pkg"
  tar -xzf "$work/$tgz" -C "$work/$pkg" --no-same-owner
done

dev=$work/$dev_pkg/package
lib=$work/$lib_pkg/package
so=$(cd "$lib/lib" && ls libvips-cpp.so.*)
[[ $(wc -w <<<"$so") -eq 1 ]] || die "expected one libvips-cpp.so.* in $lib_pkg, found: $so"
vips_version=$(node -p 'require(process.argv[1]).vips' "$lib/versions.json")
[[ $vips_version == "$LIBVIPS_VERSION" ]] || die "$lib_pkg@$SHARP_LIBVIPS_VERSION has libvips $vips_version, expected $LIBVIPS_VERSION (set LIBVIPS_VERSION)"
[[ $so == "libvips-cpp.so.$vips_version" ]] || die "library file $so does not match libvips $vips_version"

rm -rf "${PREFIX:?}/include" "${PREFIX:?}/lib" "${PREFIX:?}/share/doc/sharp-libvips"
mkdir -p "$PREFIX/lib/pkgconfig" "$PREFIX/lib/glib-2.0/include" "$PREFIX/share/doc/sharp-libvips"
cp -R "$dev/include" "$PREFIX/include"
cp "$lib/lib/$so" "$PREFIX/lib/$so"
cp "$lib/lib/glib-2.0/include/glibconfig.h" "$PREFIX/lib/glib-2.0/include/"
cp "$lib/versions.json" "$PREFIX/share/doc/sharp-libvips/versions.json"
cp "$lib/package.json" "$PREFIX/share/doc/sharp-libvips/package.json"
cp "$lib/README.md" "$PREFIX/share/doc/sharp-libvips/README.md"
chmod 0644 "$PREFIX/lib/$so"

cat >"$PREFIX/lib/pkgconfig/vips.pc" <<EOF
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: vips
Description: libvips $vips_version from npm @img/$lib_pkg@$SHARP_LIBVIPS_VERSION (self-contained, LGPL-3.0-or-later bundle)
Version: $vips_version
Cflags: -I\${includedir} -I\${includedir}/glib-2.0 -I\${libdir}/glib-2.0/include
Libs: -L\${libdir} -l:$so -Wl,-rpath,\${libdir}
EOF

echo "libvips $vips_version installed in $PREFIX (lib/$so); PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig"
