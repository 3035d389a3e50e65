"""A seedable order-flow generator: the market activity the tracker has to follow."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from simulator.store import OrderError, OrderStore, SimOrder, SymbolSpec

DEFAULT_MIX = {"new": 4.0, "partial": 2.0, "fill": 1.5, "cancel": 2.0, "market": 0.5}


class FlowConfigError(ValueError):
    pass


def parse_mix(text: str) -> dict[str, float]:
    """`new=4,partial=2,...`: relative weights of each kind of event."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in DEFAULT_MIX:
            raise FlowConfigError(f"unknown mix entry {name!r}; known: {', '.join(DEFAULT_MIX)}")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise FlowConfigError(f"mix weight for {name!r} is not a number: {weight!r}") from None
        if mix[name] < 0:
            raise FlowConfigError(f"mix weight for {name!r} must not be negative")
    if not any(mix.values()):
        raise FlowConfigError("the mix needs at least one positive weight")
    return mix


@dataclass
class OrderFlow:
    store: OrderStore
    rng: random.Random
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    events: int = 0

    def random_limit(self, symbol: str | None = None) -> SimOrder:
        spec = self.store.symbols[symbol] if symbol else self.rng.choice(
            list(self.store.symbols.values()))
        side = self.rng.choice(("buy", "sell"))
        # Resting orders sit away from the reference price: below it for buys.
        offset = Decimal(self.rng.randint(1, 500)) / 10_000
        factor = 1 - offset if side == "buy" else 1 + offset
        price = spec.ref_price * factor
        return self.store.place_limit(spec.name, side, price, _size(self.rng, spec))

    def populate(self, per_symbol: int) -> None:
        for symbol in self.store.symbols:
            for _ in range(per_symbol):
                self.random_limit(symbol)

    def step(self) -> str:
        """One market event; the kind is drawn from the mix and returned."""
        kinds = list(self.mix)
        kind = self.rng.choices(kinds, weights=[self.mix[k] for k in kinds])[0]
        open_orders = self.store.open_orders()
        if kind in ("partial", "fill", "cancel") and not open_orders:
            kind = "new"
        try:
            if kind == "new":
                self.random_limit()
            elif kind == "market":
                spec = self.rng.choice(list(self.store.symbols.values()))
                if self.rng.random() < 0.5:
                    notional = (spec.ref_price * _size(self.rng, spec)).quantize(Decimal("0.01"))
                    self.store.place_market(spec.name, "buy",
                                            notional=max(notional, Decimal("0.01")))
                else:
                    self.store.place_market(spec.name, "sell", size=_size(self.rng, spec))
            else:
                order = self.rng.choice(open_orders)
                if kind == "cancel":
                    self.store.cancel(order.order_id)
                else:
                    spec = self.store.symbols[order.symbol]
                    part = spec.size(order.remaining * Decimal(self.rng.randint(1, 9)) / 10)
                    whole = kind == "fill" or part <= 0
                    self.store.fill(order.order_id, None if whole else part)
        except OrderError:
            return "skipped"
        self.events += 1
        return kind


def _size(rng: random.Random, spec: SymbolSpec) -> Decimal:
    step = Decimal(1).scaleb(-min(spec.size_scale, 3))
    return spec.size(step * rng.randint(1, 1000))
