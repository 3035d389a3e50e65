"""The simulator's matching rules, without sockets."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from simulator.flow import FlowConfigError, OrderFlow, parse_mix
from simulator.store import OrderChange, OrderError, OrderStore


def make_store(clock_ms: int = 1_700_000_000_000) -> tuple[OrderStore, list[OrderChange]]:
    changes: list[OrderChange] = []
    store = OrderStore(clock=lambda: clock_ms)
    store.listeners.append(changes.append)
    return store, changes


def test_limit_order_partial_then_full_fill() -> None:
    store, changes = make_store()
    order = store.place_limit("BTC_USDT", "buy", Decimal("50000.009"), Decimal("1.000009"))
    assert (order.price, order.size) == (Decimal("50000.00"), Decimal("1.00000"))
    store.fill(order.order_id, Decimal("0.4"))
    store.fill(order.order_id)
    states = [c.order.state for c in changes]
    assert states == ["new", "partially_filled", "filled"]
    assert [c.order.filled_size for c in changes] == [0, Decimal("0.4"), Decimal("1")]
    assert changes[0].fill is None and changes[2].fill is not None
    assert changes[2].fill.size == Decimal("0.6")
    assert order.filled_notional == Decimal("50000.00")
    assert order.fees == Decimal("50.00000000")
    assert store.open_orders() == []


def test_update_time_strictly_increases_within_one_millisecond() -> None:
    store, changes = make_store()
    order = store.place_limit("BTC_USDT", "sell", Decimal(61000), Decimal("0.3"))
    store.fill(order.order_id, Decimal("0.1"))
    store.fill(order.order_id, Decimal("0.1"))
    store.cancel(order.order_id)
    times = [c.order.update_time for c in changes]
    assert times == sorted(set(times)) and len(times) == 4
    assert all(c.order.create_time == times[0] for c in changes)


def test_cancel_after_partial_fill_is_partially_canceled() -> None:
    store, _ = make_store()
    a = store.place_limit("ETH_USDT", "buy", Decimal(2900), Decimal(1))
    b = store.place_limit("ETH_USDT", "buy", Decimal(2900), Decimal(1))
    store.fill(b.order_id, Decimal("0.5"))
    assert store.cancel(a.order_id).state == "canceled"
    assert store.cancel(b.order_id).state == "partially_canceled"
    with pytest.raises(OrderError) as err:
        store.cancel(a.order_id)
    assert err.value.kind == "not_open"


def test_market_buy_ends_partially_canceled_and_sell_filled() -> None:
    store, changes = make_store()
    buy = store.place_market("BTC_USDT", "buy", notional=Decimal("10000"))
    assert [c.order.state for c in changes] == ["new", "partially_filled", "partially_canceled"]
    assert buy.filled_size > 0 and buy.filled_notional <= Decimal("10000")
    changes.clear()
    sell = store.place_market("ETH_USDT", "sell", size=Decimal("2"))
    assert [c.order.state for c in changes] == ["new", "filled"]
    assert sell.filled_size == Decimal(2)


def test_rejections() -> None:
    store, changes = make_store()
    with pytest.raises(OrderError, match="symbol"):
        store.place_limit("NOPE_USDT", "buy", Decimal(1), Decimal(1))
    with pytest.raises(OrderError, match="side"):
        store.place_limit("BTC_USDT", "hold", Decimal(1), Decimal(1))
    with pytest.raises(OrderError, match="positive"):
        store.place_limit("BTC_USDT", "buy", Decimal(1), Decimal("0.000001"))
    order = store.place_limit("BTC_USDT", "buy", Decimal(1), Decimal(1))
    with pytest.raises(OrderError, match="fill size"):
        store.fill(order.order_id, Decimal(2))
    with pytest.raises(OrderError) as err:
        store.get("42")
    assert err.value.kind == "not_found"
    assert len(changes) == 1


def test_change_snapshots_do_not_move_with_the_order() -> None:
    store, changes = make_store()
    order = store.place_limit("BTC_USDT", "buy", Decimal(1), Decimal(1))
    store.cancel(order.order_id)
    assert changes[0].order.state == "new" and changes[1].order.state == "canceled"


def test_flow_is_reproducible_from_its_seed() -> None:
    def run(seed: int) -> list[tuple[str, str, str]]:
        store, changes = make_store()
        flow = OrderFlow(store, random.Random(seed))
        flow.populate(5)
        for _ in range(300):
            flow.step()
        return [(c.order.order_id, c.order.state, str(c.order.filled_size)) for c in changes]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_flow_mix_controls_event_kinds() -> None:
    store, changes = make_store()
    flow = OrderFlow(store, random.Random(1), parse_mix("new=1,cancel=1"))
    kinds = {flow.step() for _ in range(200)}
    assert kinds == {"new", "cancel"}
    assert {c.order.state for c in changes} == {"new", "canceled"}


@pytest.mark.parametrize("text", ["bogus=1", "new=x", "new=-1", "new=0"])
def test_parse_mix_rejects(text: str) -> None:
    with pytest.raises(FlowConfigError):
        parse_mix(text)


def test_amend_reduces_the_size_keeping_the_id_and_is_announced() -> None:
    store, changes = make_store()
    order = store.place_limit("BTC_USDT", "buy", Decimal(50000), Decimal("1"), "first")
    store.fill(order.order_id, Decimal("0.3"))
    amended = store.amend(order.order_id, Decimal("0.5"), "second")
    assert amended is order and store.get(order.order_id) is order
    assert (order.size, order.filled_size, order.state, order.client_order_id) == (
        Decimal("0.5"), Decimal("0.3"), "partially_filled", "second")
    assert order.notional == Decimal(50000) * Decimal("0.5")
    assert [c.kind for c in changes] == ["placed", "traded", "amended"]
    assert changes[-1].order.size == Decimal("0.5") and changes[-1].fill is None
    assert changes[-1].order.update_time > changes[-2].order.update_time
    store.amend(order.order_id, Decimal("0.4"))  # no new client id: the old one stays
    assert order.client_order_id == "second"
    for size in ("0.4", "0.6", "0.3", "0.1"):  # not below the size, or not above the fills
        with pytest.raises(OrderError):
            store.amend(order.order_id, Decimal(size))
    store.fill(order.order_id)
    with pytest.raises(OrderError):
        store.amend(order.order_id, Decimal("0.35"))
    market = store.place_market("BTC_USDT", "sell", size=Decimal(1))
    with pytest.raises(OrderError):
        store.amend(market.order_id, Decimal("0.5"))


def test_modify_moves_the_price_and_the_size_either_way_keeping_the_id() -> None:
    store, changes = make_store()
    order = store.place_limit("BTC_USDT", "buy", Decimal(50000), Decimal("1"))
    store.fill(order.order_id, Decimal("0.3"))
    assert store.modify(order.order_id, size=Decimal("2")) is order  # OKX may raise it
    assert (order.size, order.price, order.notional) == (Decimal(2), Decimal(50000),
                                                         Decimal(100000))
    store.modify(order.order_id, price=Decimal("49000.123"))  # to the symbol's tick
    assert (order.size, order.price) == (Decimal(2), Decimal("49000.12"))
    assert [c.kind for c in changes] == ["placed", "traded", "amended", "amended"]
    assert changes[-1].order.price == Decimal("49000.12") and changes[-1].fill is None
    for size, price in (("0.3", None), ("0.1", None), (None, "0"), (None, None)):
        with pytest.raises(OrderError):
            store.modify(order.order_id, None if size is None else Decimal(size),
                         None if price is None else Decimal(price))
    assert len(changes) == 4  # a refused modify changes nothing
    store.cancel(order.order_id)
    with pytest.raises(OrderError):
        store.modify(order.order_id, size=Decimal(3))
