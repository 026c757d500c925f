#!/usr/bin/env python3
"""The `klined replay --intervals all` job done in pandas, as a peer to compare rates against:
one spot aggTrades CSV in, one Binance kline CSV per interval out, with exact decimals and hole
klines, so that its files can be diffed with klined's. No float touches a value: prices and
quantities become int64 counts of 1e-8, and price*qty is split into an int64 part in 1e-8 plus
a remainder in 1e-16 so that nothing overflows int64; sums past the 1 s level are Python ints.
Trades are folded into 1 s buckets first, then every interval rolls those up.

usage: pandas_replay.py --out DIR [--symbol SYM] FILE
prints: "pandas: N rows in T s: X M rows/s" on stdout
"""
import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

E8 = 10**8
DAY = 86400000
# name -> (length ms, origin ms); length 0 is the calendar month. klined's default origins.
IVS = [("1s", 1000, 0), ("1m", 60000, 0), ("3m", 180000, 0), ("5m", 300000, 0),
       ("15m", 900000, 0), ("30m", 1800000, 0), ("1h", 3600000, 0), ("2h", 7200000, 0),
       ("4h", 14400000, 0), ("6h", 21600000, 0), ("8h", 28800000, 0), ("12h", 43200000, 0),
       ("1d", DAY, 0), ("3d", 3 * DAY, 0), ("1w", 7 * DAY, 4 * DAY), ("1M", 0, 0)]


def to_e8(col):
    """Decimal strings -> int64 of 1e-8 units, exactly, with numpy on the bytes (pandas' own
    string methods are 5-10x slower); refuses a non-zero 9th decimal or a stray character."""
    b = np.array(col.tolist(), dtype="S")
    n, w = len(b), b.dtype.itemsize
    m = b.view(np.uint8).reshape(n, w).astype(np.int64)
    j = np.arange(w)
    is_dot = m == 46
    dotpos = np.where(is_dot.any(axis=1), is_dot.argmax(axis=1), (m != 0).sum(axis=1))[:, None]
    digit = (m >= 48) & (m <= 57)
    if ((~digit) & (m != 0) & ~is_dot).any() or (is_dot.sum(axis=1) > 1).any():
        sys.exit("pandas: bad decimal")
    exp = np.where(j < dotpos, dotpos - 1 - j + 8, 8 - (j - dotpos))
    d = np.where(digit, m - 48, 0)
    if (d[exp < 0] != 0).any() or (digit & (exp > 17)).any():
        sys.exit("pandas: a value has more than 8 decimals or 10 integer digits")
    return (d * np.where(exp >= 0, 10 ** np.clip(exp, 0, 18), 0)).sum(axis=1)


def fmt8(v):
    """Non-negative int in 1e-8 units -> '123.45000000'."""
    v = int(v)
    return f"{v // E8}.{v % E8:08d}"


def month_start(ms):
    return pd.to_datetime(ms, unit="ms").dt.to_period("M").dt.to_timestamp().astype(np.int64) // 10**6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--symbol")
    ap.add_argument("file")
    a = ap.parse_args()
    sym = a.symbol or os.path.basename(a.file).split("-")[0]
    os.makedirs(a.out, exist_ok=True)
    t0 = time.perf_counter()

    df = pd.read_csv(a.file, header=None, engine="c",
                     names=["id", "price", "qty", "first", "last", "ts", "maker", "best"],
                     dtype={"id": np.int64, "price": str, "qty": str, "first": np.int64,
                            "last": np.int64, "ts": np.int64, "maker": str, "best": str})
    rows = len(df)
    if not (df["ts"].is_monotonic_increasing and df["id"].is_monotonic_increasing):
        df = df.sort_values(["ts", "id"], kind="stable")
    p = to_e8(df["price"])
    q = to_e8(df["qty"])
    taker = (df["maker"] != "True").to_numpy()
    pl_q = (p % E8) * q  # < 1e8 * q: fits int64 for q below ~920 units
    if q.max() >= 92 * 10**9:
        sys.exit("pandas: quantity too large for the int64 split")
    q8 = (p // E8) * q + pl_q // E8  # price*qty, 1e-8 units, floored
    r16 = pl_q % E8                  # the remainder, 1e-16 units
    t = pd.DataFrame({"ot": df["ts"].to_numpy() // 1000 * 1000, "p": p, "q": q, "q8": q8,
                      "r16": r16, "n": (df["last"] - df["first"] + 1).to_numpy(),
                      "tq": np.where(taker, q, 0), "tq8": np.where(taker, q8, 0),
                      "tr16": np.where(taker, r16, 0)})
    del df
    s1 = t.groupby("ot", sort=True).agg(open=("p", "first"), high=("p", "max"), low=("p", "min"),
                                        close=("p", "last"), vol=("q", "sum"), q8=("q8", "sum"),
                                        r16=("r16", "sum"), n=("n", "sum"), tb=("tq", "sum"),
                                        tq8=("tq8", "sum"), tr16=("tr16", "sum"))
    del t
    # From here sums are Python ints (object columns): exact at any size.
    s1["quote"] = [int(x) * E8 + int(y) for x, y in zip(s1["q8"], s1["r16"])]
    s1["tquote"] = [int(x) * E8 + int(y) for x, y in zip(s1["tq8"], s1["tr16"])]
    s1["vol"] = s1["vol"].astype(object)
    s1["tb"] = s1["tb"].astype(object)
    s1 = s1.drop(columns=["q8", "r16", "tq8", "tr16"]).reset_index()

    for name, length, origin in IVS:
        if length:
            key = (s1["ot"] - origin) // length * length + origin
        else:
            key = month_start(s1["ot"])
        k = s1.groupby(key.rename("k"), sort=True).agg(
            open=("open", "first"), high=("high", "max"), low=("low", "min"),
            close=("close", "last"), vol=("vol", "sum"), quote=("quote", "sum"), n=("n", "sum"),
            tb=("tb", "sum"), tquote=("tquote", "sum"))
        lo, hi = int(k.index[0]), int(k.index[-1])
        if length:
            grid = list(range(lo, hi + length, length))
            nexts = [g + length for g in grid]
        else:
            months = pd.period_range(pd.to_datetime(lo, unit="ms"), pd.to_datetime(hi, unit="ms"),
                                     freq="M")
            bounds = [int(m.to_timestamp().value // 10**6) for m in months]
            bounds.append(int((months[-1] + 1).to_timestamp().value // 10**6))
            grid, nexts = bounds[:-1], bounds[1:]
        k = k.reindex(grid)
        hole = k["n"].isna()
        close = k["close"].ffill()
        for c in ("open", "high", "low", "close"):
            k[c] = k[c].fillna(close)
        for c in ("vol", "quote", "n", "tb", "tquote"):
            k[c] = k[c].where(~hole, 0)
        lines = [
            f"{ot},{fmt8(o)},{fmt8(h)},{fmt8(l)},{fmt8(c)},{fmt8(v)},{nx - 1},{fmt8(int(qu) // E8)},"
            f"{int(n)},{fmt8(tb)},{fmt8(int(tq) // E8)},0\n"
            for ot, nx, o, h, l, c, v, qu, n, tb, tq in zip(
                grid, nexts, k["open"], k["high"], k["low"], k["close"], k["vol"], k["quote"],
                k["n"], k["tb"], k["tquote"])]
        with open(os.path.join(a.out, f"{sym}-{name}.csv"), "w") as f:
            f.write("".join(lines))

    dt = time.perf_counter() - t0
    print(f"pandas: {rows} rows in {dt:.3f} s: {rows / dt / 1e6:.2f} M rows/s")


if __name__ == "__main__":
    main()
