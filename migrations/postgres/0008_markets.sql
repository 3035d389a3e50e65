-- Schema 8, as SQLite's 0008: each symbol's unified `BASE/QUOTE` (ccxt's unified form, e.g.
-- `BTC/USDT`), so that one query finds the orders of one market across venues and accounts.
-- `markets` is shared by every account of a venue: one row per (venue, symbol), as the
-- venue lists it, written by each of the venue's trackers at its start and after each seed
-- (the same facts, so whichever writes last writes the same row). `base` and `quote` are
-- the venue's own currency codes. A symbol no tracker has written yet has no row: the
-- view's `unified_symbol` is NULL there.
CREATE TABLE markets (
    venue          TEXT NOT NULL CHECK (venue <> ''),
    symbol         TEXT NOT NULL CHECK (symbol <> ''),
    base           TEXT NOT NULL CHECK (base <> '' AND strpos(base, '/') = 0),
    quote          TEXT NOT NULL CHECK (quote <> '' AND strpos(quote, '/') = 0),
    unified_symbol TEXT NOT NULL CHECK (unified_symbol = base || '/' || quote),
    PRIMARY KEY (venue, symbol)
);

-- "Every account's open orders of BTC/USDT", whatever each venue calls it.
CREATE INDEX markets_by_unified_symbol ON markets (unified_symbol);

-- The open orders gain each account's `venue` (its sync_state row's, recorded since schema
-- 7) and each order's `unified_symbol`, after the columns they had (CREATE OR REPLACE keeps
-- the view's grants): a reader that selects by name reads what it read before. Both joins
-- are on a unique key, so a query that uses neither column is planned without them.
CREATE OR REPLACE VIEW open_orders AS
    SELECT o.account, o.order_id, o.symbol, o.side, o.type, o.price, o.size, o.filled_size,
           o.filled_notional, o.state, o.client_order_id, o.created_at, o.updated_at,
           o.unresolved, s.venue, m.unified_symbol
    FROM orders o
    LEFT JOIN sync_state s ON s.account = o.account
    LEFT JOIN markets m ON m.venue = s.venue AND m.symbol = o.symbol
    WHERE o.state IN ('new', 'partially_filled');
