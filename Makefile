# imgbatch — make demo (the whole pipeline on this machine), make test (every test).
GO       ?= go
BIN      := bin/imgbatch
DEMO_DIR ?= .imgbatch/demo
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export MALLOC_ARENA_MAX ?= 2

.PHONY: all build deps demo demo-data test vet fmt-check bench clean

all: build

## deps: install the missing system packages (libvips, pkg-config, awscli)
deps:
	@scripts/install-deps.sh

## build: the imgbatch binary in bin/
build: deps
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/imgbatch

## demo-data: real photos (Debian's plasma-workspace-wallpapers) + broken files in .cache/demo
demo-data:
	@scripts/demo-data.sh .cache/demo

## demo: run the whole pipeline on the embedded stack (no AWS account needed)
demo: build demo-data
	$(BIN) local --dir $(DEMO_DIR) --images .cache/demo --width 2

## test: every test (gofmt, go vet, unit, integration, end to end)
test: fmt-check
	@scripts/install-deps.sh test
	$(MAKE) vet
	$(GO) test -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: the standard benchmark into bench/results/latest/ (photos: 12 MP JPEG -> 512 px JPEG q80;
##        pools 1 and 2; process + pipeline vs vipsthumbnail and sharp). BENCH_ARGS adds flags
##        (imgbatch bench --help); BENCH_GO=1 also runs the Go benchmarks of every package.
bench: build
	$(BIN) bench --name latest --cache-dir .cache/bench --pool 1,2 --compare vipsthumbnail,sharp --repeat 2 $(BENCH_ARGS)
	@if [ -n "$(BENCH_GO)" ]; then $(GO) test -run '^$$' -bench . -benchmem ./...; fi

## bench-npm: the standard benchmark on libvips 8.18 from npm (as the Docker image ships it):
##        imgbatch, sharp and a vipsthumbnail built on that same libvips -> bench/results/latest-npm/
LIBVIPS_NPM := .cache/libvips-npm
.PHONY: bench-npm
bench-npm: deps
	@test -f $(LIBVIPS_NPM)/lib/pkgconfig/vips.pc || scripts/libvips-npm.sh $(LIBVIPS_NPM)
	@test -x $(LIBVIPS_NPM)/bin/vipsthumbnail || scripts/vipsthumbnail-npm.sh $(LIBVIPS_NPM)
	LIBVIPS=npm LIBVIPS_PREFIX=$(LIBVIPS_NPM) OUT=bin/imgbatch-npm VERSION=$(VERSION) scripts/build.sh
	PATH="$(CURDIR)/$(LIBVIPS_NPM)/bin:$$PATH" bin/imgbatch-npm bench --name latest-npm --cache-dir .cache/bench --pool 1,2 --compare vipsthumbnail,sharp --repeat 2 $(BENCH_ARGS)

## chaos: the long reliability suite (kills, S3 faults, duplicates, hostile keys and images);
## prints the figures of chaos/README.md at the end (make test runs its short version)
.PHONY: chaos
chaos: deps
	IMGBATCH_CHAOS=long $(GO) test -count=1 -timeout 120m -v -run . ./chaos/

clean:
	rm -rf bin .imgbatch

-include deploy.mk
