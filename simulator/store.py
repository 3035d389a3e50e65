"""The simulator's order store and matching rules: pure, no I/O, no asyncio.

Every mutation returns (and announces to listeners) an `OrderChange`, so every face
(BitMart's v2, v4 and WebSocket) and the ground truth see one consistent history.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

# An order is new or partially_filled while open, then filled, canceled or
# partially_canceled: BitMart's v4 names, which the truth shows; a face maps them to its own.
OPEN_STATES = frozenset({"new", "partially_filled"})

FEE_RATE = Decimal("0.001")
# Far past any real market, and small enough that every product stays exact in 28 digits.
MAX_PRICE = Decimal("1e9")
MAX_SIZE = Decimal("1e9")
MAX_NOTIONAL = Decimal("1e12")
NOTIONAL_SCALE = Decimal("0.00000001")
# What a client order id may be: v4 submit and control's place both hold a request to it.
CLIENT_ID = re.compile(r"[A-Za-z0-9]{1,32}")


class OrderError(Exception):
    """A request the matching rules refuse; `kind` lets each face pick its own error."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # not_found | not_open | bad_request | unknown_symbol


@dataclass(frozen=True)
class SymbolSpec:
    name: str
    ref_price: Decimal
    price_scale: int = 2
    size_scale: int = 5

    @property
    def quote(self) -> str:
        return self.name.split("_", 1)[1]

    def price(self, value: Decimal) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.price_scale), rounding=ROUND_DOWN)

    def size(self, value: Decimal) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.size_scale), rounding=ROUND_DOWN)


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTC_USDT", Decimal("60000.00"), 2, 5),
    SymbolSpec("ETH_USDT", Decimal("3000.00"), 2, 4),
    SymbolSpec("BMX_ETH", Decimal("0.000120"), 6, 0),
)


@dataclass(frozen=True)
class Fill:
    trade_id: str
    price: Decimal
    size: Decimal
    notional: Decimal
    fee: Decimal
    role: str  # "M" maker, "T" taker
    time: int


@dataclass
class SimOrder:
    order_id: str
    symbol: str
    side: str
    type: str  # limit | market
    price: Decimal
    size: Decimal
    notional: Decimal  # the quote amount asked for (market buy) or price x size
    client_order_id: str | None
    create_time: int
    update_time: int
    state: str = "new"
    filled_size: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    cancel_source: str = ""
    fills: list[Fill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled_size


# What an `OrderChange` did, for faces whose events name it (Binance's execution types).
PLACED, TRADED, ENDED, AMENDED = "placed", "traded", "ended", "amended"


@dataclass(frozen=True)
class OrderChange:
    """One change to one order: a frozen copy of the order after it, the fill if any, and
    what the change was (`PLACED`, `TRADED`, `ENDED` or `AMENDED`)."""

    order: SimOrder
    fill: Fill | None
    kind: str = PLACED


Listener = Callable[[OrderChange], None]

# 18 digits, as the exchange's ids are: above 2**53, so a client that reads JSON numbers as
# doubles corrupts them, here as there.
FIRST_ORDER_ID = 995_232_205_536_716_288
FIRST_TRADE_ID = 500_000_000


class Ids:
    """The next order and trade numbers. One instance is shared by the stores of every
    account a simulator serves, so that an id names one order venue-wide, as on the
    exchange, and a client that mixed two accounts' orders up would see it."""

    def __init__(self, first_order: int = FIRST_ORDER_ID,
                 first_trade: int = FIRST_TRADE_ID) -> None:
        self._order = first_order
        self._trade = first_trade

    def order(self) -> int:
        self._order += 1
        return self._order - 1

    def trade(self) -> int:
        self._trade += 1
        return self._trade - 1


class OrderStore:
    def __init__(
        self,
        symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS,
        clock: Callable[[], int] | None = None,
        first_id: int = FIRST_ORDER_ID,
        ids: Ids | None = None,
    ) -> None:
        self.symbols = {s.name: s for s in symbols}
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.ids = ids or Ids(first_id)
        self.orders: dict[str, SimOrder] = {}
        # Open orders per symbol, in id (creation) order: the v2 page order.
        self.open_by_symbol: dict[str, dict[str, SimOrder]] = {s: {} for s in self.symbols}
        self.listeners: list[Listener] = []
        self.changes = 0
        self._last_create = 0

    # -- queries ---------------------------------------------------------------------

    def get(self, order_id: str) -> SimOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise OrderError("not_found", f"order {order_id} not found")
        return order

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        if symbol is not None:
            return list(self.open_by_symbol.get(symbol, {}).values())
        return [o for by_id in self.open_by_symbol.values() for o in by_id.values()]

    def spec(self, symbol: str) -> SymbolSpec:
        spec = self.symbols.get(symbol)
        if spec is None:
            raise OrderError("unknown_symbol", f"symbol {symbol} not found")
        return spec

    # -- mutations -------------------------------------------------------------------

    def place_limit(
        self,
        symbol: str,
        side: str,
        price: Decimal,
        size: Decimal,
        client_order_id: str | None = None,
    ) -> SimOrder:
        spec = self.spec(symbol)
        _check_side(side)
        _check_amount("price", price, MAX_PRICE)
        _check_amount("size", size, MAX_SIZE)
        price, size = spec.price(price), spec.size(size)
        if price <= 0 or size <= 0:
            raise OrderError("bad_request", "price and size must be positive")
        order = self._new_order(spec, side, "limit", price, size, price * size, client_order_id)
        self._emit(order, None)
        return order

    def place_market(
        self,
        symbol: str,
        side: str,
        size: Decimal | None = None,
        notional: Decimal | None = None,
        client_order_id: str | None = None,
    ) -> SimOrder:
        """Market orders fill against the symbol's reference price at once.

        A buy is sized by notional and, as on BitMart, ends `partially_canceled` because
        the last lot does not fit; a sell is sized in base units and ends `filled`.
        """
        spec = self.spec(symbol)
        _check_side(side)
        if side == "buy":
            if notional is None or notional <= 0:
                raise OrderError("bad_request", "a market buy needs a positive notional")
            _check_amount("notional", notional, MAX_NOTIONAL)
            order = self._new_order(spec, side, "market", Decimal(0), Decimal(0),
                                    notional, client_order_id)
            self._emit(order, None)
            fill_size = spec.size(notional * Decimal("0.9995") / spec.ref_price)
            if fill_size > 0:
                self._fill(order, fill_size, spec.ref_price, role="T", state="partially_filled")
            self._terminate(order, "partially_canceled" if order.filled_size else "canceled",
                            "system")
            return order
        if size is None or size <= 0:
            raise OrderError("bad_request", "a market sell needs a positive size")
        _check_amount("size", size, MAX_SIZE)
        size = spec.size(size)
        if size <= 0:
            raise OrderError("bad_request", "a market sell needs at least one lot")
        order = self._new_order(spec, side, "market", Decimal(0), size, Decimal(0),
                                client_order_id)
        self._emit(order, None)
        self._fill(order, size, spec.ref_price, role="T", state="filled")
        return order

    def fill(self, order_id: str, size: Decimal | None = None) -> SimOrder:
        """Fill an open limit order, wholly (size None) or in part, as a maker."""
        order = self._open(order_id)
        spec = self.spec(order.symbol)
        qty = order.remaining if size is None else spec.size(size)
        if qty <= 0 or qty > order.remaining:
            raise OrderError("bad_request", f"fill size must be in (0, {order.remaining}]")
        state = "filled" if qty == order.remaining else "partially_filled"
        self._fill(order, qty, order.price, role="M", state=state)
        return order

    def amend(self, order_id: str, size: Decimal, client_order_id: str | None = None
              ) -> SimOrder:
        """Reduce an open limit order's size, keeping its id (and its place in the queue);
        a new client order id replaces the old one when given. The new size stays above
        what has filled: an amend never fills or ends an order."""
        order = self._open(order_id)
        if order.type != "limit":
            raise OrderError("bad_request", "only a limit order can be amended")
        _check_amount("size", size, MAX_SIZE)
        size = self.spec(order.symbol).size(size)
        if not order.filled_size < size < order.size:
            raise OrderError("bad_request", f"the new size must be in ({order.filled_size}, "
                                            f"{order.size})")
        self._touch(order)
        order.size = size
        order.notional = order.price * size
        if client_order_id is not None:
            order.client_order_id = client_order_id
        self._emit(order, None, AMENDED)
        return order

    def modify(self, order_id: str, size: Decimal | None = None,
               price: Decimal | None = None) -> SimOrder:
        """Change an open limit order's size, price or both, keeping its id: OKX's amend,
        which (unlike Binance's keep-priority amend) may raise the size and move the
        price. The new size stays above what has filled, so it never fills or ends an
        order."""
        order = self._open(order_id)
        if order.type != "limit":
            raise OrderError("bad_request", "only a limit order can be amended")
        if size is None and price is None:
            raise OrderError("bad_request", "a new size or a new price is needed")
        spec = self.spec(order.symbol)
        if size is not None:
            _check_amount("size", size, MAX_SIZE)
            size = spec.size(size)
            if size <= order.filled_size:
                raise OrderError("bad_request", f"the new size must be above what has filled "
                                                f"({order.filled_size})")
        if price is not None:
            _check_amount("price", price, MAX_PRICE)
            price = spec.price(price)
            if price <= 0:
                raise OrderError("bad_request", "the new price must be positive")
        self._touch(order)
        order.size = order.size if size is None else size
        order.price = order.price if price is None else price
        order.notional = order.price * order.size
        self._emit(order, None, AMENDED)
        return order

    def cancel(self, order_id: str, source: str = "user") -> SimOrder:
        order = self._open(order_id)
        state = "partially_canceled" if order.filled_size > 0 else "canceled"
        self._terminate(order, state, source)
        return order

    # -- internals -------------------------------------------------------------------

    def _open(self, order_id: str) -> SimOrder:
        order = self.get(order_id)
        if not order.is_open:
            raise OrderError("not_open", f"order {order_id} is already {order.state}")
        return order

    def _new_order(self, spec: SymbolSpec, side: str, type_: str, price: Decimal,
                   size: Decimal, notional: Decimal, client_order_id: str | None) -> SimOrder:
        order_id = str(self.ids.order())
        # One account cannot place two orders in the same millisecond (the submit limit is
        # 40 per 2 s), so creation times are distinct, as time-window paging relies on.
        now = self._last_create = max(self.clock(), self._last_create + 1)
        order = SimOrder(order_id, spec.name, side, type_, price, size, notional,
                         client_order_id, create_time=now, update_time=now)
        self.orders[order_id] = order
        self.open_by_symbol[spec.name][order_id] = order
        return order

    def _touch(self, order: SimOrder) -> None:
        # update_time strictly increases for each order, even within one millisecond.
        order.update_time = max(self.clock(), order.update_time + 1)

    def _fill(self, order: SimOrder, size: Decimal, price: Decimal, role: str,
              state: str) -> None:
        self._touch(order)
        notional = (size * price).quantize(NOTIONAL_SCALE)
        fee = (notional * FEE_RATE).quantize(NOTIONAL_SCALE)
        fill = Fill(str(self.ids.trade()), price, size, notional, fee, role, order.update_time)
        order.fills.append(fill)
        order.filled_size += size
        order.filled_notional += notional
        order.fees += fee
        order.state = state
        if state not in OPEN_STATES:
            self.open_by_symbol[order.symbol].pop(order.order_id, None)
        self._emit(order, fill, TRADED)

    def _terminate(self, order: SimOrder, state: str, source: str) -> None:
        self._touch(order)
        order.state = state
        order.cancel_source = source
        self.open_by_symbol[order.symbol].pop(order.order_id, None)
        self._emit(order, None, ENDED)

    def _emit(self, order: SimOrder, fill: Fill | None, kind: str = PLACED) -> None:
        self.changes += 1
        change = OrderChange(dataclasses.replace(order, fills=list(order.fills)), fill, kind)
        for listener in list(self.listeners):
            listener(change)


def _check_amount(name: str, value: Decimal, cap: Decimal) -> None:
    if not value.is_finite() or value > cap:
        raise OrderError("bad_request", f"{name} must be finite and at most {cap}")


def _check_side(side: str) -> None:
    if side not in ("buy", "sell"):
        raise OrderError("bad_request", f"side must be buy or sell, not {side!r}")
