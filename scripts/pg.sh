#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the tests and benches of the postgres store, from the
# Debian packages (install-deps.sh test). It lives in one directory ($KL_PG_DIR, default
# /tmp/klined-pg: data, unix socket, log, port), listens on that socket and on 127.0.0.1 at a
# free port from 55432 up, trusts every local connection, and has a database `klined`.
# initdb refuses to run as root, so as root the server runs as the `postgres` user.
#
# Usage: scripts/pg.sh start   start it (idempotent: a running server is kept as is)
#        scripts/pg.sh url     print its URL: postgresql://postgres@127.0.0.1:PORT/klined
#        scripts/pg.sh stop    stop it and remove its directory (idempotent)
set -euo pipefail

dir=${KL_PG_DIR:-/tmp/klined-pg}
bin=${KL_PG_BIN:-/usr/lib/postgresql/15/bin}
first_port=${KL_PG_PORT:-55432}
dir=$(realpath -m "$dir")
# The server user may not be allowed into the caller's directory (e.g. /root in CI).
cd /

die() { echo "pg.sh: $*" >&2; exit 1; }

# Runs a server command as the owner of the data directory.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    [ -f "$dir/data/PG_VERSION" ] && [ -f "$dir/port" ] &&
        as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

url() {
    [ -f "$dir/port" ] || die "no server in $dir (run: scripts/pg.sh start)"
    echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/klined"
}

start() {
    [ -x "$bin/initdb" ] || die "$bin/initdb not found (install postgresql-15: scripts/install-deps.sh test)"
    if running; then
        return 0
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        die "running as root, but there is no 'postgres' user to run the server as"
    fi
    # Whatever is left (a server killed with its machine, a half-made directory) is rebuilt.
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    local port=$first_port tries=0
    while :; do
        tries=$((tries + 1))
        [ $tries -gt 20 ] && die "no free port in $first_port..$((first_port + 19))"
        if port_busy "$port"; then
            port=$((port + 1)); continue
        fi
        # Another process may take the port between the probe and the bind: then try the next.
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-p $port -k '$dir' -c listen_addresses=127.0.0.1" start >/dev/null 2>&1; then
            break
        fi
        if grep -q 'could not bind\|could not create any TCP/IP sockets\|already in use' \
            "$dir/server.log" 2>/dev/null; then
            port=$((port + 1)); continue
        fi
        cat "$dir/server.log" >&2 || true
        die "server did not start"
    done
    echo "$port" >"$dir/port"
    as_owner "$bin/psql" -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c 'CREATE DATABASE klined' >/dev/null || die "CREATE DATABASE klined failed"
}

stop() {
    if [ -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
