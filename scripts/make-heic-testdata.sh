#!/usr/bin/env bash
# Regenerates testdata/heic/: small valid HEVC-coded HEIFs made with Debian's heif-enc
# (apt-get install libheif-examples: libheif 1.15 with x265). Every source has a red 16x16
# square in its top-left corner as stored, so tests can check orientation on the pixels.
#   plain-64x48.heic            RGB, no colour profile
#   alpha-48x32.heic            RGBA, right half 50 % transparent
#   iphone-p3-rot90-64x96.heic  what an iPhone writes: 96x64 stored pixels, irot (90° clockwise,
#                               displayed 64x96: red corner top right), EXIF orientation 6 that
#                               must not be applied again, a Display P3 ICC profile, a 32x20
#                               thumbnail
#   grey-4096x4096.heic         16.8 MP of flat grey in a few KB: memory-limit and pixel-budget tests
# x265 output is not guaranteed byte-identical across versions; the tests check sizes and
# pixels, not hashes.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/testdata/heic}
command -v heif-enc >/dev/null || { echo "heif-enc not found: apt-get install libheif-examples" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && go build -o "$tmp/heic-testdata" ./scripts/heic-testdata)
"$tmp/heic-testdata" sources "$tmp/src"
mkdir -p "$out"
heif-enc -q 70 "$tmp/src/corner.png" -o "$out/plain-64x48.heic"
heif-enc -q 70 "$tmp/src/alpha.png" -o "$out/alpha-48x32.heic"
heif-enc -q 10 "$tmp/src/big.png" -o "$out/grey-4096x4096.heic"
heif-enc -q 70 -t 32 "$tmp/src/iphone.jpg" -o "$tmp/iphone.heic"
"$tmp/heic-testdata" irot "$tmp/iphone.heic" "$out/iphone-p3-rot90-64x96.heic" 3
ls -l "$out"/*.heic
