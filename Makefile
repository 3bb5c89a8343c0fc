# imgprep — see README.md.
GO       ?= go
BIN      := bin/imgprep
FUZZTIME ?= 60s
CIFUZZTIME ?= 5s

.PHONY: all build test test-long fixtures fixtures-check fuzz fuzz-ci bench lint demo clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/imgprep

# The test suite: unit tests, oracle tests (e2fsck, debugfs, qemu-img),
# a drift check of the committed fixtures against their generator, and a
# short run of every fuzz target.
test: build
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fixtures-check
	$(MAKE) fuzz-ci

test-long: build
	IMGPREP_LONG=1 $(GO) test -count=1 -timeout 60m ./...

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

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
