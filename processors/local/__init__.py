"""The local stack of `lineage up | down | status`: Kafka (one broker or three), a schema
registry, a ClickHouse server and a worker, each a process of one state folder."""
