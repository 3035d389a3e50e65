"""The shared BitMart facts: frame compression with its size cap, the state maps read in
both directions, the wire spellings pinned to the protocol notes. Its place at the bottom
of the import graph is tests/test_imports.py's."""

from __future__ import annotations

import os
import tracemalloc
import zlib

import pytest

from tracker.venues.bitmart import protocol
from tracker.venues.bitmart.errors import credential_hint

# -- frames ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"pong", '{"table": "ü"}'.encode(), os.urandom(5000),
                                  b"{" * 100_000])
def test_deflate_then_inflate_gives_the_bytes_back(data: bytes) -> None:
    assert protocol.inflate(protocol.deflate(data), len(data)) == data


def test_deflate_is_raw_as_the_exchange_sends_it() -> None:
    """Checked with zlib itself, not with `inflate`: a fault shared by the pair would
    otherwise pass unseen."""
    frame = protocol.deflate(b'{"table": "spot/user/order"}')
    assert zlib.decompress(frame, -zlib.MAX_WBITS) == b'{"table": "spot/user/order"}'
    with pytest.raises(zlib.error):
        zlib.decompress(frame)  # no zlib header


def test_inflate_takes_exactly_the_cap_and_refuses_one_byte_more() -> None:
    data = b"x" * 1000
    assert protocol.inflate(protocol.deflate(data), 1000) == data
    with pytest.raises(ValueError, match=r"^binary frame inflates past 999 bytes$"):
        protocol.inflate(protocol.deflate(data), 999)


def test_a_decompression_bomb_is_refused_without_inflating_it() -> None:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    bomb = b"".join(packer.compress(chunk) for _ in range(256)) + packer.flush()
    assert len(bomb) < 512 << 10  # 256 MiB from about 256 KB
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"^binary frame inflates past 1048576 bytes$"):
            protocol.inflate(bomb, 1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20  # the cap, not the bomb's 256 MiB


@pytest.mark.parametrize("frame", [b"\x00\x01garbage", zlib.compress(b"zlib, not raw")])
def test_inflate_refuses_what_is_not_raw_deflate(frame: bytes) -> None:
    with pytest.raises(ValueError, match=r"^binary frame is not raw DEFLATE: "):
        protocol.inflate(frame, 1 << 20)


# -- state maps --------------------------------------------------------------------------


def test_open_and_terminal_states_split_the_vocabulary() -> None:
    assert set(protocol.STATES) == protocol.OPEN_STATES | protocol.TERMINAL_STATES
    assert not protocol.OPEN_STATES & protocol.TERMINAL_STATES
    assert sorted(protocol.OPEN_STATES) == ["new", "partially_filled"]


@pytest.mark.parametrize("state", protocol.STATES)
def test_v2_status_reads_back_as_the_state_or_as_canceled(state: str) -> None:
    """v2 has four codes for six states: the terminal ones without their own code read
    back as canceled, never as open or filled."""
    decoded = protocol.V2_STATUS[protocol.V2_STATUS_CODE[state]]
    assert decoded == state or (state in protocol.TERMINAL_STATES and decoded == "canceled")


@pytest.mark.parametrize("state", protocol.STATES)
def test_the_legacy_push_state_sent_reads_back_as_the_state(state: str) -> None:
    assert protocol.LEGACY_STATE[protocol.LEGACY_STATE_CODE[state]] == state


def test_legacy_canceling_names_no_final_state() -> None:
    assert protocol.LEGACY_STATE["7"] is None
    assert set(protocol.LEGACY_STATE.values()) - {None} <= set(protocol.STATES)


# -- the wire spellings ------------------------------------------------------------------


def test_the_wire_spellings_are_the_documented_ones() -> None:
    """The one place the literals are written out (protocol notes §2.8, §2.9, §3.2-§3.7):
    the daemon, the simulator and the other tests use the names."""
    assert protocol.ALL_SYMBOLS == "spot/user/orders:ALL_SYMBOLS"
    assert protocol.order_topic("BTC_USDT") == "spot/user/order:BTC_USDT"
    assert (protocol.ORDER_TABLE, protocol.ALL_ORDERS_TABLE) == (
        "spot/user/order", "spot/user/orders")
    assert (protocol.TOPICS_PER_SUBSCRIBE, protocol.TOPICS_PER_CONNECTION) == (20, 100)
    assert protocol.login_request("k", "1", "s") == {"op": "login", "args": ["k", "1", "s"]}
    assert protocol.subscribe_request(("a", "b")) == {"op": "subscribe", "args": ["a", "b"]}
    assert protocol.subscribe_request(["a"], protocol.UNSUBSCRIBE) == {
        "op": "unsubscribe", "args": ["a"]}
    assert (protocol.PING, protocol.PONG) == ("ping", "pong")
    assert (protocol.WS_TOO_MANY_TOPICS_PER_SUBSCRIBE, protocol.WS_TOO_MANY_TOPICS) == (
        "90005", "90006")
    assert sorted(protocol.WS_CREDENTIAL_CODES) == ["91001", "91002", "91003", "91004",
                                                    "91010", "91011"]
    assert sorted(protocol.WS_CLOCK_CODES) == ["91022"]
    assert sorted(protocol.WS_LIMIT_CODES) == ["90007", "94001", "94002"]
    assert protocol.V4_SUCCESS == 1000
    assert sorted(protocol.V4_CREDENTIAL_CODES) == [30001, 30002, 30003, 30004, 30005, 30010,
                                                    30011, 30012, 30019]
    assert sorted(protocol.V4_CLOCK_CODES) == [30007, 30008]
    assert (protocol.V4_RATE_LIMITED, protocol.V4_ORDER_NOT_FOUND) == (30013, 50005)
    assert (protocol.V2_PAGE_MAX, protocol.V4_PAGE_MAX) == (1000, 200)
    assert (protocol.KEY_HEADER, protocol.SIGN_HEADER, protocol.TIMESTAMP_HEADER) == (
        "X-BM-KEY", "X-BM-SIGN", "X-BM-TIMESTAMP")
    assert (protocol.AUTHORIZATION_HEADER, protocol.SIGNATURE_HEADER) == (
        "X-BM-AUTHORIZATION", "X-BM-SIGNATURE")
    assert (protocol.RATE_LIMIT_USED, protocol.RATE_LIMIT_LIMIT, protocol.RATE_LIMIT_RESET,
            protocol.RATE_LIMIT_MODE) == ("X-BM-RateLimit-Remaining", "X-BM-RateLimit-Limit",
                                          "X-BM-RateLimit-Reset", "X-BM-RateLimit-Mode")


def test_every_credential_refusal_has_its_own_hint() -> None:
    """A credential code without a hint would fall back to "check everything", which is
    what the hints exist to avoid."""
    fallback = credential_hint("no such code")
    codes = [*protocol.WS_CREDENTIAL_CODES, *protocol.V4_CREDENTIAL_CODES]
    assert all(credential_hint(code) != fallback for code in codes)
    assert credential_hint(protocol.V4_SIGN_WRONG) == credential_hint(protocol.WS_SIGN_WRONG)
