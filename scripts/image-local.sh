#!/usr/bin/env bash
# Builds imgbatch's runtime image WITHOUT a container engine (make image-local; the image tests
# run it): a debootstrapped Debian bookworm stands in for debian:bookworm-slim, and the
# Dockerfile's runtime stage is applied to it by the same script the Dockerfile runs
# (scripts/runtime-layer.sh), so what AWS Batch runs and what the tests run cannot drift.
#
#   scripts/image-local.sh [--arch amd64|arm64] [--out DIR] [--binary FILE]
#   IMAGE_IMPORT=podman scripts/image-local.sh   also `podman import` it as imgbatch:<version>-local
#
# Result in DIR (default .imgbatch/image/<arch>):
#   rootfs/            the image's filesystem (chroot into it to run the image)
#   rootfs.tar         the same as one tar (`podman import --change … rootfs.tar` makes an image)
#   image.conf         its config in Dockerfile form: ENV, LABEL, USER, WORKDIR, ENTRYPOINT, CMD
#   sbom.spdx.json     SPDX 2.3: the Debian packages, libvips and what its npm bundle holds,
#                      the Go modules of the binary
#   size.txt, size.json  the image's size and what dominates it
#   imgbatch           the binary, built as the Dockerfile builds it (LIBVIPS_PREFIX=/opt/libvips)
#   build.env          the cached tars it started from (BASE_TAR, PKGS_TAR) and the mirror
#
# Cached under IMAGE_CACHE (default .cache/image), keyed by what makes them:
#   base-bookworm-<arch>-<key>.tar        debootstrap --variant=minbase, slimmed as the
#                                         debian:*-slim images are (key: suite, mirror, rules)
#   runtime-pkgs-<arch>-<key>.tar         that + `runtime-layer.sh --step packages`
#                                         (key: the base + runtime-layer.sh)
#   opt-<arch>/libvips                    scripts/libvips-npm.sh /opt/libvips (the Dockerfile's
#                                         libvips stage), bind-mounted at /opt for the build
# IMAGE_BASE_REFRESH=1 makes the base (and so the packages) again, e.g. for security updates.
# The mirror is the one apt uses here (/etc/apt/sources.list*), else deb.debian.org; set
# IMAGE_MIRROR / IMAGE_SECURITY_MIRROR to override.
#
# Needs root (debootstrap, chroot, a private mount namespace for /opt), debootstrap, unshare,
# and what make build needs (go, gcc, pkg-config, npm).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
die() { echo "image-local.sh: $*" >&2; exit 1; }

ARCH=amd64 OUT="" BINARY=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--arch) ARCH=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--binary) BINARY=${2:?}; shift 2 ;;
	*) die "unknown argument $1 (usage: image-local.sh [--arch amd64|arm64] [--out DIR] [--binary FILE])" ;;
	esac
done
case $ARCH in
amd64) NPM_ARCH=linux-x64 ;;
arm64) NPM_ARCH=linux-arm64 ;;
*) die "--arch $ARCH: want amd64 or arm64" ;;
esac
[[ $(id -u) == 0 ]] || die "needs root (debootstrap, chroot, mount)"
for t in debootstrap unshare chroot tar flock; do
	command -v "$t" >/dev/null || die "$t is required (apt-get install debootstrap util-linux)"
done
OUT=${OUT:-.imgbatch/image/$ARCH}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[[ -z $BINARY ]] || BINARY=$(realpath "$BINARY")
CACHE=${IMAGE_CACHE:-$repo/.cache/image}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
SUITE=bookworm
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
export VERSION REVISION

# apt_mirror prints the first URI apt uses for SUFFIX (debian or debian-security).
apt_mirror() {
	local uri
	uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
		grep -oE "https?://[^ ]+/$1/?( |$)" | head -1 | tr -d ' ') || true
	echo "${uri:-http://deb.debian.org/$1}"
}
MIRROR=${IMAGE_MIRROR:-$(apt_mirror debian)}
SECURITY_MIRROR=${IMAGE_SECURITY_MIRROR:-$(apt_mirror debian-security)}

# safe_rm removes a directory that may have held a chroot: never through a mount left in it.
safe_rm() {
	local d=$1 m
	[[ -e $d ]] || return 0
	d=$(realpath "$d")
	while read -r m; do
		umount -l "$m" || die "cannot unmount $m: not removing $d"
	done < <(awk -v d="$d/" 'index($2 "/", d) == 1 {print $2}' /proc/mounts | sort -r)
	rm -rf --one-file-system "$d"
}

# The slimming of the debian:*-slim images (debuerreotype's slimify): no docs but copyrights,
# no man pages, no locales, kept out of every later apt install too.
SLIM_RULES='path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias'

key() { printf '%s\n' "$@" | sha256sum | cut -c1-12; }
BASE_KEY=$(key "$SUITE" "$ARCH" "$MIRROR" "$SECURITY_MIRROR" "$SLIM_RULES" "$(debootstrap --version)" base-2)
BASE_TAR=$CACHE/base-$SUITE-$ARCH-$BASE_KEY.tar
PKGS_KEY=$(key "$BASE_KEY" "$(sha256sum scripts/runtime-layer.sh)")
PKGS_TAR=$CACHE/runtime-pkgs-$ARCH-$PKGS_KEY.tar

make_base() {
	local root=$1
	echo "image-local: debootstrap $SUITE ($ARCH, minbase) from $MIRROR"
	debootstrap --variant=minbase --arch "$ARCH" "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 ||
		{ tail -20 "$root.log" >&2; die "debootstrap failed (log: $root.log)"; }
	printf '%s\n' "$SLIM_RULES" >"$root/etc/dpkg/dpkg.cfg.d/docker"
	(cd "$root" && find usr/share/doc -mindepth 1 ! -name copyright ! -type d -delete &&
		find usr/share/doc -mindepth 1 -type d -empty -delete &&
		rm -rf usr/share/man/* usr/share/groff/* usr/share/info/* usr/share/lintian/* usr/share/linda/* &&
		find usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +)
	cat >"$root/etc/apt/sources.list" <<-EOF
		deb $MIRROR $SUITE main
		deb $MIRROR $SUITE-updates main
		deb $SECURITY_MIRROR $SUITE-security main
	EOF
	# Up to date like the published debian:bookworm-slim (point release + security), so the
	# runtime layer holds only what it adds.
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	mount -t proc proc "$root/proc"
	if ! { chroot "$root" apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get upgrade -y -qq >/dev/null &&
		chroot "$root" apt-get clean; }; then
		umount "$root/proc"
		die "apt-get upgrade of the base failed"
	fi
	umount "$root/proc"
	rm -rf "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/*
	: >"$root/etc/resolv.conf"
	: >"$root/etc/hostname"
}

# cached NAME MAKER: builds tar NAME once (under a lock; others wait), MAKER filling a rootfs.
cached() {
	local tarball=$1 maker=$2 work
	if [[ -f $tarball && ${IMAGE_BASE_REFRESH:-} != 1 ]]; then
		touch "$tarball" # its mtime is its last use (see prune)
		return 0
	fi
	exec 8>"$tarball.lock"
	flock 8
	if [[ -f $tarball && ${IMAGE_BASE_REFRESH:-} != 1 ]]; then exec 8>&-; return 0; fi
	work=$(mktemp -d "$CACHE/tmp.XXXXXX")
	# shellcheck disable=SC2064 # expand now: work is local
	trap "safe_rm '$work'" EXIT
	mkdir "$work/rootfs"
	"$maker" "$work/rootfs"
	tar -C "$work/rootfs" --numeric-owner -cf "$tarball.new" .
	mv "$tarball.new" "$tarball"
	prune "$tarball"
	safe_rm "$work"
	trap - EXIT
	exec 8>&-
}

# prune removes the tars of other keys beside TARBALL that no build used for a day (another
# worktree's script may still use its own).
prune() {
	local prefix=${1%-*.tar}
	find "$(dirname "$1")" -maxdepth 1 -name "$(basename "$prefix")-*.tar" ! -path "$1" -mtime +0 -print -delete |
		sed 's/^/image-local: pruned /'
}

make_pkgs() {
	local root=$1
	tar -C "$root" --numeric-owner -xf "$BASE_TAR"
	cp /etc/resolv.conf "$root/etc/resolv.conf" # apt inside the chroot resolves the mirror
	scripts/runtime-layer.sh "$root" --arch "$ARCH" --step packages
	: >"$root/etc/resolv.conf" # the host's DNS does not ship; the engine provides its own
}

start=$SECONDS
cached "$BASE_TAR" make_base
cached "$PKGS_TAR" make_pkgs # its key is the base's key: a refreshed base makes it again too
echo "image-local: base and packages ready ($((SECONDS - start))s): $(basename "$PKGS_TAR")"

safe_rm "$OUT/rootfs"
mkdir "$OUT/rootfs"
tar -C "$OUT/rootfs" --numeric-owner -xf "$PKGS_TAR"

# The Dockerfile's libvips and build stages, then the runtime layer's files, with libvips at
# /opt/libvips as in the image (the binary's RUNPATH): /opt is the cache's opt-<arch> in a
# private mount namespace, so the host's /opt is neither used nor changed.
mkdir -p "$CACHE/opt-$ARCH"
# shellcheck disable=SC2016 # the inner script expands its own environment
unshare -m --propagation private -- env OPT="$CACHE/opt-$ARCH" OUT="$OUT" BINARY="$BINARY" \
	ARCH="$ARCH" LIBVIPS_ARCH="$NPM_ARCH" bash -euo pipefail -c '
	mount --bind "$OPT" /opt
	scripts/libvips-npm.sh /opt/libvips
	if [[ -z $BINARY ]]; then
		[[ $ARCH == amd64 ]] || { echo "image-local.sh: build the $ARCH binary yourself and pass --binary" >&2; exit 1; }
		LIBVIPS_PREFIX=/opt/libvips OUT="$OUT/imgbatch" scripts/build.sh
		BINARY=$OUT/imgbatch
	fi
	scripts/runtime-layer.sh "$OUT/rootfs" --arch "$ARCH" --step files --libvips /opt/libvips --binary "$BINARY"'

scripts/runtime-layer.sh --config --arch "$ARCH" >"$OUT/image.conf"
printf 'BASE_TAR=%q\nPKGS_TAR=%q\nMIRROR=%q\n' "$BASE_TAR" "$PKGS_TAR" "$MIRROR" >"$OUT/build.env"
tar -C "$OUT/rootfs" --numeric-owner --sort=name -cf "$OUT/rootfs.tar" .
go run ./image/report -rootfs "$OUT/rootfs" -tar "$OUT/rootfs.tar" -base "$BASE_TAR" -out "$OUT"
# IMAGE_IMPORT=podman|docker: also import the tar with its config into that engine (an image
# to run or push where the engine has no registry to pull the Dockerfile's base images from).
if [[ -n ${IMAGE_IMPORT:-} ]]; then
	changes=()
	while IFS= read -r line; do changes+=(--change "$line"); done <"$OUT/image.conf"
	"$IMAGE_IMPORT" import "${changes[@]}" "$OUT/rootfs.tar" "${IMAGE_NAME:-imgbatch}:${IMAGE_TAG:-$VERSION-local}"
fi
echo "image-local: $OUT/rootfs ($ARCH) in $((SECONDS - start))s; size:"
sed 's/^/  /' "$OUT/size.txt"
