"""docs/postgres.md followed as written on a real server: its setup block (run through psql),
then a tracker writing as the role it makes, and a reader with the read-only role it makes
running the documented queries and the change feed; the reader can read and nothing else."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from harness import Lab
from harness.books import PostgresBook
from harness.postgres import BIN, SERVER_USER, Database, Postgres, client_env
from harness.profiles import BITMART_V4

DOC = Path(__file__).resolve().parents[2] / "docs" / "postgres.md"


def sql_blocks(heading: str) -> list[str]:
    """The ```sql blocks of one section of the document, as written."""
    text = DOC.read_text()
    section = text[text.index(heading):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def server() -> Iterator[Postgres]:
    """A server of its own: the document's roles are cluster-wide names."""
    with Postgres.running() as server:
        yield server


@pytest.fixture(scope="module")
def set_up(server: Postgres) -> Postgres:
    (setup,) = sql_blocks("## Setting up the database")
    done = subprocess.run(
        [str(BIN / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-h", str(server.socket_dir),
         "-p", str(server.port), "-U", SERVER_USER, "-d", "postgres"],
        input=setup, capture_output=True, text=True, timeout=60, env=client_env({}))
    assert done.returncode == 0, done.stderr
    return server


def url(server: Postgres, user: str, password: str) -> str:
    return f"postgresql://{user}:{password.replace(' ', '%20')}@127.0.0.1:{server.port}/book"


def test_the_documented_setup_gives_a_writer_and_a_reader_that_only_reads(
        lab: Lab, set_up: Postgres) -> None:
    server = set_up
    reader = url(server, "book_reader", "change me too")
    sim = lab.sim("--open-orders", "30", "--seed", "3", "--rate", "20")

    class DocumentedBook(PostgresBook):
        def env(self) -> dict[str, str]:
            return {"TRACKER_DB": f"postgresql://tracker@127.0.0.1:{server.port}/book",
                    "TRACKER_DB_PASSWORD": "change me", "TRACKER_ACCOUNT": "desk1"}

        def read_url(self) -> str:
            return reader

    book = DocumentedBook(Database("book", "", server.port), "desk1")
    daemon = lab.daemon(sim, profile=BITMART_V4, store=book).start()
    daemon.wait_live()
    with psycopg.connect(reader, autocommit=True) as listener:
        listener.execute("LISTEN tracker_book")
        notes = listener.notifies(timeout=5, stop_after=1)
        heard = [json.loads(n.payload) for n in notes]
    assert heard and heard[0]["account"] == "desk1" and heard[0]["seq"] >= 1
    sim.flow(0)
    converged = daemon.wait_converged(sim)

    queries, across_venues = sql_blocks("## The contract, in PostgreSQL's dialect")
    with psycopg.connect(reader, autocommit=True) as conn:
        results = [conn.execute(q).fetchall() for q in queries.split(";") if q.strip()
                   and not all(line.startswith("--") for line in q.strip().splitlines())]
        btc, current, notional, every = results
        # One market across venues: the daemon recorded its venue's markets, so the
        # documented queries find its BTC_USDT orders as BTC/USDT (the desk's query, which
        # tests/postgres/test_fleet_e2e.py checks on a fleet, names no account here).
        open_btc, desk_btc, any_btc = [
            conn.execute(q).fetchall() for q in across_venues.split(";")
            if q.strip() and not all(line.startswith("--") for line in q.strip().splitlines())]
        assert desk_btc == []
        assert {(r[0], r[1], r[2], r[3]) for r in open_btc} == {
            ("desk1", "bitmart", "BTC_USDT", r[0]) for r in btc} and open_btc
        assert {r[3] for r in any_btc} == {oid for oid, row in converged.orders.items()
                                          if row["symbol"] == "BTC_USDT"}
        assert conn.execute("SELECT symbol, unified_symbol FROM markets ORDER BY 1").fetchall(
            ) == [("BMX_ETH", "BMX/ETH"), ("BTC_USDT", "BTC/USDT"), ("ETH_USDT", "ETH/USDT")]
        assert {(r[0], r[1]) for r in every} == {("desk1", oid) for oid in converged.open_ids}
        assert {r[0] for r in btc} == {oid for oid in converged.open_ids
                                      if converged.orders[oid]["symbol"] == "BTC_USDT"}
        assert current == [(True, None)]
        expected: dict[str, Decimal] = {}
        for oid in converged.open_ids:
            row = converged.orders[oid]
            expected[row["symbol"]] = expected.get(row["symbol"], Decimal(0)) + Decimal(
                row["price"]) * (Decimal(row["size"]) - Decimal(row["filled_size"]))
        assert {(a, s): n for a, s, n in notional} == {("desk1", s): n
                                                       for s, n in expected.items()}
        for table in ("orders", "order_events", "sync_state", "markets", "tracker_schema"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"DELETE FROM {table}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE mine (x int)")
