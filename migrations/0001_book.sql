-- The book: one row per order ever seen, its journal, and the tracker's own state.
-- Amounts are exact decimal TEXT, times are integer milliseconds since the epoch (UTC).

CREATE TABLE orders (
    order_id        TEXT PRIMARY KEY,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    type            TEXT,
    price           TEXT NOT NULL,
    size            TEXT NOT NULL,
    filled_size     TEXT NOT NULL,
    filled_notional TEXT,
    state           TEXT NOT NULL CHECK (state IN ('new', 'partially_filled', 'filled',
                                                   'canceled', 'partially_canceled', 'failed')),
    client_order_id TEXT,
    created_at      INTEGER,          -- exchange creation time
    updated_at      INTEGER,          -- exchange update_time of the change the row shows
    source          TEXT NOT NULL,    -- push | seed_v2 | seed_v4 | detail_v2 | detail_v4
    unresolved      INTEGER NOT NULL DEFAULT 0,  -- 1: vanished from the open set, fate unknown
    changed_at      INTEGER NOT NULL, -- local time the row last changed
    last_seq        INTEGER NOT NULL  -- order_events.seq of the update the row shows
) WITHOUT ROWID;

CREATE INDEX orders_open_by_symbol ON orders (symbol)
    WHERE state IN ('new', 'partially_filled');

CREATE VIEW open_orders AS
    SELECT order_id, symbol, side, type, price, size, filled_size, filled_notional, state,
           client_order_id, created_at, updated_at, unresolved
    FROM orders
    WHERE state IN ('new', 'partially_filled');

CREATE TABLE order_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    epoch       INTEGER NOT NULL,  -- the splice the update arrived in
    source      TEXT NOT NULL,
    order_id    TEXT,              -- NULL when the payload had no usable id
    state       TEXT,
    filled_size TEXT,
    update_time INTEGER,
    outcome     TEXT NOT NULL CHECK (outcome IN ('applied', 'duplicate', 'stale', 'invalid')),
    reason      TEXT,              -- why an update was invalid
    payload     TEXT               -- the raw element, kept for invalid updates
);

CREATE INDEX order_events_by_order ON order_events (order_id, seq);

CREATE TABLE sync_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    live             INTEGER NOT NULL DEFAULT 0,  -- 1: the book is exact right now
    epoch            INTEGER NOT NULL DEFAULT 0,  -- +1 at every completed splice
    status           TEXT NOT NULL DEFAULT 'starting',
    api              TEXT,
    pid              INTEGER,
    started_at       INTEGER,
    heartbeat_at     INTEGER,
    live_since       INTEGER,
    last_event_at    INTEGER,
    last_seed_at     INTEGER,
    last_seed_orders INTEGER,
    reconnects       INTEGER NOT NULL DEFAULT 0,
    splices          INTEGER NOT NULL DEFAULT 0,
    applied          INTEGER NOT NULL DEFAULT 0,
    duplicate        INTEGER NOT NULL DEFAULT 0,
    stale            INTEGER NOT NULL DEFAULT 0,
    invalid          INTEGER NOT NULL DEFAULT 0,
    unresolved       INTEGER NOT NULL DEFAULT 0
);

INSERT INTO sync_state (id) VALUES (1);
