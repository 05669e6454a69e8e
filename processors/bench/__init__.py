"""`lineage bench`: our speed measured against the ceilings of the parts we build on (raw Kafka,
fastavro), on stores and topics of its own."""
