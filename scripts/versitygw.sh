#!/usr/bin/env bash
# Installs versitygw (github.com/versity/versitygw, an S3 gateway with a posix
# backend: the second, independent S3 implementation the integration tests in
# chaos/ run the pipeline against) with `go install`, once, into a cache
# directory, and prints the path of the binary on stdout.
#
#   scripts/versitygw.sh            # -> /root/.cache/imgbatch/versitygw-v1.8.0/versitygw
#
# A binary already in the cache is reused when `go version -m` says it was
# built from the pinned module version. Needs Go and the Go module proxy (or
# a warm module cache); nothing else.
#
# Environment:
#   VERSITYGW_VERSION  module version (default v1.8.0)
#   IMGBATCH_CACHE     cache directory (default ${XDG_CACHE_HOME:-~/.cache}/imgbatch,
#                      or the repository's .cache/ when that is not writable)
set -euo pipefail

VERSION=${VERSITYGW_VERSION:-v1.8.0}
MODULE=github.com/versity/versitygw
repo=$(cd "$(dirname "$0")/.." && pwd)

cache=${IMGBATCH_CACHE:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/imgbatch}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
	cache="$repo/.cache"
	mkdir -p "$cache"
fi
dir="$cache/versitygw-$VERSION"
bin="$dir/versitygw"

current() {
	[ -x "$bin" ] && go version -m "$bin" 2>/dev/null |
		grep -Eq "^[[:space:]]*mod[[:space:]]+$MODULE[[:space:]]+$VERSION([[:space:]]|$)"
}

if current; then
	echo "$bin"
	exit 0
fi

mkdir -p "$dir"
# One installer at a time (parallel test binaries may all ask).
exec 9>"$dir/.lock"
if command -v flock >/dev/null; then flock 9; fi
if current; then
	echo "$bin"
	exit 0
fi

echo "versitygw.sh: installing $MODULE/cmd/versitygw@$VERSION into $dir (first time: a minute or two)" >&2
# Outside the repository so its go.mod plays no part; GOFLAGS from the
# environment (e.g. -mod=vendor) would break a module-mode install.
(cd "$dir" && GOBIN="$dir" GOFLAGS=-buildvcs=false GO111MODULE=on go install "$MODULE/cmd/versitygw@$VERSION") >&2
if ! current; then
	echo "versitygw.sh: $bin was not installed as $MODULE $VERSION" >&2
	exit 1
fi
echo "$bin"
