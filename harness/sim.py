"""The simulator as a subprocess (`tracker sim` on a free port) and a client for its control
API, whose `GET /control/truth` is the ground truth the book is compared with."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from harness.processes import TRACKER, clean_env, stop_process, tail
from harness.waiting import eventually

SYMBOLS = ("BTC_USDT", "ETH_USDT", "BMX_ETH")  # the simulator's defaults


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

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        return response.json()

    def truth(self) -> dict[str, dict[str, Any]]:
        return {o["orderId"]: o for o in self._call("GET", "/truth")["orders"]}

    def open_truth(self) -> list[dict[str, Any]]:
        return self._call("GET", "/truth?open=1")["orders"]

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")

    def counter(self, name: str) -> int:
        return int(self.stats()["counters"].get(name, 0))

    def faults(self, **changes: Any) -> dict[str, Any]:
        return self._call("PATCH", "/faults", changes)["faults"]

    def flow(self, rate: float) -> None:
        self._call("PATCH", "/flow", {"rate": rate})

    def place(self, **order: Any) -> dict[str, Any]:
        return self._call("POST", "/orders", order)

    def fill(self, order_id: str, size: str | None = None) -> dict[str, Any]:
        return self._call("POST", f"/orders/{order_id}/fill",
                          {} if size is None else {"size": size})

    def cancel(self, order_id: str) -> dict[str, Any]:
        return self._call("POST", f"/orders/{order_id}/cancel", {})

    def drop(self, mode: str = "abort") -> int:
        return int(self._call("POST", "/ws/drop", {"mode": mode})["dropped"])

    def send(self, frame: str | bytes) -> int:
        """A raw frame to every subscribed connection (bytes go as a binary frame)."""
        body = {"text": frame} if isinstance(frame, str) else {
            "base64": base64.b64encode(frame).decode()}
        return int(self._call("POST", "/ws/send", body)["sent"])

    def expire_tokens(self) -> int:
        return int(self._call("POST", "/tokens/expire", {})["expired"])
