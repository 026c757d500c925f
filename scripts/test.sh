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
failed_stages=()

stage() { printf '\n=== %s ===\n' "$*"; }
# fail STAGE: records a failed stage, so the summary at the end names every one of them (CI shows
# only the tail of this output).
fail() { status=1; failed_stages+=("$1"); }
# ctest_stage NAME DIR ARGS...: runs ctest in DIR and keeps the names of the tests that failed.
ctest_stage() {
    local name=$1 dir=$2; shift 2
    if ! (cd "$dir" && ctest --output-on-failure "$@"); then
        fail "$name: $(tr '\n' ' ' <"$dir/Testing/Temporary/LastTestsFailed.log" 2>/dev/null)"
    fi
}

stage "PostgreSQL for the store tests (a throwaway server, stopped on exit)"
if scripts/pg.sh start; then
    KL_PG_URL=$(scripts/pg.sh url)
    export KL_PG_URL
else
    echo "pg.sh start failed: the PostgreSQL tests will fail"; fail "postgresql start"
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
                echo "$name: FAILED"; tail -40 "$work.log"; fail "fuzz $name"
            fi
            rm -rf "$work" "$work.log"
        done
    else
        echo "fuzz build failed"; fail "fuzz build"
    fi
else
    echo "clang not found: fuzz runs skipped (corpora are still replayed by ctest)"
fi

stage "ASan + UBSan build and tests"
if cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKL_ASAN=ON -DKL_BENCH=OFF >/dev/null &&
    cmake --build build-asan -j"$jobs" >/dev/null; then
    ctest_stage asan build-asan -j"$jobs"
else
    echo "sanitizer build failed"; fail "asan build"
fi

stage "ThreadSanitizer build: the threaded tests"
# Tests that start threads carry "thread" in their ctest name or live in tests/unit/runtime.
if cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DKL_TSAN=ON -DKL_BENCH=OFF >/dev/null &&
    cmake --build build-tsan -j"$jobs" >/dev/null; then
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
        ctest_stage tsan build-tsan -j"$jobs" -R 'test_ring|test_service|test_symreg|test_snapshot|integ_serve|integ_api'
else
    echo "tsan build failed"; fail "tsan build"
fi

stage "release build and tests"
if cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j"$jobs" >/dev/null; then
    ctest_stage release build -j"$jobs"
else
    echo "release build failed"; fail "release build"
fi
if [ "$status" -ne 0 ]; then
    printf '\n=== FAILED stages ===\n'
    printf '  %s\n' "${failed_stages[@]}"
fi
exit $status
