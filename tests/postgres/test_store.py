"""The PostgreSQL writer's hardest moments, made to happen exactly, against a real server
through a TCP relay the test controls: a commit the server made whose answer never came
back, a server that stops answering while it keeps our lock, and a database that lost
commits the writer saw succeed (a failover to a replica behind)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from harness.postgres import Database
from harness.relay import Relay
from tracker.batch import Batch
from tracker.book import Outcome
from tracker.codec import OrderUpdate
from tracker.postgres import migrate as pg_migrate
from tracker.postgres.store import AccountTaken, ClaimLost, PgStore


@pytest.fixture
async def relay(pg_database: Database) -> AsyncIterator[Relay]:
    relay = await Relay(pg_database.port).start()
    yield relay
    relay.close()


def relayed(db: Database, relay: Relay) -> str:
    return f"postgresql://{db.name}@127.0.0.1:{relay.port}/{db.name}"


def order(oid: str, filled: str = "0") -> OrderUpdate:
    return OrderUpdate(order_id=oid, symbol="BTC_USDT", side="buy", state="new",
                       price=Decimal("100.5"), size=Decimal("2"), filled_size=Decimal(filled),
                       source="push", create_time=1, update_time=2)


def batch_of(store: PgStore, *oids: str) -> Batch:
    batch = Batch()
    for oid in oids:
        seq = store.take_seq()
        update = order(oid)
        batch.journal(seq, 1, "push", Outcome.APPLIED, update)
        batch.order(update, seq, False)
    batch.state["status"] = f"live, {len(oids)}"
    return batch


def claim_holders(db: Database, account: str = "acct") -> list[int]:
    with psycopg.connect(db.url()) as conn:
        return [r[0] for r in conn.execute(pg_migrate.LOCKERS, (account,)) if r[1]]


def server_view(db: Database, account: str = "acct") -> dict[str, Any]:
    with psycopg.connect(db.url()) as conn:
        seqs = [r[0] for r in conn.execute(
            "SELECT seq FROM order_events WHERE account = %s ORDER BY seq", (account,))]
        applied, book_id = conn.execute(
            "SELECT applied, book_id FROM sync_state WHERE account = %s", (account,)).fetchone()
        orders = conn.execute("SELECT count(*) FROM orders WHERE account = %s",
                              (account,)).fetchone()[0]
    return {"seqs": seqs, "applied": applied, "book_id": book_id, "orders": orders}


async def test_a_commit_whose_answer_was_lost_is_not_written_twice(
        pg_database: Database, relay: Relay) -> None:
    store = await PgStore.open(relayed(pg_database, relay), "acct", pg_database.password)
    try:
        await store.commit(batch_of(store, "1", "2"))
        lost = batch_of(store, "3", "4", "5")
        relay.mode = "mute_at_commit"  # the server commits; its answer goes nowhere
        store.commit_timeout = 1.0
        with pytest.raises((psycopg.OperationalError, TimeoutError)):
            await store.commit(lost)
        assert server_view(pg_database)["seqs"] == [1, 2, 3, 4, 5]  # it did commit
        relay.mode = "pass"
        await store.commit(lost)  # the driver's retry: reconnect, read back, skip
        await store.commit(batch_of(store, "6"))
        view = server_view(pg_database)
        assert view["seqs"] == [1, 2, 3, 4, 5, 6]
        assert view["applied"] == 6  # the lost batch's counts were added once
        assert view["orders"] == 6
        assert store.reconnects == 1 and store.unreachable is None
    finally:
        await store.close()


async def test_a_failed_commit_is_written_by_the_retry(pg_database: Database,
                                                       relay: Relay) -> None:
    store = await PgStore.open(relayed(pg_database, relay), "acct", pg_database.password)
    try:
        await store.commit(batch_of(store, "1"))
        relay.cut()  # the link goes before anything of the next batch reaches the server
        failed = batch_of(store, "2", "3")
        with pytest.raises(psycopg.OperationalError):
            await store.commit(failed)
        assert store.unreachable is not None
        assert pg_database.password not in store.unreachable
        await store.commit(failed)
        view = server_view(pg_database)
        assert view["seqs"] == [1, 2, 3] and view["applied"] == 3
    finally:
        await store.close()


async def test_a_hung_link_that_still_holds_our_claim_is_taken_back(pg_database: Database,
                                                                   relay: Relay) -> None:
    """The server still holds the claim for the old connection (it has not noticed the link
    is dead): the writer ends that backend of its own, and only that, and goes on."""
    store = await PgStore.open(relayed(pg_database, relay), "acct", pg_database.password)
    try:
        await store.commit(batch_of(store, "1"))
        old = store.backend_pid
        relay.mode = "freeze"
        store.commit_timeout = 1.0
        pending = batch_of(store, "2")
        with pytest.raises(TimeoutError):
            await store.commit(pending)
        assert claim_holders(pg_database) == [old]  # the server has not noticed
        store.url = pg_database.url(password=False)  # another route in, around the hang
        await store.commit(pending)
        assert claim_holders(pg_database) == [store.backend_pid] != [old]
        assert server_view(pg_database)["seqs"] == [1, 2]
    finally:
        relay.mode = "pass"
        await store.close()


async def test_a_second_writer_for_the_account_is_refused_by_name(pg_database: Database) -> None:
    first = await PgStore.open(pg_database.url(), "acct")
    try:
        with pytest.raises(pg_migrate.StartupError) as refused:
            await PgStore.open(pg_database.url(), "acct")
        assert refused.value.code == 75
        assert "account acct is written by tracker acct pid " in str(refused.value)
        other = await PgStore.open(pg_database.url(), "other")  # another account: fine
        await other.close()
    finally:
        await first.close()
    again = await PgStore.open(pg_database.url(), "acct")  # closing released the lock
    await again.close()


async def test_a_database_that_lost_commits_is_a_lost_book(pg_database: Database,
                                                           relay: Relay) -> None:
    """A failover to a replica that had not received the last commits: the journal ends
    below what the writer saw committed. The writer stops writing (its memory no longer
    describes the book), and readers see a new book_id."""
    store = await PgStore.open(relayed(pg_database, relay), "acct", pg_database.password)
    try:
        await store.commit(batch_of(store, "1", "2", "3"))
        before = server_view(pg_database)["book_id"]
        with psycopg.connect(pg_database.url()) as conn:
            conn.execute("DELETE FROM order_events WHERE account = 'acct' AND seq > 1")
        relay.cut()
        nxt = batch_of(store, "4")
        with pytest.raises(psycopg.OperationalError):
            await store.commit(nxt)
        with pytest.raises(AccountTaken, match=r"journal of acct ends at seq 1, not at the 3"):
            await store.commit(nxt)
        assert store.lost is not None and store.replaced.is_set()
        view = server_view(pg_database)
        assert view["seqs"] == [1] and view["book_id"] != before
        with pytest.raises(AccountTaken):
            await store.commit(nxt)  # never again
    finally:
        await store.close()


async def test_another_writer_while_away_is_noticed_even_without_journal_rows(
        pg_database: Database, relay: Relay) -> None:
    """Cut off, this writer's lock went; another tracker took the account and wrote only its
    state (it journaled nothing, so the seqs still agree) before it too went away. Back, this
    writer must not go on with a book in memory that may no longer be the database's."""
    store = await PgStore.open(relayed(pg_database, relay), "acct", pg_database.password)
    try:
        named = batch_of(store, "1")
        named.state.update(pid=111, started_at=1000)
        await store.commit(named)
        relay.mode = "down"
        relay.cut()
        other = await PgStore.open(pg_database.url(), "acct")
        meanwhile = Batch()
        meanwhile.state.update(pid=222, started_at=2000, status="starting")
        await other.commit(meanwhile)
        await other.close()
        relay.mode = "pass"
        nxt = batch_of(store, "2")
        with pytest.raises(psycopg.OperationalError):
            await store.commit(nxt)
        with pytest.raises(AccountTaken, match=r"another tracker \(pid 222\) wrote acct"):
            await store.commit(nxt)
        assert store.lost is not None
        assert server_view(pg_database)["seqs"] == [1]
    finally:
        await store.close()


async def test_a_batch_written_without_the_claim_rolls_back_whole(
        pg_database: Database) -> None:
    """Fencing checked inside each transaction: should the writer's claim ever go (here its
    connection lets go of it, and another holder takes it), the batch's journal rows, orders
    and state all roll back; the retry finds the account claimed by another, and the store
    writes no more."""
    store = await PgStore.open(pg_database.url(), "acct")
    try:
        await store.commit(batch_of(store, "1"))
        assert store.claim is not None
        await store.claim.execute("ROLLBACK")
        with psycopg.connect(pg_database.url()) as other:
            other.execute(f"LOCK TABLE tracker_claim_{claim_suffix('acct')} IN EXCLUSIVE MODE")
            before = server_view(pg_database)
            with pytest.raises(ClaimLost, match="no longer holds the claim on acct"):
                await store.commit(batch_of(store, "2", "3"))
            assert server_view(pg_database) == before == {
                "seqs": [1], "applied": before["applied"], "book_id": before["book_id"],
                "orders": 1}
            with pytest.raises(AccountTaken, match="account acct is written by "):
                await store.commit(batch_of(store, "2", "3"))
            assert store.lost is not None and server_view(pg_database) == before
            with pytest.raises(AccountTaken):
                await store.commit(batch_of(store, "4"))
    finally:
        await store.close()


def claim_suffix(account: str) -> str:
    return hashlib.sha256(account.encode()).hexdigest()[:16]


async def test_the_claim_holds_no_transaction_id_and_no_snapshot(pg_database: Database) -> None:
    """The claim is a transaction left open for as long as the tracker writes: with an xid
    or a snapshot it would hold every table's vacuum back for as long. Held, waited for, and
    taken over, it has neither."""
    def held_back(pid: int | None) -> tuple[Any, Any]:
        with psycopg.connect(pg_database.url(), autocommit=True) as conn:
            row = conn.execute("SELECT backend_xid, backend_xmin FROM pg_stat_activity "
                               "WHERE pid = %s", (pid,)).fetchone()
        assert row is not None
        return row[0], row[1]

    first = await PgStore.open(pg_database.url(), "acct")
    await first.commit(batch_of(first, "1"))
    assert held_back(first.backend_pid) == (None, None)
    heard: list[str] = []
    taking = asyncio.ensure_future(PgStore.open(pg_database.url(), "acct", standby=heard.append))
    try:
        await asyncio.sleep(1.0)
        assert heard and not taking.done()
        with psycopg.connect(pg_database.url()) as conn:
            [waiter] = [r[0] for r in conn.execute(pg_migrate.LOCKERS, ("acct",)) if not r[1]]
        assert held_back(waiter) == (None, None)
        await first.close()
        second = await asyncio.wait_for(taking, 10)
        await second.commit(batch_of(second, "2"))
        assert held_back(second.backend_pid) == (None, None)
        await second.close()
    finally:
        taking.cancel()
        await first.close()
