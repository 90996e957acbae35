# infergate build. llama.cpp comes from the ollama Go module (see DESIGN.md);
# its headers are exported here so that cgo/ can include llama.h.
SHELL := /bin/bash
GO    ?= go

LLAMA_SRC := $(shell $(GO) mod download github.com/ollama/ollama && $(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama)
ifeq ($(strip $(LLAMA_SRC)),)
$(error could not locate the github.com/ollama/ollama module: is the Go module proxy reachable?)
endif

# CPU kernels: -march=native turns on AVX2/AVX-512 for this machine.
# PORTABLE=1 builds for any x86-64-v3 (AVX2) machine instead, e.g. for release.
ifeq ($(PORTABLE),1)
ARCH_FLAGS := -march=x86-64-v3
else
ARCH_FLAGS := -march=native
endif

export CGO_ENABLED  := 1
export CGO_CPPFLAGS := -I$(LLAMA_SRC)/llama/llama.cpp/include -I$(LLAMA_SRC)/ml/backend/ggml/ggml/include
export CGO_CFLAGS   := -O3 $(ARCH_FLAGS)
export CGO_CXXFLAGS := -O3 $(ARCH_FLAGS)

MODELS_DIR   := models/cache
CHAT_MODEL   := $(MODELS_DIR)/stories260K.gguf
EMBED_MODEL  := $(MODELS_DIR)/all-MiniLM-L6-v2-Q4_K_M.gguf
CUDA_ARCH    ?= 90
CUDA_PRESET  ?= CUDA 13
# An execution count, not a duration: go1.26's fuzz coordinator can report a
# spurious "context deadline exceeded" failure when a -fuzztime duration
# expires under CPU load (golang/go#75804, fixed in go1.27); a count has no
# deadline to race.
FUZZTIME     ?= 50000x

.PHONY: all build run test test-race fuzz models cuda bench overload lint env clean

all: build

build:
	$(GO) build -o bin/infergate ./cmd/infergate

# The two test models ship inside a Go module's testdata (DESIGN.md); the
# command copies them out and checks their pinned sizes and SHA-256.
models:
	$(GO) run ./models/cmd/testmodels -dir $(MODELS_DIR)

run: build models
	./bin/infergate serve --chat-model $(CHAT_MODEL) --embed-model $(EMBED_MODEL)

# Unit and integration tests on the real models. Packages without cgo in
# their test path also run under the race detector; the cgo ones too, since
# the scheduler is where races would hurt most.
test: models
	$(GO) vet ./...
	$(GO) test -race -timeout 30m ./...
	$(GO) test -run 'Alloc' -count=1 ./index/hnsw/ ./index/lexical/
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

# Each fuzz target for a bounded time (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Go benchmarks of the engine and scheduler, then a load-test sweep over
# HTTP against the server started on a loopback port; reports land in
# bench/results/.
BENCH_PORT ?= 18181
BENCH_ARGS ?= --concurrency 1,4,16,32 --requests 64 --input-tokens 64 --output-tokens 128 --ignore-eos
bench: build models
	$(GO) test -run '^$$' -bench . -benchtime 3x ./inference/ ./batcher/
	@mkdir -p bench/results
	@set -e; ./bin/infergate serve --addr 127.0.0.1:$(BENCH_PORT) --chat-model $(CHAT_MODEL) --embed-model $(EMBED_MODEL) \
	  --parallel 32 --threads 1 --log-level warn & pid=$$!; trap 'kill $$pid; wait $$pid' EXIT; \
	./bin/infergate bench --url http://127.0.0.1:$(BENCH_PORT) --wait-ready 2m --model stories260K $(BENCH_ARGS) \
	  --json bench/results/sweep.json --html bench/results/sweep.html --label infergate

# The overload experiment (issue 12): the local model's capacity within
# the TTFT SLO is measured first, then about three times it is offered with
# and without fallback to a loopback cloud API with realistic latency
# (bench/overload.sh; its knobs are environment variables, e.g.
# make overload SLO=1s DURATION=2m); reports land in bench/results/overload/.
overload: build models
	bench/overload.sh

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

# Prints the cgo environment so that a shell can build exactly like make
# (same flags, so Go's build cache is reused): eval "$$(make -s env)".
env:
	@echo 'export CGO_ENABLED=1'
	@echo "export CGO_CPPFLAGS='$(CGO_CPPFLAGS)'"
	@echo "export CGO_CFLAGS='$(CGO_CFLAGS)'"
	@echo "export CGO_CXXFLAGS='$(CGO_CXXFLAGS)'"

# GPU: ggml's CUDA backend as a shared library, built with CMake and nvcc
# from the same pinned sources, loaded at run time with --lib-dir lib.
cuda:
	cmake -S $(LLAMA_SRC) -B build/cuda --preset '$(CUDA_PRESET)' -DCMAKE_CUDA_ARCHITECTURES=$(CUDA_ARCH) -DCMAKE_BUILD_TYPE=Release
	cmake --build build/cuda --target ggml-cuda -j $$(nproc)
	mkdir -p lib
	find build/cuda -name 'libggml-cuda.so*' -exec cp -P {} lib/ \;
	find build/cuda -name 'libggml-base.so*' -exec cp -P {} lib/ \;

clean:
	rm -rf bin build lib
