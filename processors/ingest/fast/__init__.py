"""The fast path: a batch staged in ClickHouse as Avro and mapped by SQL, with no Python object
per event. Any batch it cannot take goes the reference path."""
