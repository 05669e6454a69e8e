"""OpenLineage in: one event read and checked (``event``, ``fields``), its jobs and datasets
named as nodes (``names``), and mapped to store rows (``mapping``). Pure, no I/O; the worker maps
the OpenLineage topic with it, and the HTTP endpoint checks each event with it before Kafka."""
