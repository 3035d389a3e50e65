"""One simulator, many accounts: each sees its own orders over v2 and v4, gets its own
pushes, has its own tokens, limits and flow, is named in the control API and its truth;
and a tracker daemon per account keeps a book equal to that account's truth."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from harness import TRACKER, Lab, Sim, clean_env, differences, eventually
from harness.profiles import BITMART_V2, BITMART_V4
from harness.sim import SYMBOLS, account_env, accounts_file
from simulator.app import Running
from simulator.state import Account, AccountSettings, Settings, parse_accounts
from simulator.store import SymbolSpec
from tests.conftest import place
from tests.simclient import V2, V4, WS
from tracker.venues.bitmart import protocol

ALICE = Account("alice-key-0001", "alice-secret-0001", "alice-memo")
BOB = Account("bob-key-0002", "bob-secret-0002", "bob-memo")
CAROL = Account("carol-key-0003", "carol-secret-0003", "")
SOL = SymbolSpec("SOL_USDT", Decimal("150.00"), 2, 3)


@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, accounts=(
        AccountSettings("alice", ALICE),
        AccountSettings("bob", BOB),
        AccountSettings("carol", CAROL, symbols=(SOL,), open_orders_per_symbol=2),
    ))


@pytest.fixture
async def clients(sim: Running) -> AsyncIterator[dict[str, tuple[V2, V4]]]:
    made = {name: (V2(sim, account), V4(sim, account))
            for name, account in (("alice", ALICE), ("bob", BOB), ("carol", CAROL))}
    yield made
    for v2, v4 in made.values():
        await v2.aclose()
        await v4.aclose()


async def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def truth(control: httpx.AsyncClient, account: str | None = None,
                **query: Any) -> dict[str, dict[str, Any]]:
    params = query | ({} if account is None else {"account": account})
    body = await ok(await control.get("/truth", params=params))
    return {o["orderId"]: o for o in body["orders"]}


async def place_for(control: httpx.AsyncClient, account: str, **order: Any) -> str:
    order.setdefault("symbol", "BTC_USDT")
    order.setdefault("side", "buy")
    order.setdefault("price", "50000")
    order.setdefault("size", "0.1")
    row = await ok(await control.post("/orders", params={"account": account}, json=order))
    return str(row["orderId"])


async def test_v2_answers_with_the_callers_orders_only(
        control: httpx.AsyncClient, clients: dict[str, tuple[V2, V4]]) -> None:
    alice_ids = {await place_for(control, "alice") for _ in range(2)}
    bob_id = await place_for(control, "bob")
    (alice, _), (bob, _) = clients["alice"], clients["bob"]
    for client in (alice, bob):
        assert (await client.authenticate()).status_code == 200
    listed = await ok(await alice.orders("BTC_USDT"))
    assert {str(o["entrust_id"]) for o in listed["orders"]} == alice_ids
    assert listed["total_orders"] == 2
    listed = await ok(await bob.orders("BTC_USDT"))
    assert [str(o["entrust_id"]) for o in listed["orders"]] == [bob_id]
    # Bob's order, asked for or cancelled with Alice's token, is an order that does not exist.
    assert (await alice.get(f"/v2/orders/{bob_id}")).status_code == 404
    assert (await alice.cancel(bob_id)).status_code == 404
    assert (await ok(await bob.get(f"/v2/orders/{bob_id}")))["status"] == 1
    # An order placed over v2 is the placing account's.
    placed = await ok(await bob.place("ETH_USDT", "sell", "3100", "1"))
    new_id = str(placed["entrust_id"])
    assert set(await truth(control, "bob")) == {bob_id, new_id}
    assert set(await truth(control, "alice")) == alice_ids
    # A secret is checked against the key's own account.
    assert (await alice.authenticate(secret=BOB.secret)).status_code == 401


async def test_v4_answers_with_the_callers_orders_only(
        sim: Running, control: httpx.AsyncClient,
        clients: dict[str, tuple[V2, V4]]) -> None:
    alice_id = await place_for(control, "alice")
    bob_id = await place_for(control, "bob", symbol="ETH_USDT", price="3000", size="1")
    (_, alice), (_, bob), (_, carol) = clients["alice"], clients["bob"], clients["carol"]
    rows = (await ok(await alice.post("/spot/v4/query/open-orders", {})))["data"]
    assert [r["orderId"] for r in rows] == [alice_id]
    rows = (await ok(await bob.post("/spot/v4/query/open-orders", {})))["data"]
    assert [r["orderId"] for r in rows] == [bob_id]
    # Carol trades SOL_USDT alone: her two orders from the start, and no BTC_USDT market.
    rows = (await ok(await carol.post("/spot/v4/query/open-orders", {})))["data"]
    assert len(rows) == 2 and {r["symbol"] for r in rows} == {"SOL_USDT"}
    assert set(await truth(control, "carol")) == {r["orderId"] for r in rows}
    answer = await carol.post("/spot/v4/query/open-orders", {"symbol": "BTC_USDT"})
    assert answer.status_code == 400 and answer.json()["code"] == 50001
    for path, body in (("/spot/v4/query/order", {"orderId": bob_id}),
                       ("/spot/v4/query/order-trades", {"orderId": bob_id}),
                       ("/spot/v3/cancel_order", {"symbol": "ETH_USDT", "order_id": bob_id})):
        answer = await alice.post(path, body)
        assert answer.json()["code"] == protocol.V4_ORDER_NOT_FOUND, (path, answer.text)
    assert (await ok(await bob.post("/spot/v4/query/order", {"orderId": bob_id})))[
        "data"]["state"] == "new"
    submitted = await ok(await alice.post("/spot/v2/submit_order", {
        "symbol": "BTC_USDT", "side": "sell", "type": "limit", "price": "61000", "size": "0.2"}))
    new_id = submitted["data"]["order_id"]
    assert set(await truth(control, "alice")) == {alice_id, new_id}
    assert new_id not in await truth(control, "bob")
    # Keys are told apart; a key signed with another account's secret is refused.
    stranger = V4(sim, Account("nobody", BOB.secret, BOB.memo))
    try:
        answer = await stranger.post("/spot/v4/query/open-orders", {})
        assert answer.json()["code"] == protocol.V4_KEY_UNKNOWN
    finally:
        await stranger.aclose()
    answer = await alice.post("/spot/v4/query/open-orders", {}, secret=BOB.secret)
    assert answer.json()["code"] == protocol.V4_SIGN_WRONG
    # The public market list is the venue's: every account's symbols.
    details = await ok(await alice.http.get("/spot/v1/symbols/details"))
    assert [s["symbol"] for s in details["data"]["symbols"]] == [*SYMBOLS, "SOL_USDT"]


async def subscribed(sim: Running, account: Account) -> WS:
    conn = await WS.connect(sim, account)
    assert await conn.login() == {"event": "login"}
    assert await conn.subscribe(protocol.ALL_SYMBOLS) == [
        {"event": "subscribe", "topic": protocol.ALL_SYMBOLS}]
    return conn


async def test_pushes_reach_only_the_connections_of_their_account(
        sim: Running, control: httpx.AsyncClient) -> None:
    alice, bob = await subscribed(sim, ALICE), await subscribed(sim, BOB)
    try:
        # Each connection's next push is its own account's order, though the other
        # account's was placed first: the other's never came.
        bob_1 = await place_for(control, "bob")
        alice_1 = await place_for(control, "alice")
        assert [r["order_id"] for r in await alice.pushes(1)] == [alice_1]
        assert [r["order_id"] for r in await bob.pushes(1)] == [bob_1]
        alice_2 = await place_for(control, "alice")
        bob_2 = await place_for(control, "bob")
        fill = await ok(await control.post(f"/orders/{bob_2}/fill", params={"account": "bob"},
                                           json={}))
        assert fill["state"] == "filled"
        assert [r["order_id"] for r in await bob.pushes(2)] == [bob_2, bob_2]
        assert [r["order_id"] for r in await alice.pushes(1)] == [alice_2]
        # A login is checked against the key's own account.
        for key, secret, code in ((ALICE.api_key, BOB.secret, protocol.WS_SIGN_WRONG),
                                  ("nobody", BOB.secret, protocol.WS_KEY_UNKNOWN)):
            stranger = await WS.connect(sim, Account(key, secret, BOB.memo))
            try:
                assert (await stranger.login())["errorCode"] == code
            finally:
                await stranger.close()
        # Connections are told apart by account in the statistics and the drop action.
        stats = await ok(await control.get("/stats", params={"account": "bob"}))
        assert [(c["account"], c["topics"]) for c in stats["connections"]] == [
            ("bob", [protocol.ALL_SYMBOLS])]
        dropped = await ok(await control.post("/ws/drop", params={"account": "bob"},
                                              json={"mode": "close", "code": 4001}))
        assert dropped == {"dropped": 1}
        alice_3 = await place_for(control, "alice")
        assert [r["order_id"] for r in await alice.pushes(1)] == [alice_3]
        with pytest.raises(ConnectionClosed) as closed:
            await bob.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    finally:
        await alice.close()
        await bob.close()


async def test_the_control_api_takes_an_account(control: httpx.AsyncClient) -> None:
    listed = (await ok(await control.get("/accounts")))["accounts"]
    assert [(a["name"], a["symbols"], a["open_orders"]) for a in listed] == [
        ("alice", list(SYMBOLS), 0), ("bob", list(SYMBOLS), 0), ("carol", ["SOL_USDT"], 2)]
    assert "secret" not in json.dumps(listed)
    alice_row = await place(control)  # no account: the first one
    bob_id = await place_for(control, "bob", symbol="ETH_USDT", price="3000", size="2")
    assert set(await truth(control)) == set(await truth(control, "alice")) == {
        alice_row["orderId"]}
    assert alice_row["orderId"] != bob_id
    # An order is changed through its own account only.
    for path in (f"/orders/{bob_id}/fill", f"/orders/{bob_id}/cancel"):
        assert (await control.post(path, json={})).status_code == 404
        assert (await control.post(path, params={"account": "alice"}, json={})
                ).status_code == 404
    partial = await ok(await control.post(f"/orders/{bob_id}/fill",
                                          json={"account": "bob", "size": "0.5"}))
    assert (partial["state"], partial["filledSize"]) == ("partially_filled", "0.5")
    canceled = await ok(await control.post(f"/orders/{bob_id}/cancel",
                                           params={"account": "bob"}, json={}))
    assert canceled["state"] == "partially_canceled"
    assert await truth(control, "bob", open=1) == {}
    assert (await truth(control, "bob"))[bob_id]["state"] == "partially_canceled"
    answer = await control.get("/truth", params={"account": "dave"})
    assert answer.status_code == 404 and "dave" in answer.json()["error"]
    answer = await control.post("/orders", params={"account": "bob"},
                                json={"account": "alice", "symbol": "BTC_USDT"})
    assert answer.status_code == 400
    populated = await ok(await control.post("/populate", params={"account": "carol"},
                                            json={"per_symbol": 3}))
    assert populated == {"open": 5}
    stats = await ok(await control.get("/stats", params={"account": "carol"}))
    assert (stats["account"], stats["orders"], stats["open_orders"]) == ("carol", 5, 5)

    # Flow: Bob's runs, Alice's and Carol's stay still.
    before = {name: len(await truth(control, name)) for name in ("alice", "carol")}
    flow = await ok(await control.patch("/flow", params={"account": "bob"},
                                        json={"rate": 200}))
    assert (flow["account"], flow["rate"]) == ("bob", 200)

    async def bob_flowed() -> int:
        for _ in range(200):
            events = (await ok(await control.get("/flow", params={"account": "bob"})))["events"]
            if events >= 20:
                return int(events)
            await asyncio.sleep(0.02)
        raise AssertionError("Bob's flow made no 20 events within 4 s")

    await bob_flowed()
    await ok(await control.patch("/flow", json={"account": "bob", "rate": 0}))
    for name in ("alice", "carol"):
        assert (await ok(await control.get("/flow", params={"account": name})))["events"] == 0
        assert len(await truth(control, name)) == before[name]
    assert len(await truth(control, "bob")) > 1


async def test_tokens_and_rate_limits_are_per_account(
        control: httpx.AsyncClient, clients: dict[str, tuple[V2, V4]]) -> None:
    (alice, alice4), (bob, bob4) = clients["alice"], clients["bob"]
    for _ in range(5):
        assert (await alice.authenticate()).status_code == 200
    assert (await alice.authenticate()).status_code == 429  # Alice's 5 a minute are used
    assert (await bob.authenticate()).status_code == 200
    expired = await ok(await control.post("/tokens/expire", params={"account": "alice"},
                                          json={}))
    assert expired == {"expired": 5}
    assert (await alice.orders("BTC_USDT")).status_code == 401
    assert (await bob.orders("BTC_USDT")).status_code == 200

    # v4's fixed windows count each account's calls apart. Alice's fourth call counting 4
    # shows no window ended among her calls, so Bob's, made between them, counted alone.
    for _ in range(3):
        used = []
        for client in (alice4, alice4, alice4, bob4, alice4):
            answer = await client.post("/spot/v4/query/open-orders", {})
            assert answer.status_code == 200, answer.text
            used.append(int(answer.headers[protocol.RATE_LIMIT_USED]))
        if used[4] == 4:
            assert used == [1, 2, 3, 1, 4]
            break
        await asyncio.sleep(2)  # a window ended within the round: the next round starts anew
    else:
        raise AssertionError("three rounds each crossed a 2 s window")


@pytest.mark.parametrize(("content", "needle"), [
    ("[{", "not JSON"),
    ('[{"name": "a", "api_key": "k", "secret": "s3cr3t-a", "memo": "m"},'
     ' {"name": "b", "api_key": "k", "secret": "s3cr3t-b", "memo": "m"}]', "api_key"),
    ('[{"name": "a", "api_key": "k", "secret": "s3cr3t-a", "memo": "m", "rates": 3}]',
     "unknown field(s) rates"),
    ('[{"name": "a b", "api_key": "k", "secret": "s3cr3t-a", "memo": "m"}]', "name"),
    ('[{"name": "a", "api_key": "k", "secret": "s3cr3t-a", "memo": "m", "symbols": "BTC"}]',
     "symbols"),
    ('[{"name": "a", "api_key": "k", "secret": "s3cr3t-a", "memo": "m", "public_key": "x"}]',
     "public_key is not a PEM public key"),
    ('[{"name": "a", "api_key": "k", "secret": "s3cr3t-a", "memo": "m", "public_key": 7}]',
     "public_key must be a PEM string"),
    ('[{"name": "a", "api_key": "k", "secret": "s3cr3t-a", "memo": "m", "passphrase": 7}]',
     "passphrase must be a string"),
], ids=["not-json", "repeated-key", "unknown-field", "bad-name", "bad-symbols",
        "bad-public-key", "public-key-not-text", "passphrase-not-text"])
def test_a_bad_accounts_file_is_a_configuration_error(tmp_path: Path, content: str,
                                                      needle: str) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(content)
    done = subprocess.run([*TRACKER, "sim", "--port", "0", "--accounts", str(path)],
                          capture_output=True, text=True, timeout=30, env=clean_env())
    assert done.returncode == 78, done.stderr
    assert "--accounts" in done.stderr and needle in done.stderr, done.stderr
    assert "s3cr3t" not in done.stderr


def test_a_daemon_per_account_converges_to_its_accounts_truth(tmp_path: Path,
                                                              lab: Lab) -> None:
    path = tmp_path / "accounts.json"
    accounts = accounts_file(path, 3, open_orders=2)
    accounts[2]["symbols"] = ["BTC_USDT", "SOL_USDT"]  # one account with markets of its own
    path.write_text(json.dumps(accounts))
    assert path.stat().st_mode & 0o077 == 0, "the file holds secrets: its owner's only"
    sim = lab.sim("--accounts", str(path), "--seed", "7")
    daemons = []
    for account, profile in zip(accounts, (BITMART_V2, BITMART_V4, BITMART_V2), strict=True):
        daemon = lab.daemon(sim, profile=profile, db=tmp_path / f"{account['name']}.db",
                            env=account_env(account), name=f"daemon-{account['name']}")
        daemons.append(daemon.start())
    for daemon in daemons:
        daemon.wait_live()
    for account in accounts:
        sim.flow(15, account=account["name"])
    # Orders each account's daemon must follow from the stream, placed while it runs.
    placed = {a["name"]: sim.place(account=a["name"], symbol="BTC_USDT", side="buy",
                                   price="59000", size="0.25")["orderId"] for a in accounts}
    sim.fill(placed["acct2"], "0.1", account="acct2")
    eventually(lambda: _flowed(sim, accounts), 20, "every account's flow ran")
    for account in accounts:
        sim.flow(0, account=account["name"])
    truths = {}
    for account, daemon in zip(accounts, daemons, strict=True):
        name, symbols = account["name"], tuple(account.get("symbols", SYMBOLS))

        def converged(name: str = name, symbols: tuple[str, ...] = symbols,
                      daemon: Any = daemon) -> dict[str, dict[str, Any]]:
            truth = sim.truth(account=name)
            problems = differences(daemon.book(), truth, symbols)
            assert not problems, f"{name}: {'; '.join(problems[:8])}"
            return truth

        truths[name] = eventually(converged, 30, f"{name}'s book equals its truth",
                                  interval=0.2, context=daemon.tail)
    assert truths["acct2"][placed["acct2"]]["state"] == "partially_filled"
    assert {o["symbol"] for o in truths["acct3"].values()} <= {"BTC_USDT", "SOL_USDT"}
    assert any(o["symbol"] == "SOL_USDT" for o in truths["acct3"].values())
    ids = [set(t) for t in truths.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2]), "ids are per venue"
    for daemon, name in zip(daemons, truths, strict=True):
        held = set(daemon.book().orders)
        assert placed[name] in held and held <= truths[name].keys(), name


def _flowed(sim: Sim, accounts: list[dict[str, Any]]) -> None:
    for account in accounts:
        events = sim.stats(account=account["name"])["flow_events"]
        assert events >= 20, f"{account['name']}: {events} flow events"


def test_an_accounts_passphrase_is_read_and_never_shown() -> None:
    [account] = parse_accounts([{"name": "a", "api_key": "k", "secret": "s", "memo": "",
                                 "passphrase": "pp-s3cr3t"}])
    assert account.credentials.passphrase == "pp-s3cr3t"
    assert "pp-s3cr3t" not in repr(account)
    [without] = parse_accounts([{"name": "a", "api_key": "k", "secret": "s", "memo": ""}])
    assert without.credentials.passphrase == ""
