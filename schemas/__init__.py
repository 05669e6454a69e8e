"""Avro schemas of lineage events, one record per ``.avsc``; the folder is the namespace.

Installed as the package ``lineage_collector.schemas`` and read through importlib.resources.
"""
