#!/usr/bin/env bash
# The ONE description of imgbatch's runtime image layer. The Dockerfile's runtime stage runs
# it (RUN --mount … scripts/runtime-layer.sh /) and so does the engine-less local build
# (scripts/image-local.sh, `make image-local`) on a chroot of a debootstrapped bookworm, so
# what AWS Batch runs and what the tests run cannot drift.
#
#   scripts/runtime-layer.sh ROOTFS [--arch amd64|arm64] [--step packages|files|all]
#                            [--libvips PREFIX] [--binary FILE]
#   scripts/runtime-layer.sh --config [--arch …]   print the image config (ENV, LABEL, USER,
#                                                  WORKDIR, ENTRYPOINT, CMD) in Dockerfile form
#
# ROOTFS "/" means "this system" (inside a docker build); any other directory is changed
# through chroot (proc mounted for the time of the step). Steps:
#   packages  Debian packages the binary and the HEIC helper need, then every apt cache and
#             list removed; the user and group imgbatch (10001)
#   files     libvips-cpp.so.<version> from PREFIX/lib into /opt/libvips/lib (the binary's
#             RUNPATH), its notices (PREFIX/share/doc/sharp-libvips) into
#             /usr/share/doc/sharp-libvips, the binary into /usr/local/bin/imgbatch; then checks
#             that every library resolves and that the binary runs the pinned libvips
# --arch names the architecture of the binary and library (checked with readelf); the run
# check is skipped when it is not the host's.
#
# Environment (labels; the Dockerfile passes its ARGs): VERSION, REVISION, SOURCE,
# IMGBATCH_LICENSE, and the libvips pins (defaults: scripts/libvips-npm.sh's).
set -euo pipefail

die() { echo "runtime-layer.sh: $*" >&2; exit 1; }

# The runtime's Debian packages: libstdc++ for the libvips .so (it needs only glibc and
# libstdc++), ca-certificates for TLS to AWS, libheif1 + libde265-0 (Debian's libheif with its
# HEVC decoder) for the HEIC helper process (imgbatch heif-decode, by dlopen).
PACKAGES=(ca-certificates libstdc++6 libheif1 libde265-0)
IMGBATCH_UID=10001
BIN=/usr/local/bin/imgbatch
LIBDIR=/opt/libvips/lib
NOTICES=/usr/share/doc/sharp-libvips

SHARP_LIBVIPS_VERSION=${SHARP_LIBVIPS_VERSION:-1.3.5}
SHARP_LIBVIPS_DEV_VERSION=${SHARP_LIBVIPS_DEV_VERSION:-1.3.4}
LIBVIPS_VERSION=${LIBVIPS_VERSION:-8.18.8}
LIBVIPS_HEADERS_VERSION=${LIBVIPS_HEADERS_VERSION:-8.18.7}

# config prints the image's runtime configuration as Dockerfile instructions (what
# `podman import --change` takes). The Dockerfile says the same; image/config_test.go
# compares the two.
config() {
	cat <<EOF
LABEL org.opencontainers.image.title="imgbatch"
LABEL org.opencontainers.image.description="Resize millions of S3 images with libvips on AWS Batch array jobs"
LABEL org.opencontainers.image.source="${SOURCE:-https://github.com/imgbatch/imgbatch}"
LABEL org.opencontainers.image.version="${VERSION:-dev}"
LABEL org.opencontainers.image.revision="${REVISION:-unknown}"
LABEL org.opencontainers.image.licenses="${IMGBATCH_LICENSE:-NOASSERTION}"
LABEL io.imgbatch.libvips.version="$LIBVIPS_VERSION"
LABEL io.imgbatch.libvips.headers-version="$LIBVIPS_HEADERS_VERSION"
LABEL io.imgbatch.libvips.license="LGPL-2.1-or-later"
LABEL io.imgbatch.libvips.source="npm:@img/sharp-libvips-linux-*@$SHARP_LIBVIPS_VERSION"
LABEL io.imgbatch.libvips.headers-source="npm:@img/sharp-libvips-dev@$SHARP_LIBVIPS_DEV_VERSION"
LABEL io.imgbatch.libvips.bundle-license="LGPL-3.0-or-later"
LABEL io.imgbatch.libvips.notices="$NOTICES"
ENV MALLOC_ARENA_MAX=2
ENV VIPS_BLOCK_UNTRUSTED=1
USER $IMGBATCH_UID:$IMGBATCH_UID
WORKDIR /tmp
ENTRYPOINT ["$BIN"]
CMD ["--help"]
EOF
}

ROOTFS="" ARCH=amd64 STEP=all PREFIX="" BINARY="" PRINT_CONFIG=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--arch) ARCH=${2:?}; shift 2 ;;
	--step) STEP=${2:?}; shift 2 ;;
	--libvips) PREFIX=${2:?}; shift 2 ;;
	--binary) BINARY=${2:?}; shift 2 ;;
	--config) PRINT_CONFIG=1; shift ;;
	-*) die "unknown flag $1" ;;
	*) [[ -z $ROOTFS ]] || die "one ROOTFS only"; ROOTFS=$1; shift ;;
	esac
done
case $ARCH in
amd64) ELF_MACHINE="X86-64" ;;
arm64) ELF_MACHINE="AArch64" ;;
*) die "--arch $ARCH: want amd64 or arm64" ;;
esac
if [[ -n $PRINT_CONFIG ]]; then
	config
	exit 0
fi
[[ -n $ROOTFS && -d $ROOTFS ]] || die "ROOTFS '${ROOTFS}' is not a directory (usage: runtime-layer.sh ROOTFS [--arch amd64|arm64] [--step packages|files|all] --libvips PREFIX --binary FILE)"
ROOTFS=$(cd "$ROOTFS" && pwd)
case $STEP in packages | files | all) ;; *) die "--step $STEP: want packages, files or all" ;; esac

# in_root runs a command in the image: here, or through chroot.
in_root() {
	if [[ $ROOTFS == / ]]; then
		"$@"
	else
		chroot "$ROOTFS" "$@"
	fi
}

# need_proc mounts proc in a chroot ROOTFS until the script ends (apt, ldd and the binary
# want it); only the steps that run something in the image call it.
need_proc() {
	[[ $ROOTFS != / ]] || return 0
	mountpoint -q "$ROOTFS/proc" && return 0
	mount -t proc proc "$ROOTFS/proc" || die "cannot mount proc in $ROOTFS (root needed)"
	trap 'umount "$ROOTFS/proc"' EXIT
}

host_arch() {
	case "$(uname -m)" in
	x86_64) echo amd64 ;;
	aarch64) echo arm64 ;;
	*) uname -m ;;
	esac
}

step_packages() {
	echo "runtime-layer: packages ${PACKAGES[*]} in $ROOTFS"
	need_proc
	in_root apt-get update -qq
	DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
	# No package lists or .debs in the layer: they are a third of its size and stale at once.
	in_root apt-get clean
	rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/debconf/*-old \
		"$ROOTFS"/var/log/apt/* "$ROOTFS"/var/log/dpkg.log
	if ! in_root getent group imgbatch >/dev/null; then
		in_root groupadd --system --gid "$IMGBATCH_UID" imgbatch
	fi
	if ! in_root getent passwd imgbatch >/dev/null; then
		in_root useradd --system --uid "$IMGBATCH_UID" --gid imgbatch --home-dir /nonexistent \
			--no-create-home --shell /usr/sbin/nologin imgbatch
	fi
}

# elf_check fails unless FILE is an ELF of the --arch machine.
elf_check() {
	local machine
	machine=$(LC_ALL=C readelf -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p') || true
	[[ $machine == *"$ELF_MACHINE"* ]] || die "$1 is '${machine:-not an ELF file}', want $ELF_MACHINE (--arch $ARCH)"
}

step_files() {
	local so=libvips-cpp.so.$LIBVIPS_VERSION
	[[ -n $PREFIX && -f $PREFIX/lib/$so ]] || die "--libvips '${PREFIX}' has no lib/$so"
	[[ -n $BINARY && -f $BINARY ]] || die "--binary '${BINARY}' is not a file"
	if command -v readelf >/dev/null; then
		elf_check "$PREFIX/lib/$so"
		elf_check "$BINARY"
	fi
	echo "runtime-layer: $BINARY, $so and its notices in $ROOTFS"
	install -d -m 0755 "$ROOTFS$LIBDIR" "$ROOTFS$NOTICES"
	install -m 0644 "$PREFIX/lib/$so" "$ROOTFS$LIBDIR/$so"
	install -m 0644 "$PREFIX"/share/doc/sharp-libvips/* "$ROOTFS$NOTICES/"
	install -D -m 0755 "$BINARY" "$ROOTFS$BIN"
	if [[ $ARCH != "$(host_arch)" ]]; then
		echo "runtime-layer: $ARCH on $(host_arch): not running the binary"
		return 0
	fi
	need_proc
	if in_root ldd "$BIN" | grep 'not found'; then
		die "$BIN has unresolved libraries in the image"
	fi
	in_root "$BIN" version --json | grep -q "\"libvips\": \"$LIBVIPS_VERSION\"" ||
		die "$BIN does not run libvips $LIBVIPS_VERSION in the image"
}

case $STEP in
packages) step_packages ;;
files) step_files ;;
all) step_packages && step_files ;;
esac
