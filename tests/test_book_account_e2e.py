"""A book is the book of one exchange account and of the symbols it covers (issue 30, item 2),
on both backends, with real daemons against a simulator serving two accounts.

A tracker started on a book with another account's keys, or covering fewer symbols than the
book holds open orders for, is refused with one line and exit 78 before it writes anything;
more symbols are taken; a book from before schema 7 adopts the identity of its next tracker;
`--drop-symbols` narrows a book explicitly, and its dropped symbols' orders leave it. On
PostgreSQL a standby with another account's keys is refused as it starts to wait, and one
with fewer symbols does not take over when the active dies.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from harness import Daemon, Lab, eventually, logged
from harness.books import BookUnderTest, PostgresBook, SqliteBook
from harness.postgres import Database
from harness.profiles import BITMART_V4
from harness.sim import SYMBOLS, Sim, account_env, accounts_file
from tracker.identity import fingerprint

EX_CONFIG = 78


def two_accounts(lab: Lab, tmp_path: Path) -> tuple[Sim, list[dict[str, Any]]]:
    accounts = accounts_file(tmp_path / "accounts.json", 2, open_orders=8, rate=4)
    return lab.sim("--accounts", str(tmp_path / "accounts.json"), "--seed", "30"), accounts


def tracker(lab: Lab, sim: Sim, store: BookUnderTest, account: dict[str, Any],
            *args: str, **env: str) -> Daemon:
    return lab.daemon(sim, profile=BITMART_V4, store=store, env=account_env(account) | env,
                      args=args)


def written_then_stopped(lab: Lab, sim: Sim, store: BookUnderTest, account: dict[str, Any],
                         **env: str) -> Daemon:
    """A first tracker writes the book, goes live and stops cleanly: the book now records
    whose it is."""
    first = tracker(lab, sim, store, account, **env).start()
    first.wait_live()
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    return first


def snapshot(store: BookUnderTest) -> tuple[Any, ...]:
    """Everything a start could write: the state row, every order, every journal row."""
    book = store.read()
    return book.state, book.orders, store.journal()


def refusal(daemon: Daemon) -> str:
    """The refused start's whole output: it must be one line."""
    code = daemon.wait(30)
    text = daemon.log.read_text()
    out = text[text.rindex("=== start "):].splitlines()[1:]
    assert code == EX_CONFIG, (code, out)
    assert len(out) == 1 and out[0].startswith("tracker: db: "), out
    return out[0]


def secrets_of(*accounts: dict[str, Any]) -> list[str]:
    return [a[k] for a in accounts for k in ("api_key", "secret")]


def stored_text(store: BookUnderTest) -> bytes:
    """Every byte the book keeps (the SQLite files; PostgreSQL's tables as text)."""
    if isinstance(store, SqliteBook):
        return b"".join(p.read_bytes() for p in store.path.parent.iterdir()
                        if p.name.startswith(store.path.name) and p.is_file())
    assert isinstance(store, PostgresBook)
    rows = store.query("SELECT (SELECT string_agg(s::text, '') FROM sync_state s) AS s, "
                       "(SELECT string_agg(o::text, '') FROM orders o) AS o, "
                       "(SELECT string_agg(e::text, '') FROM order_events e) AS e")
    return "".join(v or "" for v in rows[0].values()).encode()


def test_a_tracker_with_other_keys_is_refused_before_it_writes(
        lab: Lab, store: BookUnderTest, tmp_path: Path) -> None:
    sim, (alice, bob) = two_accounts(lab, tmp_path)
    first = written_then_stopped(lab, sim, store, alice)
    recorded = store.read().state
    assert (recorded["venue"], recorded["key_fingerprint"], recorded["symbols"]) == (
        "bitmart", fingerprint(alice["api_key"]), ",".join(sorted(SYMBOLS)))
    before = snapshot(store)

    other = tracker(lab, sim, store, bob).start()
    line = refusal(other)
    ours, theirs = fingerprint(alice["api_key"]), fingerprint(bob["api_key"])
    assert f"other API keys (fingerprint {ours[:8]}… in the book, {theirs[:8]}… configured)" \
        in line, line
    assert snapshot(store) == before, "the refused start wrote to the book"
    # No key and no secret anywhere: the book, the logs, the refusal.
    kept = stored_text(store) + first.log.read_bytes() + other.log.read_bytes()
    for secret in secrets_of(alice, bob):
        assert secret.encode() not in kept

    # The right keys start on it again.
    again = tracker(lab, sim, store, alice).start()
    again.wait_live(epoch_above=before[0]["epoch"])
    again.wait_converged(sim)


def test_fewer_symbols_are_refused_more_are_taken_and_drop_symbols_narrows(
        lab: Lab, store: BookUnderTest, tmp_path: Path) -> None:
    sim, (alice, _) = two_accounts(lab, tmp_path)
    two = ",".join(SYMBOLS[:2])
    written_then_stopped(lab, sim, store, alice, TRACKER_SYMBOLS=two)
    assert store.read().state["symbols"] == ",".join(sorted(SYMBOLS[:2]))

    # More symbols: the seed covers the new one; the book records the wider list.
    wider = tracker(lab, sim, store, alice).start()
    wider.wait_live()
    wider.wait_converged(sim)
    wider.signal(signal.SIGTERM)
    assert wider.wait() == 0
    book = store.read()
    assert book.state["symbols"] == ",".join(sorted(SYMBOLS))
    dropped = SYMBOLS[2]
    theirs = {o for o in book.open_ids if book.orders[o]["symbol"] == dropped}
    assert theirs, "the simulator has open orders of every symbol"
    before = snapshot(store)

    narrower = tracker(lab, sim, store, alice, TRACKER_SYMBOLS=two).start()
    line = refusal(narrower)
    assert f"the book covers symbols this tracker does not: {dropped}" in line, line
    assert f"--drop-symbols {dropped}" in line, line
    assert snapshot(store) == before

    # Said explicitly: the dropped symbol's open orders leave the book, never to show open.
    narrowed = tracker(lab, sim, store, alice, "--drop-symbols", dropped,
                       TRACKER_SYMBOLS=two).start()
    narrowed.wait_live(epoch_above=before[0]["epoch"])
    assert logged(narrowed.log, "symbols_dropped")[0]["orders_removed"] == len(theirs)
    book = store.read()
    assert book.state["symbols"] == ",".join(sorted(SYMBOLS[:2]))
    assert not {o["symbol"] for i, o in book.orders.items() if i in book.open_ids} - set(
        SYMBOLS[:2])


def _forget_identity(store: BookUnderTest) -> None:
    """The book as schema 7 finds one written before it: the three columns NULL."""
    sql = "UPDATE sync_state SET venue = NULL, key_fingerprint = NULL, symbols = NULL"
    if isinstance(store, SqliteBook):
        with sqlite3.connect(store.path) as conn:
            conn.execute(sql)
        return
    assert isinstance(store, PostgresBook)
    with psycopg.connect(store.database.url()) as conn:
        conn.execute(sql + " WHERE account = %s", (store.account,))


def test_a_book_from_before_the_identity_adopts_its_next_tracker_but_not_fewer_symbols(
        lab: Lab, store: BookUnderTest, tmp_path: Path) -> None:
    sim, (alice, bob) = two_accounts(lab, tmp_path)
    written_then_stopped(lab, sim, store, alice)
    _forget_identity(store)
    before = snapshot(store)
    # Nothing recorded, but its open orders' symbols still count.
    narrower = tracker(lab, sim, store, alice, TRACKER_SYMBOLS=SYMBOLS[0]).start()
    assert "the book covers symbols this tracker does not" in refusal(narrower)
    assert snapshot(store) == before

    adopted = tracker(lab, sim, store, alice).start()
    adopted.wait_live(epoch_above=before[0]["epoch"])
    state = store.read().state
    assert (state["venue"], state["key_fingerprint"]) == ("bitmart",
                                                          fingerprint(alice["api_key"]))
    adopted.signal(signal.SIGTERM)
    assert adopted.wait() == 0
    assert "other API keys" in refusal(tracker(lab, sim, store, bob).start())


def _waiting(daemon: Daemon) -> None:
    assert logged(daemon.log, "standby"), "not waiting yet"


def test_a_standby_with_other_keys_is_refused_at_once_and_never_takes_over(
        lab: Lab, pg_database: Database, tmp_path: Path) -> None:
    """The issue's `alice` run with bob's keys: told as it would start waiting, not at the
    failover it was there for; alice's tracker goes on writing."""
    book = PostgresBook(pg_database, "alice")
    sim, (alice, bob) = two_accounts(lab, tmp_path)
    active = tracker(lab, sim, book, alice).start()
    first = active.wait_live()
    standby = tracker(lab, sim, book, bob).start()
    code = standby.wait(30)
    text = standby.log.read_text()
    lines = text[text.rindex("=== start "):].splitlines()[1:]
    assert code == EX_CONFIG, (code, lines)
    assert len(lines) == 1 and lines[0].startswith("tracker: db: account alice in "), lines
    assert "other API keys" in lines[0], lines
    assert book.read().state["pid"] == active.pid
    active.wait_live(epoch_above=0)
    active.wait_converged(sim)
    assert active.book().state["epoch"] == first.state["epoch"]  # no takeover, no new splice
    for secret in secrets_of(alice, bob):
        assert secret.encode() not in stored_text(book) + text.encode()


def test_a_standby_that_would_leave_symbols_uncovered_does_not_take_over(
        lab: Lab, pg_database: Database, tmp_path: Path) -> None:
    """The issue's standby with fewer symbols. What the book records says nothing against
    it here (its symbols were never recorded, as in a book from before schema 7), so it
    waits; it gets the claim when the active dies, sees the open orders of symbols it would
    not cover, and leaves with 78 before it writes."""
    book = PostgresBook(pg_database, "alice")
    sim, (alice, _) = two_accounts(lab, tmp_path)
    active = tracker(lab, sim, book, alice).start()
    first = active.wait_live()
    with psycopg.connect(pg_database.url()) as conn:
        conn.execute("UPDATE sync_state SET symbols = NULL WHERE account = 'alice'")
    standby = tracker(lab, sim, book, alice, TRACKER_SYMBOLS=SYMBOLS[0]).start()
    eventually(lambda: _waiting(standby), 20, "the narrower tracker waits as the standby",
               context=standby.tail)
    active.signal(signal.SIGKILL)
    active.wait()
    before = snapshot(book)
    code = standby.wait(30)
    last = standby.log.read_text().splitlines()[-1]
    assert code == EX_CONFIG, (code, standby.tail())
    assert last.startswith("tracker: db: account alice in "), last
    assert "the book covers symbols this tracker does not: BMX_ETH, ETH_USDT" in last, last
    assert not logged(standby.log, "tracker_started")  # it got the claim, and let it go
    assert snapshot(book) == before, "the narrower standby wrote to alice's book"

    back = tracker(lab, sim, book, alice).start()
    back.wait_live(epoch_above=first.state["epoch"])
    back.wait_converged(sim)
