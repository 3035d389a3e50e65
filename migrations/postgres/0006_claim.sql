-- Schema 6: an account's writer claims it with an EXCLUSIVE lock on a view of its own
-- (tracker_claim_ and 16 hex digits of the SHA-256 of the account's name, made by the
-- account's first tracker), which only a role that may write the book can take, instead of
-- an advisory lock, which any role could take. Nothing to create here; but a tracker of
-- schema 5 still running would go on writing under its advisory lock beside one of schema 6
-- under the claim: refuse to upgrade while any such tracker (a role that may write the
-- book, holding or waiting for an advisory lock) is connected.
DO $$
DECLARE
    running text;
BEGIN
    SELECT string_agg(DISTINCT a.application_name || ' (backend pid ' || a.pid || ')', ', ')
    INTO running
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.pid <> pg_backend_pid()
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND a.application_name LIKE 'tracker %'
      AND has_table_privilege(a.usesysid, 'sync_state', 'UPDATE');
    IF running IS NOT NULL THEN
        RAISE EXCEPTION 'trackers of an older version still run on this book: %; stop every '
            'tracker of the book (active and standby) before upgrading to schema 6', running
            USING ERRCODE = 'object_in_use';
    END IF;
END $$;
