#!/usr/bin/env python3
"""lines_ack_client: an at-least-once client of `klined serve --source lines:tcp://... --lines-ack`
(tests/integ/lines_ack.sh). It sends the lines of a file in chunks, reads klined's `ack N` lines
(N: the first N lines of this connection are in klined's WAL), and keeps the highest absolute
line acked in --ack-file (written atomically). When the connection fails (klined crashed or
restarted), it reconnects to the port then in --port-file and resends from the last acked line:
lines after it may have reached the WAL already, and klined refuses those again by trade id.
It ends once every line is acked, printing `acked=N connections=C acks=A resent=R`, status 0;
status 1 after --timeout-s."""
import argparse
import os
import select
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--ack-file", required=True)
    ap.add_argument("--chunk", type=int, default=100, help="lines per send")
    ap.add_argument("--pause-ms", type=float, default=10, help="pause between sends")
    ap.add_argument("--timeout-s", type=float, default=120)
    a = ap.parse_args()
    with open(a.lines, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    total = len(lines)
    acked = connections = acks = resent = 0
    high = 0  # highest line ever sent
    deadline = time.monotonic() + a.timeout_s

    def save():
        tmp = a.ack_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{acked}\n")
        os.replace(tmp, a.ack_file)

    while acked < total and time.monotonic() < deadline:
        try:
            with open(a.port_file) as f:
                port = int(f.read().strip())
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
        except (OSError, ValueError):
            time.sleep(0.1)
            continue
        connections += 1
        base = sent = acked
        resent += max(0, high - base)
        buf = b""
        next_send = time.monotonic()
        try:
            s.settimeout(5)
            while acked < total and time.monotonic() < deadline:
                now = time.monotonic()
                if sent < total and now >= next_send:  # paced: a chunk per pause
                    end = min(total, sent + a.chunk)
                    s.sendall(b"".join(lines[sent:end]))
                    sent = end
                    high = max(high, sent)
                    next_send = now + a.pause_ms / 1000.0
                r, _, _ = select.select([s], [], [], max(0.0, next_send - time.monotonic())
                                        if sent < total else 0.05)
                if not r:
                    continue
                data = s.recv(65536)
                if not data:
                    raise ConnectionError("closed by klined")
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    word = line.split()
                    if len(word) != 2 or word[0] != b"ack":
                        raise ConnectionError(f"unexpected line from klined: {line!r}")
                    n = base + int(word[1])
                    if n > sent:
                        raise ConnectionError(f"ack {n} beyond the {sent} lines sent")
                    acks += 1
                    if n > acked:
                        acked = n
                        save()
        except (OSError, ConnectionError) as e:
            print(f"lines_ack_client: connection {connections}: {e}; acked={acked}",
                  file=sys.stderr)
        finally:
            s.close()
    print(f"acked={acked} connections={connections} acks={acks} resent={resent}")
    return 0 if acked == total else 1


if __name__ == "__main__":
    sys.exit(main())
