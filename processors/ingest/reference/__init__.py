"""The reference path: our own events decoded by fastavro and mapped to store rows in Python.
Pure functions; the fast path must give the same rows (tests map the same events both ways)."""
