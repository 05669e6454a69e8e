"""Avro schemas of lineage events, one record per ``.avsc``; the folder is the namespace.

Installed as the package ``collector.schemas`` and read through importlib.resources.
"""
