# imgbatch — make demo (the whole pipeline on this machine), make test (every test).
GO       ?= go
BIN      := bin/imgbatch
DEMO_DIR ?= .imgbatch/demo
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export MALLOC_ARENA_MAX ?= 2

.PHONY: all build deps system-deps libvips env demo demo-data test vet fmt-check bench clean

# The one libvips everything here builds, tests, benchmarks and ships with: libvips from npm
# (@img/sharp-libvips-*), pinned with checksums in scripts/libvips-npm.sh, installed under a
# prefix named after its version. PKG_CONFIG_PATH lets govips (#cgo pkg-config: vips) find it;
# CGO_CFLAGS / CGO_LDFLAGS carry the same versioned prefix because Go's build cache keys cgo
# packages on them (and NOT on PKG_CONFIG_PATH or a .pc file): a package compiled against
# another libvips can never be reused. Same values as `scripts/build.sh --env` (make env).
LIBVIPS_VERSION := $(shell scripts/libvips-npm.sh --version)
LIBVIPS_PREFIX  ?= $(CURDIR)/.cache/libvips/$(LIBVIPS_VERSION)
export LIBVIPS_PREFIX
export PKG_CONFIG_PATH := $(LIBVIPS_PREFIX)/lib/pkgconfig
export CGO_CFLAGS      := -O2 -g -I$(LIBVIPS_PREFIX)/include -I$(LIBVIPS_PREFIX)/include/glib-2.0 -I$(LIBVIPS_PREFIX)/lib/glib-2.0/include
export CGO_LDFLAGS     := -O2 -g -L$(LIBVIPS_PREFIX)/lib -Wl,-rpath,$(LIBVIPS_PREFIX)/lib -Wl,--enable-new-dtags
export CGO_ENABLED     := 1
# vips, vipsheader (scripts/vips-cli.sh) and vipsthumbnail built on that libvips come first.
export PATH            := $(LIBVIPS_PREFIX)/bin:$(PATH)

all: build

## deps: the missing system packages (pkg-config, gcc, awscli, npm, libheif) and the pinned libvips
deps: libvips

system-deps:
	@scripts/install-deps.sh

## libvips: the pinned libvips in $(LIBVIPS_PREFIX) (once; fast when present), with vips,
##          vipsheader and vipsthumbnail built on it in $(LIBVIPS_PREFIX)/bin
libvips: system-deps
	@scripts/libvips-npm.sh $(LIBVIPS_PREFIX)
	@scripts/vips-cli.sh $(LIBVIPS_PREFIX)
	@test -x $(LIBVIPS_PREFIX)/bin/vipsthumbnail || scripts/vipsthumbnail-npm.sh $(LIBVIPS_PREFIX)

## env: the environment to build or test by hand against the pinned libvips:
##      eval "$$(make -s env)"; go test ./vips/
env:
	@scripts/build.sh --env
	@echo 'export PATH=$(LIBVIPS_PREFIX)/bin:$$PATH'

## build: the imgbatch binary in bin/ (scripts/build.sh checks it links the pinned libvips)
build: deps
	OUT=$(BIN) VERSION=$(VERSION) scripts/build.sh

## build-arm64: bin/imgbatch-arm64 for linux/arm64 (Graviton), cross-built with Debian's
##   aarch64-linux-gnu-gcc against npm's arm64 libvips (same pins) in $(LIBVIPS_ARM64_PREFIX),
##   checked with readelf and started under qemu-user (scripts/build.sh)
LIBVIPS_ARM64_PREFIX ?= $(CURDIR)/.cache/libvips/$(LIBVIPS_VERSION)-linux-arm64
.PHONY: build-arm64
build-arm64:
	@scripts/install-deps.sh arm64
	@LIBVIPS_ARCH=linux-arm64 scripts/libvips-npm.sh $(LIBVIPS_ARM64_PREFIX)
	GOARCH=arm64 LIBVIPS_PREFIX=$(LIBVIPS_ARM64_PREFIX) OUT=$(BIN)-arm64 VERSION=$(VERSION) scripts/build.sh

## demo-data: real photos (Debian's plasma-workspace-wallpapers) + broken files in .cache/demo
demo-data:
	@scripts/demo-data.sh .cache/demo

## demo: run the whole pipeline on the embedded stack (no AWS account needed)
demo: build demo-data
	@if [ -d $(DEMO_DIR)/s3/metadata ]; then \
	  echo "$(DEMO_DIR) holds the S3 data of an older imgbatch (another layout): the demo starts afresh"; \
	  rm -rf $(DEMO_DIR); fi
	$(BIN) local --dir $(DEMO_DIR) --images .cache/demo --width 2 --recipe scripts/demo-recipe.yaml

## test: every test (gofmt, go vet, unit, integration, end to end)
test: fmt-check
	@scripts/install-deps.sh test
	@$(MAKE) --no-print-directory libvips
	@$(MAKE) --no-print-directory demo-data
	$(MAKE) vet
	IMGBATCH_TEST_STRICT=1 $(GO) test -count=1 -timeout 20m ./...

vet: libvips
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: the standard benchmark into bench/results/latest/ (photos: 12 MP JPEG -> 512 px JPEG q80
##        and the default recipe, thumb 256 + web 1280; pool 2; process + pipeline vs vipsthumbnail
##        and sharp at both its settings; PSNR/SSIM against a full-decode lanczos3 reference), all on the pinned libvips
##        (the vipsthumbnail and vips commands in $(LIBVIPS_PREFIX)/bin are built on it).
##        BENCH_ARGS adds flags (imgbatch bench --help); BENCH_GO=1 also runs the Go benchmarks
##        of every package.
bench: build
	$(BIN) bench --name latest --cache-dir .cache/bench --pool 2 --recipe single,default --compare vipsthumbnail,sharp --repeat 3 --quality 30 $(BENCH_ARGS)
	@if [ -n "$(BENCH_GO)" ]; then $(GO) test -run '^$$' -bench . -benchmem ./...; fi

## chaos: the long reliability suite (kills, S3 faults, duplicates, hostile keys and images);
## prints the figures of chaos/README.md at the end (make test runs its short version)
.PHONY: chaos
chaos: deps
	IMGBATCH_CHAOS=long $(GO) test -count=1 -timeout 120m -v -run . ./chaos/

## scale: the long S3 rate simulation (issue 20; minutes): 100 children against S3's budgets
##        ÷100 with the rate controls off, the SDK's adaptive mode, AIMD, and AIMD with partition
##        splits; prints the figures of README's "At scale: S3 request rates" (make test runs the short one)
.PHONY: scale
scale: libvips
	IMGBATCH_RATE_SIM=long $(GO) test -count=1 -timeout 90m -v -run 'TestS3RateSimulation$$' ./worker/

clean:
	rm -rf bin .imgbatch

-include deploy.mk
