"""The simulator as a subprocess (`tracker sim` on a free port) and a client for its control
API, whose `GET /control/truth` is the ground truth the book is compared with; and the
accounts file of a simulator that serves a fleet (`tracker sim --accounts FILE`)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from harness.processes import TRACKER, clean_env, stop_process, tail
from harness.profiles import BITMART_V2, Profile
from harness.waiting import eventually

SYMBOLS = ("BTC_USDT", "ETH_USDT", "BMX_ETH")  # the simulator's defaults


def accounts_file(path: Path, names: int | Sequence[str], *,
                  symbols: Sequence[str] | None = None, open_orders: int | None = None,
                  rate: float | None = None) -> list[dict[str, Any]]:
    """Write accounts with distinct random credentials to `path` (JSON, readable by its
    owner only: it holds secrets) for `tracker sim --accounts`; the accounts as written.
    `names`: the accounts' names, or how many (`acct1`, `acct2`, ...). Fields left None
    are left out, so the simulator's own settings apply."""
    if isinstance(names, int):
        names = [f"acct{number}" for number in range(1, names + 1)]
    accounts: list[dict[str, Any]] = []
    for name in names:
        account: dict[str, Any] = {"name": name, "api_key": secrets.token_hex(16),
                                   "secret": secrets.token_hex(32),
                                   "memo": f"memo{secrets.token_hex(4)}",
                                   "passphrase": f"pass{secrets.token_hex(4)}"}
        optional = {"symbols": None if symbols is None else list(symbols),
                    "open_orders": open_orders, "rate": rate}
        account |= {k: v for k, v in optional.items() if v is not None}
        accounts.append(account)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(accounts, out, indent=1)
    return accounts


def account_env(account: dict[str, Any], profile: Profile = BITMART_V2) -> dict[str, str]:
    """A daemon's environment for one account of an accounts file on `profile`'s venue:
    its credentials, and its symbols (as the venue writes them) where it names its own."""
    env = profile.keys(SimpleNamespace(**account))
    if account.get("symbols"):
        env["TRACKER_SYMBOLS"] = ",".join(profile.symbols(account["symbols"]))
    return env


class Sim:
    """`tracker sim` on a free port, and a client for its control API."""

    def __init__(self, workdir: Path, *args: str, name: str = "sim",
                 ready_timeout: float = 20.0) -> None:
        self.ready = workdir / f"{name}-ready.json"
        self.log = workdir / f"{name}.err"
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [*TRACKER, "sim", "--port", "0", "--ready-file", str(self.ready), *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                env=clean_env())
        try:
            self.urls = eventually(self._ready, ready_timeout,
                                   "the simulator writes its ready file",
                                   interval=0.05, context=lambda: tail(self.log))
        except BaseException:
            stop_process(self.proc, 5)
            raise
        self.rest_url: str = self.urls["rest_url"]
        self.ws_url: str = self.urls["ws_url"]
        self.http = httpx.Client(base_url=self.urls["control_url"], timeout=10)

    def _ready(self) -> dict[str, Any]:
        assert self.proc.poll() is None, f"the simulator exited with {self.proc.returncode}"
        assert self.ready.exists(), "no ready file yet"
        return json.loads(self.ready.read_text())

    def close(self) -> None:
        stop_process(self.proc, 5)
        if hasattr(self, "http"):
            self.http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              account: str | None = None, **query: str) -> Any:
        """One control call; `account` names the account it is about (None: the default)."""
        params = query | ({} if account is None else {"account": account})
        response = self.http.request(method, path, json=body, params=params)
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        return response.json()

    def truth(self, account: str | None = None) -> dict[str, dict[str, Any]]:
        return {o["orderId"]: o for o in self._call("GET", "/truth", account=account)["orders"]}

    def open_truth(self, account: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/truth", account=account, open="1")["orders"]

    def stats(self, account: str | None = None) -> dict[str, Any]:
        return self._call("GET", "/stats", account=account)

    def counter(self, name: str) -> int:
        return int(self.stats()["counters"].get(name, 0))

    def faults(self, **changes: Any) -> dict[str, Any]:
        return self._call("PATCH", "/faults", changes)["faults"]

    def flow(self, rate: float, account: str | None = None) -> None:
        self._call("PATCH", "/flow", {"rate": rate}, account)

    def place(self, account: str | None = None, **order: Any) -> dict[str, Any]:
        return self._call("POST", "/orders", order, account)

    def fill(self, order_id: str, size: str | None = None,
             account: str | None = None) -> dict[str, Any]:
        return self._call("POST", f"/orders/{order_id}/fill",
                          {} if size is None else {"size": size}, account)

    def cancel(self, order_id: str, account: str | None = None) -> dict[str, Any]:
        return self._call("POST", f"/orders/{order_id}/cancel", {}, account)

    def drop(self, mode: str = "abort") -> int:
        return int(self._call("POST", "/ws/drop", {"mode": mode})["dropped"])

    def send(self, frame: str | bytes) -> int:
        """A raw frame to every subscribed connection (bytes go as a binary frame)."""
        body = {"text": frame} if isinstance(frame, str) else {
            "base64": base64.b64encode(frame).decode()}
        return int(self._call("POST", "/ws/send", body)["sent"])

    def face(self, venue: str, call: str, **body: Any) -> dict[str, Any]:
        """One of a venue's own control calls: Binance's `shutdown`, `terminate`, `revoke`;
        OKX's `notice`, `revoke` (simulator/faces/<venue>/admin.py)."""
        return self._call("POST", f"/{venue}/{call}", body)

    def expire_tokens(self) -> int:
        return int(self._call("POST", "/tokens/expire", {})["expired"])
