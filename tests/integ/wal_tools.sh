#!/usr/bin/env bash
# End-to-end checks of `klined wal dump|verify` on a log written by the real service: a few JSON
# trades through `klined serve --source lines:stdin --exit-on-eof` leave them in the current
# segment (the final checkpoint releases only older segments), dump must print exactly those
# trades with their decoded fields, verify must say OK; then a flipped byte in the middle record
# must be reported as corrupt at that record's offset, a cut tail as torn, and neither tool may
# change a byte of the log (md5sum before/after). Usage errors exit 2.
# Run as: bash tests/integ/wal_tools.sh <klined-binary> [<shared-data-dir>]; exit 0 = all passed.
set -u

BIN=${1:?usage: wal_tools.sh <klined-binary> [shared-data-dir]}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
T=$(mktemp -d "${TMPDIR:-/tmp}/klined-integ-wal.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# same NAME GOT WANT: two strings must be equal (shown as a diff when not).
same() {
    if [ "$2" == "$3" ]; then ok "$1"; else
        bad "$1"
        diff <(printf '%s\n' "$3") <(printf '%s\n' "$2") | sed 's/^/    /'
    fi
}
rc_is() { if [ "$2" -eq "$3" ]; then ok "$1: exit $3"; else bad "$1: exit $2, want $3"; fi; }

trade() { # symbol id price qty first last time maker
    printf '{"e":"aggTrade","E":1,"s":"%s","a":%s,"p":"%s","q":"%s","f":%s,"l":%s,"T":%s,"m":%s}\n' "$@"
}
feed() {
    trade AUSDT 1 1.5 2 1 1 1704067200000 false
    trade AUSDT 2 1.75 0.5 2 4 1704067260000 true
    trade BUSDT 7 100 0.00000001 9 9 1704067261000 false
}

# ---- 1. a log written by the service ------------------------------------------------------
feed | "$BIN" serve --listen 127.0.0.1:0 --source lines:stdin --clock event --exit-on-eof --wal-dir "$T/wal" \
    --store "sqlite:$T/db.sqlite" 2>"$T/serve.err"
rc_is "serve writes the log" $? 0
SEG=$(ls "$T"/wal/w0/*.wal 2>/dev/null | head -1)
if [ -n "$SEG" ] && [ "$(ls "$T"/wal/w0/*.wal | wc -l)" -eq 1 ]; then ok "one segment: $(basename "$SEG")"; else
    bad "expected exactly one segment in wal/w0, got: $(ls "$T"/wal/w0 2>&1)"
fi
SUM0=$(md5sum "$SEG" | cut -d' ' -f1)

OUT=$("$BIN" wal dump --wal-dir "$T/wal"); RC=$?
rc_is "dump" $RC 0
same "dump prints the three trades and the summary" "$OUT" "w0 1 TRADE AUSDT ts=1704067200000 id=1 first=1 last=1 price=1.50000000 qty=2.00000000 maker=false
w0 2 TRADE AUSDT ts=1704067260000 id=2 first=2 last=4 price=1.75000000 qty=0.50000000 maker=true
w0 3 TRADE BUSDT ts=1704067261000 id=7 first=9 last=9 price=100.00000000 qty=0.00000001 maker=false
w0: segments=1 records=3 last_seq=3 damage=none"

OUT=$("$BIN" wal dump --wal-dir "$T/wal" --worker 0 --from 3); RC=$?
rc_is "dump --from 3" $RC 0
same "dump --from 3 starts at seq 3 (the summary still counts the whole log)" "$OUT" \
"w0 3 TRADE BUSDT ts=1704067261000 id=7 first=9 last=9 price=100.00000000 qty=0.00000001 maker=false
w0: segments=1 records=3 last_seq=3 damage=none"

OUT=$("$BIN" wal verify --wal-dir "$T/wal"); RC=$?
rc_is "verify of an intact log" $RC 0
same "verify says OK" "$OUT" "w0: OK, 3 records, seq 1..3"

# ---- 2. usage and missing logs ------------------------------------------------------------
"$BIN" wal verify >/dev/null 2>&1; rc_is "verify without --wal-dir" $? 2
"$BIN" wal frobnicate --wal-dir "$T/wal" >/dev/null 2>&1; rc_is "unknown action" $? 2
"$BIN" wal verify --wal-dir "$T/wal" --worker x >/dev/null 2>&1; rc_is "bad --worker" $? 2
"$BIN" wal verify --wal-dir "$T/wal" --worker 5 >/dev/null 2>"$T/e.txt"; RC=$?
rc_is "verify of a missing log" $RC 1
grep -q "no log w5" "$T/e.txt" && ok "missing log named" || bad "missing log not named: $(cat "$T/e.txt")"
"$BIN" wal verify --wal-dir "$T/nowhere" >/dev/null 2>&1; rc_is "verify of a missing dir" $? 1

# ---- 3. a corrupt byte in the middle record ----------------------------------------------
SIZE=$(stat -c %s "$SEG")
REC=$(((SIZE - 32) / 3))            # three records of equal size (both names are 5 bytes)
MID=$((32 + REC))                   # where record 2 starts
cp "$SEG" "$T/seg.orig"
printf '\x7f' | dd of="$SEG" bs=1 seek=$((MID + 20)) conv=notrunc status=none
SUM1=$(md5sum "$SEG" | cut -d' ' -f1)
[ "$SUM1" != "$SUM0" ] && ok "byte flipped" || bad "dd did not change the segment"
OUT=$("$BIN" wal verify --wal-dir "$T/wal"); RC=$?
rc_is "verify of a corrupt log" $RC 1
same "verify names the file, the record's offset and 'corrupt'" "$OUT" \
    "w0: DAMAGED at $T/wal/w0/$(basename "$SEG") offset $MID (corrupt), 1 valid records before it"
OUT=$("$BIN" wal dump --wal-dir "$T/wal"); RC=$?
rc_is "dump of a corrupt log" $RC 0
same "dump stops before the damage" "$OUT" "w0 1 TRADE AUSDT ts=1704067200000 id=1 first=1 last=1 price=1.50000000 qty=2.00000000 maker=false
w0: segments=1 records=1 last_seq=1 damage=$T/wal/w0/$(basename "$SEG") offset $MID (corrupt)"
same "verify and dump left the file unchanged" "$(md5sum "$SEG" | cut -d' ' -f1) $(stat -c %s "$SEG")" "$SUM1 $SIZE"

# ---- 4. a torn tail --------------------------------------------------------------------------
cp "$T/seg.orig" "$SEG"
truncate -s $((SIZE - 10)) "$SEG"
SUM2=$(md5sum "$SEG" | cut -d' ' -f1)
OUT=$("$BIN" wal verify --wal-dir "$T/wal"); RC=$?
rc_is "verify of a torn log" $RC 1
same "verify reports the last record torn" "$OUT" \
    "w0: DAMAGED at $T/wal/w0/$(basename "$SEG") offset $((32 + 2 * REC)) (torn), 2 valid records before it"
same "verify left the torn file unchanged" "$(md5sum "$SEG" | cut -d' ' -f1) $(stat -c %s "$SEG")" "$SUM2 $((SIZE - 10))"

truncate -s 20 "$SEG"
OUT=$("$BIN" wal verify --wal-dir "$T/wal"); RC=$?
rc_is "verify of a torn segment header" $RC 1
same "a header cut short is torn at offset 0" "$OUT" \
    "w0: DAMAGED at $T/wal/w0/$(basename "$SEG") offset 0 (torn), 0 valid records before it"

# ---- 5. two workers: one line per log ------------------------------------------------------
feed | "$BIN" serve --listen 127.0.0.1:0 --source lines:stdin --clock event --exit-on-eof --wal-dir "$T/wal2" \
    --workers 2 --store "sqlite:$T/db2.sqlite" 2>"$T/serve2.err"
rc_is "serve with two workers" $? 0
OUT=$("$BIN" wal verify --wal-dir "$T/wal2"); RC=$?
rc_is "verify of two logs" $RC 0
same "verify prints one OK line per log" "$(printf '%s\n' "$OUT" | sed 's/, [0-9]* records.*//')" "w0: OK
w1: OK"
OUT=$("$BIN" wal dump --wal-dir "$T/wal2")
same "dump of two logs holds the three trades" \
    "$(printf '%s\n' "$OUT" | grep ' TRADE ' | awk '{print $4, $6}' | sort)" "AUSDT id=1
AUSDT id=2
BUSDT id=7"
same "dump of two logs: one summary per log, 3 records in all" \
    "$(printf '%s\n' "$OUT" | grep -c '^w[01]: segments=1 ') $(printf '%s\n' "$OUT" | grep -o 'records=[0-9]*' | awk -F= '{s += $2} END {print s}')" "2 3"

echo "wal_tools: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
