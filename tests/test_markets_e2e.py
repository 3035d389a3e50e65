"""The venue's markets in the book (schema 8), end to end: `tracker run` against the
simulator as real subprocesses, on either backend, and the book read as other programs read
it. The daemon records BitMart's markets, so a query by unified `BASE/QUOTE` finds its open
orders beside another venue's; a list that cannot be read is said once, never stops the
book, and is read again after the next seed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from harness import TRACKER, Lab, clean_env, eventually, logged
from harness.books import BookUnderTest, PostgresBook, SqliteBook
from harness.docs import documented
from harness.profiles import BITMART_V4
from tracker.sqlite import migrate

# The simulator's symbols, as BitMart's public list gives them.
SIM_MARKETS = {"BTC_USDT": ("BTC", "USDT"), "ETH_USDT": ("ETH", "USDT"),
               "BMX_ETH": ("BMX", "ETH")}
EVERY_SYMBOL = {"TRACKER_SYMBOLS": "*"}


def markets(store: BookUnderTest) -> dict[str, tuple[str, str, str]]:
    """The book's `markets` rows of BitMart: symbol -> (base, quote, unified_symbol)."""
    sql = "SELECT symbol, base, quote, unified_symbol FROM markets WHERE venue = 'bitmart'"
    if isinstance(store, PostgresBook):
        rows = [tuple(r.values()) for r in store.query(sql)]
    else:
        assert isinstance(store, SqliteBook)
        conn = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
        try:
            rows = conn.execute(sql).fetchall()
        finally:
            conn.close()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def orders_json(store: BookUnderTest) -> list[dict[str, Any]]:
    done = subprocess.run([*TRACKER, "orders", "--format", "json", *store.reader_args()],
                          capture_output=True, text=True, timeout=30,
                          env=clean_env() | store.reader_env())
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def other_venues_book(path: Path) -> None:
    """A book of another venue that writes BTC/USDT as BTCUSDT, as its tracker leaves it."""
    conn = sqlite3.connect(path)
    migrate.apply(conn)
    conn.execute("UPDATE sync_state SET venue = 'binance'")
    conn.execute("INSERT INTO orders VALUES ('BTCUSDT:77', 'BTCUSDT', 'sell', 'limit', "
                 "'61000.00', '0.5', '0', '0', 'new', NULL, 1, 1, 'push', 0, 1, 1)")
    conn.execute("INSERT INTO markets VALUES ('binance', 'BTCUSDT', 'BTC', 'USDT', "
                 "'BTC/USDT')")
    conn.commit()
    conn.close()


def test_every_symbols_markets_are_recorded_and_one_query_finds_a_market_across_books(
        lab: Lab, store: BookUnderTest, tmp_path: Path) -> None:
    sim = lab.sim("--open-orders", "6", "--seed", "8")
    daemon = lab.daemon(sim, profile=BITMART_V4, store=store, env=EVERY_SYMBOL).start()
    daemon.wait_live()

    def recorded() -> None:
        assert markets(store) == {s: (b, q, f"{b}/{q}") for s, (b, q) in SIM_MARKETS.items()}

    eventually(recorded, 20, "BitMart's markets recorded", context=daemon.tail)
    book = daemon.wait_converged(sim)
    rows = orders_json(store)
    assert {r["order_id"] for r in rows} == book.open_ids and rows
    assert all(r["unified_symbol"] == "/".join(SIM_MARKETS[r["symbol"]]) for r in rows), rows
    btc = {r["order_id"] for r in rows if r["symbol"] == "BTC_USDT"}
    assert btc

    if isinstance(store, PostgresBook):
        (across,) = documented("postgres.md", "All open orders on BTC/USDT, across venues "
                                              "and accounts")
        found = store.query(across)
        assert {(r["account"], r["venue"], r["symbol"], r["order_id"]) for r in found} == {
            (store.account, "bitmart", "BTC_USDT", oid) for oid in btc}
        return
    assert isinstance(store, SqliteBook)
    other = tmp_path / "binance.db"
    other_venues_book(other)
    attach, across = documented("sqlite-contract.md", "All open orders on BTC/USDT, across "
                                                      "the books attached (venues and accounts)")
    conn = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    try:
        conn.execute(attach.replace("/var/lib/tracker/binance.db", str(other)))
        found = conn.execute(across).fetchall()
    finally:
        conn.close()
    assert sorted((r[0], r[1], r[2]) for r in found) == sorted(
        [("binance", "BTCUSDT", "BTCUSDT:77"),
         *(("bitmart", "BTC_USDT", oid) for oid in btc)])


def test_markets_that_cannot_be_read_are_said_once_and_recorded_after_a_later_seed(
        lab: Lab) -> None:
    """Every REST call refused at the start: the markets with the seeds. The list is said
    once however many seeds fail meanwhile; once the exchange answers, the book goes live
    and the markets are recorded after that seed."""
    sim = lab.sim("--open-orders", "4", "--seed", "9")
    sim.faults(rest_5xx=1.0)
    daemon = lab.daemon(sim, profile=BITMART_V4, env=EVERY_SYMBOL).start()
    def said(event: str, times: int) -> None:
        assert len(logged(daemon.log, event)) >= times, event

    eventually(lambda: said("markets_unread", 1), 20, "the failure to read the markets said",
               context=daemon.tail)
    eventually(lambda: said("seed_failed", 2), 30, "seeds failing meanwhile",
               context=daemon.tail)
    assert markets(daemon.store) == {}
    sim.faults(rest_5xx=0.0)
    daemon.wait_live(timeout=40)

    def recorded() -> None:
        assert markets(daemon.store) == {s: (b, q, f"{b}/{q}")
                                         for s, (b, q) in SIM_MARKETS.items()}

    eventually(recorded, 20, "the markets recorded after a seed", context=daemon.tail)
    assert len(logged(daemon.log, "markets_unread")) == 1
    (unread,) = logged(daemon.log, "markets_unread")
    assert "/spot/v1/symbols/details" in unread["error"], unread
    assert len(logged(daemon.log, "markets_read")) == 1
    assert all(r["unified_symbol"] for r in orders_json(daemon.store))
