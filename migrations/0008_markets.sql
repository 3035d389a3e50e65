-- Schema 8: each symbol's unified `BASE/QUOTE` (ccxt's unified form, e.g. `BTC/USDT`), so
-- that one query finds the orders of one market on several venues, each of which writes
-- its symbols its own way (BitMart `BTC_USDT`, Binance `BTCUSDT`). `markets` holds one row
-- per symbol of a venue, as the venue lists it; the tracker writes it at its start and
-- after each seed (new listings), never in the path of a push. `base` and `quote` are the
-- venue's own currency codes. A symbol it has not written yet (the venue's list could not
-- be read) has no row: the view's `unified_symbol` is NULL there, and the book is the same.
CREATE TABLE markets (
    venue          TEXT NOT NULL CHECK (venue <> ''),
    symbol         TEXT NOT NULL CHECK (symbol <> ''),
    base           TEXT NOT NULL CHECK (base <> '' AND instr(base, '/') = 0),
    quote          TEXT NOT NULL CHECK (quote <> '' AND instr(quote, '/') = 0),
    unified_symbol TEXT NOT NULL CHECK (unified_symbol = base || '/' || quote),
    PRIMARY KEY (venue, symbol)
) WITHOUT ROWID;

-- "The open orders of BTC/USDT", whatever the venue calls it.
CREATE INDEX markets_by_unified_symbol ON markets (unified_symbol);

-- The open orders gain the book's `venue` (sync_state's, recorded since schema 7) and each
-- order's `unified_symbol`, after the columns they had: a reader that selects by name, or
-- by position up to `unresolved`, reads what it read before.
DROP VIEW open_orders;
CREATE VIEW open_orders AS
    SELECT o.order_id, o.symbol, o.side, o.type, o.price, o.size, o.filled_size,
           o.filled_notional, o.state, o.client_order_id, o.created_at, o.updated_at,
           o.unresolved, (SELECT venue FROM sync_state WHERE id = 1) AS venue,
           m.unified_symbol
    FROM orders o
    LEFT JOIN markets m
        ON m.venue = (SELECT venue FROM sync_state WHERE id = 1) AND m.symbol = o.symbol
    WHERE o.state IN ('new', 'partially_filled');
