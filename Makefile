# imgprep — see README.md.
GO       ?= go
BIN      ?= bin/imgprep
DIST     ?= dist
FUZZTIME ?= 60s
CIFUZZTIME ?= 5s
# The version stamped into the binary (imgprep --version).
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# A static, reproducible binary: no cgo (so no libc and no ELF
# interpreter), no build paths, the version in main.version. (make release
# also strips the symbol tables.)
GOFLAGS_BUILD := -trimpath -ldflags '-X main.version=$(VERSION)'
# The pinned staticcheck, installed into bin/ by make lint.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/staticcheck-$(STATICCHECK_VERSION)

.PHONY: all build release test test-long fixtures fixtures-check fuzz fuzz-ci bench lint demo man clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/imgprep

# Static linux/amd64 and linux/arm64 tarballs (the binary, LICENSE,
# README.md) and their SHA256SUMS, in $(DIST)/.
release:
	bash scripts/release.sh '$(VERSION)' '$(DIST)'

# The test suite: lint, unit tests, oracle tests (e2fsck, debugfs,
# qemu-img), a drift check of the committed fixtures against their
# generator, and a short run of every fuzz target.
test: lint build
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fixtures-check
	$(MAKE) fuzz-ci

test-long: build
	IMGPREP_LONG=1 $(GO) test -count=1 -timeout 60m ./...

# Regenerate docs/man/imgprep.1 from the command definitions (make test's
# TestManPageHasNoDrift fails until it is committed).
man:
	$(GO) run ./cmd/imgprep man > docs/man/imgprep.1

# Regenerate the committed fixture images with the real tools.
fixtures:
	bash testdata/images/generate.sh

# Regenerate into a temporary directory and compare with what is committed.
fixtures-check:
	bash testdata/images/generate.sh --check

# Every FuzzXxx target, FUZZTIME each.
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

fuzz-ci:
	bash scripts/fuzz.sh $(CIFUZZTIME)

bench: build
	bash scripts/bench.sh

# The main job on a real image: a copy of the committed GPT fixture (ESP,
# root, separate /var) is inspected, prepared, and inspected again.
demo: build
	@mkdir -p bin/demo
	$(GO) run ./internal/fixture/extract disk-gpt.qcow2 bin/demo/golden.qcow2
	./$(BIN) inspect bin/demo/golden.qcow2
	./$(BIN) sysprep bin/demo/golden.qcow2
	./$(BIN) inspect bin/demo/golden.qcow2

# go vet, gofmt and staticcheck; the fuzzseeds tag adds the fuzz seed
# generators to what staticcheck reads.
lint: $(STATICCHECK)
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) -tags fuzzseeds ./...

$(STATICCHECK):
	@mkdir -p bin
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv bin/staticcheck $@

clean:
	rm -rf bin $(DIST)
