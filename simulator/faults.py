"""Fault injection settings: one validated record, changed at start-up or at run time.

Probabilistic faults draw from the simulator's seeded RNG so a scenario replays exactly;
each injected fault is counted by kind so a test or a soak can report what it survived.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class FaultConfigError(ValueError):
    pass


@dataclass
class Faults:
    push_drop: float = 0.0  # probability that a push is never sent
    push_duplicate: float = 0.0  # probability that a push is sent twice
    push_delay_ms: int = 0  # each push is delayed by a random 0..N ms (reorders them)
    push_reorder: float = 0.0  # probability that a push is held back behind the next one
    ws_silent: bool = False  # the server sends nothing at all (no pushes, no pongs)
    rest_5xx: float = 0.0  # probability that an exchange REST call answers 500
    rest_429: float = 0.0  # probability that an exchange REST call answers 429
    rest_slow_ms: int = 0  # every exchange REST call is delayed by N ms
    rest_trickle_ms: int = 0  # every exchange REST answer's body goes one byte per N ms
    rest_endless: bool = False  # every exchange REST answer is a body that never ends
    rest_lag_ms: int = 0  # order detail says "not found" for N ms after the order changed
    token_ttl_s: float = 900.0  # real lifetime of new v2 tokens (`expires_in` still says 900)
    page_shift: int = 0  # orders closed (and as many opened) after each list page read
    clock_skew_ms: int = 0  # server clock minus true time
    rest_stale_ms: int = 0  # order reads (Binance) answer the state of N ms ago
    stream_end: float = 0.0  # probability that an event ends its subscription (Binance)
    # probability that a push is sent again with a later update time (OKX: "the same message
    # may be sent multiple times (perhaps with the different uTime)")
    push_repeat: float = 0.0

    PROBABILITIES = ("push_drop", "push_duplicate", "push_reorder", "rest_5xx", "rest_429",
                     "stream_end", "push_repeat")

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update atomically: all fields valid, or nothing changes."""
        if not isinstance(changes, dict):
            raise FaultConfigError("faults must be a JSON object")
        fields = {f.name: f for f in dataclasses.fields(self)}
        staged = dataclasses.asdict(self)
        for name, value in changes.items():
            f = fields.get(name)
            if f is None:
                raise FaultConfigError(f"unknown fault {name!r}; known: {', '.join(fields)}")
            staged[name] = _coerce(name, f.type, value)
        for name in self.PROBABILITIES:
            if not 0.0 <= staged[name] <= 1.0:
                raise FaultConfigError(f"{name} is a probability in [0, 1], not {staged[name]}")
        for name in ("push_delay_ms", "rest_slow_ms", "rest_trickle_ms", "rest_lag_ms",
                     "page_shift", "rest_stale_ms"):
            if staged[name] < 0:
                raise FaultConfigError(f"{name} must not be negative")
        if staged["token_ttl_s"] <= 0:
            raise FaultConfigError("token_ttl_s must be positive")
        for name, value in staged.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, type_name: Any, value: Any) -> Any:
    expected = {"float": (int, float), "int": (int,), "bool": (bool,)}[str(type_name)]
    if isinstance(value, bool) != (str(type_name) == "bool") or not isinstance(value, expected):
        raise FaultConfigError(f"{name} must be a {type_name}, not {value!r}")
    return float(value) if str(type_name) == "float" else value


def load_faults(spec: str) -> dict[str, Any]:
    """`--faults` takes inline JSON or a path to a JSON file."""
    text = spec if spec.lstrip().startswith("{") else Path(spec).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaultConfigError(f"--faults is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise FaultConfigError("--faults must be a JSON object")
    return data
