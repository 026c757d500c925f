# Shared by the integration scripts that drive the fake exchange (sourced, not run). The caller
# sets FX (the fake_exchange binary) and T (its work directory); fx_start sets P (the port) and
# FXPID. docs/fake_exchange.md documents the fake.

# fx_start FILES RATE START_MS [FAKE ARGS...]: the fake on a free port, emission starting
# START_MS after its start (so the clients connect first); log in $T/fx.log. Returns 1 when it
# would not start on five ports in a row.
fx_start() {
    local files=$1 rate=$2 start=$3
    shift 3
    for _ in 1 2 3 4 5; do
        P=$((20000 + RANDOM % 30000))
        "$FX" --port "$P" --trades "$files" --rate "$rate" --start-ms "$start" "$@" \
            >"$T/fx.log" 2>&1 &
        FXPID=$!
        for _ in $(seq 50); do
            grep -qs "listening on 127.0.0.1:$P" "$T/fx.log" && return 0
            kill -0 "$FXPID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$FXPID" 2>/dev/null
        wait "$FXPID" 2>/dev/null
        FXPID=
    done
    return 1
}

fx_stop() {
    [ -n "$FXPID" ] && kill "$FXPID" 2>/dev/null && wait "$FXPID" 2>/dev/null
    FXPID=
}

# http METHOD PATH: the body of the fake's answer (HTTP/1.1 over bash's /dev/tcp).
http() {
    exec 9<>"/dev/tcp/127.0.0.1/$P" || return 1
    printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n' \
        "$1" "$2" >&9
    timeout 10 cat <&9 | tr -d '\r' | awk 'body { print } /^$/ { body = 1 }'
    exec 9<&-
}

# field NAME: a number or bool of a flat JSON object on stdin.
field() { sed -n "s/.*\"$1\":\([a-z0-9]*\).*/\1/p"; }

# fx_wait_status KEY MIN [TENTHS]: the fake's /status KEY (a number, e.g. emitted or connections)
# reaches MIN (default: 60 s). Faults are placed by the tape's progress this way, never by sleeps,
# so that a slow machine only slows the test down. FX_HTTP as for wait_done.
fx_wait_status() {
    local v
    for _ in $(seq "${3:-600}"); do
        v=$("${FX_HTTP:-http}" GET /status | sed 's/,"clients".*//' | field "$1")
        [ -n "$v" ] && [ "$v" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# ---- klined on the fake: its log is DIR/k.log, its pid KPID ------------------------------------

# wait_done [TENTHS]: the fake has emitted its whole tape (default: 60 s). FX_HTTP names the
# request function (http, or a script's https for a TLS fake).
wait_done() {
    for _ in $(seq "${1:-600}"); do
        [ "$("${FX_HTTP:-http}" GET /status | field done)" = true ] && return 0
        sleep 0.1
    done
    return 1
}

# wait_log DIR REGEX [COUNT]: DIR/k.log has COUNT (default 1) lines matching REGEX (30 s at most).
wait_log() {
    for _ in $(seq 300); do
        [ "$(grep -Ec -- "$2" "$1/k.log" 2>/dev/null)" -ge "${3:-1}" ] && return 0
        sleep 0.1
    done
    return 1
}

# last_stat DIR KEY: KEY's value in klined's last stats line.
last_stat() { grep 'event=stats ' "$1/k.log" | tail -1 | sed -n "s/.* $2=\([0-9]*\).*/\1/p"; }

# wait_applied DIR N [TENTHS]: a stats line shows N trades applied.
wait_applied() {
    for _ in $(seq "${3:-300}"); do
        [ "$(last_stat "$1" applied)" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# log_has NAME LOG REGEX / log_lacks: LOG is klined's log file, or a DIR holding k.log.
fx_log() { if [ -d "$1" ]; then echo "$1/k.log"; else echo "$1"; fi; }
log_has() {
    if grep -Eq -- "$3" "$(fx_log "$2")"; then ok "$1"; else bad "$1: no log line matches /$3/"; fi
}
log_lacks() {
    local f
    f=$(fx_log "$2")
    if grep -Eq -- "$3" "$f"; then bad "$1: $(grep -E -- "$3" "$f" | head -2)"; else ok "$1"; fi
}

# stop_k [SIGNAL]: signals klined (default TERM) and returns its exit status.
stop_k() {
    kill "-${1:-TERM}" "$KPID" 2>/dev/null
    wait "$KPID" 2>/dev/null
    local rc=$?
    KPID=
    return $rc
}

# ---- trade dumps for the fake, and the store checked against `klined replay` --------------

# fx_gen SYMBOL SEED N: N aggTrades of SYMBOL in $T/in/SYMBOL-aggTrades-2024-01-01.csv, 0 to 2 ms
# apart from 2024-01-01 (under --live-time their times only order the tape).
fx_gen() {
    mkdir -p "$T/in"
    awk -v sym="$1" -v seed="$2" -v n="$3" 'BEGIN {
        srand(seed); t = 1704067200000; a = seed * 1000000; f = a * 3
        for (i = 0; i < n; i++) {
            t += int(rand() * 3); k = 1 + int(rand() * 3)
            printf "%.0f,%d.%08d,%d.%08d,%.0f,%.0f,%.0f,%s,True\n", a, 100 + int(rand() * 50),
                   int(rand() * 99999999), int(rand() * 5), int(rand() * 99999999), f, f + k - 1, t,
                   (rand() < 0.5 ? "True" : "False")
            a++; f += k
        }
    }' >"$T/in/$1-aggTrades-2024-01-01.csv"
}

# fx_gen_quiet SYMBOL SEED K: a quiet symbol, made after the others: K trades at the first time of
# the dumps already in $T/in and K at their last, none between. The tape merges the symbols by
# time, so SYMBOL trades as the tape starts and as it ends, and is silent (still subscribed) for
# the whole of it in between.
fx_gen_quiet() {
    local span
    span=$(cat "$T"/in/*.csv | awk -F, 'NR == 1 || $6 < lo { lo = $6 } $6 > hi { hi = $6 }
                                         END { printf "%.0f %.0f", lo, hi }')
    awk -v seed="$2" -v k="$3" -v span="$span" 'BEGIN {
        srand(seed); split(span, s, " "); a = seed * 1000000; f = a * 3
        for (i = 0; i < 2 * k; i++) {
            t = i < k ? s[1] + i : s[2] - (2 * k - 1 - i); n = 1 + int(rand() * 3)
            printf "%.0f,%d.%08d,%d.%08d,%.0f,%.0f,%.0f,%s,True\n", a, 20 + int(rand() * 5),
                   int(rand() * 99999999), 1 + int(rand() * 5), int(rand() * 99999999), f,
                   f + n - 1, t, (rand() < 0.5 ? "True" : "False")
            a++; f += n
        }
    }' >"$T/in/$1-aggTrades-2024-01-01.csv"
}

# fx_fetch_back DIR SYMBOL...: every trade the fake emitted for each SYMBOL, read back from its
# REST aggTrades (fromId pages of 1000), as data.binance.vision aggTrades CSVs in DIR. Under
# --live-time these carry the times the feed sent, which the dump files do not.
fx_fetch_back() {
    local dir=$1 s from out n
    shift
    mkdir -p "$dir"
    for s in "$@"; do
        from=0 out="$dir/$s-aggTrades-2024-01-01.csv"
        : >"$out"
        while :; do
            "${FX_HTTP:-http}" GET "/api/v3/aggTrades?symbol=$s&fromId=$from&limit=1000" >"$T/page.json"
            n=$(awk 'BEGIN { RS = "}" } /"a":/ {
                    gsub(/[\[\]{},]/, " "); gsub(/"/, "")
                    for (i = 1; i <= NF; i++) { split($i, kv, ":"); v[kv[1]] = kv[2] }
                    printf "%s,%s,%s,%s,%s,%s,%s,%s\n", v["a"], v["p"], v["q"], v["f"], v["l"], v["T"],
                           (v["m"] == "true" ? "True" : "False"), (v["M"] == "true" ? "True" : "False")
                    n++
                } END { print n + 0 > "/dev/stderr" }' "$T/page.json" 2>&1 >>"$out")
            [ "$n" -lt 1000 ] && break
            from=$(($(tail -1 "$out" | cut -d, -f1) + 1))
        done
    done
}

# fx_same_as_replay KLINED STORE DIR NFILES CSV...: `klined replay` of the CSVs (DIR/want) and
# `klined export` of STORE (DIR/got) agree: the same NFILES files, each exported file equal to
# the replay up to the replay's last row, and only hole klines (trades 0) after it (the service
# legitimately adds them after a symbol's last trade). Reports through the caller's ok and bad.
fx_same_as_replay() {
    local k=$1 store=$2 dir=$3 nfiles=$4 f b n e x nw same=0 differ=0 extra_bad=0 extra=0
    shift 4
    "$k" replay --quiet --out "$dir/want" "$@" 2>"$dir/replay.log" || bad "klined replay failed"
    "$k" export --store "$store" --out "$dir/got" 2>"$dir/export.log" || bad "klined export failed"
    nw=$(ls "$dir/want" | wc -l)
    [ "$nw" = "$nfiles" ] && ok "replay wrote $nfiles files" || bad "replay wrote $nw files, want $nfiles"
    for f in "$dir"/want/*; do
        b=$(basename "$f")
        n=$(wc -l <"$f")
        if [ ! -f "$dir/got/$b" ]; then
            differ=$((differ + 1)) && echo "    missing in the export: $b"
            continue
        fi
        if head -n "$n" "$dir/got/$b" | cmp -s - "$f"; then
            same=$((same + 1))
        else
            differ=$((differ + 1))
            [ "$differ" -le 3 ] && echo "    $b differs:" &&
                diff <(head -n "$n" "$dir/got/$b") "$f" | head -4 | sed 's/^/      /'
        fi
        # Rows after the replay's last: hole klines only (trades, the 9th field, 0).
        e=$(tail -n +"$((n + 1))" "$dir/got/$b" | wc -l)
        extra=$((extra + e))
        x=$(tail -n +"$((n + 1))" "$dir/got/$b" | awk -F, '$9 != 0 { b++ } END { print b + 0 }')
        extra_bad=$((extra_bad + x))
    done
    [ "$differ" = 0 ] && ok "the store equals klined replay up to its last row ($same files)" ||
        bad "$differ files differ from klined replay"
    [ "$extra_bad" = 0 ] && ok "the $extra rows after the last trade are hole klines" ||
        bad "$extra_bad rows after the last trade have trades"
    [ "$(ls "$dir/got" | wc -l)" = "$nw" ] && ok "the export has the same files" ||
        bad "the export has $(ls "$dir/got" | wc -l) files, want $nw"
}

# taken DIR: trades the service has dealt with by its last stats line: applied, amended into a
# final kline within the lateness window, or refused as too late (a refused one may count again
# when the backfill brings it back).
taken() {
    local a l t
    a=$(last_stat "$1" applied) l=$(last_stat "$1" late) t=$(last_stat "$1" too_late)
    echo $((${a:-0} + ${l:-0} + ${t:-0}))
}

# wait_taken DIR N [TENTHS]: taken DIR reaches N (default: 30 s).
wait_taken() {
    for _ in $(seq "${3:-300}"); do
        [ "$(taken "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# ---- klined on a lines:tcp feed ---------------------------------------------------------------

# lines_start DIR [SERVE ARGS...]: `$K serve` on a free lines:tcp port (PORT), store, WAL and log
# (appended: DIR/k.log) in DIR, stats every second, persist every 200 ms; KPID its pid. A port
# someone else holds makes it exit, then another is tried. KL_WRAP (an array, may be empty)
# prefixes the command, e.g. (env LD_PRELOAD=...). Returns 1 when it did not start 5 times.
lines_start() {
    local d=$1 before
    shift
    mkdir -p "$d"
    touch "$d/k.log"
    for _ in 1 2 3 4 5; do
        before=$(grep -c 'event=started' "$d/k.log")
        PORT=$((20000 + RANDOM % 30000))
        "${KL_WRAP[@]}" "$K" serve --listen 127.0.0.1:0 --source "lines:tcp://127.0.0.1:$PORT" \
            --store "sqlite:$d/k.db" --wal-dir "$d/wal" --stats-s 1 --persist-ms 200 "$@" >>"$d/k.log" 2>&1 &
        KPID=$!
        for _ in $(seq 300); do
            [ "$(grep -c 'event=started' "$d/k.log")" -gt "$before" ] && return 0
            kill -0 "$KPID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$KPID" 2>/dev/null
        wait "$KPID" 2>/dev/null
    done
    KPID=
    return 1
}
