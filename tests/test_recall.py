"""Both stores at a start hold the open orders whole and only the ids of the closed ones, and
read a closed order back on request; the PostgreSQL store reconnects for it as a commit
does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from harness.postgres import Database
from harness.relay import Relay
from tracker.batch import Batch
from tracker.book import Outcome
from tracker.codec import OrderUpdate
from tracker.postgres.store import PgStore
from tracker.sqlite.store import Store
from tracker.storage import BookStore

STATES = {"1": "new", "2": "filled", "3": "canceled", "4": "partially_filled"}


def order(oid: str) -> OrderUpdate:
    state = STATES[oid]
    filled = {"new": "0", "canceled": "0", "filled": "2"}.get(state, "1")
    return OrderUpdate(order_id=oid, symbol="BTC_USDT", side="buy", state=state,
                       price=Decimal("100.5"), size=Decimal("2"), filled_size=Decimal(filled),
                       source="push", create_time=1, update_time=2)


async def write_all(store: BookStore) -> dict[str, int]:
    batch, seqs = Batch(), {}
    for oid in STATES:
        seqs[oid] = seq = store.take_seq()
        batch.journal(seq, 1, "push", Outcome.APPLIED, order(oid))
        batch.order(order(oid), seq, False)
    await store.commit(batch)
    return seqs


@pytest.fixture
async def relay(pg_database: Database) -> AsyncIterator[Relay]:
    relay = await Relay(pg_database.port).start()
    yield relay
    relay.close()


async def open_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest
                     ) -> BookStore:
    if backend == "sqlite":
        return await Store.open(tmp_path / "book.db")
    db: Database = request.getfixturevalue("pg_database")
    return await PgStore.open(db.url(), "acct", db.password)


async def test_a_start_holds_the_open_orders_and_reads_closed_ones_back(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = await open_store(backend, tmp_path, request)
    try:
        seqs = await write_all(store)
    finally:
        await store.close()
    store = await open_store(backend, tmp_path, request)
    try:
        loaded = await store.load()
        assert sorted(r.order_id for r in loaded.rows) == ["1", "4"]
        assert loaded.last_seq == {"1": seqs["1"], "4": seqs["4"]}
        assert "2" in loaded.gone and "3" in loaded.gone
        assert "1" not in loaded.gone and "4" not in loaded.gone
        found = await store.recall(["3", "2", "99"])
        assert sorted((row.order_id, row.state, seq) for row, seq in found) == [
            ("2", "filled", seqs["2"]), ("3", "canceled", seqs["3"])]
        assert {row.order_id: row for row, _ in found}["2"] == order("2")
    finally:
        await store.close()


async def test_a_recall_after_the_link_went_reconnects(pg_database: Database,
                                                        relay: Relay) -> None:
    url = f"postgresql://{pg_database.name}@127.0.0.1:{relay.port}/{pg_database.name}"
    store = await PgStore.open(url, "acct", pg_database.password)
    try:
        seqs = await write_all(store)
        relay.cut()
        with pytest.raises(psycopg.OperationalError):
            await store.recall(["2"])
        assert store.unreachable is not None
        found = await store.recall(["2"])  # the driver's retry
        assert [(row.state, seq) for row, seq in found] == [("filled", seqs["2"])]
        assert store.reconnects == 1 and store.lost is None
        await write_all(store)  # and it still writes, holding the account's lock
    finally:
        await store.close()
