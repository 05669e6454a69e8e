"""Getting events to Kafka whatever Kafka does: the producer, and the spool on disk that keeps
what Kafka cannot take yet until it is replayed, in order, exactly as it was sent."""
