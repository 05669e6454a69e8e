"""Sinks: where processed batches are written."""
