#!/usr/bin/env bash
# The API thread never waits for the store (src/api/reader.c): with every store read made slow
# (the test hook KLINED_TEST_READ_DELAY_MS, as a frozen database would be), /api/v3/ping,
# /api/v3/time, /healthz, /metrics and live WS pushes are answered while a klines read is in
# flight; a full read queue answers 503 (-1008) at once; a client that hangs up during its read
# leaves nothing behind (the service keeps serving; run it with an ASan build to check the
# completion touches no freed session). Then, without the delay: a time-zone query that would
# fold more than max-query-rows klines is refused (400, -1127), and the API's per-symbol memory
# stays within api-cache-bytes however many symbols are queried (klined_api_cache_bytes,
# idle symbols evicted). Nothing is asserted on timing: the checks are on order ("ping answered
# while the klines request was still running"), and waits only bound a hang.
# Run as: bash tests/integ/api_reader.sh <klined-binary>; exit 0 = all passed, 77 = skipped.
set -u

BIN=${1:?usage: api_reader.sh <klined-binary>}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
WSD=$(dirname "$BIN")/tools/ws_dump
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "skip: $tool not found"; exit 77; }
done
[ -x "$WSD" ] || { echo "FAIL ws_dump not built at $WSD"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-integ-apiread.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; fi
    done
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$3', want '$2'"; fi; }
j() { python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); print(eval(sys.argv[1]))' "$1" "$2" 2>/dev/null || echo "<bad json>"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start NAME ARGS...: klined serve on free ports (P_NAME, L_NAME, PID_NAME). Returns 1 on failure.
start() {
    local name=$1 try p l pid i
    shift
    mkdir -p "$T/$name"
    : >"$T/$name.err"
    for ((try = 0; try < 5; try++)); do
        p=$(free_port)
        l=$(free_port)
        [ "$p" != "$l" ] || continue
        "$BIN" serve --listen "127.0.0.1:$p" --source "lines:tcp://127.0.0.1:$l" \
            --store "sqlite:$T/$name/k.db" --wal-dir "$T/$name/wal" \
            --clock wall --max-skew-ms 600000 --stats-s 0 "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
        pid=$!
        PIDS+=("$pid")
        for ((i = 0; i < 300; i++)); do
            if grep -q 'event=started' "$T/$name.err"; then
                printf -v "P_$name" %s "$p"
                printf -v "L_$name" %s "$l"
                printf -v "PID_$name" %s "$pid"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    sed 's/^/    stderr: /' "$T/$name.err" | head -20
    return 1
}
send() {
    local port=$1
    shift
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf '%s\n' "$@" >&3
    exec 3>&-
}
agg() {
    printf '{"e":"aggTrade","E":%s,"s":"%s","a":%s,"p":"%s","q":"%s","f":%s,"l":%s,"T":%s,"m":%s,"M":true}' \
        "$7" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8"
}
metric() {
    curl -s --max-time 30 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2; f = 1 }
        END { if (f) printf "%d\n", s; else print "absent" }'
}
# wait_metric PORT NAME VALUE: until NAME sums to VALUE (60 s at most: a hang bound).
wait_metric() {
    local i
    for ((i = 0; i < 600; i++)); do
        [ "$(metric "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    return 1
}
wait_file() {
    local i
    for ((i = 0; i < 300; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# bg_get NAME URL: a curl in the background (status line then body in NAME.out; pid in BGPID).
bg_get() {
    (curl -s -g --max-time 120 -o "$T/$1.body" -w '%{http_code}' "$2" >"$T/$1.code"; echo done >>"$T/$1.code") &
    BGPID=$!
    PIDS+=("$BGPID")
}
running() { kill -0 "$1" 2>/dev/null; }
wait_pid() {
    local i
    for ((i = 0; i < 900; i++)); do running "$1" || return 0; sleep 0.1; done
    return 1
}

# ---- A: every store read takes 10 s; one reader, a queue of 2 -------------------------------
echo "# A: a slow store"
if ! KLINED_TEST_READ_DELAY_MS=10000 start A --symbols BTCUSDT --api-readers 1 --api-read-queue 2; then
    bad "klined serve (A) did not start"
    echo "$pass passed, $fail failed"
    exit 1
fi
P=$P_A
U="http://127.0.0.1:$P"
now=$(date +%s%3N)
M=$(((now / 60000 + 5) * 60000))
send "$L_A" "$(agg BTCUSDT 1 100 1 1 1 $((M + 1000)) false)" "$(agg BTCUSDT 2 101 1 2 2 $((M + 2000)) true)"
wait_metric "$P" klined_trades_applied_total 2 || bad "A: the 2 trades were not applied"
"$WSD" "ws://127.0.0.1:$P/ws/btcusdt@kline_1m" --seconds 120 >"$T/w1.ws" 2>"$T/w1.err" &
PIDS+=($!)
wait_file "$T/w1.ws" "#connected" || bad "A: ws client did not connect"

bg_get k1 "$U/api/v3/klines?symbol=BTCUSDT&interval=1m"
K1=$BGPID
wait_metric "$P" klined_api_reads_queued 1 || bad "A: the klines read is not in flight"
code=$(curl -s --max-time 30 -o "$T/ping" -w '%{http_code}' "$U/api/v3/ping")
is "A ping answers while a klines read is in flight" "200 {}" "$code $(cat "$T/ping")"
code=$(curl -s --max-time 30 -o "$T/time" -w '%{http_code}' "$U/api/v3/time")
is "A time answers too" "200" "$code"
code=$(curl -s --max-time 30 -o "$T/hz" -w '%{http_code}' "$U/healthz")
is "A healthz answers too" "200" "$code"
if running "$K1"; then ok "A ping, time and healthz came back before the klines answer"; else
    bad "A the klines request was already answered (the slow read did not hold it)"; fi

send "$L_A" "$(agg BTCUSDT 3 102 1 3 3 $((M + 3000)) false)"
if wait_file "$T/w1.ws" '"n":3'; then ok "A a live WS push arrives during the read"; else
    bad "A no WS push for the third trade: $(tail -c 300 "$T/w1.ws")"; fi
if running "$K1"; then ok "A the push came before the klines answer"; else
    bad "A the klines request was already answered"; fi

bg_get k2 "$U/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5"
K2=$BGPID
wait_metric "$P" klined_api_reads_queued 2 || bad "A: the second read is not queued"
code=$(curl -s --max-time 30 -o "$T/k3" -w '%{http_code}' "$U/api/v3/klines?symbol=BTCUSDT&interval=1m")
is "A a full read queue answers 503 at once" 503 "$code"
is "A ... with Binance's overload error" -1008 "$(j 'd["code"]' "$T/k3")"
is "A refusals are counted" 1 "$(metric "$P" klined_api_reads_rejected_total)"

wait_pid "$K1" || bad "A the first klines request never completed"
is "A the first klines request then completes" "200" "$(head -c 3 "$T/k1.code")"
is "A ... with the kline of minute M" "$M" "$(j 'd[0][0]' "$T/k1.body")"
wait_pid "$K2" || bad "A the second klines request never completed"
is "A the second too" "200" "$(head -c 3 "$T/k2.code")"

# A client that hangs up while its read is in flight: the completion is dropped.
curl -s --max-time 2 -o /dev/null "$U/api/v3/klines?symbol=BTCUSDT&interval=1m" >/dev/null
wait_metric "$P" klined_api_reads_queued 0 || bad "A the abandoned read was never collected"
if running "$PID_A"; then ok "A a client hanging up during its read leaves the service running"; else
    bad "A klined died after an abandoned read: $(tail -5 "$T/A.err")"; fi
code=$(curl -s --max-time 60 -o "$T/k4" -w '%{http_code}' "$U/api/v3/klines?symbol=BTCUSDT&interval=1m")
is "A a later klines request is answered" "200 $M" "$code $(j 'd[0][0]' "$T/k4")"
kill -TERM "$PID_A" 2>/dev/null
wait_pid "$PID_A" || bad "A did not stop"

# ---- B: no delay; the row cap and the per-symbol memory bound --------------------------------
echo "# B: max-query-rows and api-cache-bytes"
SYMS=$(python3 -c 'print(",".join("S%dUSDT" % i for i in range(300)))')
if ! start B --symbols "BTCUSDT,$SYMS" --max-query-rows 1000 --api-cache-bytes 1048576 \
    --max-skew-ms 3600000; then
    bad "klined serve (B) did not start"
    echo "$pass passed, $fail failed"
    exit 1
fi
U="http://127.0.0.1:$P_B"
code=$(curl -s --max-time 60 -o "$T/r1" -w '%{http_code}' "$U/api/v3/klines?symbol=BTCUSDT&interval=1d&timeZone=%2B05:45&startTime=0&limit=1000")
is "B a tz fold of 96,000 base klines is refused" 400 "$code"
is "B ... with -1127" -1127 "$(j 'd["code"]' "$T/r1")"
code=$(curl -s --max-time 60 -o "$T/r2" -w '%{http_code}' "$U/api/v3/klines?symbol=BTCUSDT&interval=1d&timeZone=%2B05:45&limit=5")
is "B a small tz query is answered" "200 []" "$code $(cat "$T/r2")"

# A time-zone stream subscribed in the middle of its tz kline (1d@+05:45, folded from 15m): its
# first push waits for the seed of the base klines before it (read by a reader thread from the
# store), then carries them all. Trades in consecutive 15m klines ahead of the clock, none the
# first of the +05:45 day; the first kline is final and stored before the subscription.
now=$(date +%s%3N)
QA=$(((now / 900000 + 2) * 900000))
first_of_day() { [ $((($1 + 20700000) % 86400000)) -lt 900000 ]; }
if first_of_day "$QA" || first_of_day $((QA + 900000)); then QA=$((QA + 1800000)); fi
QB=$((QA + 900000))
send "$L_B" "$(agg BTCUSDT 1 50 1 1 1 $((QA + 1000)) false)" "$(agg BTCUSDT 2 60 2 2 2 $((QB + 1000)) true)"
wait_metric "$P_B" klined_trades_applied_total 2 || bad "B: the two trades were not applied"
# The first kline is final once the second trade is applied; wait until it is stored (the
# seed reads the pair's memory too, so this only makes the store path the likely one).
for ((i = 0; i < 300; i++)); do
    r=$(metric "$P_B" klined_store_rows_total)
    [[ $r =~ ^[0-9]+$ ]] && [ "$r" -ge 2 ] && [ "$(metric "$P_B" klined_pending_rows)" = 0 ] && break
    sleep 0.2
done
"$WSD" "ws://127.0.0.1:$P_B/ws/btcusdt@kline_1d@+05:45" --seconds 60 >"$T/w2.ws" 2>"$T/w2.err" &
PIDS+=($!)
wait_file "$T/w2.ws" "#connected" || bad "B: ws client did not connect"
send "$L_B" "$(agg BTCUSDT 3 70 3 3 3 $((QB + 2000)) false)"
if wait_file "$T/w2.ws" '"n":3'; then
    last=$(grep '"n":3' "$T/w2.ws" | tail -1)
    is "B the tz stream folds the stored base kline before the subscription (seed)" \
        "50.00000000 70.00000000 6.00000000" \
        "$(python3 -c 'import json,sys; k=json.loads(sys.argv[1])["k"]; print(k["o"], k["c"], k["v"])' "$last")"
else
    bad "B no tz frame with the three trades: $(tail -c 400 "$T/w2.ws")"
fi

for ((i = 0; i < 300; i++)); do
    curl -s --max-time 30 -o /dev/null "$U/api/v3/klines?symbol=S${i}USDT&interval=1m&limit=1"
done
bytes=$(metric "$P_B" klined_api_cache_bytes)
syms=$(metric "$P_B" klined_api_cache_symbols)
if [[ $bytes =~ ^[0-9]+$ ]] && [ "$bytes" -le 1048576 ] && [ "$bytes" -gt 0 ]; then
    ok "B 300 symbols queried: the API's memory stays within api-cache-bytes ($bytes bytes)"
else
    bad "B klined_api_cache_bytes is '$bytes', want 1..1048576"
fi
if [[ $syms =~ ^[0-9]+$ ]] && [ "$syms" -lt 300 ]; then ok "B idle symbols were evicted ($syms kept)"; else
    bad "B klined_api_cache_symbols is '$syms'"; fi
ev=$(metric "$P_B" klined_api_cache_evictions_total)
if [[ $ev =~ ^[0-9]+$ ]] && [ "$ev" -gt 0 ]; then ok "B evictions are counted ($ev)"; else
    bad "B klined_api_cache_evictions_total is '$ev'"; fi
code=$(curl -s --max-time 30 -o "$T/r3" -w '%{http_code}' "$U/api/v3/klines?symbol=S0USDT&interval=1m&limit=1")
is "B an evicted symbol is served again" "200 []" "$code $(cat "$T/r3")"

kill -TERM "$PID_B" 2>/dev/null
wait_pid "$PID_B" || bad "B did not stop"
for n in A B; do
    if grep -qE 'ERROR: AddressSanitizer|runtime error:|ThreadSanitizer' "$T/$n.err"; then
        bad "$n: a sanitizer report: $(grep -m1 -E 'AddressSanitizer|runtime error:|ThreadSanitizer' "$T/$n.err")"
    else
        ok "$n: no sanitizer report"
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
