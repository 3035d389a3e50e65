-- What each account's book is a book of, as SQLite's 0007 records it: the exchange
-- (`venue`), the exchange account (`key_fingerprint`, a keyed hash of the API key: 16 hex
-- digits, never the key itself) and the symbols it covers (`symbols`: comma-separated,
-- sorted, or `*`). A tracker, or a standby taking over, whose venue, keys or symbols differ
-- is refused before it writes (exit 78): `alice` run with bob's keys must not merge bob's
-- orders into alice's book. NULL: not recorded yet, adopted by the next first write.
ALTER TABLE sync_state ADD COLUMN venue TEXT;
ALTER TABLE sync_state ADD COLUMN key_fingerprint TEXT;
ALTER TABLE sync_state ADD COLUMN symbols TEXT;
