#!/usr/bin/env bash
# The API under attack (issue 12, H1, M1, M2): WS clients that send LIST_SUBSCRIPTIONS without
# ever reading are disconnected once their queue holds ws-queue-bytes, the bytes queued for all
# clients stay under ws-total-queue-bytes and the service's RSS stays bounded while another
# client still gets its answers; a flood of idle sockets from one address leaves at most
# max-connections-per-ip of them open, /api/v3/ping still answers (from that address too) and
# header-timeout-s closes the rest; a page of another Origin gets no CORS header and its WS
# upgrade is refused (403), while no Origin or the service's own is served; a query decoded
# once (%252B stays %2B). Nothing is asserted on timing (waits only bound a hang).
# Run as: bash tests/integ/api_guard.sh <klined-binary>; exit 0 = all passed, 77 = skipped.
set -u

BIN=${1:?usage: api_guard.sh <klined-binary>}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-integ-guard.XXXXXX")
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
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "skip: $tool not found"; exit 77; }
done

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
metric() {
    curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { s += $2; f = 1 }
        END { if (f) printf "%d\n", s; else print "absent" }'
}
# start NAME ARGS...: klined serve on free ports (API port in P_NAME, pid in PID_NAME).
start() {
    local name=$1 try p l pid i
    shift
    mkdir -p "$T/$name"
    for ((try = 0; try < 5; try++)); do
        p=$(free_port)
        l=$(free_port)
        [ "$p" != "$l" ] || continue
        : >"$T/$name.err"
        "$BIN" serve --listen "127.0.0.1:$p" --source "lines:tcp://127.0.0.1:$l" \
            --symbols BTCUSDT --store "sqlite:$T/$name/k.db" --wal-dir "$T/$name/wal" \
            --stats-s 0 "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
        pid=$!
        PIDS+=("$pid")
        for ((i = 0; i < 300; i++)); do
            if grep -q 'event=started' "$T/$name.err"; then
                printf -v "P_$name" %s "$p"
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
stop() {
    kill -TERM "$1" 2>/dev/null
    for ((i = 0; i < 300; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# ---- 1. H1: LIST_SUBSCRIPTIONS without reading ------------------------------------------------
echo "# 1. WS clients that never read: bounded in bytes, disconnected, others served"
QB=262144
TQB=2097152
if start A --ws-queue-bytes $QB --ws-total-queue-bytes $TQB; then
    PA=$P_A
    rss0=$(rss_kb "$PID_A")
    cat >"$T/flood.py" <<'EOF'
# N clients each subscribe to 1000 streams (named, not served: accepted as Binance does), then
# send LIST_SUBSCRIPTIONS over and over (a ~25 KB reply each) and never read. Prints how many
# were closed by the server, then one line per check of a reading client.
import os, socket, struct, sys, threading, time, json
port, n, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def frame(text):
    b = text.encode()
    mask = os.urandom(4)
    h = bytes([0x81])
    if len(b) < 126:
        h += bytes([0x80 | len(b)])
    elif len(b) < 65536:
        h += bytes([0x80 | 126]) + struct.pack(">H", len(b))
    else:
        h += bytes([0x80 | 127]) + struct.pack(">Q", len(b))
    return h + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(b))

def connect(rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise SystemExit("upgrade refused")
        buf += d
    return s

closed = [0]
lock = threading.Lock()
def flooder(k):
    s = connect(4096)
    names = ",".join('"s%03d%03dusdt@kline_1m"' % (k, i) for i in range(1000))
    try:
        s.sendall(frame('{"method":"SUBSCRIBE","params":[%s],"id":1}' % names))
        for r in range(rounds):
            s.sendall(frame('{"method":"LIST_SUBSCRIPTIONS","id":%d}' % (r + 2)))
    except OSError:
        with lock:
            closed[0] += 1
        return
    # All sent: the server must close us (we never read); wait for it, bounded.
    s.settimeout(120)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    try:
        while s.recv(1 << 16):
            pass
    except socket.timeout:
        return  # never closed by the server
    except OSError:
        pass
    with lock:
        closed[0] += 1

ts = [threading.Thread(target=flooder, args=(k,)) for k in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("closed %d" % closed[0], flush=True)
EOF
    python3 "$T/flood.py" "$PA" 20 800 >"$T/flood.out" 2>&1 &
    FL=$!
    PIDS+=("$FL")
    # While the flood runs: sample the queued bytes and RSS, and check a reading client.
    maxq=0
    maxrss=0
    for ((i = 0; i < 1200; i++)); do
        q=$(metric "$PA" klined_ws_queue_bytes)
        [ "$q" != absent ] && [ "$q" -gt "$maxq" ] && maxq=$q
        r=$(rss_kb "$PID_A")
        [ -n "$r" ] && [ "$r" -gt "$maxrss" ] && maxrss=$r
        kill -0 "$FL" 2>/dev/null || break
        sleep 0.1
    done
    wait "$FL"
    is "1 every flooding client was closed by the server" "closed 20" "$(cat "$T/flood.out")"
    if [ "$maxq" -le $TQB ]; then ok "1 klined_ws_queue_bytes stayed <= $TQB (max $maxq)"; else bad "1 klined_ws_queue_bytes reached $maxq > $TQB"; fi
    s=$(metric "$PA" klined_ws_slow_disconnects_total)
    if [ "$s" != absent ] && [ "$s" -ge 20 ]; then ok "1 klined_ws_slow_disconnects_total = $s >= 20"; else bad "1 klined_ws_slow_disconnects_total = $s"; fi
    # Before the byte bound, 20 such clients held about 1 GB; now at most the total (2 MB)
    # plus what lws and the kernel hold per socket.
    grow=$(((maxrss - rss0) / 1024))
    if [ "$grow" -lt 150 ]; then ok "1 RSS grew by $grow MB (< 150)"; else bad "1 RSS grew by $grow MB"; fi
    is "1 no bytes left queued" 0 "$(metric "$PA" klined_ws_queue_bytes)"
    # A client that reads gets its answers.
    got=$(python3 - "$PA" <<'EOF'
import os, socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(); s.settimeout(30); s.connect(("127.0.0.1", port))
s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
buf = buf.split(b"\r\n\r\n", 1)[1]
m = b'{"method":"LIST_SUBSCRIPTIONS","id":7}'
k = os.urandom(4)
s.sendall(bytes([0x81, 0x80 | len(m)]) + k + bytes(c ^ k[i % 4] for i, c in enumerate(m)))
while len(buf) < 2 or len(buf) < 2 + (buf[1] & 0x7f):
    buf += s.recv(4096)
print(buf[2:2 + (buf[1] & 0x7f)].decode())
EOF
)
    is "1 a reading client gets its LIST_SUBSCRIPTIONS answer" '{"result":[],"id":7}' "$got"
    is "1 /api/v3/ping answers" "{}" "$(curl -s --max-time 10 "http://127.0.0.1:$PA/api/v3/ping")"
    grep -q 'event=ws_slow_client.*reason="ws-' "$T/A.err" && ok "1 the disconnects are logged with their reason" || bad "1 no ws_slow_client line"
    stop "$PID_A"
else
    bad "1 klined did not start"
fi

# ---- 2. M1: idle socket flood ---------------------------------------------------------------
echo "# 2. a flood of idle sockets from one address"
if ! python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null; then
    echo "skip 2: cannot bind 127.0.0.2"
elif start B --max-connections 64 --max-connections-per-ip 16 --header-timeout-s 3; then
    PB=$P_B
    cat >"$T/idle.py" <<'EOF'
# Opens 300 idle sockets from 127.0.0.2, then reports how many the server left open, asks
# /api/v3/ping from 127.0.0.1 and from 127.0.0.2 (raw HTTP), and waits (bounded) until the
# server closed every idle one.
import socket, sys, time
port = int(sys.argv[1])
socks = []
for i in range(300):
    s = socket.socket(); s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        pass
    socks.append(s)

def alive(s):
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False

def ping(src):
    c = socket.socket(); c.settimeout(20); c.bind((src, 0)); c.connect(("127.0.0.1", port))
    c.sendall(b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\n\r\n")
    d = b""
    while not d.endswith(b"{}"):
        x = c.recv(4096)
        if not x:
            break
        d += x
    return d.split(b"\r\n")[0].decode() + " " + d[-2:].decode()

# Wait (bounded) until the server has dealt with every accept.
deadline = time.time() + 30
while time.time() < deadline and sum(alive(s) for s in socks) > 16:
    time.sleep(0.1)
print("open %d" % sum(alive(s) for s in socks))
print("ping 127.0.0.1: " + ping("127.0.0.1"))
print("ping 127.0.0.2: " + ping("127.0.0.2"))
deadline = time.time() + 60
while time.time() < deadline and sum(alive(s) for s in socks) > 0:
    time.sleep(0.2)
print("after timeout %d" % sum(alive(s) for s in socks))
EOF
    python3 "$T/idle.py" "$PB" >"$T/idle.out" 2>&1
    open=$(awk '/^open/ { print $2 }' "$T/idle.out")
    if [ -n "$open" ] && [ "$open" -le 16 ]; then ok "2 at most 16 idle sockets left open ($open)"; else bad "2 idle sockets open: '$open' ($(cat "$T/idle.out"))"; fi
    is "2 ping from another address answers" "ping 127.0.0.1: HTTP/1.1 200 OK {}" "$(grep '^ping 127.0.0.1' "$T/idle.out")"
    is "2 ping from the flooding address answers" "ping 127.0.0.2: HTTP/1.1 200 OK {}" "$(grep '^ping 127.0.0.2' "$T/idle.out")"
    is "2 header-timeout-s closed every idle socket" "after timeout 0" "$(grep '^after timeout' "$T/idle.out")"
    ev=$(metric "$PB" klined_api_connections_evicted_total)
    rf=$(metric "$PB" klined_api_connections_refused_total)
    if [ "$ev" != absent ] && [ $((ev + rf)) -ge 284 ]; then ok "2 evicted + refused = $((ev + rf)) >= 284"; else bad "2 evicted $ev refused $rf"; fi
    is "2 connections gauge back to 1 (this scrape)" 1 "$(metric "$PB" klined_api_connections)"
    stop "$PID_B"
else
    bad "2 klined did not start"
fi

# ---- 3. M2: Origin --------------------------------------------------------------------------
echo "# 3. Origin: CORS echoes only allowed origins; WS upgrades from others are refused"
if start C; then
    PC=$P_C
    U="http://127.0.0.1:$PC/api/v3/ping"
    h=$(curl -s -D - -o /dev/null -H 'Origin: http://evil.example' "$U" | tr -d '\r')
    if echo "$h" | grep -qi '^access-control-allow-origin'; then bad "3 evil origin got $(echo "$h" | grep -i '^access-control')"; else ok "3 evil origin: no Access-Control-Allow-Origin"; fi
    h=$(curl -s -D - -o /dev/null "$U" | tr -d '\r')
    if echo "$h" | grep -qi '^access-control-allow-origin'; then bad "3 no origin got a CORS header"; else ok "3 no Origin: answered, no CORS header needed"; fi
    h=$(curl -s -D - -o /dev/null -H "Origin: http://127.0.0.1:$PC" "$U" | tr -d '\r')
    is "3 own origin echoed" "access-control-allow-origin: http://127.0.0.1:$PC" "$(echo "$h" | grep -i '^access-control-allow-origin')"
    h=$(curl -s -D - -o /dev/null -H "Origin: http://localhost:$PC" "$U" | tr -d '\r')
    is "3 localhost origin echoed" "access-control-allow-origin: http://localhost:$PC" "$(echo "$h" | grep -i '^access-control-allow-origin')"
    up() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
        -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
        "http://127.0.0.1:$PC/ws/btcusdt@kline_1m"; }
    is "3 WS upgrade from evil origin: 403" 403 "$(up -H 'Origin: http://evil.example')"
    is "3 WS upgrade with no Origin: 101" 101 "$(up)"
    is "3 WS upgrade from own origin: 101" 101 "$(up -H "Origin: http://127.0.0.1:$PC")"
    r=$(metric "$PC" klined_api_origin_refused_total)
    if [ "$r" != absent ] && [ "$r" -ge 2 ]; then ok "3 klined_api_origin_refused_total = $r"; else bad "3 klined_api_origin_refused_total = $r"; fi
    # Decoded once: timeZone=%252B08:00 is "%2B08:00" to the parser, which refuses it; decoded
    # twice it was "+08:00" and accepted. %2B08:00 itself is "+08:00".
    st=$(curl -s -o "$T/tz.out" -w '%{http_code}' "http://127.0.0.1:$PC/api/v3/klines?symbol=BTCUSDT&interval=1h&timeZone=%252B08:00")
    if [ "$st" = 400 ] && grep -q timeZone "$T/tz.out"; then ok "3 %252B decoded once: refused"; else bad "3 %252B: $st $(cat "$T/tz.out")"; fi
    is "3 %2B08:00 is +08:00" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PC/api/v3/klines?symbol=BTCUSDT&interval=1h&timeZone=%2B08:00")"
    stop "$PID_C"
else
    bad "3 klined did not start"
fi
if start D --allowed-origins 'http://chart.example:9000'; then
    h=$(curl -s -D - -o /dev/null -H 'Origin: http://chart.example:9000' "http://127.0.0.1:$P_D/api/v3/ping" | tr -d '\r')
    is "3 configured origin echoed" "access-control-allow-origin: http://chart.example:9000" "$(echo "$h" | grep -i '^access-control-allow-origin')"
    h=$(curl -s -D - -o /dev/null -H "Origin: http://127.0.0.1:$P_D" "http://127.0.0.1:$P_D/api/v3/ping" | tr -d '\r')
    if echo "$h" | grep -qi '^access-control-allow-origin'; then bad "3 own origin echoed though not configured"; else ok "3 a configured list replaces the default"; fi
    stop "$PID_D"
else
    bad "3 klined --allowed-origins did not start"
fi

# ---- 4. admin: denied requests logged rate-limited, JSON bodies parsed strictly --------------
echo "# 4. admin"
TOKEN=guard-admin-token-0123456789
if start E --admin-token "$TOKEN"; then
    # 100 denials on one keep-alive connection; the contract is at most one line a second.
    t0=$(date +%s)
    urls=()
    for ((i = 0; i < 100; i++)); do urls+=(-o /dev/null "http://127.0.0.1:$P_E/admin/symbols"); done
    curl -s -H 'Authorization: Bearer wrong-token-0123456789' "${urls[@]}"
    secs=$(($(date +%s) - t0 + 1))
    is "4 klined_admin_denied_total = 100" 100 "$(metric "$P_E" klined_admin_denied_total)"
    nl=$(grep -c 'event=admin_denied' "$T/E.err")
    if [ "$nl" -ge 1 ] && [ "$nl" -le $((secs + 1)) ]; then ok "4 100 denials in ${secs}s, $nl log lines (rate-limited)"; else bad "4 $nl admin_denied lines for 100 denials in ${secs}s"; fi
    st=$(curl -s -o "$T/adm.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --data '{"x":"\"symbol\":\"ETHUSDT\""}' "http://127.0.0.1:$P_E/admin/symbols")
    is "4 a \"symbol\" inside another member is not the symbol (400)" 400 "$st"
    st=$(curl -s -o "$T/adm.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' --data '{"symbol":"ETH\/USDT"}' "http://127.0.0.1:$P_E/admin/symbols")
    is "4 a JSON body adds its symbol" '200 {"added":"ETHUSDT"}' "$st $(cat "$T/adm.out")"
    stop "$PID_E"
else
    bad "4 klined --admin-token did not start"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
