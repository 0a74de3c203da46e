# syntax=docker/dockerfile:1
#
# imgbatch: one Go binary (cgo + libvips) for every role; AWS Batch runs it as
#   imgbatch work --run-id <id>      (array children)
#   imgbatch plan --from-schedule …  (nightly planner)
#
#   docker build --platform linux/amd64 --build-arg VERSION=$(git describe --always) -t imgbatch .
#
# libvips comes from npm (@img/sharp-libvips-*: libvips 8.18 as one self-contained .so,
# headers in -dev) rather than Debian 12's libvips 8.14: faster and without 8.14's known
# crashes. It reads JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG — but NOT HEVC-coded HEIC.
# It is the one libvips of the project: make build/test/bench and CI use the same pinned
# versions through the same scripts (scripts/libvips-npm.sh pins them with checksums,
# scripts/build.sh builds and checks the binary links it). `imgbatch version` prints the
# libvips the binary runs.
#
# Base images are pinned by tag; CI can pin digests with --build-arg GO_IMAGE=…@sha256:…
ARG GO_IMAGE=golang:1.26-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- libvips (npm)
FROM ${NODE_IMAGE} AS libvips
ARG SHARP_LIBVIPS_VERSION=1.3.5
ARG SHARP_LIBVIPS_DEV_VERSION=1.3.4
ARG LIBVIPS_VERSION=8.18.8
ARG LIBVIPS_HEADERS_VERSION=8.18.7
WORKDIR /src
COPY scripts/libvips-npm.sh scripts/libvips-npm.sh
RUN scripts/libvips-npm.sh /opt/libvips

# ---------------------------------------------------------------- build
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY --from=libvips /opt/libvips /opt/libvips
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    LIBVIPS_PREFIX=/opt/libvips OUT=/out/imgbatch VERSION=${VERSION} scripts/build.sh

# ---------------------------------------------------------------- runtime
FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/imgbatch/imgbatch
ARG IMGBATCH_LICENSE=NOASSERTION
ARG SHARP_LIBVIPS_VERSION=1.3.5
ARG SHARP_LIBVIPS_DEV_VERSION=1.3.4
ARG LIBVIPS_VERSION=8.18.8
ARG LIBVIPS_HEADERS_VERSION=8.18.7
ARG TARGETARCH

# The runtime layer is scripts/runtime-layer.sh, the one description of it: the engine-less
# local build (scripts/image-local.sh, make image-local) runs the same script on a
# debootstrapped bookworm, and image/ tests that image (and that the ENV, LABEL, USER, WORKDIR,
# ENTRYPOINT and CMD below equal `scripts/runtime-layer.sh --config`).
# Packages (libstdc++ for the libvips .so, ca-certificates for TLS to AWS, libheif1 +
# libde265-0 for the HEIC helper process), apt lists and caches removed, the user 10001:
RUN --mount=type=bind,source=scripts/runtime-layer.sh,target=/tmp/imgbatch/runtime-layer.sh \
    /tmp/imgbatch/runtime-layer.sh / --step packages
# The libvips .so at the path it had at build time (the binary's RUNPATH), its notices, the
# binary; then the script checks every library resolves and the binary runs the pinned libvips.
# Bind mounts, not COPY: nothing but what the script installs lands in the layer.
RUN --mount=type=bind,source=scripts/runtime-layer.sh,target=/tmp/imgbatch/runtime-layer.sh \
    --mount=type=bind,from=libvips,source=/opt/libvips,target=/tmp/imgbatch/libvips \
    --mount=type=bind,from=build,source=/out,target=/tmp/imgbatch/out \
    /tmp/imgbatch/runtime-layer.sh / --step files --arch "${TARGETARCH:-amd64}" \
      --libvips /tmp/imgbatch/libvips --binary /tmp/imgbatch/out/imgbatch

LABEL org.opencontainers.image.title="imgbatch" \
      org.opencontainers.image.description="Resize millions of S3 images with libvips on AWS Batch array jobs" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="${IMGBATCH_LICENSE}" \
      io.imgbatch.libvips.version="${LIBVIPS_VERSION}" \
      io.imgbatch.libvips.headers-version="${LIBVIPS_HEADERS_VERSION}" \
      io.imgbatch.libvips.license="LGPL-2.1-or-later" \
      io.imgbatch.libvips.source="npm:@img/sharp-libvips-linux-*@${SHARP_LIBVIPS_VERSION}" \
      io.imgbatch.libvips.headers-source="npm:@img/sharp-libvips-dev@${SHARP_LIBVIPS_DEV_VERSION}" \
      io.imgbatch.libvips.bundle-license="LGPL-3.0-or-later" \
      io.imgbatch.libvips.notices="/usr/share/doc/sharp-libvips"

# glibc malloc: few arenas keep RSS flat with many libvips threads.
# VIPS_BLOCK_UNTRUSTED: libvips refuses its loaders marked untrusted.
ENV MALLOC_ARENA_MAX=2 \
    VIPS_BLOCK_UNTRUSTED=1

USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/imgbatch"]
CMD ["--help"]
