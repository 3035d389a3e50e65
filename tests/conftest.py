from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import Lab
from harness.books import BookUnderTest, PostgresBook, SqliteBook
from harness.postgres import Database, Postgres
from simulator.app import Running, start
from simulator.state import DEMO_ACCOUNT, Settings
from tests.simclient import V2, V4, WS


@pytest.fixture
def settings() -> Settings:
    """Override in a test module (or parametrize) to start the simulator differently."""
    return Settings(port=0)


@pytest.fixture
async def sim(settings: Settings) -> AsyncIterator[Running]:
    running = await start(settings)
    yield running
    await running.stop()


@pytest.fixture
async def control(sim: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{sim.rest_url}/control") as client:
        yield client


@pytest.fixture
async def v2(sim: Running) -> AsyncIterator[V2]:
    client = V2(sim, DEMO_ACCOUNT)
    yield client
    await client.aclose()


@pytest.fixture
async def v4(sim: Running) -> AsyncIterator[V4]:
    client = V4(sim, DEMO_ACCOUNT)
    yield client
    await client.aclose()


@pytest.fixture
async def ws_factory(sim: Running) -> AsyncIterator[Callable[[], Any]]:
    opened: list[WS] = []

    async def connect() -> WS:
        conn = await WS.connect(sim, DEMO_ACCOUNT)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        await conn.close()


async def place(control: httpx.AsyncClient, **order: Any) -> dict[str, Any]:
    """Place an order through the control API and return its ground-truth row."""
    order.setdefault("symbol", "BTC_USDT")
    order.setdefault("side", "buy")
    if order.get("type") != "market":
        order.setdefault("price", "50000")
        order.setdefault("size", "0.1")
    response = await control.post("/orders", json=order)
    assert response.status_code == 200, response.text
    return response.json()


async def set_faults(control: httpx.AsyncClient, **faults: Any) -> None:
    response = await control.patch("/faults", json=faults)
    assert response.status_code == 200, response.text


async def injected(control: httpx.AsyncClient) -> dict[str, int]:
    """Faults injected so far, by kind (and the answer's shape checked on the way)."""
    response = await control.get("/faults")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"faults", "injected"}
    return body["injected"]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """Simulator and daemon as real subprocesses, stopped whatever happens."""
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One throwaway PostgreSQL 15 cluster for the whole session, stopped and deleted at its
    end (harness/postgres.py)."""
    with Postgres.running() as server:
        yield server


@pytest.fixture
def pg_database(postgres: Postgres) -> Database:
    """An empty database of its own for one test, owned by a role that is no superuser."""
    return postgres.create_database()


BACKENDS = ["sqlite", "postgres"]
# The account a PostgreSQL book of one test is written under: not the default, so that a
# query or a reader that forgets the account column finds nothing instead of the right rows.
PG_ACCOUNT = "acct1"


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which database keeps the daemon's book; a test takes `store` for the book itself.
    Parametrize it indirectly to run some combinations only."""
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> BookUnderTest:
    """The book of the test's daemon (pass it to `lab.daemon(sim, store=store)`): an SQLite
    file where the daemon would put it by default, or the account of a fresh PostgreSQL
    database. The cluster starts only when a test asks for it, so an SQLite-only run never
    waits for PostgreSQL."""
    if backend == "sqlite":
        return SqliteBook(tmp_path / "book.db")
    assert backend == "postgres", backend
    return PostgresBook(request.getfixturevalue("pg_database"), PG_ACCOUNT)
