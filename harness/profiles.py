"""The ways the tracker runs against the simulator, one or more per venue.

A suite that must hold on every venue (acceptance, crash safety, chaos, failover) takes a
`Profile` as its parameter and runs once per entry of `PROFILES`; a test of one venue's own
behaviour names its profile. A venue added to the tracker and to the simulator is then one
entry here, and every such suite runs for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def _bitmart_keys(account: Any) -> dict[str, str]:
    return {"TRACKER_API_KEY": account.api_key, "TRACKER_API_SECRET": account.secret,
            "TRACKER_API_MEMO": account.memo}


@dataclass(frozen=True)
class Profile:
    name: str
    venue: str
    settings: Mapping[str, str]  # its own TRACKER_* settings
    label: str  # what `sync_state.api` records while it runs
    seed_source: str  # the journal's `source` of its seed rows
    detail_source: str  # and of its order-detail answers
    keys: Callable[[Any], dict[str, str]]  # a simulator account's credentials, as TRACKER_*
    # The least time between two trackers' starts on one key that the venue lets through
    # without making the second wait: BitMart's v2 grants five sessions a minute.
    start_spacing_s: float = 0.0

    def env(self, account: Any) -> dict[str, str]:
        return {"TRACKER_VENUE": self.venue, **self.settings, **self.keys(account)}

    def __str__(self) -> str:  # the parametrized test's id
        return self.name


BITMART_V2 = Profile("bitmart-v2", "bitmart", {"TRACKER_API": "v2"}, "v2", "seed_v2",
                     "detail_v2", _bitmart_keys, start_spacing_s=13.0)
BITMART_V4 = Profile("bitmart-v4", "bitmart", {"TRACKER_API": "v4"}, "v4", "seed_v4",
                     "detail_v4", _bitmart_keys)
PROFILES = (BITMART_V2, BITMART_V4)
BY_NAME = {p.name: p for p in PROFILES}
