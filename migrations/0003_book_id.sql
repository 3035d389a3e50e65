-- Which book this is. A book deleted or replaced by an older copy is a different book: the
-- daemon gives it a new book_id (and its seqs continue above every seq the old one used),
-- so a reader that remembers (book_id, seq) sees the change instead of trusting a seq.
ALTER TABLE sync_state ADD COLUMN book_id TEXT;

UPDATE sync_state SET book_id = lower(hex(randomblob(16)));
