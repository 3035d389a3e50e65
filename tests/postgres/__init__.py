"""The PostgreSQL backend's tests, against throwaway clusters (harness/postgres.py)."""
