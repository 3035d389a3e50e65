-- The book in PostgreSQL: the SQLite contract (migrations/0001..0005 as of schema 5) in one
-- step, with an `account` column so that many trackers, one per account, share a database.
-- No PostgreSQL book was ever made at SQLite's schemas 1 to 4, so replaying their steps here
-- would only rebuild history nobody has: this file makes schema 5's contract at once, and
-- 0002 to 0005 change nothing, keeping the numbers the same on both backends (schema N
-- means the same contract whichever database holds it).
--
-- Times are bigint milliseconds since the epoch (UTC), as in SQLite. Amounts are TEXT: the
-- exact positional decimal the exchange wrote ('0.00000010', never '1.0E-7'). `numeric`
-- would be exact inside the database too, but each client library maps it its own way (some
-- to binary floating point); TEXT hands every reader the exchange's own text and keeps the
-- contract identical on both backends (a reader that computes casts with ::numeric). Ids
-- are TEXT: order_id has 18 digits, past what a double holds.

CREATE TABLE orders (
    account         TEXT NOT NULL CHECK (account <> ''),
    order_id        TEXT NOT NULL,
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
    created_at      BIGINT,           -- exchange creation time
    updated_at      BIGINT,           -- exchange update_time of the change the row shows
    source          TEXT NOT NULL,    -- push | seed_v2 | seed_v4 | detail_v2 | detail_v4
    unresolved      INTEGER NOT NULL DEFAULT 0 CHECK (unresolved IN (0, 1)),
                                      -- 1: vanished from the open set, fate unknown
    changed_at      BIGINT NOT NULL,  -- local time the row last changed
    last_seq        BIGINT NOT NULL,  -- order_events.seq of the update the row shows
    PRIMARY KEY (account, order_id)
);

-- "Open orders of one account and symbol" is the query readers run most: answered from the
-- index alone (an index-only scan), in symbol order, as SQLite's covering index does.
CREATE INDEX orders_open_by_symbol ON orders (account, symbol, order_id)
    INCLUDE (side, type, price, size, filled_size, filled_notional, state, client_order_id,
             created_at, updated_at, unresolved)
    WHERE state IN ('new', 'partially_filled');

CREATE VIEW open_orders AS
    SELECT account, order_id, symbol, side, type, price, size, filled_size, filled_notional,
           state, client_order_id, created_at, updated_at, unresolved
    FROM orders
    WHERE state IN ('new', 'partially_filled');

-- The journal. seq counts per account, assigned by the account's tracker, contiguous (not a
-- sequence: a sequence leaves holes at every rolled-back transaction).
CREATE TABLE order_events (
    account     TEXT NOT NULL CHECK (account <> ''),
    seq         BIGINT NOT NULL CHECK (seq > 0),
    received_at BIGINT NOT NULL,
    epoch       BIGINT NOT NULL,  -- the splice the update arrived in
    source      TEXT NOT NULL,
    order_id    TEXT,             -- NULL when the payload had no usable id
    state       TEXT,
    filled_size TEXT,
    update_time BIGINT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('applied', 'duplicate', 'stale', 'invalid')),
    reason      TEXT,             -- why an update was invalid
    payload     TEXT,             -- the raw element, kept for invalid updates
    PRIMARY KEY (account, seq)
);

CREATE INDEX order_events_by_order ON order_events (account, order_id, seq);

-- One row per account, written by its tracker when it first claims the account (SQLite's
-- single row is made by its migration; here the accounts are not known to a migration).
CREATE TABLE sync_state (
    account          TEXT PRIMARY KEY CHECK (account <> ''),
    live             INTEGER NOT NULL DEFAULT 0 CHECK (live IN (0, 1)),
                                                  -- 1: the book is exact right now
    epoch            BIGINT NOT NULL DEFAULT 0,   -- +1 at every completed splice
    status           TEXT NOT NULL DEFAULT 'starting',
    api              TEXT,
    pid              INTEGER,
    started_at       BIGINT,
    heartbeat_at     BIGINT,
    live_since       BIGINT,
    last_event_at    BIGINT,
    last_seed_at     BIGINT,
    last_seed_orders BIGINT,
    reconnects       BIGINT NOT NULL DEFAULT 0,
    splices          BIGINT NOT NULL DEFAULT 0,
    applied          BIGINT NOT NULL DEFAULT 0,
    duplicate        BIGINT NOT NULL DEFAULT 0,
    stale            BIGINT NOT NULL DEFAULT 0,
    invalid          BIGINT NOT NULL DEFAULT 0,
    unresolved       BIGINT NOT NULL DEFAULT 0,
    -- Which book this is, in the form SQLite's 0003 gives it (32 lower-case hex digits): a
    -- reader that remembers (book_id, seq) sees a replaced book instead of trusting a seq.
    book_id          TEXT NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    -- Why the book is not live (SQLite's 0004 lists the reasons); NULL while live.
    not_live_reason  TEXT
);
