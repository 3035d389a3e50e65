"""The book's identity, judged without a database (`tracker.identity`): what a start may
write on, what it is refused with, and what the fingerprint keeps of a key."""

from __future__ import annotations

import hashlib
import re

import pytest

from tracker.identity import Consent, Identity, Mismatch, fingerprint, judge

KEY, OTHER = "a1" * 20, "b2" * 20
MINE = Identity("bitmart", fingerprint(KEY), frozenset({"BTC_USDT", "ETH_USDT"}))
RECORDED = {"venue": "bitmart", "key_fingerprint": fingerprint(KEY),
            "symbols": "BTC_USDT,ETH_USDT"}


def test_the_fingerprint_is_short_keyed_and_holds_no_part_of_the_key() -> None:
    fp = fingerprint(KEY)
    assert re.fullmatch(r"[0-9a-f]{16}", fp) and fp != fingerprint(OTHER)
    assert fp == fingerprint(KEY)  # the same key, the same book, at every start
    assert fp not in hashlib.sha256(KEY.encode()).hexdigest()  # no other tool's hash of it
    assert KEY[:8] not in fp


def test_the_same_identity_writes_and_nothing_recorded_is_adopted() -> None:
    assert judge(RECORDED, MINE, {"BTC_USDT"}, Consent()) == frozenset()
    assert judge({}, MINE, {"BTC_USDT"}, Consent()) == frozenset()
    assert judge({"venue": None, "key_fingerprint": None, "symbols": None}, MINE, set(),
                 Consent()) == frozenset()
    assert MINE.columns() == RECORDED


def test_other_keys_are_refused_naming_both_fingerprints_only_in_part() -> None:
    theirs = Identity("bitmart", fingerprint(OTHER), MINE.symbols)
    with pytest.raises(Mismatch) as refused:
        judge(RECORDED, theirs, set(), Consent())
    said = str(refused.value)
    assert (f"other API keys (fingerprint {fingerprint(KEY)[:8]}… in the book, "
            f"{fingerprint(OTHER)[:8]}… configured)") in said
    assert fingerprint(OTHER) not in said and "\n" not in said
    # Rotated keys, said once by naming the recorded fingerprint; another name changes nothing.
    assert judge(RECORDED, theirs, set(), Consent(replace_keys=fingerprint(KEY)[:8])) \
        == frozenset()
    with pytest.raises(Mismatch):
        judge(RECORDED, theirs, set(), Consent(replace_keys=fingerprint(OTHER)[:8]))
    with pytest.raises(Mismatch):  # too short to name one
        judge(RECORDED, theirs, set(), Consent(replace_keys=fingerprint(KEY)[:3]))


def test_another_venue_is_refused_whatever_the_consent() -> None:
    with pytest.raises(Mismatch, match="the book is of venue bitmart, this tracker's is okx"):
        judge(RECORDED, Identity("okx", MINE.key_fingerprint, MINE.symbols), set(),
              Consent(drop_symbols=frozenset({"*"}), replace_keys=MINE.key_fingerprint))


def test_fewer_symbols_are_refused_unless_named_more_are_taken() -> None:
    fewer = Identity("bitmart", MINE.key_fingerprint, frozenset({"BTC_USDT"}))
    with pytest.raises(Mismatch, match="--drop-symbols ETH_USDT"):
        judge(RECORDED, fewer, set(), Consent())  # recorded, even with no open order
    with pytest.raises(Mismatch, match="BMX_ETH, ETH_USDT"):
        judge({}, fewer, {"BMX_ETH", "ETH_USDT"}, Consent())  # a book from before schema 7
    assert judge(RECORDED, fewer, {"ETH_USDT"}, Consent(drop_symbols=frozenset(
        {"ETH_USDT"}))) == {"ETH_USDT"}
    with pytest.raises(Mismatch):  # a flag left in place allows only what it names
        judge(RECORDED, fewer, {"BMX_ETH"}, Consent(drop_symbols=frozenset({"ETH_USDT"})))
    more = Identity("bitmart", MINE.key_fingerprint, MINE.symbols | {"BMX_ETH"})
    assert judge(RECORDED, more, {"BTC_USDT"}, Consent()) == frozenset()
    every = Identity("bitmart", MINE.key_fingerprint, None)
    assert judge(RECORDED, every, {"BTC_USDT"}, Consent()) == frozenset()
    assert every.columns()["symbols"] == "*"


def test_a_book_of_every_symbol_narrows_only_with_a_star() -> None:
    recorded = RECORDED | {"symbols": "*"}
    with pytest.raises(Mismatch, match=r"covers every symbol \(\*\)"):
        judge(recorded, MINE, set(), Consent())
    assert judge(recorded, MINE, {"BMX_ETH"}, Consent(drop_symbols=frozenset({"*"}))) \
        == {"BMX_ETH"}
