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
