// Package image holds the tests of imgbatch's shipped container image, built without a
// container engine: scripts/image-local.sh debootstraps Debian bookworm (the stand-in for
// debian:bookworm-slim) and applies scripts/runtime-layer.sh to it, the script the
// Dockerfile's runtime stage runs. The tests compare the Dockerfile with that script, check
// the layer's hygiene, and run the image's imgbatch in a chroot as the image's user (10001)
// against an S3 started outside it. image/report writes the image's SBOM and size report.
package image
