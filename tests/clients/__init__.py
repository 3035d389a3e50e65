"""Shared by every venue's conformance test: see conformance.py."""
