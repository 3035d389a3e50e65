"""The book in a PostgreSQL database many trackers share, one account each: the writer
(`store`), the migrations and the server-side names every part uses (`migrate`), and the
read-only views of the commands (`readers`). Only `store` imports psycopg when imported; the
others import it when they connect, so an SQLite install needs no driver."""
