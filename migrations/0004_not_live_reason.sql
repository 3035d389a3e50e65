-- Why the book is not live, sorted as an operator would look for the cause: starting,
-- splicing, credentials_refused, exchange_unreachable, rate_limited, clock_skew,
-- exchange_error, disconnected, queue_overflow, stopped; NULL while live. A database that
-- cannot be written cannot say so here: readers see its heartbeat age instead.
ALTER TABLE sync_state ADD COLUMN not_live_reason TEXT;

UPDATE sync_state SET not_live_reason = CASE WHEN live = 1 THEN NULL ELSE 'stopped' END;
