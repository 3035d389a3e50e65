"""Bad input from the exchange, through the real daemon: every malformed frame and every
malformed order in a push becomes one journaled `invalid` row with its reason, is counted
in `sync_state.invalid`, and changes no order; the daemon stays up and live."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from harness import CREDENTIALS, Lab, eventually, journal, read_book
from tracker.venues.bitmart.codec import from_push
from tracker.venues.bitmart.protocol import ORDER_TABLE, deflate


def push_row(order: dict[str, Any], **change: Any) -> dict[str, Any]:
    """A well-formed push filling `order` (as the truth shows it), then `change` applied."""
    row = {"symbol": order["symbol"], "side": order["side"], "type": "limit",
           "notional": "", "size": order["size"], "price": order["price"],
           "filled_notional": "1", "filled_size": order["size"], "margin_trading": "0",
           "order_id": order["orderId"], "order_type": "0", "order_state": "filled",
           "state": "6", "exec_type": "M", "client_order_id": order["orderId"],
           "create_time": str(order["createTime"]), "update_time": "4000000000000",
           "ms_t": "4000000000000", "order_mode": "spot", "entrust_type": "normal"}
    return row | change


def test_malformed_pushes_are_journaled_counted_and_change_nothing(lab: Lab) -> None:
    sim = lab.sim("--open-orders", "5", "--seed", "17")
    daemon = lab.daemon(sim).start()
    before = daemon.wait_live()
    victim = sorted(sim.open_truth(), key=lambda o: o["orderId"])[0]
    vid = victim["orderId"]
    row_before = before.orders[vid]
    table = ORDER_TABLE
    assert from_push(push_row(victim)).state == "filled"  # only the changes below are bad
    huge = "9" * 40
    bad_rows = [  # each would fill the victim if it were believed
        push_row(victim, filled_size="NaN"),
        push_row(victim, filled_size="1e3"),
        push_row(victim, filled_size="-1"),
        push_row(victim, filled_size=huge, size=huge),
        push_row(victim, filled_size=1.0),
        push_row(victim, order_state="exploded", state="99"),
        push_row(victim, order_id="12ab"),
        push_row(victim, side=["buy"]),
        push_row(victim, update_time="99999999999999999999"),
        {k: v for k, v in push_row(victim).items() if k != "filled_size"},
        "not an object",
    ]
    frames: list[str | bytes] = [
        "{not json",
        json.dumps({"table": table, "data": {"order_id": vid}}),
        json.dumps({"table": "spot/user/balance", "data": []}),
        json.dumps([1, 2, 3]),
        b"\x00\x01garbage that is not deflate",
        deflate(f'{{"table": "{table}", "data": ['.encode())[:-3],  # truncated
        deflate(b"\xff\xfe not utf-8"),
        deflate(b" " * (8 << 20)),  # 8 MiB of nothing from about 8 KB: a bomb
        json.dumps({"table": table, "data": bad_rows}),
    ]
    for frame in frames:
        assert sim.send(frame) == 1
    expected = len(frames) - 1 + len(bad_rows)

    def all_journaled() -> list[dict[str, Any]]:
        rows = [e for e in journal(daemon.db) if e["outcome"] == "invalid"]
        assert len(rows) == expected, f"{len(rows)} of {expected} invalid rows"
        return rows

    invalid = eventually(all_journaled, 20, "every bad input is journaled", context=daemon.tail)
    reasons = " | ".join(e["reason"] for e in invalid)
    for words in ("not JSON", "data array", "unexpected table", "unknown message",
                  "not raw DEFLATE", "not UTF-8", "inflates past", "not a plain non-negative",
                  "filled_size must be a string", "unknown order_state", "order_id is malformed",
                  "side must be a string", "update_time", "missing field 'filled_size'",
                  "JSON object"):
        assert words in reasons, f"no reason mentions {words!r}: {reasons}"
    assert all(e["payload"] for e in invalid)  # what was refused is kept for an audit

    after = read_book(daemon.db)
    assert after.orders[vid] == row_before  # not filled, not touched
    assert after.state["invalid"] - before.state["invalid"] == expected
    assert after.state["live"] == 1 and daemon.alive()
    assert vid in after.open_ids
    daemon.wait_converged(sim)


def test_exchange_text_that_echoes_the_credentials_is_journaled_scrubbed(lab: Lab) -> None:
    """A hostile exchange can put anything in a frame, our own key, secret and memo too; the
    journal keeps refused frames for an audit, so it must keep them without those."""
    sim = lab.sim("--open-orders", "3", "--seed", "19")
    daemon = lab.daemon(sim).start()
    daemon.wait_live()
    key, secret, memo = (CREDENTIALS[f"TRACKER_API_{n}"] for n in ("KEY", "SECRET", "MEMO"))
    order = sorted(sim.open_truth(), key=lambda o: o["orderId"])[0]
    echo = f"key {key} secret {secret} memo {memo}"
    frames: list[str | bytes] = [
        "{not json: " + echo,
        b"\x00\x01 not deflate " + echo.encode(),
        json.dumps({"table": ORDER_TABLE, "data": [
            push_row(order, order_id=key, client_order_id=secret),
            push_row(order, side=echo),
            push_row(order, client_order_id=memo, order_state="partially_filled", state="5",
                     filled_size=str(Decimal(order["size"]) / 2)),
        ]}),
    ]
    for frame in frames:
        assert sim.send(frame) == 1

    def journaled() -> None:
        rows = [e for e in journal(daemon.db) if e["outcome"] == "invalid"]
        assert len(rows) == 4, f"{len(rows)} of 4 invalid rows"
        assert any(e["order_id"] == "***" for e in rows), "the echoed key as an order id"
        assert read_book(daemon.db).orders[order["orderId"]]["client_order_id"] == "***"

    eventually(journaled, 20, "the refused frames are journaled", context=daemon.tail)
    assert daemon.alive()
    daemon.close()  # everything written and the WAL folded into the file
    stored = b"".join(p.read_bytes() for p in daemon.db.parent.glob(f"{daemon.db.name}*"))
    for value in (key, secret, memo):
        for form in (value.encode(), value.encode().hex().encode()):
            assert form not in stored, f"{form!r} is in the book"
    assert memo not in daemon.log.read_text()
