#!/usr/bin/env bash
# The whole test pass behind `make test`, in stages: a throwaway PostgreSQL server (scripts/pg.sh),
# short libFuzzer runs (clang), every test under ASan+UBSan, the threaded tests under
# ThreadSanitizer, and last every test in the release build, so that ctest's summary line closes
# the output. Exits non-zero if any stage fails.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${KL_FUZZ_SECONDS:-20}
status=0

stage() { printf '\n=== %s ===\n' "$*"; }

stage "PostgreSQL for the store tests (a throwaway server, stopped on exit)"
if scripts/pg.sh start; then
    KL_PG_URL=$(scripts/pg.sh url)
    export KL_PG_URL
else
    echo "pg.sh start failed: the PostgreSQL tests will fail"; status=1
fi
trap 'scripts/pg.sh stop >/dev/null 2>&1 || true' EXIT

stage "fuzz: short libFuzzer runs (${fuzz_seconds}s per target)"
if command -v clang >/dev/null 2>&1; then
    if CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DKL_FUZZ=ON -DKL_BENCH=OFF >/dev/null &&
        cmake --build build-fuzz -j"$jobs" --target fuzzers >/dev/null; then
        for bin in build-fuzz/fuzz/fuzz_*; do
            [ -x "$bin" ] || continue
            name=$(basename "$bin"); corpus=fuzz/corpus/${name#fuzz_}
            work=$(mktemp -d)
            if "$bin" -max_total_time="$fuzz_seconds" -max_len=4096 -print_final_stats=0 \
                "$work" "$corpus" >"$work.log" 2>&1; then
                echo "$name: ok ($(grep -o 'Done [0-9]* runs' "$work.log" | tail -1))"
            else
                echo "$name: FAILED"; tail -40 "$work.log"; status=1
            fi
            rm -rf "$work" "$work.log"
        done
    else
        echo "fuzz build failed"; status=1
    fi
else
    echo "clang not found: fuzz runs skipped (corpora are still replayed by ctest)"
fi

stage "ASan + UBSan build and tests"
if cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKL_ASAN=ON -DKL_BENCH=OFF >/dev/null &&
    cmake --build build-asan -j"$jobs" >/dev/null; then
    (cd build-asan && ctest --output-on-failure -j"$jobs") || status=1
else
    echo "sanitizer build failed"; status=1
fi

stage "ThreadSanitizer build: the threaded tests"
# Tests that start threads carry "thread" in their ctest name or live in tests/unit/runtime.
if cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DKL_TSAN=ON -DKL_BENCH=OFF >/dev/null &&
    cmake --build build-tsan -j"$jobs" >/dev/null; then
    (cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
        ctest --output-on-failure -j"$jobs" -R 'test_ring|test_service|test_symreg|test_snapshot|integ_serve|integ_api') || status=1
else
    echo "tsan build failed"; status=1
fi

stage "release build and tests"
if cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$jobs" >/dev/null; then
    (cd build && ctest --output-on-failure -j"$jobs") || status=1
else
    echo "release build failed"; status=1
fi
exit $status
