"""The SQLite backend's tests: its writer, migrations, change feed and readers."""
