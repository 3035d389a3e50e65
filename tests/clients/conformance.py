"""The test side of the conformance tests (tests/venues/*/test_conformance.py): clients
written by other people, each a driver subprocess on `make clients`' packages, and the
simulator's own hand and truth to hold what they parsed against.

This directory is shared by every venue's conformance test: `clients.txt` (what `make
clients` installs), `driverio.py` (the drivers' half of the line protocol, put on their
path), `ccxtdriver.py` (what every venue's ccxt driver does alike, on the same path) and
this module, with what every venue's test checks alike. A venue's drivers live beside its
test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).parent
REQUIREMENTS = HERE / "clients.txt"
# Where `make clients` puts them: beside the test environment, in its own directory.
CLIENTS = Path(sys.prefix) / "clients"
WAIT_S = 10.0  # the most one expected answer or event may take (on a loaded machine)
START_S = 20.0  # a driver's start: importing its client and building it


def missing_clients() -> list[str]:
    """The pins of clients.txt that CLIENTS lacks (by each wheel's dist-info directory)."""
    installed = {p.name.lower() for p in CLIENTS.glob("*.dist-info")}
    pins = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    return [pin for pin in pins if pin and dist_info(pin) not in installed]


def dist_info(pin: str) -> str:
    """`python-okx==0.4.4` -> `python_okx-0.4.4.dist-info` (the name normalized)."""
    name, version = pin.split("==")
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}.dist-info"


# -- the drivers -----------------------------------------------------------------------------


class DriverError(Exception):
    def __init__(self, op: str, error: dict[str, Any]) -> None:
        super().__init__(f"{op}: {error}")
        self.error = error


class Driver:
    """One client in its own process: commands in, answers and the stream's events out."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name, self.proc, self.log = name, proc, log
        self.events: list[dict[str, Any]] = []
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            if "event" in message:
                self.events.append(message)
            else:
                self.pending.pop(message["id"]).set_result(message)
        for future in self.pending.values():
            future.set_exception(AssertionError(f"{self.name} driver ended: {self.stderr()}"))

    def stderr(self) -> str:
        return self.log.read_text()[-3000:]

    async def call(self, op: str, within: float = WAIT_S, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        self.proc.stdin.write(json.dumps({"id": self.next_id, "op": op, "args": args}).encode()
                              + b"\n")
        await self.proc.stdin.drain()
        try:
            answer = await asyncio.wait_for(future, within)
        except TimeoutError:
            pytest.fail(f"{self.name} {op} took over {within} s: {self.stderr()}")
        if "error" in answer:
            raise DriverError(op, answer["error"])
        return answer["result"]


@contextlib.asynccontextmanager
async def driver(script: Path, tmp_path: Path, config: dict[str, Any],
                 expected: tuple[str, ...] = (), env: dict[str, str] | None = None
                 ) -> AsyncIterator[Driver]:
    """Start a driver script on the clients' packages alone (`python -S`: none of this
    project's environment; driverio.py on its path), hand it its configuration on stdin,
    and end it afterwards. Any warning or error the client reported fails the test, but
    those `expected` (each exactly once, by a part of its text)."""
    if missing := missing_clients():
        pytest.fail(f"the clients {missing} are not installed in {CLIENTS}: "
                    "run `make clients`")
    name = script.stem.removesuffix("_driver")
    log = tmp_path / f"{name}.stderr"
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-S", str(script),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            env={**os.environ, **(env or {}),
                 "PYTHONPATH": os.pathsep.join((str(CLIENTS), str(HERE)))},
            limit=1 << 24)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config).encode() + b"\n")
    running = Driver(name, proc, log)
    try:
        await eventually(lambda: ready(running), {0: True}, f"{name} driver ready",
                         within=START_S)
        yield running
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), WAIT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await running.reader
    complaints = [json.dumps(e) for e in running.events if e["event"] in ("warning", "error")]
    assert all(any(part in c for part in expected) for c in complaints), (
        f"{name} complained: {complaints}")
    assert [sum(part in c for c in complaints) for part in expected] == [1] * len(expected), (
        f"{name} did not complain as expected: {complaints}")


async def ready(running: Driver) -> dict[int, Any]:
    if running.reader.done():
        pytest.fail(f"{running.name} driver ended: {running.stderr()}")
    return {0: any(e["event"] == "ready" for e in running.events)}


async def eventually(seen: Callable[[], Awaitable[dict[int, Any]]], want: dict[int, Any],
                     what: str, within: float = WAIT_S) -> None:
    """Poll what a client made of its stream until it holds `want` for every order named."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        got = await seen()
        wrong = {i: (got.get(i), w) for i, w in want.items() if got.get(i) != w}
        if not wrong:
            return
        if loop.time() > deadline:
            pytest.fail(f"{what}: not at the truth within {within} s (got, want): {wrong}")
        await asyncio.sleep(0.05)


# -- the simulator's own hand and its truth ---------------------------------------------------


class Hand:
    """The control API, for one account: the simulator changing orders on its own."""

    def __init__(self, control: httpx.AsyncClient, account: str) -> None:
        self.control, self.account = control, account

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.control.post(path, json={**(body or {}),
                                                       "account": self.account})
        assert response.status_code == 200, response.text
        return response.json()

    async def place(self, **order: Any) -> dict[str, Any]:
        return await self.post("/orders", order)

    async def fill(self, order_id: int | str, size: str | None = None) -> dict[str, Any]:
        return await self.post(f"/orders/{order_id}/fill", {"size": size} if size else {})

    async def cancel(self, order_id: int | str) -> dict[str, Any]:
        return await self.post(f"/orders/{order_id}/cancel")

    async def flow(self, rate: float) -> None:
        response = await self.control.patch("/flow", json={"rate": rate,
                                                           "account": self.account})
        assert response.status_code == 200, response.text

    async def truth(self, open_only: bool = False) -> dict[int, dict[str, Any]]:
        params = {"account": self.account, **({"open": "1"} if open_only else {})}
        response = await self.control.get("/truth", params=params)
        assert response.status_code == 200, response.text
        return {int(row["orderId"]): row for row in response.json()["orders"]}


def given_client_id(row: dict[str, Any]) -> str | None:
    """The client id the truth knows for an order, None where none was given (the truth then
    repeats the order id)."""
    return None if row["clientOrderId"] == row["orderId"] else row["clientOrderId"]


async def follow_flow(hand: Hand, seen: Callable[[], Awaitable[dict[int, Any]]],
                      expected: Callable[[dict[str, Any]], Any]) -> None:
    """Run the simulator's random flow for a second, stop it, and wait until what the
    client's stream made of every order the flow touched is the truth."""
    before = await hand.truth()
    await hand.flow(40.0)
    await asyncio.sleep(1.0)
    await hand.flow(0.0)
    truth = await hand.truth()
    touched = {i for i, row in truth.items()
               if i not in before or before[i]["updateTime"] != row["updateTime"]}
    assert len(touched) >= 10, "the flow changed too few orders to tell anything"
    await eventually(seen, {i: expected(truth[i]) for i in touched}, "the flow's changes")


async def hand_orders(hand: Hand, client_order_id: str) -> tuple[int, int]:
    """The simulator's hand places orders of its own: one filled whole (with a client id),
    one partly filled, then canceled. Their order ids."""
    filled = await hand.place(symbol="BTC_USDT", side="sell", price="62000", size="0.1",
                              client_order_id=client_order_id)
    await hand.fill(filled["orderId"])
    canceled = await hand.place(symbol="ETH_USDT", side="sell", price="3100", size="2")
    await hand.fill(canceled["orderId"], "0.5")
    await hand.cancel(canceled["orderId"])
    return int(filled["orderId"]), int(canceled["orderId"])


# -- ccxt, whatever the venue -----------------------------------------------------------------

# ccxt's unified status for each of the core's states.
CCXT_STATUS = {"new": "open", "partially_filled": "open", "filled": "closed",
               "canceled": "canceled", "partially_canceled": "canceled"}
OPEN = ("new", "partially_filled")
# The orders a ccxt driver places, by name: symbol, side, amount, price. The test amends
# one, cancels one and edits one.
CCXT_ORDERS = (("amend", "BTC/USDT", "buy", "0.5", "50000"),
               ("cancel", "BTC/USDT", "sell", "0.2", "61000"),
               ("edit", "BTC/USDT", "buy", "0.3", "49000.5"),
               ("eth", "ETH/USDT", "buy", "1.5", "2900"))


def unified(symbol: str) -> str:
    """ccxt's unified symbol for the simulator's (`BTC_USDT` -> `BTC/USDT`)."""
    return symbol.replace("_", "/")


def assert_ccxt_order_is_truth(order: dict[str, Any], row: dict[str, Any]) -> None:
    """A unified ccxt order (REST or stream) against the truth: what ccxt unifies on every
    venue (a venue's test adds what its venue's orders say besides)."""
    name = f"order {row['orderId']}"
    assert order["id"] == row["orderId"], name
    assert order["symbol"] == unified(row["symbol"]), name
    assert order["side"] == row["side"], name
    assert order["type"] == row["type"], name
    assert order["status"] == CCXT_STATUS[row["state"]], name
    assert order["amount"] == float(row["size"]), name
    assert order["filled"] == float(row["filledSize"]), name
    assert order["remaining"] == float(Decimal(row["size"]) - Decimal(row["filledSize"])), name
    if row["type"] == "limit":
        assert order["price"] == float(row["price"]), name
    if given_client_id(row) is not None:
        assert order["clientOrderId"] == row["clientOrderId"], name


def ccxt_view(orders: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(o["id"]): o for o in orders}


async def ccxt_seen(cx: Driver) -> dict[int, Any]:
    return {i: (o["status"], o["filled"], o["lastUpdateTimestamp"])
            for i, o in ccxt_view(await cx.call("cached")).items()}


def ccxt_expected(row: dict[str, Any]) -> Any:
    return CCXT_STATUS[row["state"]], float(row["filledSize"]), row["updateTime"]


async def assert_unknown_order_not_found(cx: Driver, code: str) -> None:
    """fetch_order of an order the venue never had: ccxt's OrderNotFound, with the venue's
    `code` in its message."""
    with pytest.raises(DriverError) as unknown:
        await cx.call("fetch_order", id="12345", symbol="BTC/USDT")
    assert unknown.value.error["type"] == "OrderNotFound"
    assert code in unknown.value.error["message"]


async def assert_open_orders_are_truth(
        cx: Driver, truth: dict[int, dict[str, Any]],
        check: Callable[[dict[str, Any], dict[str, Any]], None], **every: Any) -> None:
    """fetch_open_orders of one symbol, then of every symbol (`every`: what the venue's
    driver is told for that), are the truth's open orders; `check` holds each against its
    row."""
    open_truth = {i: r for i, r in truth.items() if r["state"] in OPEN}
    btc = ccxt_view(await cx.call("fetch_open_orders", symbol="BTC/USDT"))
    assert set(btc) == {i for i, r in open_truth.items() if r["symbol"] == "BTC_USDT"}
    everything = ccxt_view(await cx.call("fetch_open_orders", **every))
    assert set(everything) == set(open_truth) > set(btc)
    for order_id, order in (btc | everything).items():
        check(order, open_truth[order_id])


def assert_watches_split(cx: Driver) -> None:
    """The watch of one symbol is handed that symbol's orders only; the other, every one."""
    for symbol, want in (("BTC/USDT", {"BTC/USDT"}), (None, {"BTC/USDT", "ETH/USDT"})):
        batches = [e["orders"] for e in cx.events
                   if e["event"] == "orders" and e["symbol"] == symbol]
        assert {o["symbol"] for batch in batches for o in batch} == want, symbol
