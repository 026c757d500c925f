# Wrappers around CMake. `make run` and `make test` install what is missing first.
BUILD ?= build
JOBS  ?= $(shell nproc)
# What `make run` follows on the live feed; override: make run SYMBOLS=BTCUSDT,ETH/BTC
SYMBOLS ?= BTCUSDT,ETHUSDT,BNBUSDT,SOLUSDT,XRPUSDT

.PHONY: all build run run-sample test bench deps clean

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@scripts/web.sh || echo "web: the chart page was not built (see above); klined serves the API without it"

deps:
	@scripts/install-deps.sh build

run: deps build
	@./$(BUILD)/klined serve --symbols $(SYMBOLS)

# Offline: serves a generated one-day sample of 3 symbols at 60x into ./var/sample.db.
run-sample: deps build
	@BUILD=$(BUILD) scripts/sample.sh

test:
	@scripts/install-deps.sh test
	@scripts/test.sh

bench:
	@scripts/install-deps.sh bench
	@scripts/bench.sh

clean:
	rm -rf $(BUILD) build-asan build-fuzz
