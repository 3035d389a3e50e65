-- What the book is a book of: the exchange (`venue`), the exchange account (`key_fingerprint`,
-- a keyed hash of the API key: 16 hex digits, never the key itself) and the symbols it covers
-- (`symbols`: comma-separated, sorted, or `*` for every symbol). A tracker whose venue, keys
-- or symbols differ from these is refused before it writes (exit 78), so that two accounts'
-- orders never mix in one book and no uncovered symbol's orders stay open. NULL: not
-- recorded yet (a book from before this step), adopted by the next tracker's first write.
ALTER TABLE sync_state ADD COLUMN venue TEXT;
ALTER TABLE sync_state ADD COLUMN key_fingerprint TEXT;
ALTER TABLE sync_state ADD COLUMN symbols TEXT;
