"""`tracker sim` as a real subprocess: start-up, configuration errors, clean stop."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from simulator.state import DEMO_ACCOUNT
from tracker.venues.okx import protocol as okx
from tracker.venues.okx import signing as okx_signing

TRACKER = [sys.executable, "-m", "tracker.cli"]


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the simulator did not become ready")


def test_sim_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    env = os.environ | {"TRACKER_SIM_API_KEY": "k1", "TRACKER_SIM_API_SECRET": "s1",
                        "TRACKER_SIM_API_MEMO": "m1", "TRACKER_SIM_PASSPHRASE": "p1"}
    proc = subprocess.Popen(
        [*TRACKER, "sim", "--port", "0", "--open-orders", "5", "--seed", "9",
         "--symbols", "BTC_USDT,DOGE_USDT", "--faults", '{"push_drop": 0.25}',
         "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        urls = wait_for(ready, proc)
        assert urls["ws_url"] == f"ws://127.0.0.1:{urls['port']}/user?protocol=1.1"
        assert urls["bitmart_ws_url"] == urls["ws_url"]
        assert urls["binance_ws_url"] == f"ws://127.0.0.1:{urls['port']}/ws-api/v3"
        assert urls["okx_ws_url"] == f"ws://127.0.0.1:{urls['port']}/ws/v5/private"
        assert urls["okx_symbols"] == ["BTC-USDT", "DOGE-USDT"]
        # OKX's passphrase comes from the environment too.
        path = f"{okx.ORDERS_PENDING}?instType=SPOT"
        for passphrase, code in (("p1", "0"), (DEMO_ACCOUNT.passphrase, "50105")):
            stamp = okx_signing.iso_timestamp(int(time.time() * 1000))
            answer = httpx.get(f"{urls['rest_url']}{path}", headers={
                okx.ACCESS_KEY: "k1", okx.ACCESS_PASSPHRASE: passphrase,
                okx.ACCESS_TIMESTAMP: stamp,
                okx.ACCESS_SIGN: okx_signing.rest_sign("s1", stamp, "GET", path)})
            assert answer.json()["code"] == code, answer.text
        truth = httpx.get(f"{urls['control_url']}/truth").json()["orders"]
        assert len(truth) == 10 and {o["symbol"] for o in truth} == {"BTC_USDT", "DOGE_USDT"}
        faults = httpx.get(f"{urls['control_url']}/faults").json()["faults"]
        assert faults["push_drop"] == 0.25
        # The credentials come from the environment: the demo key is refused.
        refused = httpx.post(f"{urls['rest_url']}/v2/authentication", data={
            "grant_type": "client_credentials", "client_id": "6591f7c2491db0a23a1d8ad6911c825e",
            "client_secret": "x"})
        assert refused.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "simulator listening" in out


@pytest.mark.parametrize(("args", "needle"), [
    (["--port", "70000"], "--port"),
    (["--rate", "-1"], "--rate"),
    (["--mix", "new=1,teleport=2"], "--mix"),
    (["--faults", '{"push_drop": 2}'], "--faults"),
    (["--faults", "/nonexistent/faults.json"], "--faults"),
    (["--symbols", "BTCUSDT"], "--symbols"),
    (["--binance-max-age", "0"], "--binance-max-age"),
    (["--binance-weight-limit", "-1"], "--binance-weight-limit"),
    (["--okx-idle-timeout", "0"], "--okx-idle-timeout"),
    (["--okx-cancel-retention", "-1"], "--okx-cancel-retention"),
])
def test_bad_configuration_is_one_line_and_exit_78(args: list[str], needle: str) -> None:
    done = subprocess.run([*TRACKER, "sim", "--port", "0", *args], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 78
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "configuration error" in lines[0]


def test_a_public_key_from_the_environment_is_checked() -> None:
    env = os.environ | {"TRACKER_SIM_API_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nno\n"}
    done = subprocess.run([*TRACKER, "sim", "--port", "0"], capture_output=True, text=True,
                          timeout=30, env=env)
    assert done.returncode == 78
    assert "TRACKER_SIM_API_PUBLIC_KEY: public_key is not a PEM public key" in done.stderr


def test_port_in_use_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([*TRACKER, "sim", "--port", str(port)], capture_output=True,
                              text=True, timeout=30)
    assert done.returncode == 69
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


@pytest.mark.parametrize(("args", "price"), [([], "60000"), (["--amounts", "padded"], "60000.00"),
                                            (["--amounts", "minimal"], "60000")])
def test_amounts_option_picks_the_style(tmp_path: Path, args: list[str], price: str) -> None:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([*TRACKER, "sim", "--port", "0", "--ready-file", str(ready), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        control = wait_for(ready, proc)["control_url"]
        placed = httpx.post(f"{control}/orders", json={"symbol": "BTC_USDT", "side": "buy",
                                                       "price": "60000", "size": "1"}).json()
        assert placed["price"] == price and len(placed["orderId"]) == 18
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


@pytest.mark.parametrize("venue", ["bitmart", "binance"])
def test_the_block_it_prints_runs_the_tracker_against_it_as_is(tmp_path: Path,
                                                              venue: str) -> None:
    """`tracker sim --venue V` prints, at start, the lines `tracker run` needs for that face
    (the venue, the URLs, with the WebSocket's path and query, the demo keys the venue takes,
    the symbols as it writes them); pasted into a shell of their own, with nothing else
    set, they make a tracker whose book goes live with the simulator's orders and follows
    its flow."""
    from harness import clean_env, eventually, read_book
    from harness.profiles import BINANCE, BITMART_V2

    profile = BINANCE if venue == "binance" else BITMART_V2
    sim = subprocess.Popen([*TRACKER, "sim", "--port", "0", "--open-orders", "4", "--rate", "5",
                            "--venue", venue],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=clean_env())
    daemon: subprocess.Popen[str] | None = None
    log = tmp_path / "tracker.log"
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in sim.stdout or ()],
                         daemon=True).start()
        printed = [lines.get(timeout=15) for _ in range(7 + (venue != "bitmart"))]
        block = "".join(printed[1:])
        assert ("TRACKER_VENUE=binance" in block) == (venue == "binance"), block
        assert ("TRACKER_API_MEMO" in block) == (venue == "bitmart"), block
        assert printed[-1] == "# then: tracker run --db orders.db\n", printed
        control = printed[0].split("control ")[1].strip()
        db = tmp_path / "orders.db"
        tracker = f"{sys.executable} -m tracker.cli"
        with log.open("w") as out:
            daemon = subprocess.Popen(["bash", "-c", f"{block}exec {tracker} run --db {db}"],
                                      stdout=out, stderr=out, text=True, env=clean_env())

        def live() -> None:
            done = subprocess.run([*TRACKER, "status", "--db", str(db)], capture_output=True,
                                  text=True, timeout=30, env=clean_env())
            assert done.returncode == 0 and done.stdout.startswith("live since "), done

        eventually(live, 60, "the book goes live", interval=0.3, context=log.read_text)
        applied = read_book(db).state["applied"]

        def moved() -> None:  # the flow goes on, and the book follows it
            assert read_book(db).state["applied"] > applied

        eventually(moved, 30, "the flow moves the book", interval=0.3)
        httpx.patch(f"{control}/flow", json={"rate": 0}, timeout=5)

        def exact() -> None:
            truth = httpx.get(f"{control}/truth", params={"open": 1}, timeout=5).json()
            assert read_book(db).open_ids == {profile.book_id(o["symbol"], o["orderId"])
                                              for o in truth["orders"]}

        eventually(exact, 30, "the book equals the simulator's open orders", interval=0.3)
    finally:
        for proc in (daemon, sim):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    assert daemon.returncode == 0, log.read_text()
