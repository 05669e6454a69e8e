"""Kafka records in, store rows out, exactly once: one processor composing two paths that give
the same rows, the reference path (events decoded and mapped in Python, ``reference/``) and the
fast path (events decoded and mapped by ClickHouse, ``fast/``), OpenLineage in, and the
recovery that leaves out what an earlier run stored."""
