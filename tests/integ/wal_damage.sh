#!/usr/bin/env bash
# WAL damage at start (issue 12, H4): a log with a flipped byte in its middle, after the
# checkpoint, with valid records after it, must stop the start with a clear error and change
# nothing; `--wal-repair cut` then cuts it, keeping the cut bytes in a *.damaged file. A segment
# missing in front of the log (records between the checkpoint and the log gone, H5) also stops
# the start. Usage: wal_damage.sh KLINED [SHARED_DATA]
set -uo pipefail
K=$1
T=$(mktemp -d /tmp/klined-waldmg.XXXXXX)
cleanup() {
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# shellcheck source=lib/aggtrades.sh
. "$(dirname "$0")/lib/aggtrades.sh"
mkdir -p "$T/in"
gen_aggtrades "$T/in" AAAUSDT 1 7 6000
gen_aggtrades "$T/in" AAAUSDT 2 8 6000
files=$(ls "$T"/in/*.csv | paste -sd,)
serve() { # LOG EXTRA...: one run in the foreground (replays to the end and exits)
    local log=$1
    shift
    timeout 120 "$K" serve --listen 127.0.0.1:0 --source "replay:$files" --store "sqlite:$T/db/k.db" \
        --wal-dir "$T/wal" --workers 1 --exit-on-eof --stats-s 0 "$@" >"$log" 2>&1
}

# A log with no checkpoint: run with checkpoints 60 s apart and kill -9 once the log is large.
set +m
"$K" serve --listen 127.0.0.1:0 --source "replay:$files" --store "sqlite:$T/db/k.db" --wal-dir "$T/wal" \
    --workers 1 --stats-s 0 --persist-ms 60000 --pace 100000 >"$T/run1.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    sz=$(cat "$T"/wal/w0/*.wal 2>/dev/null | wc -c)
    [ "$sz" -gt 400000 ] && break
    sleep 0.1
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=
seg=$(ls "$T"/wal/w0/*.wal | head -1)
size=$(stat -c %s "$seg")
[ "$size" -gt 400000 ] && ok "a log of $size bytes" || bad "the log holds only $size bytes"
sum=$(md5sum "$seg" | cut -d' ' -f1)
# Flip one byte at 40 % of the segment: records after it are valid.
off=$((size * 4 / 10))
b=$(dd if="$seg" bs=1 skip=$off count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
printf "$(printf '\\%03o' $(((b ^ 0x20) & 255)))" | dd of="$seg" bs=1 seek=$off conv=notrunc 2>/dev/null
serve "$T/run2.log"
st=$?
[ $st != 0 ] && ok "the start refused (status $st)" || bad "the start went on over mid-log damage"
grep -q "valid records follow the damage" "$T/run2.log" && grep -q -- "--wal-repair cut" "$T/run2.log" &&
    ok "the error says why and what to do: $(grep -o 'recovery: .*' "$T/run2.log" | cut -c1-160)..." ||
    bad "no clear error: $(tail -2 "$T/run2.log")"
[ "$(stat -c %s "$seg")" = "$size" ] && ok "the log was not cut" || bad "the log was cut: $(stat -c %s "$seg")"
[ -z "$(ls "$T"/wal/w0/ | grep damaged)" ] && ok "nothing kept aside yet" || bad "files kept aside without repair"

serve "$T/run3.log" --wal-repair cut --log-level info
st=$?
[ $st = 0 ] && ok "--wal-repair cut starts and finishes" || bad "--wal-repair cut failed: $(tail -3 "$T/run3.log")"
grep -q "event=log_cut" "$T/run3.log" && ok "the cut is logged: $(grep -o 'event=log_cut.*' "$T/run3.log" | cut -c1-120)..." ||
    bad "no log_cut line"
kept=$(ls "$T"/wal/w0/*.damaged 2>/dev/null | head -1)
if [ -n "$kept" ] && [ "$(stat -c %s "$kept")" -gt 0 ]; then
    ok "the cut bytes are kept in $(basename "$kept") ($(stat -c %s "$kept") bytes)"
else
    bad "no *.damaged file"
fi

# H5: a power cut that loses the last checkpoint after the segments it covered were deleted.
# Run 1 leaves a log and no checkpoint (store copied aside: that is the store the power cut
# leaves); run 2 recovers it, checkpoints, opens a new segment; then the old store comes back
# and the covered segment goes: the log now starts past the store's position.
rm -rf "$T/db" "$T/wal"
bg_until() { # LOG CONDITION...: a run in the background, killed -9 once CONDITION holds
    local log=$1
    shift
    "$K" serve --listen 127.0.0.1:0 --source "replay:$files" --store "sqlite:$T/db/k.db" --wal-dir "$T/wal" \
        --workers 1 --stats-s 0 --persist-ms 60000 --pace 100000 --log-level info >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        "$@" && break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}
big_log() { [ "$(cat "$T"/wal/w0/*.wal 2>/dev/null | wc -c)" -gt 100000 ]; }
two_segments() { grep -q "event=started" "$T/run5.log" && [ "$(ls "$T"/wal/w0/*.wal | wc -l)" -ge 2 ]; }
bg_until "$T/run4.log" big_log
cp -a "$T/db" "$T/db.old"
bg_until "$T/run5.log" two_segments
first=$(ls "$T"/wal/w0/*.wal | head -1)
[ "$(ls "$T"/wal/w0/*.wal | wc -l)" -ge 2 ] && ok "two segments" || bad "one segment only: $(ls "$T"/wal/w0)"
rm -rf "$T/db" "$first"
mv "$T/db.old" "$T/db"
serve "$T/run6.log"
st=$?
[ $st != 0 ] && ok "the start refused over a gap (status $st)" || bad "the start accepted a gap"
grep -q "are missing" "$T/run6.log" && ok "the error names the gap: $(grep -o 'recovery: .*' "$T/run6.log" | cut -c1-160)..." ||
    bad "no gap error: $(tail -2 "$T/run6.log")"
serve "$T/run7.log" --wal-repair cut --log-level info
st=$?
[ $st = 0 ] && ok "--wal-repair cut accepts the loss" || bad "--wal-repair cut failed over a gap: $(tail -3 "$T/run7.log")"
grep -q "event=gap_accepted" "$T/run7.log" && ok "the loss is logged" || bad "no gap_accepted line"
echo "pass=$pass fail=$fail"
[ $fail = 0 ]
