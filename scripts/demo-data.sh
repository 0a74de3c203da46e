#!/usr/bin/env bash
# Prepares the demo dataset deterministically under $1 (default .cache/demo):
#   photos/  real photos and renders from Debian's plasma-workspace-wallpapers
#            (downloaded with apt-get download and unpacked with dpkg -x, not installed)
#   photos/iphone/IMG_0001.HEIC  an iPhone-style HEIC from testdata/heic (decoded by the HEIC helper)
#   broken/  hostile and broken files from testdata/bad-images (reject and either cases)
set -euo pipefail
out=${1:-.cache/demo}
cache=${CACHE_DIR:-.cache}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$out/photos" ]; then
  mkdir -p "$cache/deb" "$out.tmp/photos" "$out.tmp/broken"
  if ! ls "$cache"/deb/plasma-workspace-wallpapers_*.deb >/dev/null 2>&1; then
    (cd "$cache/deb" && apt-get download plasma-workspace-wallpapers 2>/dev/null || { apt-get update -qq && apt-get download plasma-workspace-wallpapers; })
  fi
  rm -rf "$cache/wallpapers" && mkdir -p "$cache/wallpapers"
  dpkg -x "$cache"/deb/plasma-workspace-wallpapers_*.deb "$cache/wallpapers"
  # <Theme>/<file>: 39 JPEG and 33 PNG images, up to 5120x2880.
  (cd "$cache/wallpapers/usr/share/wallpapers" && find . -type f \( -name '*.jpg' -o -name '*.png' \) | sort) | while read -r f; do
    theme=${f#./}; theme=${theme%%/*}
    dest="$out.tmp/photos/$theme/$(echo "${f#./$theme/contents/}" | tr / -)"
    mkdir -p "$(dirname "$dest")"
    cp "$cache/wallpapers/usr/share/wallpapers/${f#./}" "$dest"
  done
  # A few broken files: each must become a failed row with a readable reason.
  for f in empty.jpg random-bytes.jpg pdf-renamed.jpg bmp-16x16-valid.bmp svg-with-script.svg \
           jpeg-sof-65500x65500.jpg png-ihdr-100000x100000-tiny-idat.png png-broken-pillow.png \
           svgz-truncated-gzip-trailing-garbage.svgz text-matrix-named.png; do
    cp "$here/testdata/bad-images/$f" "$out.tmp/broken/$f"
  done
  rm -rf "$out" && mv "$out.tmp" "$out"
fi
# A HEIC as an iPhone writes it (HEVC, irot, EXIF orientation, Display P3 profile, thumbnail):
# the linked libvips has no HEVC decoder, so the HEIC helper decodes it (libheif1 + libde265;
# README "HEIC"). Copied on every run, so an existing dataset gets it too.
mkdir -p "$out/photos/iphone"
cp "$here/testdata/heic/iphone-p3-rot90-64x96.heic" "$out/photos/iphone/IMG_0001.HEIC"
echo "demo dataset: $(find "$out/photos" -type f | wc -l) photos, $(find "$out/broken" -type f | wc -l) broken files in $out"
