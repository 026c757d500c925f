#!/usr/bin/env bash
# Fail-stop on a full disk: `klined serve` with its wal-dir on a 1 MiB tmpfs replays more trades
# than fit; the WAL write fails with ENOSPC, and the process must exit non-zero by itself (a
# supervisor restarts it), with one ERROR line naming the file, the errno and the action. Then,
# once there is room again (the WAL copied to a normal directory), a restart recovers and ends
# equal to `klined replay`. Needs root for the tmpfs mount; skips (77) otherwise.
# Usage: wal_enospc.sh KLINED [SHARED_DATA]
set -uo pipefail
K=$1
T=$(mktemp -d /tmp/klined-enospc.XXXXXX)
cleanup() {
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null
    umount "$T/wal" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

mkdir -p "$T/wal" "$T/db" "$T/in"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=1m tmpfs "$T/wal" 2>/dev/null; then
    echo "skip: mounting a small tmpfs needs root"
    exit 77
fi
# shellcheck source=lib/aggtrades.sh
. "$(dirname "$0")/lib/aggtrades.sh"
seed=1
for s in AAAUSDT BBBUSDT CCCUSDT DDDUSDT; do
    for d in 1 2; do gen_aggtrades "$T/in" $s $d $seed 6000; seed=$((seed + 1)); done
done
files=$(ls "$T"/in/*.csv | paste -sd,)
"$K" replay --quiet --out "$T/want" "$T"/in/*.csv 2>/dev/null || bad "replay failed"

run() { # WAL-DIR: one run in the background, its pid in $pid
    "$K" serve --listen 127.0.0.1:0 --source "replay:$files" --store "sqlite:$T/db/k.db" \
        --wal-dir "$1" --workers 2 --exit-on-eof --stats-s 0 --persist-ms 200 >>"$T/serve.log" 2>&1 &
    pid=$!
}
run "$T/wal"
# A hang is what this test catches: give the run a generous bound, then look.
for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    bad "still running 60 s after the disk filled: $(grep -E 'level=(error|warn)' "$T/serve.log" | head -3)"
    kill -9 "$pid"
fi
wait "$pid"
st=$?
pid=
[ "$st" != 0 ] && ok "exited with status $st" || bad "exited with status 0: $(tail -3 "$T/serve.log")"
line=$(grep 'level=error' "$T/serve.log" | grep 'comp=wal' | head -1)
echo "$line" | grep -q 'errno=28' && echo "$line" | grep -q 'file=.*/w[0-9]*/[0-9]*\.wal' &&
    echo "$line" | grep -q 'exiting so a supervisor restarts' &&
    ok "one clear error line: $line" || bad "no clear error line: $(grep level=error "$T/serve.log" | head -3)"

# Room again: the same log on a normal disk recovers, and the run ends equal to replay.
cp -a "$T/wal" "$T/wal2"
umount "$T/wal"
run "$T/wal2"
wait "$pid"
st=$?
pid=
[ "$st" = 0 ] && ok "the restart on a disk with room finished" || bad "restart failed: $(tail -3 "$T/serve.log")"
"$K" export --store "sqlite:$T/db/k.db" --out "$T/got" 2>/dev/null || bad "export failed"
diff -r "$T/want" "$T/got" >/dev/null && ok "the store equals klined replay after the restart" ||
    bad "the store differs from replay after the restart"
echo "pass=$pass fail=$fail"
[ $fail = 0 ]
