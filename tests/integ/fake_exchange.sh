#!/usr/bin/env bash
# Checks the fake exchange (tests/tools/fake_exchange.c) against its contract in
# docs/fake_exchange.md, since the live-source tests trust it: from a generated two-symbol dump it
# must serve ping/time/exchangeInfo, page aggTrades by fromId with contiguous ids that add up to
# the file, push every trade emitted while a client is connected (combined-stream shape, ids
# contiguous per symbol) and nothing from before, so that the WS trades plus a REST backfill from
# the last id + 1 rebuild the file exactly; SUBSCRIBE/LIST_SUBSCRIPTIONS, the faults (drop,
# garbage, oversize, ping, shutdown, refuse, stall, pause), the slow-client drop, /status, /quit
# and SIGTERM. No step depends on timing: the tape is paused while a client connects, and every
# wait is a poll with a generous limit.
# Run as: bash tests/integ/fake_exchange.sh <klined-binary> [<shared-data-dir>]; the tools are
# in tools/ beside the binary. Needs bash (with /dev/tcp), coreutils, sed and awk.
set -u

BIN=${1:?usage: fake_exchange.sh <klined-binary> [shared-data-dir]}
TOOLS=$(cd "$(dirname "$BIN")" && pwd)/tools
FX=$TOOLS/fake_exchange
WD=$TOOLS/ws_dump
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-integ-fx.XXXXXX")
FXPID=
PIDS=()
cleanup() {
    for p in $FXPID "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
    [ -s "$T/fx.err" ] && tail -5 "$T/fx.err" | sed 's/^/    stderr: /'
}
# check NAME GOT WANT
check() { if [ "$2" == "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi; }
# same NAME WANT_FILE GOT_FILE
same() {
    if [ ! -s "$2" ]; then
        bad "$1: $2 is empty"
    elif diff -u "$2" "$3" >"$T/diff.txt"; then
        ok "$1"
    else
        bad "$1: $3 differs from $2"
        head -10 "$T/diff.txt" | sed 's/^/    /'
    fi
}
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}

for tool in "$FX" "$WD"; do
    if [ ! -x "$tool" ]; then
        bad "$tool was not built"
        finish
    fi
done

# Two symbols with interleaved times: BTC without a header, ETH with one and some prices and
# quantities written with fewer than 8 decimals (the feed must print exactly 8).
awk 'BEGIN {
    for (i = 0; i < 3000; i++)
        printf "%d,%d.%08d,%d.%08d,%d,%d,%.0f,%s,True\n", 1000 + i, 42000 + i % 37,
               (i * 7919) % 100000000, i % 5 + 1, (i * 104729) % 100000000, 5000 + 2 * i,
               5001 + 2 * i, 1704067200000 + 7 * i, i % 3 ? "False" : "True"
}' >BTCUSDT-aggTrades-2024-01-01.csv
awk 'BEGIN {
    print "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match"
    for (i = 0; i < 2000; i++) {
        if (i % 10 == 0)
            p = sprintf("%d.5", 2300 + i % 11)
        else
            p = sprintf("%d.%08d", 2300 + i % 11, (i * 31337) % 100000000)
        printf "%d,%s,%d.%04d,%d,%d,%.0f,%s,True\n", 700 + i, p, i % 3 + 1, i % 10000,
               900 + i, 900 + i, 1704067200003 + 11 * i, i % 2 ? "False" : "True"
    }
}' >ETHUSDT-aggTrades-2024-01-01.csv
# The trades as the API must print them: a,p,q,f,l,T,m with 8 decimals and lower-case m.
for s in BTCUSDT ETHUSDT; do
    awk -F, '
        function d8(x,  n) { n = index(x, "."); if (!n) x = x "."; n = length(x) - index(x, ".");
                              while (n++ < 8) x = x "0"; return x }
        $1 ~ /^[0-9]/ { print $1 "," d8($2) "," d8($3) "," $4 "," $5 "," $6 "," tolower($7) }' \
        "$s-aggTrades-2024-01-01.csv" >"want_$s.txt"
done
FILES=BTCUSDT-aggTrades-2024-01-01.csv,ETHUSDT-aggTrades-2024-01-01.csv

# start_fx ARGS...: starts the exchange on a free port and waits for its ready line.
start_fx() {
    "$FX" --port 0 --trades "$FILES" "$@" >fx.out 2>fx.err &
    FXPID=$!
    for _ in $(seq 200); do
        PORT=$(sed -n 's/^fake_exchange: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' fx.out)
        [ -n "$PORT" ] && return 0
        kill -0 "$FXPID" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

# http METHOD PATH: one HTTP/1.0 request over /dev/tcp; sets STATUS and BODY.
http() {
    STATUS=
    BODY=
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n' "$1" "$2" >&3
    cat <&3 >resp.txt
    exec 3<&-
    STATUS=$(head -1 resp.txt | awk '{print $2}')
    BODY=$(sed '1,/^\r$/d' resp.txt)
}

status_field() { # status_field NAME: one field of GET /status
    http GET /status
    sed -n "s/.*\"$1\":\([a-z0-9]*\).*/\1/p" <<<"$BODY"
}

# wait_for FILE REGEX [tries]: polls (0.1 s steps) until a line of FILE matches.
wait_for() {
    for _ in $(seq "${3:-300}"); do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

wait_status() { # wait_status NAME VALUE
    for _ in $(seq 300); do
        [ "$(status_field "$1")" == "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# ws_start NAME PATH ARGS...: ws_dump in the background, output in NAME.txt, pid in WPID.
ws_start() {
    local name=$1 path=$2
    shift 2
    "$WD" "ws://127.0.0.1:$PORT$path" "$@" >"$name.txt" 2>"$name.err" &
    WPID=$!
    PIDS+=("$WPID")
}

# to_csv: trade JSON objects (WS events or REST rows, one per line) -> a,p,q,f,l,T,m.
to_csv() {
    sed -nE 's/.*"a":([0-9]+),"p":"([0-9.]+)","q":"([0-9.]+)","f":([0-9]+),"l":([0-9]+),"T":([0-9]+),"m":(true|false),"M":true.*/\1,\2,\3,\4,\5,\6,\7/p'
}

# rest_pages SYMBOL FROMID: every emitted trade from FROMID on, paged 1000 at a time, as CSV.
rest_pages() {
    local from=$2 n
    while :; do
        http GET "/api/v3/aggTrades?symbol=$1&fromId=$from&limit=1000"
        [ "$STATUS" == 200 ] || return 1
        sed 's/},{/}\n{/g' <<<"$BODY" | to_csv >page.txt
        n=$(wc -l <page.txt)
        cat page.txt
        [ "$n" -lt 1000 ] && return 0
        from=$(($(tail -1 page.txt | cut -d, -f1) + 1))
    done
}

# ---- 1. start, REST basics ----------------------------------------------------------------
if ! start_fx --rate 1000; then
    bad "fake_exchange did not print its listening line"
    finish
fi
ok "listening on 127.0.0.1:$PORT"
# Hold the tape while the stream client connects; ms=0 resumes it later.
http POST "/fault?kind=pause&ms=600000"
check "POST /fault?kind=pause" "$STATUS $BODY" '200 {"fault":"pause","ms":600000,"clients":0}'
if command -v ss >/dev/null; then
    check "listens on 127.0.0.1 only" "$(ss -ltnH "sport = :$PORT" | awk '{print $4}')" "127.0.0.1:$PORT"
fi

http GET /api/v3/ping
check "GET /api/v3/ping" "$STATUS $BODY" "200 {}"
http GET /api/v3/time
st=$(sed -n 's/^{"serverTime":\([0-9]*\)}$/\1/p' <<<"$BODY")
if [ "$STATUS" == 200 ] && [ -n "$st" ] && [ "$st" -ge 1704067200000 ] && [ "$st" -le 1704067221993 ]; then
    ok "GET /api/v3/time is the tape clock ($st)"
else
    bad "GET /api/v3/time: $STATUS $BODY"
fi
http GET /api/v3/exchangeInfo
n=0
for s in BTC ETH; do
    grep -q "{\"symbol\":\"${s}USDT\",\"status\":\"TRADING\",\"baseAsset\":\"$s\",[^}]*\"quoteAsset\":\"USDT\"" <<<"$BODY" && n=$((n + 1))
done
if [ "$STATUS" == 200 ] && [ $n == 2 ] && grep -q '^{"timezone":"UTC","serverTime":[0-9]*,' <<<"$BODY"; then
    ok "GET /api/v3/exchangeInfo lists BTCUSDT and ETHUSDT with their assets"
else
    bad "GET /api/v3/exchangeInfo: $STATUS $BODY"
fi
http GET "/api/v3/exchangeInfo?symbol=ETHUSDT"
check "exchangeInfo?symbol=ETHUSDT has one symbol" "$(grep -o '"symbol":' <<<"$BODY" | wc -l)" 1
http GET "/api/v3/aggTrades?symbol=NOPEUSDT"
check "aggTrades of an unknown symbol" "$STATUS $BODY" '400 {"code":-1121,"msg":"Invalid symbol."}'
http GET "/api/v3/aggTrades?limit=5"
check "aggTrades without symbol" "$STATUS $(sed 's/,"msg".*//' <<<"$BODY")" '400 {"code":-1102'
http GET "/api/v3/aggTrades?symbol=BTCUSDT&fromId=x1"
check "aggTrades with a bad fromId" "$STATUS $(sed 's/,"msg".*//' <<<"$BODY")" '400 {"code":-1100'
http GET /api/v3/nothing
check "unknown path" "$STATUS" 404
http GET /fault?kind=drop
check "GET /fault is refused" "$STATUS" 405

# ---- 2. the stream while connected, then the backfill -------------------------------------
ws_start a "/stream?streams=btcusdt@aggTrade" --count 302 --seconds 120 \
    --send '{"method":"SUBSCRIBE","params":["ethusdt@aggTrade"],"id":1}' \
    --send '{"method":"LIST_SUBSCRIPTIONS","id":2}'
APID=$WPID
if wait_for a.txt '"id":2}$'; then
    check "SUBSCRIBE reply" "$(sed -n 2p a.txt)" '{"result":null,"id":1}'
    check "LIST_SUBSCRIPTIONS reply" "$(sed -n 3p a.txt)" '{"result":["btcusdt@aggTrade","ethusdt@aggTrade"],"id":2}'
else
    bad "no reply to SUBSCRIBE/LIST_SUBSCRIPTIONS: $(head -5 a.txt)"
fi
check "/status counts the stream client" "$(status_field connections)" 1
http POST "/fault?kind=pause&ms=0"
wait "$APID"
grep '^{"stream"' a.txt >a_trades.txt
check "300 trade events received" "$(wc -l <a_trades.txt)" 300
re='^\{"stream":"(btcusdt|ethusdt)@aggTrade","data":\{"e":"aggTrade","E":[0-9]+,"s":"(BTCUSDT|ETHUSDT)","a":[0-9]+,"p":"[0-9]+\.[0-9]{8}","q":"[0-9]+\.[0-9]{8}","f":[0-9]+,"l":[0-9]+,"T":[0-9]+,"m":(true|false),"M":true\}\}$'
check "every event has Binance's combined aggTrade shape" "$(grep -Evc "$re" a_trades.txt)" 0
check "stream name matches the symbol" \
    "$(grep -Ec '"stream":"btcusdt@aggTrade","data":\{"e":"aggTrade","E":[0-9]+,"s":"ETHUSDT"|"stream":"ethusdt@aggTrade","data":\{"e":"aggTrade","E":[0-9]+,"s":"BTCUSDT"' a_trades.txt)" 0

if wait_status done true; then ok "the tape ends (done)"; else bad "the tape did not end"; fi
http GET /status
check "/status at the end" "$BODY" \
    "$(printf '{"emitted":5000,"total":5000,"connections":0,"dropped_slow":0,"done":true,"refused":0,"server_time":%s,"clients":[]}' $((1704067200003 + 11 * 1999)))"

http GET "/api/v3/aggTrades?symbol=BTCUSDT&fromId=1000"
check "aggTrades default limit is 500" "$(sed 's/},{/}\n{/g' <<<"$BODY" | to_csv | wc -l)" 500
http GET "/api/v3/aggTrades?symbol=BTCUSDT&fromId=1000&limit=5000"
check "aggTrades limit is capped at 1000" "$(sed 's/},{/}\n{/g' <<<"$BODY" | to_csv | wc -l)" 1000
http GET "/api/v3/aggTrades?symbol=ETHUSDT&fromId=710&limit=2"
check "aggTrades row shape" "$BODY" "[$(awk -F, '$1 == 710 || $1 == 711 {
    printf "%s{\"a\":%s,\"p\":\"%s\",\"q\":\"%s\",\"f\":%s,\"l\":%s,\"T\":%s,\"m\":%s,\"M\":true}",
           n++ ? "," : "", $1, $2, $3, $4, $5, $6, $7 }' want_ETHUSDT.txt)]"
check "a short decimal is printed with 8 places" "$(grep -o '"a":710,"p":"[0-9.]*"' <<<"$BODY")" '"a":710,"p":"2310.50000000"'
http GET "/api/v3/aggTrades?symbol=BTCUSDT&startTime=1704067200070&endTime=1704067200090"
check "aggTrades by startTime/endTime" "$(sed 's/},{/}\n{/g' <<<"$BODY" | to_csv | cut -d, -f1 | tr '\n' ' ')" "1010 1011 1012 "
http GET "/api/v3/aggTrades?symbol=ETHUSDT&limit=3"
check "aggTrades without fromId gives the latest" "$(sed 's/},{/}\n{/g' <<<"$BODY" | to_csv | cut -d, -f1 | tr '\n' ' ')" "2697 2698 2699 "

for s in BTCUSDT ETHUSDT; do
    low=$(tr 'A-Z' 'a-z' <<<"$s")
    first=$(head -1 "want_$s.txt" | cut -d, -f1)
    rest_pages "$s" "$first" >"rest_$s.txt"
    same "REST pages of $s add up to the file (contiguous ids, same rows)" "want_$s.txt" "rest_$s.txt"
    grep "\"stream\":\"$low@aggTrade\"" a_trades.txt | to_csv >"ws_$s.txt"
    if [ ! -s "ws_$s.txt" ]; then
        bad "no $s events on the stream"
        continue
    fi
    gaps=$(awk -F, 'NR > 1 && $1 != prev + 1 { n++ } { prev = $1 } END { print n + 0 }' "ws_$s.txt")
    check "$s stream ids are contiguous while connected" "$gaps" 0
    wfirst=$(head -1 "ws_$s.txt" | cut -d, -f1)
    wlast=$(tail -1 "ws_$s.txt" | cut -d, -f1)
    { awk -F, -v f="$wfirst" '$1 < f' "rest_$s.txt"; cat "ws_$s.txt"; rest_pages "$s" $((wlast + 1)); } >"rebuilt_$s.txt"
    same "$s: stream trades + REST backfill from the last id + 1 rebuild the file" \
        "want_$s.txt" "rebuilt_$s.txt"
done

# A client connecting now gets nothing of what was emitted before.
ws_start b "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade" --seconds 1
wait "$WPID"
check "no replay of earlier trades to a new client" "$(tr '\n' ' ' <b.txt)" "#connected #timeout "

# ---- 3. faults ----------------------------------------------------------------------------
ws_start c "/stream?streams=btcusdt@aggTrade" --seconds 60
CPID=$WPID
wait_for c.txt '^#connected$'
for k in garbage oversize ping shutdown; do
    http POST "/fault?kind=$k"
    check "POST /fault?kind=$k" "$STATUS $BODY" "200 {\"fault\":\"$k\",\"ms\":0,\"clients\":1}"
done
wait "$CPID"
check "garbage, oversize, shutdown event, then a going-away close" "$(tr '\n' '|' <c.txt)" \
    '#connected|this is not JSON {"e":|#big 1048576|{"e":"serverShutdown","E":1704067221992}|#close-frame 1001|#closed|'

ws_start d "/ws/btcusdt@aggTrade" --seconds 60
DPID=$WPID
wait_for d.txt '^#connected$'
check "connection counted before the drop" "$(status_field connections)" 1
http POST "/fault?kind=drop"
wait "$DPID"
check "drop closes the client at once" "$(tr '\n' ' ' <d.txt)" "#connected #closed "
check "connection gone after the drop" "$(status_field connections)" 0

http POST "/fault?kind=refuse&ms=600000"
ws_start e "/stream?streams=btcusdt@aggTrade" --seconds 60
wait "$WPID"
check "refuse: a new connection fails" "$(cut -c1-6 e.txt)" "#error"
check "refuse: counted" "$(status_field refused)" 1
http POST "/fault?kind=refuse&ms=0"
ws_start f "/stream?streams=btcusdt@aggTrade" --seconds 60 --count 1 \
    --send '{"method":"LIST_SUBSCRIPTIONS","id":"x7"}'
FPID=$WPID
if wait_for f.txt '^#connected$'; then ok "refuse ms=0 accepts connections again"; else bad "still refused"; fi
wait "$FPID"
check "LIST_SUBSCRIPTIONS with a string id" "$(sed -n 2p f.txt)" '{"result":["btcusdt@aggTrade"],"id":"x7"}'

http POST "/fault?kind=stall&ms=600000"
ws_start g "/stream?streams=btcusdt@aggTrade" --seconds 60 --count 1 \
    --send '{"method":"UNSUBSCRIBE","params":["btcusdt@aggTrade"],"id":3}'
GPID=$WPID
wait_for g.txt '^#connected$'
sleep 1
check "stall holds the replies back" "$(tr '\n' ' ' <g.txt)" "#connected "
http POST "/fault?kind=stall&ms=0"
wait "$GPID"
check "after the stall the reply comes" "$(tr '\n' ' ' <g.txt)" '#connected {"result":null,"id":3} '
ws_start h "/stream?streams=btcusdt@aggTrade" --seconds 60 --count 1 --send '{"method":"NOPE","id":4}'
wait "$WPID"
check "unknown method" "$(sed -n 2p h.txt)" '{"error":{"code":2,"msg":"Invalid request"},"id":4}'
http POST "/fault?kind=quake"
check "unknown fault kind" "$STATUS" 400

# A client that never reads: its queue overflows and it is dropped, counted once.
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /stream?streams=btcusdt@aggTrade HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' >&4
wait_status connections 1
for _ in $(seq 40); do http POST "/fault?kind=oversize"; done
if wait_status dropped_slow 1; then ok "a client that does not read is dropped (dropped_slow 1)"; else bad "slow client not dropped: $BODY"; fi
check "the slow client is gone" "$(status_field connections)" 0
exec 4<&-

http POST /quit
check "POST /quit" "$STATUS $BODY" "200 {}"
wait "$FXPID"
check "/quit exits 0" "$?" 0
grep -q '^fake_exchange: ws #1 open from 127.0.0.1: /stream, 1 streams$' fx.err &&
    grep -q '^fake_exchange: fault kind=drop ms=0 clients=1$' fx.err
check "stderr logs connections and faults" "$?" 0

# ---- 4. start delay, SIGTERM ---------------------------------------------------------------
start_fx --rate 0 --start-ms 600000 || bad "second start"
check "nothing emitted before --start-ms" "$(status_field emitted)" 0
kill -TERM "$FXPID"
wait "$FXPID"
check "SIGTERM exits 0" "$?" 0
"$FX" --port 0 --trades nosuchdir/BTCUSDT-aggTrades-2024-01-01.csv >bad.out 2>bad.err
check "a missing dump file is an error" "$? $(wc -c <bad.out)" "2 0"
FXPID=

# ---- 5. latency: --live-time --latency-ms 30-270 -------------------------------------------
# Only what the fake guarantees is asserted: each frame at least MIN ms after its T, in order,
# and a pong after every frame queued before its ping arrived. No upper bound on delays.
"$FX" --port 0 --trades "$FILES" --latency-ms 30-270 >bad.out 2>bad.err
check "--latency-ms without --live-time is an error" "$?" 2
"$FX" --port 0 --trades "$FILES" --live-time --latency-ms 270-30 >bad.out 2>bad.err
check "--latency-ms with MIN > MAX is an error" "$?" 2
start_fx --rate 1000 --live-time --latency-ms 30-270 --seed 7 || bad "latency start"
http POST "/fault?kind=pause&ms=600000"
# l: 1500 trades of both symbols and the reply, with a ping every 20 ms; m: pings every 50 ms
# until the end, for the stall and the drop below.
ws_start l "/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade" --stamp --ping-ms 20 \
    --count 1501 --seconds 120 --send '{"method":"LIST_SUBSCRIPTIONS","id":1}'
LPID=$WPID
ws_start m "/stream?streams=btcusdt@aggTrade" --stamp --ping-ms 50 --seconds 120
MPID=$WPID
wait_for l.txt '"id":1}$' && wait_for m.txt '#connected$'
check "the reply comes through the delayed path" "$(grep -c '^[0-9]* {"result":\["btcusdt@aggTrade","ethusdt@aggTrade"\],"id":1}$' l.txt)" 1
http POST "/fault?kind=pause&ms=0"
wait "$LPID"

# lat_check FILE MIN: "trades early out_of_order id_breaks pongs pongs_out_of_order
# pongs_too_soon pongs_that_waited" for a ws_dump --stamp --ping-ms output. A trade is early
# when it came less than MIN ms after its T; a pong is too soon when a trade with T before its
# ping was sent comes after it; it waited when such a trade came between its ping and it.
lat_check() {
    awk -v min="$2" '
        function num(k,  v) { if (!match($0, "\"" k "\":[0-9]+")) return -1
                               v = substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3)
                               return v + 0 }
        $2 == "#ping" { sent[$3] = $1; open[$3] = 1 }
        $2 == "#pong" { np++; if ($3 != lastpong + 1) pooo++; lastpong = $3
                        if (sent[$3] > fence) fence = sent[$3]; if (w[$3]) waited++
                        delete open[$3] }
        /"e":"aggTrade"/ {
            n++; t = num("T"); a = num("a"); match($0, /"s":"[A-Z]+"/); s = substr($0, RSTART, RLENGTH)
            if ($1 - t < min) early++
            if (t < lastt) ooo++; lastt = t
            if ((s in ida) && a <= ida[s]) idb++; ida[s] = a
            if (t < fence) soon++
            for (p in open) if (t < sent[p]) w[p] = 1
        }
        END { print n + 0, early + 0, ooo + 0, idb + 0, np + 0, pooo + 0, soon + 0, waited + 0 }' "$1"
}
read -r n early ooo idb np pooo soon waited <<<"$(lat_check l.txt 30)"
check "1500 trades with latency" "$n" 1500
check "every trade came at least 30 ms after its T" "$early" 0
check "trades in order (T never goes back on a connection)" "$ooo" 0
check "ids strictly increasing per symbol" "$idb" 0
if [ "$np" -ge 10 ] && [ "$pooo" = 0 ]; then ok "$np pongs, in ping order"; else bad "pongs: $np, $pooo out of order"; fi
check "no pong before a trade older than its ping" "$soon" 0
if [ "$waited" -ge 1 ]; then ok "$waited pongs waited for trades queued before their ping"; else bad "no pong waited for a queued trade: the test proves nothing"; fi

http GET /status
dmin=$(sed -n 's/.*"delay_min_ms":\([0-9]*\).*/\1/p' <<<"$BODY")
dn=$(sed -n 's/.*"delay_n":\([0-9]*\).*/\1/p' <<<"$BODY")
if [ -n "$dmin" ] && [ "$dmin" -ge 30 ] && [ "${dn:-0}" -gt 0 ]; then
    ok "/status: client delay stats ($(grep -o '"clients":.*' <<<"$BODY"))"
else
    bad "/status delay stats: $BODY"
fi

# A stall holds everything, pongs included: pings sent during it get no pong until it ends.
http POST "/fault?kind=stall&ms=600000"
first=$(($(grep -c '#ping' m.txt) + 1))
wait_for m.txt "^[0-9]+ #ping $((first + 3))\$"
ponged=$(awk -v f="$first" '$2 == "#pong" && $3 >= f' m.txt | wc -l)
check "no pong while stalled" "$ponged" 0
check "frames are held while stalled" "$(status_field queued | awk '{ print ($1 > 0) }')" 1
http POST "/fault?kind=stall&ms=0"
if wait_for m.txt "^[0-9]+ #pong $((first + 3))\$"; then ok "the pongs come after the stall"; else bad "no pong after the stall"; fi
http POST "/fault?kind=drop"
wait "$MPID"
check "drop closes a delayed client at once" "$(tail -1 m.txt | cut -d' ' -f2)" "#closed"
read -r n early ooo idb np pooo soon waited <<<"$(lat_check m.txt 30)"
check "stalled client: no trade early, out of order or ahead of a pong" "$early $ooo $idb $pooo $soon" "0 0 0 0 0"
http POST /quit
wait "$FXPID"
FXPID=

finish
