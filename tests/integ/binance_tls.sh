#!/usr/bin/env bash
# The live Binance source over TLS (wss:// streams and https:// REST), against
# tests/tools/fake_exchange started with --tls-cert/--tls-key. A throwaway CA and a server
# certificate for IP:127.0.0.1 are made with openssl for the run. Rounds:
#   1. binance-ca-file = that CA: three symbols' aggTrades dumps are played with one `drop` fault,
#      so that the REST backfill runs over https too; with the event clock the exported store
#      must equal `klined replay` of the same dumps byte for byte;
#   2. without binance-ca-file (the system bundle, which does not know the throwaway CA): the
#      connect must fail with a certificate error logged, be retried with backoff, and klined must
#      stay up and exit 0 on SIGTERM;
#   3. a binance-ca-file that does not exist fails the start, naming the key.
# No assertion depends on timing: waits poll the fake's /status and klined's log, with generous
# limits that only bound a hung run. Usage: binance_tls.sh KLINED [SHARED_DATA]; needs bash, awk,
# coreutils, openssl and curl; the fake is <dir of KLINED>/tools/fake_exchange.
set -uo pipefail
K=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FX=$(dirname "$K")/tools/fake_exchange
# shellcheck source=lib/fx.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/fx.sh"
T=$(mktemp -d /tmp/klined-binance-tls.XXXXXX)
FXPID= KPID= P=
cleanup() {
    [ -n "$KPID" ] && kill -9 "$KPID" 2>/dev/null
    [ -n "$FXPID" ] && kill -9 "$FXPID" 2>/dev/null
    # KL_KEEP_DIR=DIR keeps the logs of the run for a look after a failure.
    [ -n "${KL_KEEP_DIR:-}" ] && rm -rf "$KL_KEEP_DIR" && cp -r "$T" "$KL_KEEP_DIR"
    rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

for tool in "$FX" openssl curl; do
    if ! command -v "$tool" >/dev/null; then
        echo "FAIL: $tool not found"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

# ---- a throwaway CA and a server certificate for 127.0.0.1 -----------------------------------
C=$T/pki && mkdir -p "$C"
if openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=klined test CA" \
    -keyout "$C/ca.key" -out "$C/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >"$C/openssl.log" 2>&1 &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$C/server.key" \
        -out "$C/server.csr" >>"$C/openssl.log" 2>&1 &&
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        >"$C/ext.cnf" &&
    openssl x509 -req -in "$C/server.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
        -days 2 -extfile "$C/ext.cnf" -out "$C/server.pem" >>"$C/openssl.log" 2>&1; then
    ok "0 made a CA and a certificate for IP:127.0.0.1"
else
    bad "0 openssl could not make the certificates: $(tail -3 "$C/openssl.log")"
    echo "$pass passed, $fail failed"
    exit 1
fi

# Three symbols of aggTrades, ids contiguous per symbol (the exchange's).
gen() { # SYMBOL SEED N
    awk -v sym="$1" -v seed="$2" -v n="$3" 'BEGIN {
        srand(seed); t = 1704067200000; a = seed * 1000000; f = a * 3
        for (i = 0; i < n; i++) {
            r = rand(); t += (r < 0.3 ? 0 : (r < 0.8 ? int(rand() * 2000) : int(rand() * 30000)))
            k = 1 + int(rand() * 3)
            # %.0f, not %d: mawk prints integers through a C int
            printf "%.0f,%d.%08d,%d.%08d,%.0f,%.0f,%.0f,%s,True\n", a, 100 + int(rand() * 50),
                   int(rand() * 99999999), int(rand() * 5), int(rand() * 99999999), f, f + k - 1, t,
                   (rand() < 0.5 ? "True" : "False")
            a++; f += k
        }
    }' >"$T/in/$1-aggTrades-2024-01-01.csv"
}
mkdir -p "$T/in"
gen AAAUSDT 1 8000
gen BBBUSDT 2 8000
gen CCCBTC 3 8000
TOTAL=24000
files=$(ls "$T"/in/*.csv | paste -sd,)
"$K" replay --quiet --out "$T/want" "$T"/in/*.csv 2>"$T/replay.log" || bad "klined replay failed"

# https METHOD PATH: the body of the fake's answer, over TLS, trusting only the throwaway CA.
FX_HTTP=https # wait_done asks the TLS fake
https() { curl -s --max-time 5 --cacert "$C/ca.pem" -X "$1" "https://127.0.0.1:$P$2"; }

start_fx() { fx_start "$files" 3000 1000 --start-clients 1 --tls-cert "$C/server.pem" --tls-key "$C/server.key"; }
stop_fx() { fx_stop; }
# start_k DIR [FLAGS...]: klined on the TLS fake, store and WAL in DIR, log appended to DIR/k.log.
start_k() {
    local d=$1
    shift
    "$K" serve --listen 127.0.0.1:0 --source binance --binance-ws "wss://127.0.0.1:$P" \
        --binance-rest "https://127.0.0.1:$P" --symbols "AAA/USDT,BBBUSDT,CCC/BTC" --clock event \
        --store "sqlite:$d/k.db" --wal-dir "$d/wal" --stats-s 1 --persist-ms 200 "$@" \
        >>"$d/k.log" 2>&1 &
    KPID=$!
}
wait_connected() {
    for _ in $(seq 1800); do
        local s
        s=$(https GET /status)
        if [ "$(echo "$s" | field connections)" = 1 ]; then
            [ "$(echo "$s" | field emitted)" = 0 ] && return 0
            echo "    connected only after emission began: $s"
            return 1
        fi
        sleep 0.1
    done
    return 1
}
# ---- 1. wss + https with binance-ca-file ------------------------------------------------------
echo "# 1. TLS with binance-ca-file, one drop healed over https"
D=$T/r1 && mkdir -p "$D"
start_fx || bad "1 fake_exchange did not start"
grep -q "listening on 127.0.0.1:$P, .*tls" "$T/fx.log" && ok "1 the fake serves TLS" ||
    bad "1 the fake did not say tls: $(cat "$T/fx.log")"
[ "$(https GET /api/v3/ping)" = "{}" ] && ok "1 https REST answers, verified against the CA" ||
    bad "1 curl --cacert could not fetch /api/v3/ping"
start_k "$D" --binance-ca-file "$C/ca.pem"
wait_connected && ok "1 klined connected over wss before the first trade" || bad "1 no WS client in time"
fx_wait_status emitted $((TOTAL / 3)) || bad "1 the tape did not reach a third"
r=$(https POST "/fault?kind=drop") && echo "    fault drop: $r"
emitted=$(https GET /status | field emitted)
[ "${emitted:-0}" -lt $TOTAL ] && ok "1 the drop landed mid-stream ($emitted of $TOTAL emitted)" ||
    bad "1 the stream ended before the drop"
wait_done || bad "1 the fake never finished"
wait_applied "$D" $TOTAL && ok "1 klined applied all $TOTAL trades" ||
    bad "1 applied $(last_stat "$D" applied), want $TOTAL"
stop_k TERM && ok "1 SIGTERM: exit 0" || bad "1 SIGTERM: exit status non-zero"
stop_fx
rm -rf "$D/got"
"$K" export --store "sqlite:$D/k.db" --out "$D/got" 2>"$D/export.log" || bad "1 export failed"
if diff -r "$T/want" "$D/got" >"$D/diff.txt" 2>&1; then
    ok "1 the store equals klined replay ($(ls "$D/got" | wc -l) files)"
else
    bad "1 the store differs from klined replay: $(head -4 "$D/diff.txt")"
fi
log_has "1 the start names the CA file" "$D" "event=starting .*ws=wss://127.0.0.1:$P rest=https://127.0.0.1:$P ca_file=$C/ca.pem"
log_has "1 connected twice (the drop reconnected)" "$D" "event=stopped connections=1 connects=2 disconnects=1 "
log_has "1 the hole was backfilled over https" "$D" "event=backfill_done symbol=[A-Z]+ .*from_rest=[1-9]"
log_has "1 stopped: no REST failure, no gap" "$D" "event=stopped .*rest_failures=0 backfilled=[1-9][0-9]* .*gaps=0 gap_ids=0"
log_lacks "1 no error logged" "$D" "level=error"

# ---- 2. without the CA: a clear certificate error, retried ------------------------------------
echo "# 2. TLS without binance-ca-file: certificate refused, retried, no crash"
D=$T/r2 && mkdir -p "$D"
start_fx || bad "2 fake_exchange did not start"
start_k "$D"
if wait_log "$D" "event=cannot_reach_exchange " 3; then
    ok "2 three failed connects logged"
else
    bad "2 fewer than 3 cannot_reach_exchange lines: $(grep -E 'binance' "$D/k.log" | tail -3)"
fi
log_has "2 the reason is a certificate error" "$D" \
    "event=cannot_reach_exchange conn=0 url=wss://127.0.0.1:$P .*tls_error=\"certificate not accepted: unable to get local issuer certificate"
log_has "2 it keeps retrying with backoff" "$D" \
    "event=cannot_reach_exchange .*attempt=([3-9]|[1-9][0-9]+) retry_in_ms=[0-9]+ .*action=\"retrying with backoff\""
n=$(https GET /status | field connections)
[ "${n:-x}" = 0 ] && ok "2 no WS client reached the fake" || bad "2 the fake has connections=$n"
kill -0 "$KPID" 2>/dev/null && ok "2 klined is still running" || bad "2 klined died"
stop_k TERM && ok "2 SIGTERM: exit 0" || bad "2 SIGTERM: exit status non-zero"
stop_fx
log_has "2 stopped without ever connecting" "$D" "event=stopped connections=1 connects=0 "

# ---- 3. a CA file that does not exist -----------------------------------------------------------
echo "# 3. binance-ca-file that does not exist"
D=$T/r3 && mkdir -p "$D"
P=1
"$K" serve --listen 127.0.0.1:0 --source binance --binance-ws "wss://127.0.0.1:1" --binance-rest "https://127.0.0.1:1" \
    --symbols BTCUSDT --store "sqlite:$D/k.db" --wal-dir "$D/wal" \
    --binance-ca-file "$D/nope.pem" >"$D/k.log" 2>&1
rc=$?
[ $rc -ne 0 ] && ok "3 the start failed (exit $rc)" || bad "3 klined started with a missing CA file"
log_has "3 the error names the key" "$D" "binance-ca-file = \"$D/nope.pem\": must be empty"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
